// Read and write with as few copies as GDAL allows: MEM then CreateCopy, one translate to the file, or a VRT then CreateCopy, measured.
//
//   node dist/bench/copies.js [--runs N] [--only small,large] [--out FILE]
//
// Each measured run is a child process of its own (`--child SPEC`), so that its peak RSS is its own; the
// variants alternate within each round so that a shared machine's drift falls on all of them alike.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { loadGdal, type Dataset } from '../lib/raster/gdal.js'
import { assertSameRaster, gdalTranslate } from '../test/support/compare.js'
import { makeBatchFiles, makeFloat64Gradient } from './data.js'

const gdal = loadGdal()
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

const VARIANTS = ['mem', 'direct', 'vrt'] as const
type Variant = typeof VARIANTS[number]
const LABEL: Record<Variant, string> = {
  mem: 'translate to MEM, then CreateCopy (before)',
  direct: 'one translate straight to the file',
  vrt: 'translate to VRT, then CreateCopy'
}

/** What one child measures: `records` windows out of `sources` in turn, `concurrency` at a time. */
interface Spec { variant: Variant, sources: string[], window: number[], records: number, concurrency: number, co: string[], outDir: string }
interface Measure { wall: number, cpu: number, rss: number }

/** gdal_translate's arguments for the window, without the output format (as lib/raster/read.ts builds them). */
function windowArgs (window: number[], extra: string[] = []): string[] {
  return ['-srcwin', ...window.map(String), ...extra]
}

/** Writes the window of `ds` to `path` as GTiff with `co`, the variant's way; every dataset it opens is closed. */
async function writeWindow (variant: Variant, ds: Dataset, args: string[], path: string, co: string[]): Promise<void> {
  if (variant === 'direct') {
    const out = await gdal.translateAsync(path, ds, ['-of', 'GTiff', ...args, ...co.flatMap((c) => ['-co', c])])
    // Flushed on the pool, as the write stage does, not by the synchronous close on the main thread.
    try { await out.flushAsync() } finally { out.close() }
    return
  }
  const window = await gdal.translateAsync('', ds, ['-of', variant === 'mem' ? 'MEM' : 'VRT', ...args])
  try {
    const out = await gdal.drivers.get('GTiff').createCopyAsync(path, window, co)
    try { await out.flushAsync() } finally { out.close() }
  } finally {
    window.close()
  }
}

async function child (spec: Spec): Promise<Measure> {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < spec.records; i = next++) {
      const ds = await gdal.openAsync(spec.sources[i % spec.sources.length])
      const path = join(spec.outDir, `${i}.tif`)
      try {
        await writeWindow(spec.variant, ds, windowArgs(spec.window), path, spec.co)
      } finally {
        ds.close()
      }
      // Outputs are not kept: the large ones would fill the disk, and removing one costs every variant alike.
      unlinkSync(path)
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, worker))
  const c = process.cpuUsage(c0)
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, rss: peakRss() }
}

/**
 * This process's own peak RSS in MB: VmHWM, which starts afresh at exec. (getrusage's maxRSS, which
 * process.resourceUsage() reports, keeps the parent's peak across fork and exec, and the parent made a
 * 134 MB raster.)
 */
function peakRss (): number {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
  return kb ? Number(kb[1]) / 1024 : process.resourceUsage().maxRSS / 1024
}

async function runChild (spec: Spec): Promise<Measure> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)],
    // The pool size bin/rasterpipe gives a 2-core machine (twice the cores, at least 4).
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, 2 * cpus().length)) } })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve))
  if (code !== 0) throw new Error(`child ${spec.variant} exited ${code}`)
  return JSON.parse(out) as Measure
}

function structureOf (path: string): Record<string, string> {
  const ds = gdal.open(path)
  try { return ds.getMetadata('IMAGE_STRUCTURE') as Record<string, string> } finally { ds.close() }
}

/**
 * The comparison is fair only if every variant writes the same raster: each variant's output, for each
 * case, must equal gdal_translate's (pixels, geotransform, CRS, nodata, colour table, masks, scale,
 * descriptions) and have the same layout and compression.
 */
