// Multi-source records (stacks): four COGs made here with GDAL, two at 10 m and two at 20 m over the same
// area in UTM, served on loopback. Each output band is checked against GDAL's own tools run on its source
// alone: gdal_translate -srcwin / -projwin for the 10 m bands (on the output's grid: exact), gdalwarp with
// the output's extent and resolution for the 20 m bands (nearest exact; bilinear within 1, see below).
// Then: range reads move only the blocks under the chip, one missing source fails its record alone, and
// memory stays within --max-memory with a stack's bytes the sum of its sources' windows.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { loadGdal, type Dataset } from '../lib/raster/gdal.js'
import { startServer, type RasterServer } from './support/server.js'
import { runCli, scratch } from './support/run.js'
import { assertSameRaster, gdalTranslate, gdalWarp } from './support/compare.js'
import type { StatsJson } from '../lib/cli/summary.js'
import type { ResultRecord } from '../lib/core/records.js'
import { rasterPipeline } from '../lib/index.js'

const gdal = loadGdal()
const ENV = { RASTERPIPE_RETRY_BASE_MS: '1' }
const UTM = 'EPSG:32633'
const X0 = 300000
const Y0 = 5000000

let dir: string
let data: string
let server: RasterServer | undefined

/** A UInt16 COG of noise (10 bits, so that it compresses as imagery does, not to nothing). */
function makeCog (name: string, side: number, res: number, seed: number, meta: { nodata?: number, scale?: number, offset?: number } = {}): string {
  const mem = gdal.drivers.get('MEM').create('', side, side, 1, 'UInt16')
  mem.geoTransform = [X0, res, 0, Y0, 0, -res]
  mem.srs = gdal.SpatialReference.fromUserInput(UTM)
  const band = mem.bands.get(1)
  const row = new Uint16Array(side)
  let s = seed * 2654435761 >>> 0 || 1
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      // xorshift32; never 0, so that nodata 0 marks only what lies outside a source.
      s ^= s << 13; s >>>= 0
      s ^= s >>> 17
      s ^= s << 5; s >>>= 0
      row[x] = 1 + (s & 1023)
    }
    band.pixels.write(0, y, side, 1, row)
  }
  if (meta.nodata !== undefined) band.noDataValue = meta.nodata
  if (meta.scale !== undefined) band.scale = meta.scale
  if (meta.offset !== undefined) band.offset = meta.offset
  const path = join(data, name)
  gdal.drivers.get('COG').createCopy(path, mem, ['BLOCKSIZE=256', 'COMPRESS=DEFLATE']).close()
  mem.close()
  return path
}

