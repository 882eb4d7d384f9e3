// `rasterpipe report`: one HTML page of what runs made, from their result records (files or stdin) and
// --stats files: counts, a map of the outputs' footprints, thumbnails of a sample of them, errors by code,
// and charts of the stage times, the run and its hosts. It reads what runs wrote, and the outputs.
import { createReadStream } from 'node:fs'
import { access, constants, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { basename, dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError } from '../../core/errors.js'
import { formatBytes } from '../../core/sizes.js'
import { printable } from '../../http/redact.js'
import { GdalMissingError, loadGdal, type Dataset, type Gdal } from '../../raster/gdal.js'
import { keyValue } from '../../run/options.js'
import { unknownOption } from '../arguments.js'
import type { CliIo } from '../io.js'
import { asRecord, mergeStats, readStats } from '../summarize.js'
import { Collector, STAGES, type Kept } from './collect.js'
import type { Footprint } from './map.js'
import { locateOutput, RemoteOutputs } from './outputs.js'
import { reportHtml, type HostRow, type PageRecord, type ReportModel, type Thumbnail } from './page.js'
import { Footprints, thumbnail } from './rasters.js'
import { tiffGrid } from './geotiff.js'

/** Records the map shows at most; beyond, a sample of them (said on the page). */
export const MAX_FOOTPRINTS = 10_000
/** Base64 bytes of thumbnails inlined into the page; the others go beside it, in NAME_files/. */
export const INLINE_THUMBNAILS_BUDGET = 1_500_000
/** Thumbnails made at once: GDAL's reads and PNG encoding on libuv's pool. */
const THUMBNAIL_JOBS = 4

export function reportHelp (): string {
  return `Usage: rasterpipe report [records.ndjson ...] [--stats run.json ...] -o FILE

Makes one HTML page of what runs made, from the result records they printed
(files, or stdin when none or '-'; several runs or shards at once) and their
--stats files: the counts, a map of the outputs' footprints (EPSG:4326, coloured
by status; a click shows the record), thumbnails of a sample of the outputs,
errors by code with examples, stage times, hosts' limits and throttling, and
--chip-stats histograms. The page needs no network (unless --basemap): its
thumbnails are inlined, or past ${formatBytes(INLINE_THUMBNAILS_BUDGET)} beside it in NAME_files/. Over
${MAX_FOOTPRINTS} records, it shows a sample of them (and says so).

Options:
  -o, --output FILE       the page to write (default report.html)
      --stats FILE        a run's --stats JSON (wall time, throughput, hosts);
                          repeatable
      --thumbnails N      thumbnails of N outputs spread over the records
                          (default 100; 0: none)
      --basemap TEMPLATE  XYZ tiles behind the map, as
                          https://tile.example/{z}/{x}/{y}.png (fetched by the
                          browser when the page is viewed)
      --base DIR          where outputs named by a relative path are looked
                          for, after the current directory and the records
                          file's; repeatable
      --title TEXT        the page's title (default: rasterpipe report)
      --config KEY=VALUE  as the run's: GDAL and store settings for reading
                          outputs
  -h, --help              this help

Outputs in s3://, gs://, az:// or at http(s) URLs are read with the credentials
of the environment, as the run reads its sources. Exit status: 0 written;
2 usage error, or a line that is not a result record (named by file and line).

Example:
  rasterpipe -o chips --stats run.json inputs.ndjson > records.ndjson
  rasterpipe report records.ndjson --stats run.json -o report.html
`
}

function fail (message: string): never {
  throw new UsageError(`report: ${message}`)
}

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  stats: { type: 'string', multiple: true },
  thumbnails: { type: 'string' },
  basemap: { type: 'string' },
  base: { type: 'string', multiple: true },
  title: { type: 'string' },
  config: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' }
} as const

export interface ReportArgs {
  inputs: string[]
  output: string
  stats: string[]
  thumbnails: number
  basemap?: string
  bases: string[]
  title: string
  config: Record<string, string>
}

