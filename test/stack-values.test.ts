// Points and zonal statistics of multi-source records (issue 25): a `urls` stack of four sources (one on the
// grid, one on it but smaller with nodata, one on it with a per-dataset mask, one in EPSG:4326 that is
// warped onto the grid) and a STAC item by asset names (a 20 m asset warped onto the 10 m grid), in range
// and download mode, with and without band math. Each value is GDAL's own: gdallocationinfo -valonly of
// each source file on the grid (nodata and mask read the same way), of a gdalwarp of the warped source onto
// the grid (-t_srs -te -tr -r near -et 0, as the record's warp); each statistic gdal_rasterize of the
// geometry onto the window's grid plus numpy over those files' pixels; band math numpy's over the same.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadGdal } from '../lib/raster/gdal.js'
import { startServer, type RasterServer } from './support/server.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { locationInfo } from './support/gdal-values.js'
import { makeStacCatalogue, type StacCatalogue } from './support/stac.js'
import type { ResultRecord, ZonalStats } from '../lib/core/records.js'

const gdal = loadGdal()
const ENV = { RASTERPIPE_RETRY_BASE_MS: '1' }
/** rgb-byte-tiled.tif's grid: the stack's (its finest source, and the first). */
const GT = [500000, 10, 0, 4200000, 0, -10]
const SIDE = 1024
/** Where the masked source lies on the grid, and its size. */
const MASKED_AT = [256, 384]
const MASKED_SIDE = 512
const STATS = ['count', 'nodata_count', 'min', 'max', 'mean', 'std', 'sum', 'median', 'p90', 'majority', 'unique']

let dir: string
let data: string
let server: RasterServer
let cat: StacCatalogue
let stacServer: RasterServer

/** A Byte GeoTIFF on the grid (tiled 128², an internal per-dataset mask that hides a pattern of pixels). */
function makeMasked (path: string): void {
  gdal.config.set('GDAL_TIFF_INTERNAL_MASK', 'YES')
  const ds = gdal.drivers.get('GTiff').create(path, MASKED_SIDE, MASKED_SIDE, 1, 'Byte', ['TILED=YES', 'BLOCKXSIZE=128', 'BLOCKYSIZE=128'])
  ds.geoTransform = [GT[0] + MASKED_AT[0] * GT[1], GT[1], 0, GT[3] + MASKED_AT[1] * GT[5], 0, GT[5]]
  ds.srs = gdal.SpatialReference.fromEPSG(32618)
  const band = ds.bands.get(1)
  const values = new Uint8Array(MASKED_SIDE * MASKED_SIDE)
  const mask = new Uint8Array(MASKED_SIDE * MASKED_SIDE)
  for (let y = 0; y < MASKED_SIDE; y++) {
    for (let x = 0; x < MASKED_SIDE; x++) {
      values[y * MASKED_SIDE + x] = (x * 7 + y * 13) % 251 + 1
      mask[y * MASKED_SIDE + x] = (x + 2 * y) % 9 === 0 ? 0 : 255
    }
  }
  band.pixels.write(0, 0, MASKED_SIDE, MASKED_SIDE, values)
  band.createMaskBand(0x02)
  band.getMaskBand()?.pixels.write(0, 0, MASKED_SIDE, MASKED_SIDE, mask)
  ds.close()
}

