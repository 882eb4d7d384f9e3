// Mosaics and time series of STAC items, end to end over the loopback server, against GDAL and numpy:
// three overlapping items (a 10 m Byte asset B04 and a 20 m UInt16 asset B11, nodata 0, with holes of
// nodata), made here. first/last equal gdalwarp of the group's files (in reverse order for first: gdalwarp
// writes later sources over earlier ones); min/max/mean/median/count equal numpy's nan-aware combine over
// gdalwarp's read of each item onto the same grid; solar_day groups by the local solar date. And the
// errors: an unknown method or group_by, an item without the asset, a median over --max-memory. A time
// series with points or a geometry: each item sampled against gdallocationinfo, its zonal counts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { loadGdal } from '../lib/raster/gdal.js'
import type { ResultRecord } from '../lib/core/records.js'

const gdal = loadGdal()
const ENV = { RASTERPIPE_RETRY_BASE_MS: '1' }

interface Asset { key: string, x0: number, y0: number, width: number, height: number, res: number, dtype: string, holes: Array<[number, number, number, number]> }
interface Item { id: string, datetime: string, assets: Asset[] }

const asset = (key: string, x0: number, y0: number, width: number, height: number, res: number, holes: Array<[number, number, number, number]>): Asset =>
  ({ key, x0, y0, width, height, res, dtype: key === 'B04' ? 'Byte' : 'UInt16', holes })

// At longitude about -75 the local solar time is UTC - 5 h: B's 04:30 UTC on the 2nd is 23:30 on the 1st.
const ITEMS: Item[] = [
  { id: 'A', datetime: '2024-01-01T15:00:00Z', assets: [asset('B04', 500000, 4200000, 40, 30, 10, [[5, 5, 10, 8]]), asset('B11', 500000, 4200000, 20, 15, 20, [[12, 2, 4, 4]])] },
  { id: 'B', datetime: '2024-01-02T04:30:00Z', assets: [asset('B04', 500100, 4199900, 40, 30, 10, [[0, 0, 6, 6], [20, 10, 8, 8]]), asset('B11', 500100, 4199900, 20, 15, 20, [[0, 10, 5, 3]])] },
  { id: 'C', datetime: '2024-01-02T15:00:00Z', assets: [asset('B04', 499950, 4199950, 30, 30, 10, [[10, 10, 6, 6]]), asset('B11', 499940, 4199960, 16, 16, 20, [[3, 3, 3, 3]])] }
]
const KEYS = ['B04', 'B11']

let dir: string
let server: RasterServer
let collection: string

/** A deterministic raster of values 1…n with nodata 0 in its holes. */
function makeRaster (path: string, a: Asset, seed: number): void {
  const ds = gdal.open(path, 'w', 'GTiff', a.width, a.height, 1, a.dtype)
  ds.srs = gdal.SpatialReference.fromEPSG(32618)
  ds.geoTransform = [a.x0, a.res, 0, a.y0, 0, -a.res]
  const band = ds.bands.get(1)
  band.noDataValue = 0
  const values = a.dtype === 'Byte' ? new Uint8Array(a.width * a.height) : new Uint16Array(a.width * a.height)
  let s = seed
  for (let i = 0; i < values.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648
    values[i] = 1 + (s >> 8) % (a.dtype === 'Byte' ? 250 : 4000)
  }
  for (const [c, r, w, h] of a.holes) for (let y = r; y < r + h; y++) values.fill(0, y * a.width + c, y * a.width + c + w)
  band.pixels.write(0, 0, a.width, a.height, values)
  ds.close()
}

function fileOf (item: Item, key: string): string {
  return join(dir, `${item.id}_${key}.tif`)
}

function plainOf (item: Item, key: string): string {
  return join(dir, `plain_${item.id}_${key}.tif`)
}

