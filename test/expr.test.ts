// Band math end to end (acceptance 3 of issue 25): NDVI of two 10 m UTM COGs made here with GDAL, as a
// `urls` stack by the sources' names and as a STAC item by its asset keys, served on loopback in range and
// download mode. Each output is checked against numpy over GDAL's own reads of the sources
// (gdal_translate -srcwin to raw ENVI files): values, nodata where an input is nodata, and nodata where
// nir + red is 0. A hostile expression is a usage error before anything is fetched.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadGdal } from '../lib/raster/gdal.js'
import { startServer, type RasterServer } from './support/server.js'
import { byLine, runCli, scratch } from './support/run.js'
import type { ResultRecord } from '../lib/core/records.js'

const gdal = loadGdal()
const ENV = { RASTERPIPE_RETRY_BASE_MS: '1' }
const SIDE = 256
const NODATA = -32768
/** The window read: the same pixels of both sources (their grids are one). */
const WINDOW = [16, 40, 200, 180] as const

let dir: string
let data: string
let server: RasterServer

/**
 * An Int16 COG at 10 m in UTM 33N of values in [-200, 1000], nodata at some pixels (each source its own),
 * and a scale. nir holds -2 × red (so nir × 0.5 + red = 0) on a diagonal pattern: NDVI divides by zero there.
 */
function makeCog (name: string, kind: 'red' | 'nir', nodata = NODATA): void {
  const mem = gdal.drivers.get('MEM').create('', SIDE, SIDE, 1, 'Int16')
  mem.geoTransform = [300000, 10, 0, 5000000, 0, -10]
  mem.srs = gdal.SpatialReference.fromUserInput('EPSG:32633')
  const band = mem.bands.get(1)
  const row = new Int16Array(SIDE)
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const red = ((x * 7919 + y * 104729) % 1201) - 200
      if (kind === 'red') row[x] = (x * 3 + y) % 53 === 0 ? nodata : red
      else row[x] = (x + y * 5) % 61 === 0 ? nodata : (x + y) % 37 === 0 ? -2 * red : ((x * 15485863 + y * 32452843) % 1201) - 200
    }
    band.pixels.write(0, y, SIDE, 1, row)
  }
  band.noDataValue = nodata
  if (kind === 'nir') band.scale = 0.5
  gdal.drivers.get('COG').createCopy(join(data, name), mem, ['BLOCKSIZE=64', 'COMPRESS=DEFLATE']).close()
  mem.close()
}

