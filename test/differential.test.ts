// The differential test of range reads. Sources generated here (COGs of odd and prime sizes, a COG with
// overviews down to one pixel, striped and tiled, compressed and not, band-interleaved, more than 30
// overviews, and layouts libtiff reads by rules of its own), random windows, bands and out_sizes, each in
// range, auto and download mode: every record is either equal to gdal_translate of the same request (at
// the overview level rasterpipe pins, with -ovr) or an error. An ok record that differs fails the test.
// Then a crafted-header set: hostile directories, where every record must end well and the process stay
// small.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { runCli, scratch } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { chooseOverview } from '../lib/raster/overview.js'
import type { ResultRecord } from '../lib/core/records.js'
import type { StatsJson } from '../lib/cli/summary.js'

const gdal = loadGdal()
let server: RasterServer
let dir: string
const ENV = { RASTERPIPE_RETRY_BASE_MS: '5' }

/** A deterministic PRNG (mulberry32), so that a failure can be run again as it was. */
function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Noise over a gradient (so that compressed blocks have real sizes), in any type, georeferenced. */
function noisy (name: string, width: number, height: number, bands: number, type: string, driver: string, options: string[]): string {
  const mem = gdal.drivers.get('MEM').create('', width, height, bands, type)
  mem.srs = gdal.SpatialReference.fromEPSG(32618)
  mem.geoTransform = [500000, 10, 0, 4200000, 0, -10]
  const next = random(width * 31 + height)
  for (let b = 1; b <= bands; b++) {
    const data = new Float64Array(width * height)
    for (let i = 0; i < data.length; i++) data[i] = ((i % width) + Math.floor(i / width)) / 8 + Math.floor(next() * 64) + b
    mem.bands.get(b).pixels.write(0, 0, width, height, data)
  }
  const path = join(dir, name)
  gdal.drivers.get(driver).createCopy(path, mem, options).close()
  mem.close()
  return path
}

/** The entries of IFD 0 of a little-endian classic TIFF: where each tag's entry is. */
function entries (buf: Buffer): Map<number, { at: number, type: number, count: number, value: number }> {
  const ifd = buf.readUInt32LE(4)
  const out = new Map<number, { at: number, type: number, count: number, value: number }>()
  for (let i = 0, n = buf.readUInt16LE(ifd); i < n; i++) {
    const at = ifd + 2 + i * 12
    out.set(buf.readUInt16LE(at), { at, type: buf.readUInt16LE(at + 2), count: buf.readUInt32LE(at + 4), value: buf.readUInt32LE(at + 8) })
  }
  return out
}

function patched (from: string, name: string, patch: (buf: Buffer) => Buffer): string {
  const path = join(dir, name)
  writeFileSync(path, patch(Buffer.from(readFileSync(from))))
  return path
}

interface Source { name: string, path: string }
const sources: Source[] = []
const hostile: Source[] = []