before(async () => {
  dir = scratch('rp-mosaic-')
  ITEMS.forEach((item, i) => item.assets.forEach((a, j) => makeRaster(fileOf(item, a.key), a, 7 + i * 31 + j)))
  const features = ITEMS.map((item) => ({
    type: 'Feature',
    stac_version: '1.0.0',
    id: item.id,
    bbox: [-75.01, 37.9, -74.99, 37.95],
    geometry: null,
    properties: { datetime: item.datetime, 'proj:epsg': 32618 },
    links: [],
    assets: Object.fromEntries(item.assets.map((a) => [a.key, {
      href: `${item.id}_${a.key}.tif`,
      type: 'image/tiff; application=geotiff',
      roles: ['data'],
      'proj:transform': [a.res, 0, a.x0, 0, -a.res, a.y0],
      'proj:shape': [a.height, a.width]
    }]))
  }))
  writeFileSync(join(dir, 'collection.json'), JSON.stringify({ type: 'FeatureCollection', features }))
  // The same items with files that have no nodata: every pixel inside an item is a value (its holes are 0s).
  for (const item of ITEMS) for (const key of KEYS) execFileSync('gdal_translate', ['-q', '-a_nodata', 'none', fileOf(item, key), plainOf(item, key)])
  const plain = features.map((f) => ({ ...f, assets: Object.fromEntries(Object.entries(f.assets).map(([k, a]) => [k, { ...a, href: `plain_${a.href}` }])) }))
  writeFileSync(join(dir, 'plain.json'), JSON.stringify({ type: 'FeatureCollection', features: plain }))
  server = await startServer(dir)
  collection = server.url('/collection.json')
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The items as an input line holds them: hrefs absolute, on the server. */
function inlineFeatures (): unknown[] {
  const doc = JSON.parse(readFileSync(join(dir, 'collection.json'), 'utf8')) as { features: Array<{ assets: Record<string, { href: string }> }> }
  for (const f of doc.features) for (const a of Object.values(f.assets)) a.href = server.url(`/${a.href}`)
  return doc.features
}

/** The grid of whole items: the union of their B04 extents at 10 m. */
function unionExtent (items: Item[]): number[] {
  const b04 = items.map((i) => i.assets[0])
  return [Math.min(...b04.map((a) => a.x0)), Math.min(...b04.map((a) => a.y0 - a.height * a.res)), Math.max(...b04.map((a) => a.x0 + a.width * a.res)), Math.max(...b04.map((a) => a.y0))]
}

function readBand (path: string, b: number): Float64Array {
  const ds = gdal.open(path)
  try {
    const { x, y } = ds.rasterSize
    return ds.bands.get(b).pixels.read(0, 0, x, y, new Float64Array(x * y)) as Float64Array
  } finally {
    ds.close()
  }
}

function bandInfo (path: string, b: number): { dtype: string | null, nodata: number | null, description: string, size: number[], transform: number[] | null } {
  const ds = gdal.open(path)
  try {
    const band = ds.bands.get(b)
    return { dtype: band.dataType, nodata: band.noDataValue, description: band.description, size: [ds.rasterSize.x, ds.rasterSize.y], transform: ds.geoTransform }
  } finally {
    ds.close()
  }
}

let seq = 0
/** gdalwarp of `files` in order onto the extent at 10 m, nearest: later files over earlier ones where valid. */
function warp (files: string[], extent: number[]): string {
  const out = join(dir, `ref-${++seq}.tif`)
  execFileSync('gdalwarp', ['-q', '-te', ...extent.map(String), '-tr', '10', '10', '-r', 'near', ...files, out])
  return out
}

/** numpy's nan-aware combine of each item's read onto the grid (nodata 0 as NaN). */
function numpy (method: string, reads: Float64Array[]): Float64Array {
  const inputs = reads.map((r, i) => {
    const path = join(dir, `np-${++seq}-${i}.f64`)
    writeFileSync(path, Buffer.from(r.map((v) => v === 0 ? NaN : v).buffer))
    return path
  })
  const out = join(dir, `np-${++seq}.out`)
  const fn = method === 'count' ? 'np.sum(~np.isnan(a), axis=0).astype(np.float64)' : `np.nan${method}(a, axis=0)`
  execFileSync('python3', ['-c', `import sys, warnings, numpy as np
warnings.simplefilter('ignore')
a = np.stack([np.fromfile(p, dtype=np.float64) for p in sys.argv[2:]])
${fn}.astype(np.float64).tofile(sys.argv[1])`, out, ...inputs])
  const bytes = readFileSync(out)
  return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8)
}

function assertPixels (ours: Float64Array, want: Float64Array, what: string): void {
  assert.equal(ours.length, want.length, `${what}: pixel count`)
  let compared = 0
  for (let i = 0; i < want.length; i++) {
    const a = ours[i]
    const b = want[i]
    if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) assert.fail(`${what}: pixel ${i}: ${a} != ${b}`)
    if (!Number.isNaN(b)) compared++
  }
  assert.ok(compared > want.length / 2, `${what}: most pixels have a value`)
}