before(async () => {
  dir = scratch('rp-stack-values-')
  data = join(dir, 'data')
  mkdirSync(data)
  copyFileSync(join(FIXTURES, 'rgb-byte-tiled.tif'), join(data, 'rgb.tif'))
  copyFileSync(join(FIXTURES, 'int32-small.tif'), join(data, 'i32.tif'))
  makeMasked(join(data, 'masked.tif'))
  // Coarser than the grid (so that rgb stays the finest source), in lon/lat: warped onto the grid.
  execFileSync('gdalwarp', ['-q', '-t_srs', 'EPSG:4326', '-ts', '700', '700', '-r', 'near', '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=128', '-co', 'BLOCKYSIZE=128',
    join(FIXTURES, 'rgb-byte-tiled.tif'), join(data, 'll.tif')])
  // GDAL's warp of it onto the grid, as the record's warp (exact transformer, nearest).
  execFileSync('gdalwarp', ['-q', '-t_srs', 'EPSG:32618', '-te', String(GT[0]), String(GT[3] + SIDE * GT[5]), String(GT[0] + SIDE * GT[1]), String(GT[3]),
    '-tr', '10', '10', '-r', 'near', '-et', '0', join(data, 'll.tif'), join(dir, 'll-grid.tif')])
  execFileSync('gdal_translate', ['-q', '-b', 'mask,1', join(data, 'masked.tif'), join(dir, 'masked-mask.tif')])
  server = await startServer(data)
  cat = makeStacCatalogue()
  stacServer = await startServer(cat.root)
})
after(async () => {
  await server?.close()
  await stacServer?.close()
  rmSync(dir, { recursive: true, force: true })
  if (cat) rmSync(cat.root, { recursive: true, force: true })
})

type Value = Array<number | null> | null

/** A stacked band as GDAL reads it at the grid's pixels: a file and band, its nodata, and a mask file. */
interface RefBand { file: string, band: number, nodata?: number, mask?: string }

const STACK: RefBand[] = [
  { file: 'rgb.tif', band: 1 }, { file: 'rgb.tif', band: 2 }, { file: 'rgb.tif', band: 3 },
  { file: 'i32.tif', band: 1, nodata: -1 },
  { file: 'masked.tif', band: 1, mask: 'masked-mask.tif' },
  // The warped source: GDAL's own warp of it onto the grid.
  { file: 'll-grid.tif', band: 1 }, { file: 'll-grid.tif', band: 2 }, { file: 'll-grid.tif', band: 3 }
]

const path = (f: string): string => f.startsWith('/') ? f : f.endsWith('-grid.tif') || f.endsWith('-mask.tif') ? join(dir, f) : join(data, f)

/** Each point's stacked values by gdallocationinfo -valonly: null off the grid (rgb's), a band null where nodata, masked, or off its file. */
function expectedPoints (bands: RefBand[], points: number[][], args: string[]): Value[] {
  const grid = locationInfo(path(bands[0].file), [...args, '-b', String(bands[0].band)], points, 1)
  const columns = bands.map((b) => {
    const values = locationInfo(path(b.file), [...args, '-b', String(b.band)], points, 1)
    const mask = b.mask ? locationInfo(path(b.mask), args, points, 1) : null
    return values.map((v, i) => {
      if (v === null) return null
      const n = Number(v[0])
      if (b.nodata !== undefined && n === b.nodata) return null
      if (mask && Number(mask[i]?.[0]) === 0) return null
      return n
    })
  })
  return points.map((_, i) => grid[i] === null ? null : columns.map((c) => c[i]))
}

function assertValues (ours: unknown, ref: Value[], what: string): void {
  assert.ok(Array.isArray(ours), `${what}: no values`)
  assert.equal(ours.length, ref.length, what)
  ref.forEach((r, i) => assert.deepEqual((ours as Value[])[i], r, `${what}: point ${i}`))
}

/** Points on the grid: spread (a fixed pseudo-random walk), on pixel edges and corners, on the smaller sources' edges, off the grid. */
function gridPoints (): number[][] {
  const at = (c: number, r: number): number[] => [GT[0] + c * GT[1], GT[3] + r * GT[5]]
  let state = 4242
  const rand = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
  const spread = Array.from({ length: 60 }, () => at(rand() * SIDE, rand() * SIDE))
  // Inside the masked source, where every ninth pixel is masked, and inside i32 (0…256).
  const masked = Array.from({ length: 30 }, (_, i) => at(MASKED_AT[0] + 3 + i * 5 + 0.5, MASKED_AT[1] + 7 + i * 3 + 0.5))
  const small = Array.from({ length: 20 }, () => at(rand() * 256, rand() * 256))
  const edges = [at(0, 0), at(1, 1), at(256, 100), at(100, 256), at(255.5, 255.5), at(MASKED_AT[0], MASKED_AT[1]), at(MASKED_AT[0] + MASKED_SIDE, 500),
    at(SIDE - 1, SIDE - 1), at(SIDE - 0.25, 10), at(500.5, 333)]
  const outside = [at(SIDE, 5), at(5, SIDE), at(-0.5, 3), at(3, -1e-6), at(-1e5, 1e5)]
  return [...spread, ...masked, ...small, ...edges, ...outside]
}