async function verify (dir: string, cases: { name: string, src: string, args: string[] }[], cos: string[][]): Promise<{ checked: number, layout: string[] }> {
  let checked = 0
  const layout: string[] = []
  for (const co of cos) {
    for (const c of cases) {
      const name = `${c.name}-${co.length ? co.join('-') : 'default'}`
      const reference = gdalTranslate(c.src, [...c.args, ...co.flatMap((o) => ['-co', o])], dir, `${name}-gdal_translate.tif`)
      for (const variant of VARIANTS) {
        const path = join(dir, `${name}-${variant}.tif`)
        const ds = await gdal.openAsync(c.src)
        try { await writeWindow(variant, ds, c.args, path, co) } finally { ds.close() }
        assertSameRaster(path, reference, `${name} ${variant}`)
        // Layout is not pixels: a difference is reported, not fatal, so that it shows in the results.
        const [ours, theirs] = [structureOf(path), structureOf(reference)]
        try { assert.deepEqual(ours, theirs) } catch { layout.push(`${name}, ${variant}: ${JSON.stringify(ours)} where gdal_translate has ${JSON.stringify(theirs)}`) }
        checked++
      }
    }
  }
  return { checked, layout }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      out: { type: 'string' }
    }
  })
  if (values.child) {
    process.stdout.write(JSON.stringify(await child(JSON.parse(values.child) as Spec)))
    return
  }
  const runs = Number(values.runs)
  const only = values.only ? new Set(values.only.split(',')) : null
  const work = mkdtempSync(join(tmpdir(), 'rasterpipe-copies-'))
  try {
    const batch = makeBatchFiles(work)
    // The largest window the tests use (test/memory.test.ts): 134 MB of pixels.
    const large = makeFloat64Gradient(join(work, 'float64-4096.tif'), 4096)
    const fixtures = join(ROOT, 'fixtures', 'rasters')
    const cos = [[], ['COMPRESS=DEFLATE', 'TILED=YES']]

    const checkDir = join(work, 'check')
    mkdirSync(checkDir)
    const fixtureCases = ['palette-byte.tif', 'mask-byte.tif', 'rgba-alpha.tif', 'int16-small.tif', 'float32-band-interleaved.tif', 'uint16-striped.tif', 'tile-rgb.png']
      .map((f) => ({ name: f.replace(/\..*$/, ''), src: join(fixtures, f), args: windowArgs([10, 20, 200, 150]) }))
    const { checked, layout } = await verify(checkDir, [
      ...fixtureCases,
      { name: 'rgb-bands-outsize', src: join(fixtures, 'rgb-byte-tiled.tif'), args: windowArgs([100, 100, 600, 600], ['-b', '3', '-b', '1', '-outsize', '150', '150', '-ovr', 'NONE']) },
      { name: 'batch-a', src: batch[0], args: windowArgs([0, 0, 512, 512]) },
      { name: 'large', src: large, args: windowArgs([0, 0, 4096, 4096]) }
    ], cos)
    rmSync(checkDir, { recursive: true, force: true })
    process.stderr.write(`copies: ${checked} outputs checked equal to gdal_translate's; layout differences: ${layout.length}\n`)

    const scenarios = [
      { name: 'small', label: '200 windows of 512×512 Byte out of the 5 batch GeoTIFFs, 4 at a time', sources: batch, window: [0, 0, 512, 512], records: 200, concurrency: 4 },
      { name: 'large', label: '8 windows of 4096×4096 Float64 (134 MB each), 4 at a time', sources: [large], window: [0, 0, 4096, 4096], records: 8, concurrency: 4 }
    ].filter((s) => !only || only.has(s.name))
    const results = new Map<string, Measure[]>()
    const key = (s: string, co: string[], v: Variant): string => `${s}|${co.join(',')}|${v}`
    for (let r = 0; r < runs; r++) {
      for (const s of scenarios) {
        for (const co of cos) {
          // Rotated each round: no variant always runs first after the machine was idle.
          const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length])
          for (const variant of order) {
            const outDir = mkdtempSync(join(work, 'out-'))
            const m = await runChild({ variant, sources: s.sources, window: s.window, records: s.records, concurrency: s.concurrency, co, outDir })
            rmSync(outDir, { recursive: true, force: true })
            process.stderr.write(`copies: run ${r + 1}/${runs} ${s.name} [${co.join(',') || 'default'}] ${variant}: ${m.wall.toFixed(2)} s wall, ${m.cpu.toFixed(2)} s CPU, ${m.rss.toFixed(0)} MB peak RSS\n`)
            const list = results.get(key(s.name, co, variant)) ?? []
            list.push(m)
            results.set(key(s.name, co, variant), list)
          }
        }
      }
    }

    const gdalVersion = execFileSync('gdal-config', ['--version']).toString().trim()
    const lines = [`Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, GDAL ${gdalVersion}; ` +
      `${runs} runs, variants alternating, medians (runs in brackets). Each run is a child process reading local files; peak RSS is that process's.`,
    `Command: \`node dist/bench/copies.js ${process.argv.slice(2).join(' ')}\`. ${checked} outputs (fixtures with palette, mask, alpha, nodata; bands and -outsize; both scenarios; both creation options) were first checked equal to gdal_translate's, variant by variant.`, '',
    '| scenario | creation options | variant | wall (s) | CPU (s) | peak RSS (MB) |', '| --- | --- | --- | --- | --- | --- |']
    const fmt = (xs: number[], digits: number): string => `${median(xs).toFixed(digits)} (${xs.map((x) => x.toFixed(digits)).join(', ')})`
    for (const s of scenarios) {
      for (const co of cos) {
        for (const variant of VARIANTS) {
          const ms = results.get(key(s.name, co, variant)) ?? []
          lines.push(`| ${s.label} | ${co.join(', ') || 'GDAL default (none)'} | ${LABEL[variant]} | ${fmt(ms.map((m) => m.wall), 2)} | ${fmt(ms.map((m) => m.cpu), 2)} | ${fmt(ms.map((m) => m.rss), 0)} |`)
        }
      }
    }
    lines.push('', `Layout (IMAGE_STRUCTURE metadata) different from gdal_translate's: ${layout.length ? '' : 'none.'}`, ...layout.map((l) => `- ${l}`))
    const text = lines.join('\n') + '\n'
    if (values.out) writeFileSync(values.out, text)
    process.stdout.write(text)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