function recordOf (records: ResultRecord[], pred: (r: ResultRecord & { items?: string[], group?: string }) => boolean, what: string): ResultRecord & { items?: string[], group?: string } {
  const found = records.filter(pred)
  assert.equal(found.length, 1, `${what}: one record, got ${JSON.stringify(records.map((r) => [r.id, r.status, r.error?.message]))}`)
  return found[0]
}

function assertGrid (record: ResultRecord, items: Item[], what: string): number[] {
  const extent = unionExtent(items)
  assert.deepEqual(record.grid, { crs: 'EPSG:32618', transform: [extent[0], 10, 0, extent[3], 0, -10], width: (extent[2] - extent[0]) / 10, height: (extent[3] - extent[1]) / 10 }, `${what}: the grid is the union of the items' extents on the first item's grid`)
  return extent
}

test('mosaic: every method over the three items equals gdalwarp (first, last) and numpy (min, max, mean, median, count), nodata-aware', async () => {
  const methods = ['first', 'last', 'min', 'max', 'mean', 'median', 'count']
  const out = join(dir, 'all')
  const input = methods.map((m) => JSON.stringify({ stac: collection, mosaic: m })).join('\n') + '\n'
  const run = await runCli(['-q', '-o', out], { stdin: input, env: ENV })
  assert.equal(run.code, 0, run.stderr)
  assert.equal(run.records.length, methods.length)
  const extent = unionExtent(ITEMS)
  for (const [k, key] of KEYS.entries()) {
    const reads = ITEMS.map((item) => readBand(warp([fileOf(item, key)], extent), 1))
    for (const [line, method] of methods.entries()) {
      const what = `${method} ${key}`
      const record = recordOf(run.records, (r) => r.line === line + 1, what)
      assert.equal(record.status, 'ok', `${what}: ${JSON.stringify(record.error)}`)
      assert.deepEqual(record.items, ['A', 'B', 'C'], `${what}: the record names its items`)
      assert.equal(record.group, undefined, `${what}: no group key without group_by`)
      assert.deepEqual(record.sources?.map((s) => (s as { item?: string }).item), ['A', 'A', 'B', 'B', 'C', 'C'], `${what}: each source names its item`)
      assertGrid(record, ITEMS, what)
      const output = record.output as string
      const info = bandInfo(output, k + 1)
      assert.equal(info.description, key, `${what}: the band is named by its asset`)
      const ours = readBand(output, k + 1)
      if (method === 'first' || method === 'last') {
        const files = ITEMS.map((item) => fileOf(item, key))
        const want = readBand(warp(method === 'last' ? files : files.reverse(), extent), 1)
        assert.equal(info.nodata, 0, `${what}: the items' nodata`)
        assert.equal(info.dtype, 'UInt16', `${what}: the bands' one type`)
        assertPixels(ours, want, what)
        continue
      }
      const want = numpy(method, reads)
      if (method === 'min' || method === 'max') {
        assert.equal(info.dtype, 'UInt16', what)
        assert.equal(info.nodata, 0, what)
        assertPixels(ours.map((v) => v === 0 ? NaN : v), want, what)
      } else if (method === 'count') {
        assert.equal(info.dtype, 'UInt16', what)
        assert.equal(info.nodata, null, `${what}: a count has no nodata (0 is none valid)`)
        assert.ok(want.some((v) => v === 0) && want.some((v) => v === 3), `${what}: the fixtures have pixels of no and of every item`)
        assertPixels(ours, want, what)
      } else {
        assert.equal(info.dtype, 'Float64', what)
        assert.ok(Number.isNaN(info.nodata), `${what}: NaN is nodata`)
        assertPixels(ours, want, what)
      }
    }
  }
})