export function parseReportArgs (argv: string[]): ReportArgs | 'help' {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS })
  } catch (err) {
    const known = Object.entries(OPTIONS).flatMap(([k, o]) => ['--' + k, ...('short' in o ? ['-' + o.short] : [])])
    const unknown = argv.find((a) => /^-./.test(a) && !known.includes(a.split('=')[0]))
    if (unknown) throw unknownOption(unknown.split('=')[0], known)
    fail((err as Error).message)
  }
  const v = parsed.values
  if (v.help) return 'help'
  const thumbnails = v.thumbnails === undefined ? 100 : Number(v.thumbnails)
  if (!Number.isInteger(thumbnails) || thumbnails < 0) fail(`--thumbnails: '${v.thumbnails}' is not a whole number of 0 or more`)
  if (v.basemap !== undefined && !/^https?:\/\/.*\{z\}.*\{x\}.*\{y\}/.test(v.basemap)) fail(`--basemap: '${v.basemap}' is not an http(s) URL template with {z}, {x} and {y}`)
  const config: Record<string, string> = {}
  for (const pair of v.config ?? []) {
    const kv = keyValue(pair)
    if (!kv) fail(`--config: '${pair}' is not KEY=VALUE`)
    config[kv[0]] = kv[1]
  }
  return {
    inputs: parsed.positionals.length === 0 ? ['-'] : parsed.positionals,
    output: v.output ?? 'report.html',
    stats: v.stats ?? [],
    thumbnails,
    ...(v.basemap !== undefined ? { basemap: v.basemap } : {}),
    bases: v.base ?? [],
    title: v.title ?? 'rasterpipe report',
    config
  }
}


/** Every record of every input into the collector; each file's records keep their line numbers for "where". */
export async function collect (inputs: string[], io: CliIo, collector: Collector, lineOf: Map<number, string>): Promise<void> {
  for (const name of inputs) {
    if (name !== '-') {
      await access(name, constants.R_OK).catch((err: Error) => fail(`cannot read '${name}': ${err.message}`))
      if ((await stat(name)).isDirectory()) fail(`'${name}' is a directory`)
    }
    const stream = (name === '-' ? io.stdin : createReadStream(name)) as NodeJS.ReadableStream
    let n = 0
    for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
      n++
      if (text.trim() === '') continue
      const where = `${name === '-' ? 'stdin' : name}:${n}`
      const seq = collector.records
      collector.add(asRecord(text, where, fail), name, text)
      lineOf.set(seq, where)
      // Only the sampled records' places are needed: keep the map as small as the sample.
      if (lineOf.size > 4 * collector.sampleSize) {
        const kept = new Set(collector.sample.map((k) => k.seq))
        for (const key of lineOf.keys()) if (!kept.has(key)) lineOf.delete(key)
      }
    }
  }
}


/** Indexes of up to n of the sampled ok records with an output, spread evenly over them. */
export function thumbnailPicks (kept: Kept[], n: number): number[] {
  const candidates = kept.flatMap((k, i) => k.record.status === 'ok' && typeof k.record.output === 'string' ? [i] : [])
  if (n <= 0 || candidates.length === 0) return []
  if (candidates.length <= n) return candidates
  return Array.from({ length: n }, (_, j) => candidates[Math.floor(j * candidates.length / n)])
}

export interface ReportResult {
  path: string
  bytes: number
  records: number
  footprints: number
  thumbnails: number
  besideFiles: number
  notFound: number
  /** Why the first output that could not be read was not. */
  firstProblem?: string
}

/** Thumbnails written beside the page: only files by this name are ever removed from its folder. */
const BESIDE_NAME = /^rasterpipe-thumb-\d+\.png$/