function toLonLat (points: number[][]): number[][] {
  const out = execFileSync('gdaltransform', ['-s_srs', 'EPSG:32618', '-t_srs', 'EPSG:4326', '-output_xy'], { input: points.map((p) => p.join(' ')).join('\n') + '\n' }).toString()
  return out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number))
}

const URLS = (): object[] => [
  { url: server.url('/rgb.tif'), name: 'rgb' }, { url: server.url('/i32.tif'), name: 'i32' },
  { url: server.url('/masked.tif'), name: 'm' }, { url: server.url('/ll.tif'), name: 'll' }
]

const NUMPY_TYPES: Record<string, string> = { Byte: 'u1', Int32: '<i4', UInt16: '<u2', Float32: '<f4' }

// numpy over GDAL's reads: each band's values (raw, or an ENVI file of the window), its validity (nodata,
// mask, NaN), scale and offset; the expressions (python over b0, b1, … scaled, as Float32) if any; then per
// point the values, or per band the statistics over the zone. ENVI files may hold more bytes than pixels.
const PYTHON = `
import sys, json, numpy as np
a = json.loads(sys.argv[1])
n = a['n']
cols, valid = [], []
for b in a['bands']:
    if 'values' in b:
        raw = np.array([0 if v is None else v for v in b['values']], dtype=np.float64)
        ok = np.array([v is not None for v in b['values']])
    else:
        v = np.fromfile(b['file'], dtype=b['dtype'], count=n)
        ok = np.ones(n, dtype=bool)
        if b.get('nodata') is not None: ok &= v != b['nodata']
        if b.get('mask'): ok &= np.fromfile(b['mask'], dtype='u1', count=n) != 0
        if b.get('inside') is not None:
            x0, y0, x1, y1 = b['inside']
            ys, xs = np.divmod(np.arange(n), a['w'])
            ok &= (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
        raw = v.astype(np.float64)
    cols.append(raw * b.get('scale', 1) + b.get('offset', 0))
    valid.append(ok)
if a.get('exprs'):
    outs = []
    for e, used in a['exprs']:
        env = {'b%d' % i: c for i, c in enumerate(cols)}
        with np.errstate(divide='ignore', invalid='ignore'):
            r = eval(e, {'np': np}, env).astype(np.float32)
        ok = np.isfinite(r)
        for i in used: ok &= valid[i]
        outs.append((r.astype(np.float64), ok))
else:
    outs = [(np.array([0 if v is None else v for v in b['values']], dtype=np.float64) if 'values' in b else np.fromfile(b['file'], dtype=b['dtype'], count=n).astype(np.float64), ok) for b, ok in zip(a['bands'], valid)]
if a.get('zone') is None:
    print(json.dumps([[float(r[i]) if ok[i] else None for r, ok in outs] for i in range(n)]))
    sys.exit(0)
zone = np.fromfile(a['zone'], dtype='u1', count=n) == 1
res = []
for k, (r, ok) in enumerate(outs):
    vals = r[zone & ok]
    s = {'band': k + 1, 'count': int(vals.size), 'nodata_count': int((zone & ~ok).sum())}
    if vals.size:
        u, c = np.unique(vals, return_counts=True)
        s.update(min=float(vals.min()), max=float(vals.max()), mean=float(vals.mean()), std=float(vals.std()), sum=float(vals.sum()),
                 median=float(np.median(vals)), p90=float(np.percentile(vals, 90)), majority=float(u[np.argmax(c)]), unique=int(u.size))
    res.append(s)
print(json.dumps(res))
`

function numpy (args: object): unknown {
  return JSON.parse(execFileSync('python3', ['-c', PYTHON, JSON.stringify(args)], { maxBuffer: 1 << 26 }).toString())
}