test('mosaic: items without nodata count every pixel inside them (a 10 m window and a 20 m warp): first and last equal gdalwarp', async () => {
  const out = join(dir, 'plain')
  const input = ['first', 'last'].map((m) => JSON.stringify({ stac: server.url('/plain.json'), mosaic: m })).join('\n') + '\n'
  const run = await runCli(['-q', '-o', out], { stdin: input, env: ENV })
  assert.equal(run.code, 0, run.stderr)
  const extent = unionExtent(ITEMS)
  const outputs: string[] = []
  for (const [line, method] of ['first', 'last'].entries()) {
    const record = recordOf(run.records, (r) => r.line === line + 1, method)
    assert.equal(record.status, 'ok', JSON.stringify(record.error))
    outputs.push(record.output as string)
    for (const [k, key] of KEYS.entries()) {
      const files = ITEMS.map((item) => plainOf(item, key))
      const want = readBand(warp(method === 'last' ? files : files.reverse(), extent), 1)
      assert.equal(bandInfo(record.output as string, k + 1).nodata, null, `${method} ${key}: no nodata`)
      const ours = readBand(record.output as string, k + 1)
      assertPixels(ours, want, `${method} ${key}`)
      // The holes are values here: some pixels are 0 where an item with nodata would have given way.
      assert.ok(ours.some((v, i) => v === 0 && want[i] === 0), `${method} ${key}: 0s kept`)
    }
  }
  const [first, last] = outputs.map((o) => readBand(o, 1))
  assert.ok(first.some((v, i) => v !== last[i]), 'first and last differ where items overlap')
})

test('mosaic: solar_day groups by the local solar date, day by the UTC date; each group first equals gdalwarp of its files reversed', async () => {
  const out = join(dir, 'groups')
  const input = [
    { stac: collection, mosaic: 'first', group_by: 'solar_day' },
    { stac: collection, mosaic: 'first', group_by: 'day' }
  ].map((r) => JSON.stringify(r)).join('\n') + '\n'
  const run = await runCli(['-q', '-o', out], { stdin: input, env: ENV })
  assert.equal(run.code, 0, run.stderr)
  // B (04:30 UTC on the 2nd at -75°) is on the 1st by the sun, the 2nd by UTC.
  const expected: Array<[number, string, string[]]> = [[1, '2024-01-01', ['A', 'B']], [1, '2024-01-02', ['C']], [2, '2024-01-01', ['A']], [2, '2024-01-02', ['B', 'C']]]
  assert.equal(run.records.length, expected.length)
  for (const [line, group, ids] of expected) {
    const what = `line ${line} group ${group}`
    const record = recordOf(run.records, (r) => r.line === line && r.group === group, what)
    assert.equal(record.status, 'ok', `${what}: ${JSON.stringify(record.error)}`)
    assert.deepEqual(record.items, ids, what)
    assert.equal(record.id, group, `${what}: named by its key`)
    const items = ids.map((id) => ITEMS.find((i) => i.id === id) as Item)
    const extent = assertGrid(record, items, what)
    for (const [k, key] of KEYS.entries()) {
      const want = readBand(warp(items.map((i) => fileOf(i, key)).reverse(), extent), 1)
      assertPixels(readBand(record.output as string, k + 1), want, `${what} ${key}`)
    }
  }
})