export async function buildReport (args: ReportArgs, io: CliIo): Promise<ReportResult> {
  // The page's folder must be there before any work is done for it.
  const folder = dirname(args.output)
  const place = await stat(folder).catch(() => undefined)
  if (!place?.isDirectory()) fail(`-o ${args.output}: no directory '${folder}' to write the page in`)
  const collector = new Collector(MAX_FOOTPRINTS)
  const lineOf = new Map<number, string>()
  await collect(args.inputs, io, collector, lineOf)
  const runs = args.stats.length === 0 ? [] : (await readStats(args.stats, fail)).map((stats, i) => ({ name: args.stats[i], stats }))
  const kept = collector.sampled()
  const gdal = loadGdal()
  for (const [k, value] of Object.entries(args.config)) gdal.config.set(k, value)
  const footprints = new Footprints(gdal)
  const remote = new RemoteOutputs(args.config)
  const records: PageRecord[] = kept.map((k) => ({ text: k.text, status: k.record.status, where: lineOf.get(k.seq) ?? `${k.from}` }))
  const bbox = new Map<number, Footprint['bbox']>()
  const picks = new Set(thumbnailPicks(kept, args.thumbnails))
  const thumbs: Thumbnail[] = []
  const filesDir = join(dirname(args.output), basename(args.output).replace(/\.html?$/i, '') + '_files')
  let inlined = 0
  let beside = 0
  let notFound = 0
  let firstProblem: string | undefined
  // A previous report's thumbnails by this name go; anything else in that folder (a browser's saved page's) stays.
  for (const name of await readdir(filesDir).catch(() => [] as string[])) {
    if (BESIDE_NAME.test(name)) await rm(join(filesDir, name), { force: true })
  }
  // Footprints first (from records, GeoTIFF tags, else GDAL), then the thumbnails, THUMBNAIL_JOBS at once.
  const unreadable = (output: string, err: Error): undefined => { notFound++; firstProblem ??= `${output}: ${err.message}`; return undefined }
  const todo: Array<{ i: number, output: string, place: { path: string, remote: boolean } }> = []
  for (let i = 0; i < kept.length; i++) {
    const r = kept[i].record
    const known = footprints.fromRecord(r)
    if (known) bbox.set(i, known)
    const output = typeof r.output === 'string' && r.status !== 'error' ? r.output : undefined
    if (output === undefined || (known && !picks.has(i))) continue
    const place = locateOutput(output, kept[i].from, args.bases)
    if (!place) { unreadable(output, new Error('not found')); continue }
    if (!place.remote && !bbox.has(i)) {
      const grid = tiffGrid(place.path)
      const b = grid && footprints.fromGrid(grid.transform, grid.width, grid.height, grid.crs)
      if (b) bbox.set(i, b)
    }
    if (picks.has(i)) todo.push({ i, output, place })
    else if (!place.remote && !bbox.has(i)) {
      // Not a GeoTIFF GDAL's tags tell: GDAL opens it for its footprint. A store's output is read only for a thumbnail.
      const opened = await openOutput(gdal, place, remote).catch((err: Error) => unreadable(output, err))
      if (!opened) continue
      try {
        const b = footprints.fromDataset(opened.ds)
        if (b) bbox.set(i, b)
      } finally {
        opened.close()
      }
    }
  }
  const made = new Map<number, { png: Buffer, width: number, height: number }>()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const { i, output, place } = todo[next++]
      const opened = await openOutput(gdal, place, remote).catch((err: Error) => unreadable(output, err))
      if (!opened) continue
      try {
        if (!bbox.has(i)) {
          const b = footprints.fromDataset(opened.ds)
          if (b) bbox.set(i, b)
        }
        made.set(i, await thumbnail(gdal, opened.ds))
      } catch (err) {
        unreadable(output, err as Error)
      } finally {
        opened.close()
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: THUMBNAIL_JOBS }, worker))
  } finally {
    await remote.destroy()
  }
  // Inlined in the records' order until the budget is spent, whichever finished first.
  for (const { i, output } of todo) {
    const t = made.get(i)
    if (!t) continue
    const b64 = t.png.toString('base64')
    let src: string
    if (inlined + b64.length <= INLINE_THUMBNAILS_BUDGET) {
      src = `data:image/png;base64,${b64}`
      inlined += b64.length
    } else {
      await mkdir(filesDir, { recursive: true })
      const name = `rasterpipe-thumb-${String(i).padStart(5, '0')}.png`
      await writeFile(join(filesDir, name), t.png)
      src = `${basename(filesDir)}/${name}`
      beside++
    }
    thumbs.push({ i, src, width: t.width, height: t.height, caption: basename(output) })
  }
  const footprintList: Footprint[] = [...bbox].map(([i, b]) => ({ i, bbox: b, status: kept[i].record.status }))
  const mapNotes: string[] = []
  if (collector.records > kept.length) mapNotes.push(`A sample of ${kept.length} of the ${collector.records} records is shown (drawn at random, the same each time).`)
  const without = kept.length - footprintList.length
  if (without > 0) mapNotes.push(`${without} of the ${kept.length} records shown have no footprint: failed before an output (without a bbox), output not found or not readable${notFound > 0 ? ` (${notFound})` : ''}, or in a store (read only for the thumbnails).`)
  const galleryNotes = [`${thumbs.length} thumbnail${thumbs.length === 1 ? '' : 's'} of ${kept.filter((k) => k.record.status === 'ok' && k.record.output).length} ok outputs${collector.records > kept.length ? ' in the sample' : ''} (--thumbnails ${args.thumbnails}), spread over the records; each band stretched between its 2nd and 98th percentiles, nodata transparent.`]
  if (beside > 0) galleryNotes.push(`${beside} of them are in ${basename(filesDir)}/ beside the page (past ${formatBytes(INLINE_THUMBNAILS_BUDGET)} inlined): keep that folder with it.`)
  const merged = runs.length > 0 ? mergeStats(runs.map((r) => r.stats)) : undefined
  // Shards run side by side: the job's wall time is the longest run's.
  const wall = runs.length > 0 ? Math.max(...runs.map((r) => typeof r.stats.wall_s === 'number' && Number.isFinite(r.stats.wall_s) ? r.stats.wall_s : 0)) : undefined
  // A --stats file is the user's: its figures are taken as numbers only (text in them would reach the page).
  const num = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? v : 0
  const hosts: HostRow[] = runs.flatMap((r) => Object.entries(r.stats.hosts ?? {}).map(([origin, h]) => ({
    run: r.name,
    origin,
    limit_min: num(h.limit_min),
    limit_max: num(h.limit_max),
    limit_final: num(h.limit_final),
    throttled: num(h.throttled),
    retry_after_holds: num(h.retry_after_holds)
  })))
  const t = collector.tally.counts()
  const toObject = (m: Map<number, number[]>): Record<string, number[]> => Object.fromEntries([...m].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), v]))
  const model: ReportModel = {
    title: args.title,
    generated: new Date().toISOString(),
    inputs: args.inputs.map((n) => n === '-' ? 'stdin' : n),
    statsFiles: args.stats,
    summary: {
      records: t.records,
      ok: t.ok,
      failed: t.failed,
      skipped: t.skipped,
      bytes: t.bytes,
      attempts: collector.attempts,
      ...(wall !== undefined ? { wall_s: wall, bytes_per_s: wall > 0 ? Math.round(t.bytes / wall) : 0 } : {}),
      ...(merged?.throttled !== undefined ? { throttled: merged.throttled } : {})
    },
    records,
    footprints: footprintList,
    mapNotes,
    thumbnails: thumbs,
    galleryNotes,
    errors: [...collector.errors.values()],
    stageMs: Object.fromEntries(STAGES.filter((s) => collector.stageMs.has(s)).map((s) => [s, collector.stageMs.get(s) as number[]])),
    totalMs: collector.totalMs,
    bytes: collector.bytes,
    hosts,
    chipMean: toObject(collector.chipMean),
    chipValid: toObject(collector.chipValid),
    ...(args.basemap !== undefined ? { basemap: args.basemap } : {})
  }
  const html = reportHtml(model)
  await writeFile(args.output, html)
  return { path: args.output, bytes: Buffer.byteLength(html), records: t.records, footprints: footprintList.length, thumbnails: thumbs.length, besideFiles: beside, notFound, ...(firstProblem !== undefined ? { firstProblem } : {}) }
}