before(async () => {
  dir = scratch('rp-diff-')
  const add = (path: string): void => { sources.push({ name: path.split('/').pop() as string, path }) }
  // The issue's own: an ordinary GDAL COG, uncompressed, 256-pixel blocks, one column more than 4096.
  add(noisy('cog-4097.tif', 4097, 4096, 1, 'Byte', 'COG', ['COMPRESS=NONE', 'BLOCKSIZE=256']))
  add(noisy('cog-prime.tif', 1031, 997, 3, 'UInt16', 'COG', ['COMPRESS=DEFLATE', 'BLOCKSIZE=128']))
  // Overviews down to a pixel or two.
  add(noisy('cog-tiny.tif', 515, 517, 1, 'Float32', 'COG', ['COMPRESS=DEFLATE', 'BLOCKSIZE=16', 'OVERVIEW_COUNT=9']))
  const tiled = noisy('tiled-planar.tif', 777, 555, 3, 'Int16', 'GTiff', ['TILED=YES', 'BLOCKXSIZE=64', 'BLOCKYSIZE=32', 'INTERLEAVE=BAND', 'COMPRESS=LZW'])
  execFileSync('gdaladdo', ['-q', '-r', 'nearest', tiled, '2', '4', '8'])
  add(tiled)
  // Striped, uncompressed, 7-row strips, and 34 overviews (GDAL keeps at most some of them).
  const striped = noisy('striped-34ovr.tif', 1009, 1013, 2, 'Byte', 'GTiff', ['BLOCKYSIZE=7', 'COMPRESS=NONE'])
  execFileSync('gdaladdo', ['-q', '-r', 'nearest', striped, ...Array.from({ length: 34 }, (_, i) => String(i + 2))])
  add(striped)
  // Layouts libtiff reads by rules of its own: strip offsets typed SLONG, and a first strip byte count of 0.
  const plain = noisy('plain-striped.tif', 600, 400, 1, 'Byte', 'GTiff', ['BLOCKYSIZE=16', 'COMPRESS=NONE'])
  add(patched(plain, 'slong-offsets.tif', (buf) => {
    const e = entries(buf).get(273)
    if (e) buf.writeUInt16LE(9, e.at + 2)
    return buf
  }))
  add(patched(plain, 'zero-bytecount.tif', (buf) => {
    const e = entries(buf).get(279)
    if (e) buf.writeUInt32LE(0, e.count === 1 ? e.at + 8 : e.value)
    return buf
  }))
  add(patched(plain, 'short-bytecount.tif', (buf) => {
    const e = entries(buf).get(279)
    if (e) buf.writeUInt32LE(10, e.count === 1 ? e.at + 8 : e.value)
    return buf
  }))
  // StripByteCounts missing: its entry renamed to a tag nobody reads.
  add(patched(plain, 'no-bytecounts.tif', (buf) => { const e = entries(buf).get(279); if (e) buf.writeUInt16LE(65000, e.at); return buf }))
  // SLONG8 offsets need BigTIFF.
  add(patched(noisy('plain-big.tif', 600, 400, 1, 'Byte', 'GTiff', ['BLOCKYSIZE=16', 'COMPRESS=NONE', 'BIGTIFF=YES']), 'slong8-offsets.tif', (buf) => {
    const ifd = Number(buf.readBigUInt64LE(8))
    for (let i = 0, n = Number(buf.readBigUInt64LE(ifd)); i < n; i++) {
      const at = ifd + 8 + i * 20
      if (buf.readUInt16LE(at) === 273) buf.writeUInt16LE(17, at + 2)
    }
    return buf
  }))
  // A tiled image whose offsets and counts sit under the strip tags, and a striped one under the tile tags.
  const tiles = noisy('plain-tiled.tif', 600, 400, 1, 'Byte', 'GTiff', ['TILED=YES', 'BLOCKXSIZE=128', 'BLOCKYSIZE=128', 'COMPRESS=NONE'])
  add(patched(tiles, 'tiles-under-strip-tags.tif', (buf) => {
    const e = entries(buf)
    buf.writeUInt16LE(273, e.get(324)?.at ?? 0)
    buf.writeUInt16LE(279, e.get(325)?.at ?? 0)
    return buf
  }))
  add(patched(plain, 'strips-under-tile-tags.tif', (buf) => {
    const e = entries(buf)
    buf.writeUInt16LE(324, e.get(273)?.at ?? 0)
    buf.writeUInt16LE(325, e.get(279)?.at ?? 0)
    return buf
  }))
  // A second ImageWidth, half the first, in place of the Photometric entry: libtiff keeps the first.
  add(patched(plain, 'duplicate-width.tif', (buf) => {
    const e = entries(buf).get(262)
    if (e) { buf.writeUInt16LE(256, e.at); buf.writeUInt16LE(3, e.at + 2); buf.writeUInt32LE(1, e.at + 4); buf.writeUInt32LE(300, e.at + 8) }
    return buf
  }))

  // Hostile directories.
  const base = noisy('base-tiled.tif', 512, 512, 1, 'Byte', 'GTiff', ['TILED=YES', 'COMPRESS=DEFLATE'])
  const bad = (name: string, patch: (buf: Buffer, e: ReturnType<typeof entries>) => Buffer): void => {
    hostile.push({ name, path: patched(base, name, (buf) => patch(buf, entries(buf))) })
  }
  bad('ifd-loop.tif', (buf) => { const ifd = buf.readUInt32LE(4); buf.writeUInt32LE(ifd, ifd + 2 + buf.readUInt16LE(ifd) * 12); return buf })
  bad('billions-of-tiles.tif', (buf, e) => { buf.writeUInt32LE(3_900_000_000, (e.get(324)?.at ?? 0) + 4); return buf })
  bad('offsets-past-end.tif', (buf, e) => { const o = e.get(324); if (o) for (let k = 0; k < o.count; k++) buf.writeUInt32LE(buf.length + 4096 * k, o.value + 4 * k); return buf })
  bad('huge-bytecounts.tif', (buf, e) => { const c = e.get(325); if (c) for (let k = 0; k < c.count; k++) buf.writeUInt32LE(4_000_000_000, c.value + 4 * k); return buf })
  bad('huge-unknown-tag.tif', (buf, e) => { const t = e.get(33550); if (t) buf.writeUInt32LE(300_000_000, t.at + 4); return buf })
  const big = noisy('big.tif', 512, 512, 1, 'Byte', 'COG', ['COMPRESS=DEFLATE', 'BIGTIFF=YES'])
  hostile.push({ name: 'truncated-bigtiff.tif', path: patched(big, 'truncated-bigtiff.tif', (buf) => buf.subarray(0, 600)) })
  // Larger than the probe, so that the range path reads its directories and finds its blocks cut off.
  const bigger = noisy('bigger.tif', 2048, 2048, 1, 'Byte', 'COG', ['COMPRESS=NONE', 'BIGTIFF=YES'])
  hostile.push({ name: 'truncated-bigtiff-2mb.tif', path: patched(bigger, 'truncated-bigtiff-2mb.tif', (buf) => buf.subarray(0, 2_000_000)) })

  server = await startServer()
  for (const s of [...sources, ...hostile]) server.file(s.name, readFileSync(s.path))
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Request { window: [number, number, number, number], bands?: number[], out_size?: [number, number] }

function requestsFor (path: string, count: number, seed: number): Request[] {
  // A layout GDAL cannot open at all (no StripByteCounts): requests as for the file it was made from.
  let width = 600
  let height = 400
  let bandCount = 1
  try {
    const ds = gdal.open(path)
    ;({ x: width, y: height } = ds.rasterSize)
    bandCount = ds.bands.count()
    ds.close()
  } catch { /* the defaults above */ }
  const next = random(seed)
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1))
  return Array.from({ length: count }, (_, i): Request => {
    // Mostly inside, some across an edge; from a few pixels up to most of the raster.
    const w = i === 0 ? Math.min(width, 3334) : int(1, Math.min(width, i % 3 === 0 ? width : 400))
    const h = i === 0 ? Math.min(height, 3334) : int(1, Math.min(height, i % 3 === 0 ? height : 400))
    const r: Request = { window: [i === 0 ? 0 : int(0, width - 1), i === 0 ? 0 : int(0, height - 1), w, h] }
    if (next() < 0.4) r.bands = Array.from({ length: int(1, bandCount) }, () => int(1, bandCount))
    // The issue's case first (3334² to 1000²); then half of the records resampled, mostly down.
    if (i === 0) r.out_size = [Math.max(1, Math.round(w * 0.3)), Math.max(1, Math.round(h * 0.3))]
    else if (next() < 0.5) r.out_size = [Math.max(1, Math.round(w * (0.05 + next() * 1.2))), Math.max(1, Math.round(h * (0.05 + next() * 1.2)))]
    return r
  })
}