test('time series: group_by alone stacks each group\'s items\' bands in order, named by their dates', async () => {
  const out = join(dir, 'series')
  const run = await runCli(['-q', '-o', out, '--group-by', 'solar_day', '--assets', 'B04'], { stdin: JSON.stringify({ stac: collection }) + '\n', env: ENV })
  assert.equal(run.code, 0, run.stderr)
  const record = recordOf(run.records, (r) => r.group === '2024-01-01', 'solar day 1')
  assert.equal(record.status, 'ok', JSON.stringify(record.error))
  const items = [ITEMS[0], ITEMS[1]]
  const extent = assertGrid(record, items, 'time series')
  for (const [b, item] of items.entries()) {
    const info = bandInfo(record.output as string, b + 1)
    assert.equal(info.description, new Date(item.datetime).toISOString(), `band ${b + 1} is named by its date`)
    assertPixels(readBand(record.output as string, b + 1), readBand(warp([fileOf(item, 'B04')], extent), 1), `band ${b + 1}`)
  }
  assert.equal(bandInfo(record.output as string, 1).size.length, 2)
  const other = recordOf(run.records, (r) => r.group === '2024-01-02', 'solar day 2')
  assert.equal(other.status, 'ok', JSON.stringify(other.error))
})

test('mosaic: the same urls and "out" with another method are another request: DUPLICATE_OUTPUT, the first written', async () => {
  const out = join(dir, 'claims')
  const urls = ITEMS.map((i) => server.url(`/${i.id}_B04.tif`))
  const input = ['first', 'last', 'first'].map((m) => JSON.stringify({ urls, mosaic: m, bbox: unionExtent(ITEMS), out: 'one.tif' })).join('\n') + '\n'
  const run = await runCli(['-q', '-o', out], { stdin: input, env: ENV })
  const byLine = (line: number): ResultRecord => recordOf(run.records, (r) => r.line === line, `line ${line}`)
  assert.equal(byLine(1).status, 'ok', JSON.stringify(byLine(1).error))
  assert.equal(byLine(2).error?.code, 'DUPLICATE_OUTPUT')
  assert.match(byLine(2).error?.message ?? '', /line 1 writes the same output/)
  // The same request again may run (it writes the same pixels).
  assert.equal(byLine(3).status, 'ok', JSON.stringify(byLine(3).error))
  assertPixels(readBand(join(out, 'one.tif'), 1), readBand(warp([...ITEMS].reverse().map((i) => fileOf(i, 'B04')), unionExtent(ITEMS)), 1), 'urls first')
})