before(() => {
  dir = scratch('rp-stack-')
  data = join(dir, 'data')
  mkdirSync(data)
  // Pixel checks: 10 m bands of 1024² and 20 m bands of 512², the same 10.24 km square.
  makeCog('B04.tif', 1024, 10, 1)
  makeCog('B08.tif', 1024, 10, 2)
  makeCog('B11.tif', 512, 20, 3, { nodata: 0, scale: 0.0002 })
  makeCog('B12.tif', 512, 20, 4)
  // Two versions of one 20 m source, for a source that changes on the server during a read.
  makeCog('v1-B11.tif', 512, 20, 9)
  makeCog('v2-B11.tif', 512, 20, 10)
  // The byte check: four COGs of 4096², two at 10 m and two at 20 m.
  makeCog('big-B04.tif', 4096, 10, 5)
  makeCog('big-B08.tif', 4096, 10, 6)
  makeCog('big-B11.tif', 4096, 20, 7)
  makeCog('big-B12.tif', 4096, 20, 8)
})
before(async () => { server = await startServer(data) })
after(async () => {
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The four sources as entries: names for all; nodata from the entry where the source has none. */
function sources (prefix = ''): unknown[] {
  return [
    { url: (server as RasterServer).url(`${prefix}B04.tif`), name: 'red', bands: [{ nodata: 0 }] },
    { url: (server as RasterServer).url(`${prefix}B08.tif`), name: 'nir', bands: [{ nodata: 0, scale: 0.0001, offset: -0.1 }] },
    // Its own nodata and scale win over the entry's.
    { url: (server as RasterServer).url(`${prefix}B11.tif`), name: 'swir16', bands: [{ nodata: 0, scale: 0.0001, offset: -0.1 }] },
    { url: (server as RasterServer).url(`${prefix}B12.tif`), name: 'swir22', bands: [{ nodata: 0, scale: 0.0001, offset: -0.1 }] }
  ]
}

function readBand (ds: Dataset, b: number): ArrayLike<number> {
  return ds.bands.get(b).pixels.read(0, 0, ds.rasterSize.x, ds.rasterSize.y) as ArrayLike<number>
}

/** Our band `b` against the reference's one band: grid to 1e-9, pixels within `tolerance`; the largest difference. */
function compareBand (ours: string, b: number, reference: string, what: string, tolerance = 0): number {
  const a = gdal.open(ours)
  const r = gdal.open(reference)
  try {
    assert.deepEqual(a.rasterSize, r.rasterSize, `${what}: size`)
    const ga = a.geoTransform as number[]
    const gr = r.geoTransform as number[]
    ga.forEach((v, i) => assert.ok(Math.abs(v - gr[i]) <= 1e-9, `${what}: geotransform[${i}] ${v} != ${gr[i]}`))
    assert.ok(a.srs?.isSame(r.srs as NonNullable<typeof r.srs>), `${what}: CRS`)
    const pa = readBand(a, b)
    const pr = readBand(r, 1)
    let max = 0
    for (let k = 0; k < pa.length; k++) {
      const d = Math.abs(pa[k] - pr[k])
      if (d > max) max = d
      if (d > tolerance) assert.fail(`${what}: pixel ${k % a.rasterSize.x},${Math.floor(k / a.rasterSize.x)}: ${pa[k]} != ${pr[k]}`)
    }
    return max
  } finally {
    a.close()
    r.close()
  }
}

function checkMetadata (out: string): void {
  const ds = gdal.open(out)
  try {
    assert.equal(ds.bands.count(), 4)
    const bands = [1, 2, 3, 4].map((b) => ds.bands.get(b))
    assert.deepEqual(bands.map((b) => b.description), ['red', 'nir', 'swir16', 'swir22'])
    assert.deepEqual(bands.map((b) => b.noDataValue), [0, 0, 0, 0])
    // B08 and B12 have no scale or offset: the entry's; B11 has its own scale (and no offset: the entry's).
    assert.deepEqual(bands.map((b) => b.scale), [null, 0.0001, 0.0002, 0.0001])
    assert.deepEqual(bands.map((b) => b.offset), [null, -0.1, -0.1, -0.1])
    assert.deepEqual(bands.map((b) => b.dataType), ['UInt16', 'UInt16', 'UInt16', 'UInt16'])
  } finally {
    ds.close()
  }
}

async function runOne (name: string, record: Record<string, unknown>, args: string[] = []): Promise<{ rec: ResultRecord, out: string }> {
  const outDir = join(dir, name)
  const run = await runCli(['-o', outDir, '--no-progress', ...args], { stdin: JSON.stringify({ urls: sources(), out: 'out.tif', ...record }) + '\n', env: ENV })
  assert.equal(run.code, 0, run.stderr.slice(-2000))
  const rec = run.records[0]
  assert.equal(rec.status, 'ok', JSON.stringify(rec))
  return { rec, out: join(outDir, 'out.tif') }
}

for (const mode of ['download', 'range']) {
  test(`a pixel window in the first source's grid (${mode}): 10 m bands equal gdal_translate -srcwin, 20 m bands gdalwarp -r near`, async () => {
    const { rec, out } = await runOne(`window-${mode}`, { window: [101, 203, 256, 192] }, ['--fetch', mode])
    checkMetadata(out)
    assert.deepEqual(rec.grid?.transform, [X0 + 1010, 10, 0, Y0 - 2030, 0, -10])
    assert.equal(rec.sources?.length, 4)
    assert.equal(rec.bytes, rec.sources?.reduce((s, x) => s + x.bytes, 0))
    assert.equal(rec.attempts, rec.sources?.reduce((s, x) => s + x.attempts, 0))
    const ref = join(dir, `window-${mode}`)
    compareBand(out, 1, gdalTranslate(join(data, 'B04.tif'), ['-srcwin', '101', '203', '256', '192'], ref, 'b04.tif'), 'B04')
    compareBand(out, 2, gdalTranslate(join(data, 'B08.tif'), ['-srcwin', '101', '203', '256', '192'], ref, 'b08.tif'), 'B08')
    const te = [X0 + 1010, Y0 - 2030 - 1920, X0 + 1010 + 2560, Y0 - 2030].map(String)
    compareBand(out, 3, gdalWarp(join(data, 'B11.tif'), ['-te', ...te, '-tr', '10', '10', '-r', 'near'], ref, 'b11.tif'), 'B11')
    compareBand(out, 4, gdalWarp(join(data, 'B12.tif'), ['-te', ...te, '-tr', '10', '10', '-r', 'near', '-srcnodata', '0', '-dstnodata', '0'], ref, 'b12.tif'), 'B12')
  })
}

/** How many pixels of band `b` hold `value`. */
function countValue (file: string, b: number, value: number): number {
  const ds = gdal.open(file)
  try {
    let n = 0
    const px = readBand(ds, b)
    for (let k = 0; k < px.length; k++) if (px[k] === value) n++
    return n
  } finally {
    ds.close()
  }
}

test('a boundless window past the edges of same-grid sources without nodata, entry nodata 255: the outside is 255, as gdal_translate -a_nodata 255 -srcwin', async () => {
  const entries = [
    { url: (server as RasterServer).url('B04.tif'), name: 'red', bands: [{ nodata: 255 }] },
    { url: (server as RasterServer).url('B08.tif'), name: 'nir', bands: [{ nodata: 255 }] }
  ]
  const ref = join(dir, 'outside-255')
  mkdirSync(ref)
  // The windows, and how many of their pixels lie outside the 1024² sources.
  for (const [label, window, outside] of [
    ['top-left corner', [-50, -40, 200, 160], 200 * 160 - 150 * 120],
    ['bottom-right corner', [950, 990, 100, 64], 100 * 64 - 74 * 34]
  ] as const) {
    const { out } = await runOne(`outside-255-${label.replace(/ /g, '-')}`, { urls: entries, window, boundless: true })
    for (const [b, name] of [[1, 'B04'], [2, 'B08']] as const) {
      const reference = gdalTranslate(join(data, `${name}.tif`), ['-a_nodata', '255', '-srcwin', ...window.map(String)], ref, `${name}-${label.replace(/ /g, '-')}.tif`)
      compareBand(out, b, reference, `${name}, ${label}`)
      const ds = gdal.open(out)
      assert.equal(ds.bands.get(b).noDataValue, 255, `${name}: the output band declares the entry's nodata`)
      ds.close()
      // Every pixel outside the source is nodata (the source's values being 1 to 1024, a few inside are 255 too).
      const n = countValue(out, b, 255)
      assert.equal(n, countValue(reference, 1, 255), `${name}, ${label}: nodata pixels`)
      assert.ok(n >= outside, `${name}, ${label}: ${n} nodata pixels, fewer than the ${outside} outside`)
    }
  }
})

test('a stack whose source changes between probe and blocks restarts, and comes out as a clean run of the new version: grid and pixels', async () => {
  const s = server as RasterServer
  const v1 = readFileSync(join(data, 'v1-B11.tif'))
  const v2 = readFileSync(join(data, 'v2-B11.tif'))
  for (const [label, request] of [
    ['res 15, tap', { window: [100, 100, 64, 64], res: 15, tap: true }],
    ['res 15', { window: [100, 100, 64, 64], res: 15 }],
    ['a pixel window', { window: [101, 99, 64, 64], resampling: 'bilinear', boundless: true }]
  ] as const) {
    const name = `changing-${label.replace(/[ ,]+/g, '-')}.tif`
    s.file(name, v1)
    // The probe sees the first version; every later request the second (another ETag): the block
    // request finds the change, and the record restarts from a fresh probe of the second version.
    s.fault(name, { kind: 'delay', ms: 0 })
    s.always(name, { kind: 'version', body: v2, etag: '"v2"' })
    s.file(`clean-${name}`, v2)
    const urls = (first: string): unknown[] => [s.url(first), s.url('B04.tif')]
    const { rec: changed, out } = await runOne(`changed-${name}`, { urls: urls(name), ...request }, ['--fetch', 'range'])
    const { rec: clean, out: cleanOut } = await runOne(`clean-${name}`, { urls: urls(`clean-${name}`), ...request }, ['--fetch', 'range'])
    assert.ok(s.stats(name).ifMatch.filter((m) => m === '"v2"').length > 0, `${label}: the record restarted on the new version`)
    assert.deepEqual(changed.grid, clean.grid, `${label}: grid`)
    assert.deepEqual(changed.window, clean.window, `${label}: window`)
    assertSameRaster(out, cleanOut, label)
  }
})

test('a bbox, the first source a 20 m one: the grid is the finest source\'s; gdal_translate -projwin and gdalwarp -r nearest and bilinear', async () => {
  const bbox = [X0 + 1234, Y0 - 5678, X0 + 4321, Y0 - 2345]
  const ref = join(dir, 'bbox-ref')
  mkdirSync(ref)
  // -projwin on the 10 m grid: offsets floor(1234 / 10 + 0.001) = 123, floor(2345 / 10 + 0.001) = 234; sizes
  // floor(308.7 + 0.5) = 309, floor(333.3 + 0.5) = 333.
  const te = [X0 + 1230, Y0 - 2340 - 3330, X0 + 4320, Y0 - 2340].map(String)
  for (const method of ['nearest', 'bilinear']) {
    // The 20 m B11 first: the grid is still B04's and B08's, the finest.
    const [b04, b08, b11, b12] = sources()
    const { rec, out } = await runOne(`bbox-${method}`, { urls: [b11, b04, b08, b12], bbox, resampling: method })
    assert.deepEqual(rec.grid?.transform, [X0 + 1230, 10, 0, Y0 - 2340, 0, -10])
    const r = method === 'nearest' ? 'near' : method
    // Bilinear through gdalwarp's own kernel on both sides; integers may round differently by 1 (as
    // test/warp.test.ts allows), although the two are the same call with the same arguments.
    const tolerance = method === 'nearest' ? 0 : 1
    const diffs = [
      compareBand(out, 1, gdalWarp(join(data, 'B11.tif'), ['-te', ...te, '-tr', '10', '10', '-r', r], ref, `b11-${method}.tif`), `B11 ${method}`, tolerance),
      compareBand(out, 2, gdalTranslate(join(data, 'B04.tif'), ['-projwin', ...[bbox[0], bbox[3], bbox[2], bbox[1]].map(String)], ref, 'b04.tif'), 'B04'),
      compareBand(out, 3, gdalTranslate(join(data, 'B08.tif'), ['-projwin', ...[bbox[0], bbox[3], bbox[2], bbox[1]].map(String)], ref, 'b08.tif'), 'B08'),
      compareBand(out, 4, gdalWarp(join(data, 'B12.tif'), ['-te', ...te, '-tr', '10', '10', '-r', r, '-srcnodata', '0', '-dstnodata', '0'], ref, `b12-${method}.tif`), `B12 ${method}`, tolerance)
    ]
    process.stderr.write(`stack bbox ${method}: largest difference per band against GDAL ${diffs.join(', ')}\n`)
    const ds = gdal.open(out)
    assert.deepEqual([1, 2, 3, 4].map((b) => ds.bands.get(b).description), ['swir16', 'red', 'nir', 'swir22'])
    ds.close()
  }
})

test('a target grid (--dst-crs another UTM zone, --res 15, --tap): every band equals gdalwarp onto that grid', async () => {
  const bbox = [X0 + 2000, Y0 - 6000, X0 + 5000, Y0 - 3000]
  const { rec, out } = await runOne('target', { bbox }, ['--dst-crs', 'EPSG:32634', '--res', '15', '--tap'])
  checkMetadata(out)
  assert.equal(rec.grid?.crs, 'EPSG:32634')
  // The region carried into the target CRS as gdalwarp's -te, densified 21 points an edge (README).
  const ct = new gdal.CoordinateTransformation(gdal.SpatialReference.fromUserInput(UTM), gdal.SpatialReference.fromUserInput('EPSG:32634'))
  const pts = []
  for (let i = 0; i < 21; i++) {
    const t = i / 20
    for (const [x, y] of [[bbox[0] + t * (bbox[2] - bbox[0]), bbox[1]], [bbox[0] + t * (bbox[2] - bbox[0]), bbox[3]], [bbox[0], bbox[1] + t * (bbox[3] - bbox[1])], [bbox[2], bbox[1] + t * (bbox[3] - bbox[1])]]) pts.push(ct.transformPoint(x, y))
  }
  const te = [Math.min(...pts.map((p) => p.x)), Math.min(...pts.map((p) => p.y)), Math.max(...pts.map((p) => p.x)), Math.max(...pts.map((p) => p.y))].map(String)
  const ref = join(dir, 'target-ref')
  mkdirSync(ref)
  const warp = ['-t_srs', 'EPSG:32634', '-te', ...te, '-tr', '15', '15', '-tap', '-r', 'near', '-et', '0']
  compareBand(out, 1, gdalWarp(join(data, 'B04.tif'), [...warp, '-srcnodata', '0', '-dstnodata', '0'], ref, 'b04.tif'), 'B04')
  compareBand(out, 2, gdalWarp(join(data, 'B08.tif'), [...warp, '-srcnodata', '0', '-dstnodata', '0'], ref, 'b08.tif'), 'B08')
  compareBand(out, 3, gdalWarp(join(data, 'B11.tif'), warp, ref, 'b11.tif'), 'B11')
  compareBand(out, 4, gdalWarp(join(data, 'B12.tif'), [...warp, '-srcnodata', '0', '-dstnodata', '0'], ref, 'b12.tif'), 'B12')
})

test('range mode: a 256×256 chip out of four 4096² COGs moves under 5% of the four files', async () => {
  const { rec } = await runOne('bytes', { urls: sources('big-'), window: [2000, 1500, 256, 256] }, ['--fetch', 'range'])
  const files = ['B04', 'B08', 'B11', 'B12'].reduce((s, b) => s + statSync(join(data, `big-${b}.tif`)).size, 0)
  const moved = (rec.sources ?? []).reduce((s, x) => s + x.bytes, 0)
  assert.deepEqual(rec.sources?.map((s) => s.fetch), ['range', 'range', 'range', 'range'])
  assert.equal(rec.fetch, 'range')
  assert.equal(rec.bytes, moved)
  process.stderr.write(`stack range: ${moved} bytes moved of ${files} (${(100 * moved / files).toFixed(2)}%), per source ${rec.sources?.map((s) => s.bytes).join(', ')}\n`)
  assert.ok(moved < 0.05 * files, `${moved} bytes of ${files}`)
})

test('the library takes a multi-source record as an object', async () => {
  const pipeline = rasterPipeline({ outDir: join(dir, 'library') })
  pipeline.end({ urls: [{ url: join(data, 'B04.tif'), bands: [{ nodata: 0 }] }, { url: join(data, 'B11.tif'), name: 'swir16' }], window: { col: 0, row: 0, width: 32, height: 32 } })
  const records: ResultRecord[] = []
  for await (const r of pipeline) records.push(r)
  assert.equal(records.length, 1)
  assert.equal(records[0].status, 'ok', JSON.stringify(records[0]))
  assert.deepEqual(records[0].sources?.map((s) => s.fetch), ['local', 'local'])
})

test('one source missing (404): its record fails naming that source; the other records go on', async () => {
  const [b04, b08, , b12] = sources()
  const missing = (server as RasterServer).url('no-such-B11.tif')
  const input = [
    { urls: sources(), window: [0, 0, 64, 64], out: 'a.tif' },
    { urls: [b04, b08, missing, b12], window: [0, 0, 64, 64], out: 'b.tif' },
    { urls: sources(), window: [64, 64, 64, 64], out: 'c.tif' }
  ].map((r) => JSON.stringify(r)).join('\n') + '\n'
  const run = await runCli(['-o', join(dir, 'missing'), '--no-progress'], { stdin: input, env: ENV })
  assert.equal(run.code, 1)
  const byLine = new Map(run.records.map((r) => [r.line, r]))
  assert.equal(byLine.get(1)?.status, 'ok')
  assert.equal(byLine.get(3)?.status, 'ok')
  const failed = byLine.get(2) as ResultRecord
  assert.equal(failed.status, 'error')
  assert.equal(failed.error?.stage, 'fetch')
  assert.equal(failed.error?.code, 'HTTP_404')
  assert.ok(failed.error?.message.startsWith(`source 3 of 4: ${missing}`), failed.error?.message)
  assert.deepEqual((failed.record as { urls: unknown[] }).urls[2], missing)
})

test('bad stacks are input errors naming the entry; mixed nodata in GTiff is refused at open, naming the source', async () => {
  const input = [
    { url: (server as RasterServer).url('B04.tif'), urls: [(server as RasterServer).url('B08.tif')] },
    { urls: [] },
    { urls: [{ url: (server as RasterServer).url('B04.tif'), nmae: 'red' }] },
    { urls: [(server as RasterServer).url('B04.tif'), { url: 'ftp://h/x.tif' }] },
    { urls: [{ url: (server as RasterServer).url('B04.tif'), bands: [{ nodata: 'zero' }] }] },
    { urls: [(server as RasterServer).url('B04.tif'), (server as RasterServer).url('B11.tif')], window: [0, 0, 64, 64] }
  ].map((r) => JSON.stringify(r)).join('\n') + '\n'
  const run = await runCli(['-o', join(dir, 'bad'), '--no-progress'], { stdin: input, env: ENV })
  const byLine = new Map(run.records.map((r) => [r.line, r]))
  assert.equal(run.records.length, 6)
  const says = (line: number): string => `${byLine.get(line)?.error?.stage} ${byLine.get(line)?.error?.code}: ${byLine.get(line)?.error?.message}`
  assert.match(says(1), /^input BAD_RECORD: .*"url" or "urls", not both/)
  assert.match(says(2), /^input BAD_RECORD: "urls" must be a non-empty array/)
  assert.match(says(3), /^input BAD_RECORD: urls\[0\]: unknown key "nmae"/)
  assert.match(says(4), /^input BAD_RECORD: urls\[1\]: unsupported URL scheme 'ftp:'/)
  assert.match(says(5), /^input BAD_RECORD: urls\[0\]: bands\[0\]: "nodata" must be a number/)
  assert.match(says(6), /^open MIXED_NODATA: source 2 of 2: .*B11\.tif: band 1 has nodata 0, but source 1 band 1 has none/)
})

test('memory: a stack holds the sum of its sources\' windows; 500 stacks of 4 at -c 16 stay within --max-memory', async () => {
  // 256² of four UInt16 sources: 4 × 131072 bytes. One byte less can never fit.
  const one = JSON.stringify({ urls: sources(), window: [0, 0, 256, 256] }) + '\n'
  const over = await runCli(['-o', join(dir, 'mem-over'), '--no-progress', '--max-memory', String(4 * 131072 - 1)], { stdin: one, env: ENV })
  assert.equal(over.records[0].error?.code, 'OVER_MEMORY', JSON.stringify(over.records[0]))
  assert.match(over.records[0].error?.message ?? '', /window of 524288 bytes/)
  const fits = await runCli(['-o', join(dir, 'mem-fits'), '--no-progress', '--max-memory', String(4 * 131072)], { stdin: one, env: ENV })
  assert.equal(fits.records[0].status, 'ok', JSON.stringify(fits.records[0]))

  // 500 records of 256² windows (512 KB of pixels each). The bound is README's: the budget plus GDAL's
  // block cache (16 MB) per pool thread (5 here: 2 cores × 2 + 1). Measured on 2 cores the run sits about
  // 105 MB above an empty one whatever the budget (2 MB or 64 MB): what a run holds besides pixels (open
  // datasets, the allocator's per-thread arenas: 73 MB above with MALLOC_ARENA_MAX=1), as 2,000
  // single-source records of the same windows do (79 MB above); so the budget here is 64 MB.
  const MAX = 64_000_000
  const statsOf = async (input: string, name: string): Promise<StatsJson> => {
    const stats = join(dir, `mem-${name}.json`)
    const run = await runCli(['-o', join(dir, `mem-${name}`), '-c', '16', '--max-memory', String(MAX), '--no-progress', '--stats', stats, '--co', 'ZLEVEL=1'], { stdin: input, env: ENV })
    assert.equal(run.code, 0, run.stderr.slice(-2000))
    return JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
  }
  const empty = await statsOf('', 'empty')
  const input = Array.from({ length: 500 }, (_, i) => JSON.stringify({ urls: sources(), window: [(i % 8) * 96, (i % 5) * 96, 256, 256], out: `m${i}.tif` })).join('\n') + '\n'
  const started = performance.now()
  const full = await statsOf(input, 'full')
  assert.equal(full.ok, 500)
  const above = full.peak_rss_mb - empty.peak_rss_mb
  process.stderr.write(`stack memory: 500 stacks of 4 sources in ${((performance.now() - started) / 1000).toFixed(1)} s: peak RSS ${full.peak_rss_mb} MB, ${empty.peak_rss_mb} MB with none: ${above} MB above, budget ${MAX / 1e6} MB\n`)
  // README's bound: the budget plus GDAL's block cache (16 MB) per pool thread (5 here: 2 cores × 2 + 1).
  assert.ok(above <= MAX / 1e6 + 16 * 5, `peak RSS ${full.peak_rss_mb} MB is ${above} MB above the empty run's ${empty.peak_rss_mb} MB`)
})