/** Band math at the points, by numpy over GDAL's values (null: not valid), with each band's scale and offset. */
function expectedExpr (ref: Value[], exprs: Array<[string, number[]]>, scales: Array<[number, number]>): Value[] {
  const bands = scales.map(([scale, offset], k) => ({ values: ref.map((v) => v?.[k] ?? null), scale, offset }))
  const out = numpy({ n: ref.length, bands, exprs }) as Value[]
  return out.map((v, i) => ref[i] === null ? null : v)
}

for (const mode of ['range', 'download']) {
  test(`stack points (--fetch ${mode}): every stacked band equals gdallocationinfo of its file on the grid (gdalwarp's for the warped one), in the grid's CRS and EPSG:4326; band math numpy's`, async () => {
    const points = gridPoints()
    const ll = toLonLat(points.slice(0, 40))
    const exprs: Array<[string, number[]]> = [['(b5 - b0) / (b5 + b0)', [0, 5]], ['b4 * 2 + b3', [3, 4]]]
    const input = [
      { id: 'grid', urls: URLS(), points, points_crs: 'EPSG:32618' },
      { id: 'lonlat', urls: URLS(), points: ll, points_crs: 'EPSG:4326' },
      { id: 'expr', urls: URLS(), points, points_crs: 'EPSG:32618', expr: '(ll_1 - rgb_1) / (ll_1 + rgb_1); m * 2 + i32' },
      // --bands applies to every source: the warped one's too.
      { id: 'bands', urls: [URLS()[0], URLS()[3]], points, points_crs: 'EPSG:32618', bands: [3, 1] }
    ]
    const run = await runCli(['-q', '-o', join(dir, `out-${mode}`), '--fetch', mode], { stdin: input.map((r) => JSON.stringify(r)).join('\n') + '\n', env: ENV })
    assert.equal(run.code, 0, run.stderr + run.stdout)
    const rec = (id: string): ResultRecord => {
      const r = run.records.find((x) => x.id === id) as ResultRecord
      assert.equal(r?.status, 'ok', JSON.stringify(r))
      assert.equal(r.output, undefined, 'a points record writes no file')
      if (mode === 'range') assert.deepEqual(r.sources?.map((s) => s.fetch), r.sources?.map(() => 'range'))
      return r
    }
    const ref = expectedPoints(STACK, points, ['-geoloc'])
    assertValues(rec('grid').values, ref, `grid (${mode})`)
    // Each kind of null was met: off the grid, past i32's edge or its nodata, the mask.
    assert.ok(ref.some((v) => v === null) && ref.some((v) => v?.[3] === null && v[0] !== null) && ref.some((v) => v?.[4] === null && v[3] === null) && ref.some((v) => v !== null && v[4] === null && v[5] !== null))
    assertValues(rec('lonlat').values, expectedPoints(STACK, ll, ['-wgs84']), `lonlat (${mode})`)
    assertValues(rec('expr').values, expectedExpr(ref, exprs, STACK.map(() => [1, 0])), `expr (${mode})`)
    const bandsRef = expectedPoints([STACK[2], STACK[0], STACK[7], STACK[5]], points, ['-geoloc'])
    assertValues(rec('bands').values, bandsRef, `bands (${mode})`)
    if (mode === 'range') {
      // Points spread over the grid, so rgb's tiles are mostly wanted; the masked source's too. ll's reads are its footprints.
      const sizes = ['rgb.tif', 'i32.tif', 'masked.tif', 'll.tif'].map((f) => statSync(join(data, f)).size)
      const r = rec('grid')
      assert.ok((r.sources?.[3].bytes as number) < sizes[3], `ll: ${String(r.sources?.[3].bytes)} of ${sizes[3]}`)
    }
  })
}

