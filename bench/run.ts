// `make bench`: measured speed, memory and event-loop health, each scenario run several times against a
// baseline in the same invocation, reported as medians and ratios in bench/RESULTS.md.
//
//   node dist/bench/run.js [--runs N] [--latency MS] [--bandwidth BYTES_PER_S] [--only NAME,...]
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { startServer, type RasterServer } from '../test/support/server.js'
import type { StatsJson } from '../lib/cli/summary.js'
import { makeBatchFiles, makeNoisyTiff } from './data.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = join(ROOT, 'bin', 'rasterpipe')

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    latency: { type: 'string', default: '50' },
    bandwidth: { type: 'string', default: '0' },
    only: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench', 'RESULTS.md') }
  }
})
const RUNS = Number(values.runs)
const only = values.only ? new Set(values.only.split(',')) : null
const want = (name: string): boolean => !only || only.has(name)

interface Measure { wall: number, stats?: StatsJson, requests?: number, bytes?: number }

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function timed (cmd: string, args: string[], input: string, env: Record<string, string> = {}): Promise<number> {
  const t0 = performance.now()
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin.end(input)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`)
  return (performance.now() - t0) / 1000
}

async function rasterpipe (work: string, input: string, args: string[]): Promise<Measure> {
  const out = mkdtempSync(join(work, 'out-'))
  const stats = join(out, 'stats.json')
  const wall = await timed(process.execPath, [BIN, '-o', out, '--stats', stats, '--no-progress', ...args], input)
  const json = JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
  if (json.failed > 0) throw new Error(`rasterpipe: ${json.failed} records failed: ${JSON.stringify(json.errors)}`)
  rmSync(out, { recursive: true, force: true })
  return { wall, stats: json }
}

/** The peer a user would otherwise script: gdal_translate over /vsicurl/, 16 at a time with xargs. */
async function peer (work: string, urls: string[], extra: string[] = []): Promise<Measure> {
  const out = mkdtempSync(join(work, 'peer-'))
  const lines = urls.map((u, i) => `/vsicurl/${u} ${join(out, `${i}.tif`)}`).join('\n') + '\n'
  const wall = await timed('xargs', ['-P', '16', '-L', '1', 'gdal_translate', '-q', '-co', 'COMPRESS=DEFLATE', '-co', 'TILED=YES', ...extra], lines,
    { GDAL_DISABLE_READDIR_ON_OPEN: 'EMPTY_DIR' })
  rmSync(out, { recursive: true, force: true })
  return { wall }
}

async function repeat (label: string, fn: () => Promise<Measure>): Promise<Measure[]> {
  const list: Measure[] = []
  for (let i = 0; i < RUNS; i++) {
    const m = await fn()
    process.stderr.write(`bench: ${label} run ${i + 1}/${RUNS}: ${m.wall.toFixed(2)} s` +
      (m.stats ? `, peak RSS ${m.stats.peak_rss_mb} MB, loop p99 ${m.stats.event_loop_delay_ms.p99} ms` : '') + '\n')
    list.push(m)
  }
  return list
}

const wallOf = (ms: Measure[]): number => median(ms.map((m) => m.wall))
const statOf = (ms: Measure[], f: (s: StatsJson) => number): number => median(ms.map((m) => f(m.stats as StatsJson)))

async function main (): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'rasterpipe-bench-'))
  const server: RasterServer = await startServer()
  server.latency = Number(values.latency)
  server.bandwidth = Number(values.bandwidth)
  const report: string[] = []
  try {
    const files = makeBatchFiles(work).map((p) => readFileSync(p))
    const sizes = files.map((b) => b.length)
    for (let i = 0; i < 2000; i++) server.file(`s${i}.tif`, files[i % files.length])
    const urls = (n: number): string[] => Array.from({ length: n }, (_, i) => server.url(`s${i}.tif`))
    const input = (n: number): string => urls(n).join('\n') + '\n'
    const window = ['-w', '0,0,512,512']

    report.push(`Sources: ${files.length} GeoTIFFs of ${sizes.map((s) => (s / 1e6).toFixed(1)).join(', ')} MB, served as distinct URLs ` +
      `from a loopback server with ${server.latency} ms latency per request${server.bandwidth ? ` and ${server.bandwidth} B/s per response` : ''}.`)

    if (want('latency') || want('loop')) {
      // Download mode: one request per file, the shape of a latency-bound batch; auto is shown beside it.
      const c1 = await repeat('scenario 1, -c 1', () => rasterpipe(work, input(200), ['-c', '1', '--fetch', 'download', ...window]))
      const c16 = await repeat('scenario 1, -c 16', () => rasterpipe(work, input(200), ['-c', '16', '--fetch', 'download', ...window]))
      const auto16 = await repeat('scenario 1, -c 16 --fetch auto', () => rasterpipe(work, input(200), ['-c', '16', ...window]))
      const xargs = await repeat('scenario 1, xargs -P 16 gdal_translate', () => peer(work, urls(200), ['-srcwin', '0', '0', '512', '512']))
      report.push('', '## Scenario 1: latency-bound batch (200 GeoTIFFs, 512×512 window)', '',
        '| run | median wall (s) | runs (s) | records/s |', '| --- | --- | --- | --- |',
        ...[['rasterpipe -c 1 --fetch download', c1], ['rasterpipe -c 16 --fetch download', c16], ['rasterpipe -c 16 (--fetch auto)', auto16],
          ['xargs -P 16 gdal_translate -srcwin /vsicurl/', xargs]].map(([name, ms]) => {
          const m = ms as Measure[]
          return `| ${name as string} | ${wallOf(m).toFixed(2)} | ${m.map((x) => x.wall.toFixed(2)).join(', ')} | ${(200 / wallOf(m)).toFixed(1)} |`
        }),
        '', `- \`-c 16\` is **${(wallOf(c1) / wallOf(c16)).toFixed(1)}×** faster than \`-c 1\` (target: at least 8×).`,
        `- \`-c 16\` against the xargs peer: **${(wallOf(xargs) / wallOf(c16)).toFixed(2)}×** (above 1 is faster).`,
        '', '## Scenario 3: event loop during scenario 1 (`-c 16`)', '',
        `- event-loop delay p99 **${statOf(c16, (s) => s.event_loop_delay_ms.p99)} ms**, max ${statOf(c16, (s) => s.event_loop_delay_ms.max)} ms (medians over runs; target p99 under 20 ms).`,
        `- per-stage ms p50/p95 (last run): ${Object.entries(c16[c16.length - 1].stats?.stage_ms ?? {}).map(([k, v]) => `${k} ${v.p50}/${v.p95}`).join(', ')}.`)
    }

    if (want('cog')) {
      const cog = readFileSync(makeNoisyTiff(work, 'cog.tif', 2048, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=512'], 'COG'))
      const n = 40
      for (let i = 0; i < n; i++) server.file(`cog${i}.tif`, cog)
      const cogUrls = Array.from({ length: n }, (_, i) => server.url(`cog${i}.tif`))
      const cogInput = cogUrls.join('\n') + '\n'
      const win = ['-w', '768,768,512,512']
      const counted = (fn: () => Promise<Measure>) => async (): Promise<Measure> => {
        server.reset()
        const m = await fn()
        return { ...m, requests: server.totalRequests(), bytes: server.totalBytes() }
      }
      const range = await repeat('COG, --fetch range', counted(() => rasterpipe(work, cogInput, ['-c', '16', '--fetch', 'range', ...win])))
      const whole = await repeat('COG, --fetch download', counted(() => rasterpipe(work, cogInput, ['-c', '16', '--fetch', 'download', ...win])))
      const gdalPeer = await repeat('COG, xargs -P 16 gdal_translate /vsicurl/', counted(() => peer(work, cogUrls, ['-srcwin', '768', '768', '512', '512'])))
      const row = (name: string, ms: Measure[]): string =>
        `| ${name} | ${wallOf(ms).toFixed(2)} | ${ms.map((x) => x.wall.toFixed(2)).join(', ')} | ${(median(ms.map((x) => x.bytes ?? 0)) / 1e6).toFixed(1)} | ${median(ms.map((x) => x.requests ?? 0))} |`
      report.push('', `## COG scenario: a 512×512 window out of ${n} COGs of ${(cog.length / 1e6).toFixed(1)} MB (2048×2048, 3 bands, 512 tiles)`, '',
        '| run | median wall (s) | runs (s) | MB sent by the server | requests |', '| --- | --- | --- | --- | --- |',
        row('rasterpipe --fetch range -c 16', range), row('rasterpipe --fetch download -c 16', whole),
        row('xargs -P 16 gdal_translate -srcwin /vsicurl/ (GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR)', gdalPeer),
        '', `- range against the gdal_translate peer: **${(wallOf(gdalPeer) / wallOf(range)).toFixed(2)}×** (above 1: range is faster; target at least 1).`,
        `- range against download: **${(wallOf(whole) / wallOf(range)).toFixed(2)}×** faster, ${(median(whole.map((x) => x.bytes ?? 0)) / median(range.map((x) => x.bytes ?? 1))).toFixed(0)}× fewer bytes.`)
    }

    if (want('memory')) {
      const m200 = await repeat('scenario 2, 200 inputs', () => rasterpipe(work, input(200), ['-c', '16', ...window]))
      const m2000 = await repeat('scenario 2, 2000 inputs', () => rasterpipe(work, input(2000), ['-c', '16', ...window]))
      const r200 = statOf(m200, (s) => s.peak_rss_mb)
      const r2000 = statOf(m2000, (s) => s.peak_rss_mb)
      report.push('', '## Scenario 2: memory flatness (`-c 16`)', '',
        '| inputs | median peak RSS (MB) | runs (MB) | median wall (s) |', '| --- | --- | --- | --- |',
        `| 200 | ${r200} | ${m200.map((m) => m.stats?.peak_rss_mb).join(', ')} | ${wallOf(m200).toFixed(2)} |`,
        `| 2000 | ${r2000} | ${m2000.map((m) => m.stats?.peak_rss_mb).join(', ')} | ${wallOf(m2000).toFixed(2)} |`,
        '', `- 2,000 against 200 inputs: **${(r2000 / r200).toFixed(2)}×** the peak RSS (target: at most 1.3×, and under 300 MB).`)
    }
  } finally {
    await server.close()
    rmSync(work, { recursive: true, force: true })
  }

  const gdalVersion = execFileSync('gdal-config', ['--version']).toString().trim()
  const header = ['# rasterpipe benchmark results', '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, GDAL ${gdalVersion}.`,
    `Command: \`make bench\` (\`node dist/bench/run.js ${process.argv.slice(2).join(' ')}\`), ${RUNS} runs per row, medians.`,
    `Date: ${new Date().toISOString().slice(0, 10)}.`, '']
  // A hand-written analysis at the end of the report (from '## Analysis' on) survives a rerun.
  let analysis = ''
  try {
    const old = readFileSync(values.out as string, 'utf8')
    const at = old.indexOf('\n## Analysis')
    if (at >= 0) analysis = old.slice(at)
  } catch { /* first run */ }
  const text = [...header, ...report, ''].join('\n') + analysis
  writeFileSync(values.out as string, text)
  process.stdout.write(text)
}

await main()