/** gdal_translate of the record's request: the window it reports, its bands, its size and the level it pins. */
/** GDAL itself refused (it could not open the source, or gdal_translate failed), as opposed to a bug in this test. */
class GdalRefused extends Error {
  override name = 'GdalRefused'
}

function byGdal<T> (fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr
    throw new GdalRefused(stderr?.length ? stderr.toString().trim() : (err as Error).message)
  }
}

function reference (source: Source, record: ResultRecord, request: Request, cache: Map<string, string>): string {
  // An error record may have no window yet (it failed before one was resolved): then the request's.
  const [col, row, width, height] = request.window
  const w = record.window ?? { col, row, width, height }
  const args = ['-srcwin', String(w.col), String(w.row), String(w.width), String(w.height)]
  for (const b of request.bands ?? []) args.push('-b', String(b))
  if (request.out_size) {
    const ds = byGdal(() => gdal.open(source.path))
    const band = ds.bands.get(1)
    const sizes = Array.from({ length: band.overviews.count() }, (_, i) => band.overviews.get(i).size)
    const level = chooseOverview(ds.rasterSize, sizes, w, request.out_size)
    ds.close()
    args.push('-outsize', String(request.out_size[0]), String(request.out_size[1]), '-ovr', level === null ? 'NONE' : String(level))
  }
  const key = `${source.name} ${args.join(' ')}`
  let path = cache.get(key)
  if (!path) {
    path = byGdal(() => gdalTranslate(source.path, args, dir, `ref-${cache.size}.tif`))
    cache.set(key, path)
  }
  return path
}