/** The zone's window on the grid and the zone itself, by GDAL's tools (ogr2ogr into the grid's CRS, gdal_rasterize). */
function zoneReference (id: string, geometry: object, crs: string, allTouched: boolean): { c0: number, r0: number, w: number, h: number, zone: string } {
  const base = join(dir, `zone-${id}`)
  writeFileSync(`${base}.geojson`, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry }] }))
  execFileSync('ogr2ogr', ['-f', 'GeoJSON', '-s_srs', crs, '-t_srs', 'EPSG:32618', '-lco', 'COORDINATE_PRECISION=15', `${base}-t.geojson`, `${base}.geojson`])
  const moved = JSON.parse(readFileSync(`${base}-t.geojson`, 'utf8')) as { features: Array<{ geometry: { type: string, coordinates: unknown } }> }
  const g = moved.features[0].geometry
  const pts = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates as number[][][][]).flat(2) as number[][]
  const cols = pts.map((p) => (p[0] - GT[0]) / GT[1])
  const rows = pts.map((p) => (p[1] - GT[3]) / GT[5])
  const c0 = Math.max(0, Math.floor(Math.min(...cols)))
  const r0 = Math.max(0, Math.floor(Math.min(...rows)))
  const c1 = Math.min(SIDE, Math.ceil(Math.max(...cols)))
  const r1 = Math.min(SIDE, Math.ceil(Math.max(...rows)))
  const [w, h] = [c1 - c0, r1 - r0]
  const te = [GT[0] + c0 * GT[1], GT[3] + r1 * GT[5], GT[0] + c1 * GT[1], GT[3] + r0 * GT[5]]
  execFileSync('gdal_rasterize', ['-q', '-burn', '1', ...(allTouched ? ['-at'] : []), '-te', ...te.map(String), '-ts', String(w), String(h),
    '-ot', 'Byte', '-init', '0', '-of', 'ENVI', `${base}-t.geojson`, `${base}-zone.raw`])
  return { c0, r0, w, h, zone: `${base}-zone.raw` }
}

/**
 * The stacked bands over the window by gdal_translate -srcwin of each file (its offset on the grid), the
 * masked source's mask likewise, and which pixels lie on each file (its extent, by gdalinfo).
 */
function windowBands (id: string, win: { c0: number, r0: number, w: number, h: number }): object[] {
  const at: Record<string, number[]> = { 'rgb.tif': [0, 0], 'i32.tif': [0, 0], 'masked.tif': MASKED_AT, 'll-grid.tif': [0, 0] }
  return STACK.map((b, k) => {
    const [oc, or] = at[b.file]
    const srcwin = ['-srcwin', String(win.c0 - oc), String(win.r0 - or), String(win.w), String(win.h)]
    const out = join(dir, `zone-${id}-b${k}.raw`)
    execFileSync('gdal_translate', ['-q', '-of', 'ENVI', ...srcwin, '-b', String(b.band), path(b.file), out])
    const type = JSON.parse(execFileSync('gdalinfo', ['-json', path(b.file)]).toString()).bands[b.band - 1].type as string
    // The file's extent in the window's pixels: past it, no value of this source.
    const size = JSON.parse(execFileSync('gdalinfo', ['-json', path(b.file)]).toString()).size as number[]
    const inside = [oc - win.c0, or - win.r0, oc - win.c0 + size[0], or - win.r0 + size[1]]
    const mask = b.mask ? join(dir, `zone-${id}-m${k}.raw`) : undefined
    if (b.mask && mask) execFileSync('gdal_translate', ['-q', '-of', 'ENVI', ...srcwin, path(b.mask), mask])
    return { file: out, dtype: NUMPY_TYPES[type], ...(b.nodata !== undefined ? { nodata: b.nodata } : {}), ...(mask ? { mask } : {}), inside }
  })
}

function assertZonal (ours: ZonalStats[] | undefined, ref: ZonalStats[], what: string): void {
  assert.ok(ours, `${what}: no zonal`)
  assert.equal(ours.length, ref.length, what)
  ref.forEach((r, i) => {
    const o = ours[i]
    assert.deepEqual(Object.keys(o), ['band', ...STATS], what)
    for (const [k, v] of Object.entries(r)) {
      const got = o[k]
      if (['band', 'count', 'nodata_count', 'unique'].includes(k)) assert.equal(got, v, `${what} band ${r.band} ${k}`)
      else assert.ok(typeof got === 'number' && Math.abs(got - (v as number)) <= 1e-9 * Math.max(1, Math.abs(v as number)), `${what} band ${r.band} ${k}: ${String(got)}, numpy ${String(v)}`)
    }
  })
}