test('mosaic: errors name the line and field; an item without the asset fails its group; a median over --max-memory is OVER_MEMORY', async () => {
  const out = join(dir, 'errors')
  const input = [
    { stac: collection, mosaic: 'avg' },
    { stac: collection, mosaic: 'max', group_by: '' },
    { stac: collection, mosaic: 'max', assets: 'B04,B99' },
    { stac: collection, mosaic: 'median' },
    { stac: collection, mosaic: 'max' },
    // A plain `urls` record: each source an item.
    { urls: ITEMS.map((i) => server.url(`/${i.id}_B04.tif`)), mosaic: 'last', bbox: unionExtent(ITEMS) },
    // An inline ItemCollection (absolute hrefs) with its own fields.
    { type: 'FeatureCollection', mosaic: 'count', group_by: 'day', features: inlineFeatures() }
  ].map((r) => JSON.stringify(r)).join('\n') + '\n'
  // The grid is 55×40 pixels, two bands: a max holds 2200 × (2 × 9 + 19) bytes, a median of 3 items 2200 × (2 × 28 + 19).
  const run = await runCli(['-q', '-o', out, '--max-memory', '100000'], { stdin: input, env: ENV })
  const byLine = (line: number): ResultRecord => recordOf(run.records, (r) => r.line === line, `line ${line}`)
  assert.equal(byLine(1).error?.code, 'BAD_RECORD')
  assert.match(byLine(1).error?.message ?? '', /"mosaic": unknown method "avg" \(known: first, last, min, max, mean, median, count, none\)/)
  assert.match(byLine(2).error?.message ?? '', /"group_by" must be none, solar_day, day, month or a property's name/)
  assert.equal(byLine(3).error?.code, 'MISSING_ASSET')
  assert.match(byLine(3).error?.message ?? '', /the mosaic: item 'A': no asset 'B99'/)
  assert.equal(byLine(4).error?.code, 'OVER_MEMORY')
  assert.match(byLine(4).error?.message ?? '', /median mosaic's accumulators/)
  assert.equal(byLine(5).status, 'ok', JSON.stringify(byLine(5).error))
  // The failed median's record runs it again: its sources, method and items.
  const again = byLine(4).record as unknown as Record<string, unknown>
  assert.deepEqual([again.mosaic, again.items, (again.urls as unknown[]).length], ['median', ['A', 'B', 'C'], 6])
  const plain = byLine(6)
  assert.equal(plain.status, 'ok', JSON.stringify(plain.error))
  assert.equal((plain as { items?: string[] }).items, undefined, 'no item ids for plain sources')
  assertPixels(readBand(plain.output as string, 1), readBand(warp(ITEMS.map((i) => fileOf(i, 'B04')), unionExtent(ITEMS)), 1), 'urls last')
  const inline = run.records.filter((r) => r.line === 7)
  assert.deepEqual(inline.map((r) => [r.status, (r as { group?: string }).group, (r as { items?: string[] }).items]).sort(), [['ok', '2024-01-01', ['A']], ['ok', '2024-01-02', ['B', 'C']]])
  assert.equal(run.code, 1)
})

/** gdallocationinfo's value of a file at a georeferenced point; null where it is outside or nodata (0). */
function locationValue (file: string, x: number, y: number): number | null {
  const out = execFileSync('gdallocationinfo', ['-valonly', '-geoloc', file, String(x), String(y)], { encoding: 'utf8' }).trim()
  return out === '' || Number(out) === 0 ? null : Number(out)
}

test('time series with points: one series entry per date, each item sampled on its own grid, equal to gdallocationinfo; with a geometry, zonal counts per date', async () => {
  const points: Array<[number, number]> = [[500105, 4199895], [500255, 4199805], [499955, 4199655], [500395, 4199605], [500065, 4199945], [600000, 4199000]]
  const geometry = { type: 'Polygon', coordinates: [[[500050, 4199950], [500250, 4199950], [500250, 4199750], [500050, 4199750], [500050, 4199950]]] }
  const input = [
    { stac: collection, group_by: 'solar_day', points, points_crs: 'EPSG:32618' },
    { stac: collection, group_by: 'solar_day', assets: 'B04', geometry, geometry_crs: 'EPSG:32618' }
  ].map((r) => JSON.stringify(r)).join('\n') + '\n'
  const run = await runCli(['-q', '-o', join(dir, 'series-values')], { stdin: input, env: ENV })
  assert.equal(run.code, 0, run.stderr)
  type Series = Array<{ item: string, datetime?: string, values?: Array<Array<number | null> | null>, zonal?: Array<{ band: number, count?: number }> }>
  const groups: Array<[string, Item[]]> = [['2024-01-01', [ITEMS[0], ITEMS[1]]], ['2024-01-02', [ITEMS[2]]]]
  let compared = 0
  for (const [key, items] of groups) {
    const record = recordOf(run.records, (r) => r.line === 1 && r.group === key, `points ${key}`)
    assert.equal(record.status, 'ok', JSON.stringify(record.error))
    assert.equal(record.output, undefined, 'a values record writes no file')
    const series = (record as { series?: Series }).series ?? []
    assert.deepEqual(series.map((e) => [e.item, e.datetime]), items.map((i) => [i.id, new Date(i.datetime).toISOString()]), `${key}: one entry per item, dated`)
    for (const [k, item] of items.entries()) {
      points.forEach(([x, y], p) => {
        const want = KEYS.map((key) => locationValue(fileOf(item, key), x, y))
        const got = series[k].values?.[p]
        // Outside the item: null for the point; a hole of nodata: null for that band.
        assert.deepEqual(got, want.every((v) => v === null) ? (got === null ? null : [null, null]) : want, `${key} ${item.id} point ${p}`)
        if (want.some((v) => v !== null)) compared++
      })
    }
    const zonal = recordOf(run.records, (r) => r.line === 2 && r.group === key, `zonal ${key}`)
    assert.equal(zonal.status, 'ok', JSON.stringify(zonal.error))
    const zseries = (zonal as { series?: Series }).series ?? []
    for (const [k, item] of items.entries()) {
      // The valid pixels under the rectangle (pixel edges at 10 m): GDAL's read of the item's window, counted.
      const a = item.assets[0]
      const c0 = Math.max(0, (500050 - a.x0) / 10)
      const c1 = Math.min(a.width, (500250 - a.x0) / 10)
      const r0 = Math.max(0, (a.y0 - 4199950) / 10)
      const r1 = Math.min(a.height, (a.y0 - 4199750) / 10)
      const ds = gdal.open(fileOf(item, 'B04'))
      const px = ds.bands.get(1).pixels.read(c0, r0, c1 - c0, r1 - r0) as Uint8Array
      ds.close()
      assert.equal(zseries[k].zonal?.[0].count, px.filter((v) => v !== 0).length, `${key} ${item.id}: zonal count`)
    }
  }
  assert.ok(compared >= 6, `values compared at ${compared} points`)
  // --write cannot write a time series' points (no one grid): refused, not silently ignored.
  const written = await runCli(['-q', '--write', '-o', join(dir, 'series-write')], { stdin: input.split('\n')[0] + '\n', env: ENV })
  assert.ok(written.records.length > 0 && written.records.every((r) => r.status === 'error' && r.error?.code === 'BAD_RECORD' && /time series.*--write/.test(r.error.message)), JSON.stringify(written.records))
})

test('mosaic by ranges: only the blocks under the region move, and last equals gdalwarp of the files in order', async () => {
  // Three 1024² tiled COGs of random bytes (no overviews), shifted by 300 and 600 m, served with ranges.
  const big = ['P', 'Q', 'R'].map((id, i) => {
    const a = asset('B04', 500000 + i * 300, 4200000 - i * 300, 1024, 1024, 10, [[400, 400, 100, 100]])
    const tif = join(dir, `${id}_big.tif`)
    makeRaster(tif, a, 99 + i)
    const cog = join(dir, `${id}_big_cog.tif`)
    execFileSync('gdal_translate', ['-q', '-of', 'COG', '-co', 'BLOCKSIZE=256', '-co', 'OVERVIEWS=NONE', '-co', 'COMPRESS=NONE', tif, cog])
    return { id, cog, a }
  })
  const features = big.map(({ id }) => ({
    type: 'Feature', stac_version: '1.0.0', id, bbox: [-75.01, 37.9, -74.99, 37.95], geometry: null,
    properties: { datetime: '2024-02-01T15:00:00Z', 'proj:epsg': 32618 },
    links: [],
    assets: { B04: { href: `${id}_big_cog.tif`, type: 'image/tiff; application=geotiff', roles: ['data'] } }
  }))
  writeFileSync(join(dir, 'big.json'), JSON.stringify({ type: 'FeatureCollection', features }))
  // A region across all three, 200 m inside the first's edge.
  const bbox = [503500, 4193500, 505500, 4195500]
  const run = await runCli(['-q', '-o', join(dir, 'ranges'), '--fetch', 'range'], { stdin: JSON.stringify({ stac: server.url('/big.json'), mosaic: 'last', bbox, bbox_crs: 'EPSG:32618' }) + '\n', env: ENV })
  assert.equal(run.code, 0, run.stderr)
  const record = run.records[0]
  assert.equal(record.status, 'ok', JSON.stringify(record.error))
  assert.equal(record.fetch, 'range')
  const total = big.reduce((n, b) => n + (readFileSync(b.cog).length), 0)
  assert.ok(record.bytes < total / 2, `${record.bytes} of ${total} bytes moved`)
  const want = readBand(warp(big.map((b) => b.cog), bbox), 1)
  assertPixels(readBand(record.output as string, 1), want, 'last by ranges')
})

test('mosaic: a source\'s mask or alpha band says which pixels count, on the grid and warped, as gdalwarp honours them', async () => {
  // mask-byte.tif has an internal per-dataset mask; a copy of its grid filled with 200 and no mask under it.
  const masked = join(FIXTURES, 'mask-byte.tif')
  const full = join(dir, 'full-200.tif')
  execFileSync('gdal_translate', ['-q', '-mask', 'none', '-scale', '0', '255', '200', '200', masked, full])
  const rgba = join(FIXTURES, 'rgba-alpha.tif')
  const input = [
    { urls: [masked, full], mosaic: 'first', window: [40, 100, 64, 64], id: 'mask' },
    { urls: [rgba, rgba], mosaic: 'last', dst_crs: 'EPSG:4326', id: 'alpha' }
  ].map((r) => JSON.stringify(r)).join('\n') + '\n'
  const run = await runCli(['-q', '-o', join(dir, 'masks')], { stdin: input, env: ENV })
  assert.equal(run.code, 0, run.stderr)
  for (const r of run.records) assert.equal(r.status, 'ok', `${String(r.id)}: ${JSON.stringify(r.error)}`)
  const [mask, alpha] = ['mask', 'alpha'].map((id) => recordOf(run.records, (r) => r.id === id, id))
  // first = gdalwarp of the files reversed: where the mask says invalid, the 200s beneath show.
  const grid = (r: ResultRecord): { te: string[], ts: string[] } => {
    const g = (r as { grid?: { transform: number[], width: number, height: number } }).grid
    assert.ok(g, 'the record names its grid')
    const [x0, dx, , y0, , dy] = g.transform
    return { te: [x0, y0 + g.height * dy, x0 + g.width * dx, y0].map(String), ts: [String(g.width), String(g.height)] }
  }
  const m = grid(mask)
  const refMask = join(dir, 'ref-mask.tif')
  execFileSync('gdalwarp', ['-q', '-te', ...m.te, '-ts', ...m.ts, '-r', 'near', full, masked, refMask])
  const ours = readBand(mask.output as string, 1)
  const want = readBand(refMask, 1)
  assertPixels(ours, want, 'masked source, first')
  assert.ok(ours.some((v) => v === 200) && ours.some((v) => v !== 200), 'both the masked source and the one beneath show')
  // An RGBA source warped: its alpha is gdalwarp's; the colour bands equal gdalwarp's where alpha is set.
  const a = grid(alpha)
  const refAlpha = join(dir, 'ref-alpha.tif')
  execFileSync('gdalwarp', ['-q', '-t_srs', 'EPSG:4326', '-te', ...a.te, '-ts', ...a.ts, '-r', 'near', '-et', '0', rgba, rgba, refAlpha])
  const refA = readBand(refAlpha, 4)
  for (const b of [1, 2, 3]) {
    const got = readBand(alpha.output as string, b)
    const ref = readBand(refAlpha, b)
    let compared = 0
    for (let p = 0; p < ref.length; p++) {
      if (refA[p] === 0) continue
      compared++
      if (got[p] !== ref[p]) assert.fail(`rgba band ${b} pixel ${p}: ${got[p]} != ${ref[p]}`)
    }
    assert.ok(compared > ref.length / 4, `rgba band ${b}: ${compared} pixels compared`)
  }
})