const PER_SOURCE = 24

test(`differential: ${PER_SOURCE} random requests per source, in range, auto and download: each equal to gdal_translate or an error`, async () => {
  const cache = new Map<string, string>()
  const summary: string[] = []
  for (const mode of ['range', 'auto', 'download']) {
    let ok = 0
    let errors = 0
    for (const [k, source] of sources.entries()) {
      const requests = requestsFor(source.path, PER_SOURCE, 1000 + k)
      const input = requests.map((r) => JSON.stringify({ url: server.url(source.name), ...r })).join('\n') + '\n'
      const out = join(dir, `out-${mode}-${source.name}`)
      const run = await runCli(['-o', out, '-c', '8', '--fetch', mode, '--no-progress', '--max-pixels', String(4200 * 4200)], { stdin: input, env: ENV })
      assert.equal(run.records.length, requests.length, `${mode} ${source.name}: ${run.stderr.slice(-1000)}`)
      for (const record of run.records) {
        const what = `${mode} ${source.name} line ${record.line} ${JSON.stringify(requests[record.line - 1])}`
        if (record.status !== 'ok') {
          errors++
          // Range mode may refuse a layout, saying so. Download mode is GDAL reading the whole file, and
          // auto falls back to it: they may fail only where GDAL's own gdal_translate fails too.
          if (mode === 'range' && record.error?.code === 'BAD_TIFF') continue
          assert.throws(() => reference(source, record, requests[record.line - 1], cache), GdalRefused, `${what}: ${record.error?.code} ${record.error?.message}, but gdal_translate reads it`)
          continue
        }
        ok++
        assertSameRaster(record.output as string, reference(source, record, requests[record.line - 1], cache), what)
      }
    }
    summary.push(`${mode}: ${ok} ok and equal, ${errors} errors, 0 ok-and-wrong`)
  }
  process.stderr.write(`differential: ${sources.length} sources × ${PER_SOURCE} requests; ${summary.join('; ')}\n`)
})

test('crafted headers: IFD loops, billions of tiles, offsets past the end, huge counts, a truncated BigTIFF: every record ends well, the process stays small', async () => {
  for (const mode of ['range', 'auto', 'download']) {
    const input = hostile.map((s) => JSON.stringify({ url: server.url(s.name), id: s.name, window: [0, 0, 256, 256] })).join('\n') + '\n'
    const out = join(dir, `out-hostile-${mode}`)
    const stats = join(dir, `hostile-${mode}.json`)
    const run = await runCli(['-o', out, '--fetch', mode, '--no-progress', '--stats', stats], { stdin: input, env: ENV })
    assert.ok(run.code === 0 || run.code === 1, `${mode}: exit ${run.code}, signal ${run.signal}: ${run.stderr.slice(-1000)}`)
    assert.equal(run.records.length, hostile.length)
    for (const record of run.records) {
      const source = hostile.find((s) => s.name === record.id) as Source
      // GDAL itself reads some of these (it stops at an IFD loop): then the output must equal its own.
      if (record.status === 'ok') assertSameRaster(record.output as string, gdalTranslate(source.path, ['-srcwin', '0', '0', '256', '256'], dir, `ref-hostile-${mode}-${record.line}.tif`), `${mode} ${record.id}`)
      else assert.doesNotMatch(record.error?.message ?? '', /\bat (?:async )?\w+ \(|node:internal|RangeError/, `${mode} ${record.id}: a message for people`)
    }
    const s = JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
    assert.ok(s.peak_rss_mb < 500, `${mode}: peak RSS ${s.peak_rss_mb} MB`)
    process.stderr.write(`crafted ${mode}: ${run.records.map((r) => `${r.id} ${r.status === 'ok' ? 'ok' : r.error?.code}`).join(', ')}; peak RSS ${s.peak_rss_mb} MB\n`)
    assert.deepEqual(existsSync(out) ? readdirSync(out).filter((n) => n.includes('.part')) : [], [])
  }
})