for (const mode of ['range', 'download']) {
  test(`stack zonal (--fetch ${mode}): a polygon with a hole in EPSG:4326 across the smaller sources' edges, a multipolygon all_touched, band math: equal gdal_rasterize + numpy`, async () => {
    const at = (c: number, r: number): number[] => [GT[0] + c * GT[1], GT[3] + r * GT[5]]
    const rings = [[[150.3, 200.7], [700.2, 260.1], [650.6, 640.3], [180.4, 600.9]], [[300.1, 350.2], [400.3, 355.4], [350.5, 450.6]]]
    const lonLat = rings.map((ring) => {
      const ll = toLonLat(ring.map(([c, r]) => at(c, r)))
      return [...ll, ll[0]]
    })
    const hole = { type: 'Polygon', coordinates: lonLat }
    const multi = {
      type: 'MultiPolygon',
      coordinates: [[[[20.2, 30.3], [90.6, 35.1], [60.4, 120.8]]], [[[700.3, 800.2], [760.7, 790.4], [740.5, 870.6], [700.3, 800.2]]]]
        .map((polygon) => polygon.map((ring) => { const r = ring.map(([c, rr]) => at(c, rr)); return r[0] === r[r.length - 1] ? r : [...r, r[0]] }))
    }
    const exprs: Array<[string, number[]]> = [['(b5 - b0) / (b5 + b0)', [0, 5]], ['b4 * 2 + b3', [3, 4]]]
    const input = [
      { id: 'hole', urls: URLS(), geometry: hole },
      { id: 'multi', urls: URLS(), geometry: multi, geometry_crs: 'EPSG:32618', all_touched: true },
      { id: 'expr', urls: URLS(), geometry: hole, expr: '(ll_1 - rgb_1) / (ll_1 + rgb_1); m * 2 + i32' }
    ]
    const run = await runCli(['-q', '-o', join(dir, `zout-${mode}`), '--fetch', mode, '--zonal-stats', STATS.join(',')], { stdin: input.map((r) => JSON.stringify(r)).join('\n') + '\n', env: ENV })
    assert.equal(run.code, 0, run.stderr + run.stdout)
    const rec = (id: string): ResultRecord => {
      const r = run.records.find((x) => x.id === id) as ResultRecord
      assert.equal(r?.status, 'ok', JSON.stringify(r))
      assert.equal(r.output, undefined, 'a zonal record writes no file')
      return r
    }
    for (const [id, geometry, crs, allTouched] of [['hole', hole, 'EPSG:4326', false], ['multi', multi, 'EPSG:32618', true]] as const) {
      const win = zoneReference(`${id}-${mode}`, geometry, crs, allTouched)
      const bands = windowBands(`${id}-${mode}`, win)
      const ref = numpy({ n: win.w * win.h, w: win.w, bands, zone: win.zone }) as ZonalStats[]
      assertZonal(rec(id).zonal, ref, `${id} (${mode})`)
      // Pixels past i32's edge and under the mask were counted as nodata, not values.
      if (id === 'hole') assert.ok((ref[3].nodata_count as number) > 0 && (ref[4].nodata_count as number) > 0 && (ref[4].count as number) > 0, JSON.stringify(ref))
      if (id === 'hole') assertZonal(rec('expr').zonal, numpy({ n: win.w * win.h, w: win.w, bands, zone: win.zone, exprs }) as ZonalStats[], `expr (${mode})`)
    }
  })
}