before(async () => {
  dir = scratch('rp-expr-')
  data = join(dir, 'data')
  mkdirSync(data)
  makeCog('red.tif', 'red')
  makeCog('nir.tif', 'nir')
  makeCog('nir-9999.tif', 'nir', -9999)
  server = await startServer(data)
  const asset = (file: string, common: string): Record<string, unknown> => ({
    href: server.url(`/${file}`), type: 'image/tiff; application=geotiff; profile=cloud-optimized', roles: ['data'],
    'eo:bands': [{ name: file, common_name: common }]
  })
  const item = {
    type: 'Feature', stac_version: '1.0.0', id: 'item-1', bbox: [0, 0, 1, 1], properties: { datetime: '2026-01-01T00:00:00Z' },
    geometry: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] },
    assets: { B04: asset('red.tif', 'red'), B08: asset('nir.tif', 'nir') },
    links: []
  }
  writeFileSync(join(data, 'item.json'), JSON.stringify(item))
})
after(async () => {
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

/**
 * numpy's answer, from GDAL's reads of the sources' window (raw values, then the nodata and scale the
 * fixtures were given), against the output read by GDAL: how many pixels differ, and how many are nodata
 * because an input is and because nir + red is 0.
 */
function numpyCheck (out: string, expressions: 'ndvi' | 'ndvi;red2'): { mismatches: number, nodata: number, zeroDiv: number, valid: number, bands: number } {
  const work = join(dir, `np-${Math.random().toString(36).slice(2)}`)
  mkdirSync(work)
  const raw = (src: string, name: string, extra: string[] = []): void => {
    const r = spawnSync('gdal_translate', ['-q', '-of', 'ENVI', ...extra, src, join(work, name)], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
  }
  const srcwin = ['-srcwin', ...WINDOW.map(String)]
  raw(join(data, 'red.tif'), 'red.bin', srcwin)
  raw(join(data, 'nir.tif'), 'nir.bin', srcwin)
  const bands = expressions === 'ndvi' ? 1 : 2
  for (let b = 1; b <= bands; b++) raw(out, `out${b}.bin`, ['-b', String(b)])
  const script = `
import json, sys, numpy as np
w, h, work, which = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rr = np.fromfile(work + '/red.bin', dtype='<i2').reshape(h, w)
nr = np.fromfile(work + '/nir.bin', dtype='<i2').reshape(h, w)
red = rr.astype(np.float64); nir = nr.astype(np.float64) * 0.5
invalid = (rr == ${NODATA}) | (nr == ${NODATA})
den = nir + red
with np.errstate(divide='ignore', invalid='ignore'):
    ndvi = np.where(invalid | (den == 0), np.nan, (nir - red) / den).astype(np.float32)
want = [ndvi]
if which == 'ndvi;red2':
    want.append(np.where(rr == ${NODATA}, np.nan, red * 2).astype(np.float32))
bands = len(want)
got = [np.fromfile(work + '/out%d.bin' % (b + 1), dtype='<f4').reshape(h, w) for b in range(bands)]
mismatches = 0
first = None
for b, wb in enumerate(want):
    same = (got[b] == wb) | (np.isnan(got[b]) & np.isnan(wb))
    mismatches += int((~same).sum())
    if first is None and (~same).any():
        y, x = [int(v[0]) for v in np.nonzero(~same)]
        first = {'band': b + 1, 'x': x, 'y': y, 'got': str(got[b][y, x]), 'want': str(wb[y, x]), 'red': int(rr[y, x]), 'nir': int(nr[y, x])}
print(json.dumps({'mismatches': mismatches, 'nodata': int(invalid.sum()), 'zeroDiv': int(((den == 0) & ~invalid).sum()),
                  'valid': int((~np.isnan(ndvi)).sum()), 'bands': bands, 'first': first}))
`
  const r = spawnSync('python3', ['-c', script, String(WINDOW[2]), String(WINDOW[3]), work, expressions], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  rmSync(work, { recursive: true, force: true })
  return JSON.parse(r.stdout) as { mismatches: number, nodata: number, zeroDiv: number, valid: number, bands: number }
}

/** The output's band types and nodata as gdalinfo says them. */
function gdalinfoBands (path: string): Array<{ type: string, noDataValue?: number | string }> {
  const r = spawnSync('gdalinfo', ['-json', path], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return (JSON.parse(r.stdout) as { bands: Array<{ type: string, noDataValue?: number | string }> }).bands
}

for (const fetch of ['range', 'download']) {
  test(`expr: NDVI of a urls stack by the sources' names equals numpy's on GDAL's reads (${fetch})`, async () => {
    const out = join(dir, `stack-${fetch}`)
    const record = {
      urls: [{ url: server.url('/red.tif'), name: 'red' }, { url: server.url('/nir.tif'), name: 'nir' }],
      window: [...WINDOW], out: 'ndvi.tif', expr: '(nir - red) / (nir + red); b1 * 2'
    }
    const res = await runCli(['-q', '--fetch', fetch, '-o', out], { stdin: JSON.stringify(record) + '\n', env: ENV })
    assert.equal(res.code, 0, res.stderr)
    assert.equal(res.records[0].status, 'ok', JSON.stringify(res.records[0]))
    const bands = gdalinfoBands(join(out, 'ndvi.tif'))
    assert.deepEqual(bands.map((b) => [b.type, b.noDataValue]), [['Float32', 'NaN'], ['Float32', 'NaN']])
    const check = numpyCheck(join(out, 'ndvi.tif'), 'ndvi;red2')
    assert.equal(check.bands, 2)
  assert.equal(bands.length, 2)
    assert.equal(check.mismatches, 0, JSON.stringify(check))
    // The fixtures give both kinds of nodata in the window, and valid pixels besides.
    assert.ok(check.nodata > 100 && check.zeroDiv > 100 && check.valid > 30000, JSON.stringify(check))
  })
}

test('expr: NDVI of a STAC item by asset keys and by common names equals numpy\'s; --expr for the run or the record; --expr-type Float64', async () => {
  const out = join(dir, 'stac')
  const line = JSON.stringify({ stac: server.url('/item.json'), assets: 'B04,B08', window: [...WINDOW], out: 'item.tif' })
  const res = await runCli(['-q', '--fetch', 'range', '-o', out, '--expr', '(B08 - B04) / (B08 + B04)'], { stdin: line + '\n', env: ENV })
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.records[0].status, 'ok', JSON.stringify(res.records[0]))
  assert.equal(numpyCheck(join(out, 'item.tif'), 'ndvi').mismatches, 0)
  // Float64: the same values before their rounding to Float32 (numpy's are rounded after), nodata NaN.
  // By eo:bands common names, as --assets takes them: the record's own expr.
  const res64 = await runCli(['-q', '-o', out, '--expr-type', 'Float64'], {
    stdin: JSON.stringify({ stac: server.url('/item.json'), assets: 'red,nir', window: [...WINDOW], out: 'item64.tif', expr: '(nir - red) / (nir + red)' }) + '\n',
    env: ENV
  })
  assert.equal(res64.code, 0, res64.stderr)
  assert.deepEqual(gdalinfoBands(join(out, 'item64.tif')).map((b) => [b.type, b.noDataValue]), [['Float64', 'NaN']])
  const f32 = join(out, 'item64-as-32.tif')
  assert.equal(spawnSync('gdal_translate', ['-q', '-ot', 'Float32', join(out, 'item64.tif'), f32]).status, 0)
  assert.equal(numpyCheck(f32, 'ndvi').mismatches, 0)
  // Common names with --expr for the run, the assets picked by key: the same NDVI.
  const common = await runCli(['-q', '--fetch', 'range', '-o', out, '--assets', 'B04,B08', '--expr', '(nir - red) / (nir + red)'],
    { stdin: JSON.stringify({ stac: server.url('/item.json'), window: [...WINDOW], out: 'common.tif' }) + '\n', env: ENV })
  assert.equal(common.code, 0, common.stderr)
  assert.equal(numpyCheck(join(out, 'common.tif'), 'ndvi').mismatches, 0)
})

test('expr: a hostile or wrong expression on the command line is a usage error (exit 2) before any fetch', async () => {
  const record = JSON.stringify({ url: server.url('/red.tif'), window: [0, 0, 8, 8] }) + '\n'
  server.reset()
  const cases: Array<[string[], RegExp]> = [
    [['--expr', 'process.exit()'], /--expr: unexpected '\.' at 8/],
    [['--expr', 'constructor(1)'], /--expr: unknown function 'constructor' at 1/],
    [['--expr', '__proto__ +'], /--expr: unexpected end of expression at 12/],
    // (A 1 MB argument is more than Linux passes to a program: the library's test is in test/expr.unit.test.ts.)
    [['--expr', 'b1 + '.repeat(25_000) + 'b1'], /--expr: longer than 4096 characters \(125002\)/],
    [['--expr', '('.repeat(70) + 'b1' + ')'.repeat(70)], /--expr: nested deeper than 64 at 65/],
    [['--expr', '(b1 - b2) / (b1 + b2))'], /--expr: unexpected '\)' at 22/],
    [['--expr', 'b1', '--expr-type', 'CFloat32'], /--expr-type: must be one of Float32/]
  ]
  for (const [args, message] of cases) {
    const res = await runCli(['-q', ...args, '-o', join(dir, 'never')], { stdin: record, env: ENV })
    assert.equal(res.code, 2, `${args.join(' ').slice(0, 80)}: ${res.stderr}`)
    assert.match(res.stderr, message)
    assert.equal(res.records.length, 0)
  }
  assert.equal(server.totalRequests(), 0)
})

test('expr: a record\'s unknown name is its input error naming the field; a band number past the raster its open error; nothing else stops', async () => {
  server.reset()
  const lines = [
    { urls: [{ url: server.url('/red.tif'), name: 'red' }, { url: server.url('/nir.tif'), name: 'nir' }], window: [0, 0, 8, 8], expr: 'nir - toString' },
    { url: server.url('/red.tif'), window: [0, 0, 8, 8], expr: 'constructor' },
    { url: server.url('/red.tif'), window: [0, 0, 8, 8], expr: 'b1 + b2' },
    { url: server.url('/red.tif'), window: [0, 0, 8, 8], expr: 'b1+'.repeat(300_000) + 'b1' },
    { url: server.url('/red.tif'), window: [0, 0, 8, 8], expr: 'where(b1 > 0, b1, 0) / 0; abs(b1)', out: 'ok.tif' }
  ]
  const out = join(dir, 'records')
  const res = await runCli(['-q', '--fetch', 'range', '-o', out], { stdin: lines.map((l) => JSON.stringify(l)).join('\n') + '\n', env: ENV })
  // (Nearly 1 MB, as a record's line may be up to 1 MiB.)
  const [a, b, c, big, d] = [1, 2, 3, 4, 5].map((n) => byLine(res.records).get(n) as ResultRecord)
  assert.match(big.error?.message ?? '', /"expr": longer than 4096 characters \(900002\)/)
  assert.equal(a.status, 'error')
  assert.equal(a.error?.stage, 'input')
  assert.match(a.error?.message ?? '', /"expr": unknown band 'toString' \(known: b1, b2…, red, nir\) at 7/)
  assert.match(b.error?.message ?? '', /"expr": unknown band 'constructor' .* at 1/)
  assert.equal(c.error?.stage, 'open')
  assert.equal(c.error?.code, 'BAD_EXPR')
  assert.match(c.error?.message ?? '', /expr: unknown band 'b2' \(known: b1\) at 6/)
  assert.equal(d.status, 'ok', JSON.stringify(d))
  // Division by zero everywhere: band 1 all nodata; band 2 |red| where red is valid.
  const stats = spawnSync('gdalinfo', ['-json', '-stats', join(out, 'ok.tif')], { encoding: 'utf8' })
  const bands = (JSON.parse(stats.stdout) as { bands: Array<{ minimum?: number, metadata?: Record<string, Record<string, string>> }> }).bands
  assert.equal(bands.length, 2)
  assert.equal(bands[0].minimum, undefined, 'band 1 has no valid pixel')
  assert.ok((bands[1].minimum ?? -1) >= 0)
  // Only the one good record (and the open of the record past its bands) read the source.
  assert.ok(server.stats('/nir.tif').requests === 0)
})

test('expr: a stack whose sources have different nodata values is written (one nodata of its own), where without expr GTiff refuses it', async () => {
  const urls = [{ url: server.url('/red.tif'), name: 'red' }, { url: server.url('/nir-9999.tif'), name: 'nir' }]
  const lines = [
    { urls, window: [...WINDOW], out: 'mixed.tif', expr: '(nir - red) / (nir + red)' },
    { urls, window: [...WINDOW], out: 'plain.tif' }
  ]
  const out = join(dir, 'mixed')
  const res = await runCli(['-q', '-o', out], { stdin: lines.map((l) => JSON.stringify(l)).join('\n') + '\n', env: ENV })
  const [mixed, plain] = [1, 2].map((n) => byLine(res.records).get(n) as ResultRecord)
  assert.equal(plain.error?.code, 'MIXED_NODATA')
  assert.equal(mixed.status, 'ok', JSON.stringify(mixed))
  // The same pixels as nir.tif's but for its nodata value: the same NDVI.
  assert.equal(numpyCheck(join(out, 'mixed.tif'), 'ndvi').mismatches, 0)
})

test('a Float32 band whose nodata is no Float32 number (-3.4e38) is nodata where GDAL says it is, and an integer type rounds half away from zero', async () => {
  const file = join(data, 'f32-nodata.tif')
  const mem = gdal.drivers.get('MEM').create('', 4, 1, 1, 'Float32')
  mem.geoTransform = [300000, 10, 0, 5000000, 0, -10]
  mem.srs = gdal.SpatialReference.fromUserInput('EPSG:32633')
  const band = mem.bands.get(1)
  band.noDataValue = -3.4e38
  band.pixels.write(0, 0, 4, 1, new Float32Array([-3.4e38, 1.5, -3.5, 7]))
  gdal.drivers.get('GTiff').createCopy(file, mem).close()
  mem.close()
  // What GDAL says is nodata: gdallocationinfo reads the stored value; GDAL's mask band says which are valid.
  const ds = gdal.open(file)
  const validByGdal = Array.from(ds.bands.get(1).getMaskBand()!.pixels.read(0, 0, 4, 1) as Uint8Array)
  ds.close()
  assert.deepEqual(validByGdal, [0, 255, 255, 255], 'GDAL takes the first pixel as nodata')
  const flags = await runCli(['-o', join(dir, 'f32-flags'), '-w', '0,0,4,1', '--expr', 'b1 > 0'], { stdin: `${file}\n`, env: ENV })
  assert.equal(flags.code, 0, flags.stderr)
  const ds2 = gdal.open(flags.records[0].output as string)
  assert.deepEqual(Array.from(ds2.bands.get(1).pixels.read(0, 0, 4, 1) as Float32Array), [NaN, 1, 0, 1], 'b1 > 0: nodata, not 0, where b1 is')
  ds2.close()
  const run = await runCli(['-o', join(dir, 'f32'), '-w', '0,0,4,1', '--expr', 'b1 + 1; b1', '--expr-type', 'Int16'], { stdin: `${file}\n`, env: ENV })
  assert.equal(run.code, 0, run.stderr)
  const out = gdal.open(run.records[0].output as string)
  const nodata = out.bands.get(1).noDataValue as number
  assert.deepEqual(Array.from(out.bands.get(1).pixels.read(0, 0, 4, 1) as Int16Array), [nodata, 3, -3, 8], 'b1 + 1: 2.5 → 3, -2.5 → -3')
  assert.deepEqual(Array.from(out.bands.get(2).pixels.read(0, 0, 4, 1) as Int16Array), [nodata, 2, -4, 7], 'b1: 1.5 → 2, -3.5 → -4')
  out.close()
})

test('expr at points and in a zone of one raster: per point one value per expression, per expression the zone\'s statistics, equal numpy\'s over GDAL\'s reads', async () => {
  // Points on the grid (pixel centres and edges) and one off it; a triangle in the raster's CRS.
  const at = (c: number, r: number): number[] => [300000 + c * 10, 5000000 - r * 10]
  const points = [...Array.from({ length: 40 }, (_, i) => at((i * 37) % 256 + 0.5, (i * 53) % 256 + 0.25)), at(3, 3), at(255.99, 0), at(256, 4)]
  const zone = { type: 'Polygon', coordinates: [[at(10.5, 20.5), at(200.2, 30.7), at(120.4, 230.1), at(10.5, 20.5)]] }
  const exprs = 'b1 * 2 - 3; 100 / (b1 - 8)'
  const input = [
    { url: server.url('/nir.tif'), id: 'pts', points, points_crs: 'EPSG:32633', expr: exprs },
    { url: server.url('/nir.tif'), id: 'zone', geometry: zone, geometry_crs: 'EPSG:32633', expr: exprs }
  ].map((r) => JSON.stringify(r)).join('\n') + '\n'
  const res = await runCli(['-q', '--fetch', 'range', '-o', join(dir, 'values'), '--zonal-stats', 'count,nodata_count,min,max,mean,std,sum,median'], { stdin: input, env: ENV })
  assert.equal(res.code, 0, res.stderr)
  const rec = (id: string): ResultRecord => res.records.find((r) => r.id === id) as ResultRecord
  const src = join(data, 'nir.tif')
  // GDAL's raw values at the points, then numpy: scale 0.5, nodata, division by zero (b1 × 0.5 = 8), Float32.
  const raw = spawnSync('gdallocationinfo', ['-valonly', '-geoloc', src], { input: points.map((p) => p.join(' ')).join('\n') + '\n', encoding: 'utf8' }).stdout.split('\n').slice(0, points.length)
  const work = join(dir, 'expr-values')
  mkdirSync(work, { recursive: true })
  writeFileSync(join(work, 'zone.geojson'), JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: zone }] }))
  const te = [300000 + 10 * 10, 5000000 - 231 * 10, 300000 + 201 * 10, 5000000 - 20 * 10].map(String)
  assert.equal(spawnSync('gdal_rasterize', ['-q', '-burn', '1', '-te', ...te, '-ts', '191', '211', '-ot', 'Byte', '-init', '0', '-of', 'ENVI', join(work, 'zone.geojson'), join(work, 'zone.raw')]).status, 0)
  assert.equal(spawnSync('gdal_translate', ['-q', '-of', 'ENVI', '-srcwin', '10', '20', '191', '211', src, join(work, 'nir.raw')]).status, 0)
  const script = `
import json, sys, numpy as np
raw, work = json.loads(sys.argv[1]), sys.argv[2]
def ex(v):
    x = v * 0.5
    with np.errstate(divide='ignore', invalid='ignore'):
        out = [(x * 2 - 3).astype(np.float32), (100 / (x - 8)).astype(np.float32)]
    return [(o, (v != ${NODATA}) & np.isfinite(o)) for o in out]
pts = np.array([0 if r == '' else float(r) for r in raw])
cols = ex(pts)
values = [None if raw[i] == '' else [float(o[i]) if ok[i] else None for o, ok in cols] for i in range(len(raw))]
v = np.fromfile(work + '/nir.raw', dtype='<i2', count=191 * 211).astype(np.float64)
zone = np.fromfile(work + '/zone.raw', dtype='u1', count=191 * 211) == 1
stats = []
for k, (o, ok) in enumerate(ex(v)):
    vals = o[zone & ok].astype(np.float64)
    stats.append({'band': k + 1, 'count': int(vals.size), 'nodata_count': int((zone & ~ok).sum()), 'min': float(vals.min()), 'max': float(vals.max()),
                  'mean': float(vals.mean()), 'std': float(vals.std()), 'sum': float(vals.sum()), 'median': float(np.median(vals))})
print(json.dumps({'values': values, 'zonal': stats}))
`
  const py = spawnSync('python3', ['-c', script, JSON.stringify(raw), work], { encoding: 'utf8' })
  assert.equal(py.status, 0, py.stderr)
  const want = JSON.parse(py.stdout) as { values: unknown[], zonal: Array<Record<string, number>> }
  assert.equal(rec('pts').status, 'ok', JSON.stringify(rec('pts')))
  assert.deepEqual(rec('pts').values, want.values)
  // Nodata, a division by zero and a point off the raster were met.
  const got = rec('pts').values as Array<Array<number | null> | null>
  assert.ok(got.includes(null) && got.some((v) => v?.[0] === null), JSON.stringify(got))
  const zonal = rec('zone').zonal as Array<Record<string, number>>
  assert.equal(zonal.length, 2)
  want.zonal.forEach((w, k) => {
    for (const [key, v] of Object.entries(w)) {
      assert.ok(key === 'count' || key === 'nodata_count' || key === 'band' ? zonal[k][key] === v : Math.abs(zonal[k][key] - v) <= 1e-9 * Math.max(1, Math.abs(v)), `expression ${k + 1} ${key}: ${zonal[k][key]}, numpy ${v}`)
    }
  })
  assert.ok(want.zonal[1].nodata_count > want.zonal[0].nodata_count, 'the zone holds a division by zero')
})
