// The contenders of the peer comparison, each a child process given the same windows, the same
// concurrency and the same creation options: rasterpipe, the seed article's Python pipeline, an in-process
// GDAL /vsicurl/ script and xargs over gdal_translate /vsicurl/. Each is timed (wall) and its CPU counted
// (user + system of it and its children, from GNU time when it is there).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StatsJson } from '../lib/cli/summary.js'
import { mergeCreationOptions } from '../lib/raster/formats.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { findPython } from './python.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HERE = fileURLToPath(new URL('.', import.meta.url))
const ARTICLE = join(ROOT, 'bench', 'peers', 'article.py')
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null

/** One window of one source: what every contender is asked to cut. */
export interface Job { url: string, window: [number, number, number, number], out: string }

export interface Run { wall: number, cpu: number | null, outDir: string, stats?: StatsJson }

export interface Contender { name: string, run: (work: string, jobs: Job[], concurrency: number, co: string[]) => Promise<Run> }

/** Runs `cmd` with `input` on stdin (its stdout into `stdout`, a file descriptor, if given); wall seconds, and CPU seconds when GNU time can count them. */
export async function timed (cmd: string, args: string[], input: string, env: Record<string, string> = {}, stdout?: number): Promise<{ wall: number, cpu: number | null }> {
  const [file, argv] = TIME ? [TIME, ['-f', '@cpu %U %S', cmd, ...args]] : [cmd, args]
  const t0 = performance.now()
  const child = spawn(file, argv, { stdio: ['pipe', stdout ?? 'ignore', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin?.end(input)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const wall = (performance.now() - t0) / 1000
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`)
  const m = /@cpu ([\d.]+) ([\d.]+)\s*$/.exec(stderr)
  return { wall, cpu: m ? Number(m[1]) + Number(m[2]) : null }
}

const lines = (jobs: Job[]): string => jobs.map((j) => `${j.url} ${j.window.join(',')} ${j.out}`).join('\n') + '\n'

/** rasterpipe from the checkout at `root` (this one, or a baseline's built checkout), under `name`. */
export function rasterpipeAt (name: string, root: string): Contender {
  const bin = join(root, 'bin', 'rasterpipe')
  return {
    name,
    run: async (work, jobs, concurrency, co) => {
      const outDir = mkdtempSync(join(work, 'rasterpipe-'))
      const stats = join(work, `stats-${Date.now()}.json`)
      const input = jobs.map((j) => JSON.stringify({ url: j.url, window: j.window, out: j.out })).join('\n') + '\n'
      // Only the options that differ from rasterpipe's own defaults are passed (none when the peers are
      // given those), so that its command is the one a user would type.
      const own = mergeCreationOptions('GTiff', [])
      const options = co.filter((c) => !own.includes(c)).flatMap((c) => ['--co', c])
      const t = await timed(process.execPath, [bin, '-o', outDir, '-c', String(concurrency), '--stats', stats, '--no-progress', ...options], input)
      const json = JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
      rmSync(stats)
      if (json.failed > 0) throw new Error(`${name}: ${json.failed} records failed: ${JSON.stringify(json.errors)}`)
      return { ...t, outDir, stats: json }
    }
  }
}

export const rasterpipe: Contender = rasterpipeAt('rasterpipe', ROOT)

let baselines: Contender[] | undefined
/**
 * RASTERPIPE_BENCH_BASELINE=DIR: another checkout of rasterpipe, built (`make build` there), runs as one
 * more contender, so a change is measured against the code before it in the same run.
 */
export function baseline (): Contender[] {
  const dir = process.env.RASTERPIPE_BENCH_BASELINE
  if (!dir) return []
  if (baselines) return baselines
  let commit = 'unknown commit'
  try {
    commit = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    // Not a git checkout: named by its directory alone.
  }
  baselines = [rasterpipeAt(`rasterpipe at ${commit} (baseline)`, dir)]
  return baselines
}

export const article: Contender = {
  name: 'the article\'s Python pipeline (aiohttp + rasterio)',
  run: async (work, jobs, concurrency, co) => {
    const outDir = mkdtempSync(join(work, 'article-'))
    const python = pythonForArticle() as string
    const t = await timed(python, [ARTICLE, '-c', String(concurrency), '-o', outDir, ...co.flatMap((c) => ['--co', c])], lines(jobs))
    return { ...t, outDir }
  }
}

export const vsicurl: Contender = {
  name: 'gdal-async /vsicurl/ pool',
  run: async (work, jobs, concurrency, co) => {
    const outDir = mkdtempSync(join(work, 'vsicurl-'))
    const t = await timed(process.execPath, [join(HERE, 'peers', 'vsicurl.js'), '-c', String(concurrency), '--out-dir', outDir, ...co.flatMap((c) => ['--co', c])],
      lines(jobs), { UV_THREADPOOL_SIZE: String(concurrency) })
    return { ...t, outDir }
  }
}

export const xargs: Contender = {
  name: 'xargs -P gdal_translate /vsicurl/',
  run: async (work, jobs, concurrency, co) => {
    const outDir = mkdtempSync(join(work, 'xargs-'))
    const input = jobs.map((j) => `-srcwin ${j.window.join(' ')} /vsicurl/${j.url} ${join(outDir, j.out)}`).join('\n') + '\n'
    const t = await timed('xargs', ['-P', String(concurrency), '-L', '1', 'gdal_translate', '-q', ...co.flatMap((c) => ['-co', c])], input,
      { GDAL_DISABLE_READDIR_ON_OPEN: 'EMPTY_DIR' })
    return { ...t, outDir }
  }
}

let python: string | null | undefined
/**
 * The interpreter with rasterio, aiohttp, tqdm and click (Debian's packages are for /usr/bin/python3, which
 * is not always the `python3` first on PATH), or null: the peer is then skipped, saying why. `make bench`
 * installs them first when it runs as root on Debian.
 */
export function pythonForArticle (): string | null {
  if (python === undefined) python = findPython(['rasterio', 'aiohttp', 'tqdm', 'click'])
  return python
}

/** Every output of `run` checked against GDAL's reading of the same window of the local file: same checksums per band. */
export function checkOutputs (run: Run, jobs: Job[], localOf: (url: string) => string, sample: number): void {
  const gdal = loadGdal()
  const step = Math.max(1, Math.floor(jobs.length / sample))
  for (let i = 0; i < jobs.length; i += step) {
    const j = jobs[i]
    const out = gdal.open(join(run.outDir, j.out))
    const src = gdal.open(localOf(j.url))
    try {
      if (out.rasterSize.x !== j.window[2] || out.rasterSize.y !== j.window[3] || out.bands.count() !== src.bands.count()) {
        throw new Error(`${j.out}: ${out.rasterSize.x}×${out.rasterSize.y}×${out.bands.count()}, not the window's`)
      }
      for (let b = 1; b <= src.bands.count(); b++) {
        const want = gdal.checksumImage(src.bands.get(b), j.window[0], j.window[1], j.window[2], j.window[3])
        const got = gdal.checksumImage(out.bands.get(b))
        if (want !== got) throw new Error(`${j.out} band ${b}: checksum ${got}, GDAL reads ${want} from the source`)
      }
    } finally {
      out.close()
      src.close()
    }
  }
}