test('STAC item points and zone by asset names (a 20 m asset warped onto the 10 m grid, raster:bands nodata, scale and offset): GDAL\'s values, range reads only the blocks under the points', async () => {
  const item = cat.items[0]
  const gt = item.transform
  const at = (c: number, r: number): number[] => [gt[0] + c * gt[1], gt[3] + r * gt[5]]
  // All in the first 128² block of B04 (and so of B11's first block).
  const points = [at(0.5, 0.5), at(10, 20), at(64.5, 100.25), at(127.9, 127.9), at(33, 77.5), at(1, 127)]
  const b11 = join(dir, 'b11-grid.tif')
  execFileSync('gdalwarp', ['-q', '-te', String(gt[0]), String(gt[3] - 5120), String(gt[0] + 5120), String(gt[3]), '-tr', '10', '10', '-r', 'near', '-et', '0',
    '-srcnodata', '0', '-dstnodata', '0', item.files.B11, b11])
  const refBands = [{ file: item.files.B04, band: 1, nodata: 0 }, { file: b11, band: 1, nodata: 0 }]
  const ref = expectedPoints(refBands, points, ['-geoloc'])
  const square = { type: 'Polygon', coordinates: [[at(40.3, 50.2), at(300.7, 60.1), at(280.4, 400.9), at(40.3, 50.2)]] }
  const stac = stacServer.url(`/${item.path}`)
  const input = [
    { stac, id: 'pts', assets: 'B04,B11', points, points_crs: 'EPSG:32618' },
    { stac, id: 'ndvi', assets: 'red,swir16', points, points_crs: 'EPSG:32618', expr: '(swir16 - red) / (swir16 + red)' },
    { stac, id: 'zone', assets: 'B04,B11', geometry: square, geometry_crs: 'EPSG:32618' }
  ]
  for (const mode of ['range', 'download']) {
    const run = await runCli(['-q', '-o', join(dir, `stac-${mode}`), '--fetch', mode, '--zonal-stats', STATS.join(',')], { stdin: input.map((r) => JSON.stringify(r)).join('\n') + '\n', env: ENV })
    assert.equal(run.code, 0, run.stderr + run.stdout)
    const rec = (id: string): ResultRecord => {
      const r = run.records.find((x) => x.id === id) as ResultRecord
      assert.equal(r?.status, 'ok', JSON.stringify(r))
      return r
    }
    assertValues(rec('pts').values, ref, `STAC points (${mode})`)
    assertValues(rec('ndvi').values, expectedExpr(ref, [['(b1 - b0) / (b1 + b0)', [0, 1]]], [[1, 0], [0.0001, -0.1]]), `STAC NDVI (${mode})`)
    if (mode === 'range') {
      // The probe's first bytes and the one 128² block under the points of each COG: not the whole file.
      for (const [i, key] of ['B04', 'B11'].entries()) {
        const size = statSync(item.files[key]).size
        assert.equal(rec('pts').sources?.[i].fetch, 'range')
        assert.ok((rec('pts').sources?.[i].bytes as number) < size, `${key}: ${String(rec('pts').sources?.[i].bytes)} bytes of ${size}`)
      }
    }
    const win = { c0: 40, r0: 50, w: 261, h: 351 }
    const base = join(dir, `stac-zone-${mode}`)
    writeFileSync(`${base}.geojson`, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: square }] }))
    const te = [gt[0] + win.c0 * 10, gt[3] - (win.r0 + win.h) * 10, gt[0] + (win.c0 + win.w) * 10, gt[3] - win.r0 * 10]
    execFileSync('gdal_rasterize', ['-q', '-burn', '1', '-te', ...te.map(String), '-ts', String(win.w), String(win.h), '-ot', 'Byte', '-init', '0', '-of', 'ENVI', `${base}.geojson`, `${base}-zone.raw`])
    const bands = refBands.map((b, k) => {
      const out = `${base}-b${k}.raw`
      execFileSync('gdal_translate', ['-q', '-of', 'ENVI', '-srcwin', String(win.c0), String(win.r0), String(win.w), String(win.h), b.file, out])
      return { file: out, dtype: k === 0 ? 'u1' : '<u2', nodata: 0 }
    })
    assertZonal(rec('zone').zonal, numpy({ n: win.w * win.h, bands, zone: `${base}-zone.raw` }) as ZonalStats[], `STAC zone (${mode})`)
  }
})