let vsiSeq = 0

async function openOutput (gdal: Gdal, place: { path: string, remote: boolean }, remote: RemoteOutputs): Promise<{ ds: Dataset, close: () => void }> {
  if (!place.remote) {
    const ds = await gdal.openAsync(place.path)
    return { ds, close: () => ds.close() }
  }
  const bytes = await remote.read(place.path)
  const path = `/vsimem/rasterpipe-report-in-${process.pid}-${++vsiSeq}${/\.[a-z0-9]+$/i.exec(place.path)?.[0] ?? '.tif'}`
  gdal.vsimem.set(bytes, path)
  try {
    const ds = await gdal.openAsync(path)
    return { ds, close: () => { ds.close(); try { gdal.vsimem.release(path) } catch { /* released */ } } }
  } catch (err) {
    try { gdal.vsimem.release(path) } catch { /* released */ }
    throw err
  }
}

export async function report (argv: string[], io: CliIo): Promise<number> {
  try {
    const args = parseReportArgs(argv)
    if (args === 'help') { io.stdout.write(reportHelp()); return 0 }
    const r = await buildReport(args, io)
    io.stderr.write(printable(`rasterpipe report: ${r.path} (${formatBytes(r.bytes)}): ${r.records} record${r.records === 1 ? '' : 's'}, ` +
      `${r.footprints} footprint${r.footprints === 1 ? '' : 's'}, ${r.thumbnails} thumbnail${r.thumbnails === 1 ? '' : 's'}` +
      (r.besideFiles > 0 ? ` (${r.besideFiles} in its _files/ folder)` : '') + (r.notFound > 0 ? `; ${r.notFound} output${r.notFound === 1 ? '' : 's'} not found or not readable (the first: ${r.firstProblem ?? '?'})` : '') + '.') + '\n')
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`rasterpipe: ${printable(err.message)}\nTry 'rasterpipe report --help'.\n`)
      return 2
    }
    if (err instanceof GdalMissingError) {
      io.stderr.write(`rasterpipe: ${err.message.split('\n').map((line) => printable(line)).join('\n')}\n`)
      return 2
    }
    throw err
  }
}
