// Zonal statistics against GDAL's own gdal_rasterize of the geometry onto the window's grid plus numpy over
// the masked pixels (python3, a child process): polygons with a hole, multipolygons, a polygon across the
// raster's edge, one smaller than a pixel, in EPSG:4326 against UTM rasters, with and without all_touched,
// on Byte, UInt16 (nodata), Float32 (nodata) and a per-dataset mask, in range and download mode.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import type { ZonalStats } from '../lib/core/records.js'

const ctx = useServer()

const FIXTURE_NAMES = ['rgb-byte-tiled.tif', 'uint16-striped.tif', 'float32-band-interleaved.tif', 'mask-byte.tif']
const STATS = ['count', 'nodata_count', 'min', 'max', 'mean', 'std', 'sum', 'median', 'p10', 'p90', 'majority', 'unique']
const NUMPY_TYPES: Record<string, string> = { Byte: 'u1', UInt16: '<u2', Int16: '<i2', UInt32: '<u4', Int32: '<i4', Float32: '<f4', Float64: '<f8' }

interface Raster { W: number, H: number, gt: number[], wkt: string, count: number, type: string }

function rasterOf (name: string): Raster {
  const info = JSON.parse(execFileSync('gdalinfo', ['-json', join(FIXTURES, name)]).toString()) as
    { size: number[], geoTransform: number[], coordinateSystem: { wkt: string }, bands: Array<{ type: string }> }
  return { W: info.size[0], H: info.size[1], gt: info.geoTransform, wkt: info.coordinateSystem.wkt, count: info.bands.length, type: info.bands[0].type }
}

type Ring = number[][]
interface Shape { name: string, polygons: Ring[][], lonLat: boolean }

/** Shapes in pixel coordinates of the raster (fractional, off the pixel edges), as polygons of rings. */
function shapes ({ W, H }: Raster): Shape[] {
  return [
    {
      name: 'hole',
      lonLat: false,
      polygons: [[
        [[0.1 * W + 0.3, 0.1 * H + 0.7], [0.45 * W + 0.2, 0.12 * H + 0.1], [0.4 * W + 0.6, 0.5 * H + 0.3], [0.12 * W + 0.4, 0.45 * H + 0.9]],
        [[0.2 * W + 0.1, 0.2 * H + 0.2], [0.3 * W + 0.3, 0.21 * H + 0.4], [0.25 * W + 0.5, 0.35 * H + 0.6]]
      ]]
    },
    {
      name: 'multi-4326',
      lonLat: true,
      polygons: [
        [[[0.6 * W + 0.3, 0.1 * H + 0.2], [0.8 * W + 0.7, 0.15 * H + 0.4], [0.7 * W + 0.1, 0.3 * H + 0.8]]],
        [[[0.55 * W + 0.2, 0.6 * H + 0.3], [0.7 * W + 0.4, 0.62 * H + 0.5], [0.6 * W + 0.6, 0.8 * H + 0.1], [0.52 * W + 0.3, 0.75 * H + 0.2]]]
      ]
    },
    { name: 'edge-4326', lonLat: true, polygons: [[[[0.9 * W + 0.3, 0.85 * H + 0.4], [W + 20.5, 0.86 * H + 0.2], [W + 15.5, H + 30.3], [0.88 * W + 0.1, H + 10.7]]]] },
    { name: 'sub-pixel', lonLat: false, polygons: [[[[10.2, 10.3], [10.6, 10.3], [10.6, 10.45], [10.2, 10.45]]]] }
  ]
}

/** Pixel coordinates to the raster's CRS, and (lonLat) on to EPSG:4326 by GDAL's gdaltransform; rings closed. */
function geoJson (r: Raster, shape: Shape): { type: 'MultiPolygon', coordinates: number[][][][] } {
  const flat = shape.polygons.flat(2).map(([c, row]) => [r.gt[0] + c * r.gt[1], r.gt[3] + row * r.gt[5]])
  const xy = shape.lonLat
    ? execFileSync('gdaltransform', ['-s_srs', r.wkt, '-t_srs', 'EPSG:4326', '-output_xy'], { input: flat.map((p) => p.join(' ')).join('\n') + '\n' })
      .toString().trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number))
    : flat
  let i = 0
  const coordinates = shape.polygons.map((rings) => rings.map((ring) => {
    const out = ring.map(() => xy[i++])
    return [...out, out[0]]
  }))
  return { type: 'MultiPolygon', coordinates }
}

// ENVI files of GDAL 3.6 may hold more bytes than the pixels (a 1×1 Byte file is 2 bytes): read w × h.
const PYTHON = `
import sys, json, numpy as np
a = json.loads(sys.argv[1])
w, h = a['w'], a['h']
zone = np.fromfile(a['zone'], dtype='u1', count=w * h).reshape(h, w) == 1
out = []
for band in a['bands']:
    v = np.fromfile(band['data'], dtype=a['dtype'], count=w * h).reshape(h, w)
    bad = np.zeros((h, w), dtype=bool)
    if band.get('nodata') is not None:
        bad |= v == band['nodata']
    if band.get('mask'):
        bad |= np.fromfile(band['mask'], dtype='u1', count=w * h).reshape(h, w) == 0
    if v.dtype.kind == 'f':
        bad |= np.isnan(v)
    vals = v[zone & ~bad].astype(np.float64)
    r = {'band': band['band'], 'count': int(vals.size), 'nodata_count': int((zone & bad).sum())}
    if vals.size:
        u, c = np.unique(vals, return_counts=True)
        r.update(min=float(vals.min()), max=float(vals.max()), mean=float(vals.mean()), std=float(vals.std()), sum=float(vals.sum()),
                 median=float(np.median(vals)), p10=float(np.percentile(vals, 10)), p90=float(np.percentile(vals, 90)),
                 majority=float(u[np.argmax(c)]), unique=int(u.size))
    out.append(r)
print(json.dumps(out))
`

/**
 * The reference: the geometry carried into the raster's CRS by ogr2ogr, its bounds as a window of the
 * raster's grid (clipped), gdal_rasterize onto that window's grid, the window's pixels and masks cut by
 * gdal_translate, and numpy's statistics over the zone's valid pixels.
 */
function reference (name: string, r: Raster, id: string, geometry: object, crs: string, allTouched: boolean): ZonalStats[] | 'outside' {
  const src = join(FIXTURES, name)
  const base = join(ctx.dir, `ref-${id.replace(/[^a-z0-9]+/gi, '-')}`)
  writeFileSync(`${base}.geojson`, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry }] }))
  execFileSync('ogr2ogr', ['-f', 'GeoJSON', '-s_srs', crs, '-t_srs', r.wkt, '-lco', 'COORDINATE_PRECISION=15', `${base}-t.geojson`, `${base}.geojson`])
  const moved = JSON.parse(readFileSync(`${base}-t.geojson`, 'utf8')) as { features: Array<{ geometry: { type: string, coordinates: unknown } }> }
  const g = moved.features[0].geometry
  const pts = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates as number[][][][]).flat(2) as number[][]
  const cols = pts.map((p) => (p[0] - r.gt[0]) / r.gt[1])
  const rows = pts.map((p) => (p[1] - r.gt[3]) / r.gt[5])
  const c0 = Math.max(0, Math.floor(Math.min(...cols)))
  const r0 = Math.max(0, Math.floor(Math.min(...rows)))
  const c1 = Math.min(r.W, Math.ceil(Math.max(...cols)))
  const r1 = Math.min(r.H, Math.ceil(Math.max(...rows)))
  if (c1 <= c0 || r1 <= r0) return 'outside'
  const [w, h] = [c1 - c0, r1 - r0]
  const te = [r.gt[0] + c0 * r.gt[1], r.gt[3] + r1 * r.gt[5], r.gt[0] + c1 * r.gt[1], r.gt[3] + r0 * r.gt[5]]
  execFileSync('gdal_rasterize', ['-q', '-burn', '1', ...(allTouched ? ['-at'] : []), '-te', ...te.map(String), '-ts', String(w), String(h),
    '-ot', 'Byte', '-init', '0', '-of', 'ENVI', `${base}-t.geojson`, `${base}-zone.raw`])
  const info = JSON.parse(execFileSync('gdalinfo', ['-json', src]).toString()) as { bands: Array<{ noDataValue?: number, mask?: { flags: string[] } }> }
  const srcwin = ['-srcwin', String(c0), String(r0), String(w), String(h)]
  const bands = Array.from({ length: r.count }, (_, i) => {
    const b = i + 1
    execFileSync('gdal_translate', ['-q', '-of', 'ENVI', ...srcwin, '-b', String(b), src, `${base}-b${b}.raw`])
    const perDataset = info.bands[i].mask?.flags.includes('PER_DATASET') === true
    if (perDataset) execFileSync('gdal_translate', ['-q', '-of', 'ENVI', ...srcwin, '-b', `mask,${b}`, src, `${base}-m${b}.raw`])
    return { band: b, data: `${base}-b${b}.raw`, nodata: info.bands[i].noDataValue ?? null, mask: perDataset ? `${base}-m${b}.raw` : null }
  })
  const args = { w, h, zone: `${base}-zone.raw`, dtype: NUMPY_TYPES[r.type], bands }
  return JSON.parse(execFileSync('python3', ['-c', PYTHON, JSON.stringify(args)]).toString()) as ZonalStats[]
}

function assertZonal (ours: ZonalStats[] | undefined, ref: ZonalStats[], what: string): void {
  assert.ok(ours, `${what}: no zonal`)
  assert.equal(ours.length, ref.length, what)
  ref.forEach((r, i) => {
    const o = ours[i]
    assert.deepEqual(Object.keys(o), ['band', ...STATS], `${what}: the statistics asked, in order`)
    for (const [k, v] of Object.entries(r)) {
      const got = o[k]
      if (k === 'band' || k === 'count' || k === 'nodata_count' || k === 'unique') {
        assert.equal(got, v, `${what} band ${r.band} ${k}`)
      } else {
        assert.equal(typeof got, 'number', `${what} band ${r.band} ${k}: ${String(got)}`)
        assert.ok(Math.abs((got as number) - (v as number)) <= 1e-9 * Math.max(1, Math.abs(v as number)), `${what} band ${r.band} ${k}: ${String(got)}, numpy ${String(v)}`)
      }
    }
    if (r.count === 0) for (const k of ['min', 'max', 'mean', 'std', 'median', 'p10', 'p90', 'majority']) assert.equal(o[k], null, `${what}: ${k} of no pixel`)
  })
}

interface Case { id: string, name: string, raster: Raster, geometry: object, crs: string, allTouched: boolean }

function cases (): Case[] {
  const all: Case[] = []
  for (const name of FIXTURE_NAMES) {
    const raster = rasterOf(name)
    for (const shape of shapes(raster)) {
      const geometry = geoJson(raster, shape)
      // A single polygon as a Polygon, the others as given.
      const g = geometry.coordinates.length === 1 ? { type: 'Polygon', coordinates: geometry.coordinates[0] } : geometry
      for (const allTouched of [false, true]) {
        all.push({ id: `${name} ${shape.name}${allTouched ? ' all_touched' : ''}`, name, raster, geometry: g, crs: shape.lonLat ? 'EPSG:4326' : raster.wkt, allTouched })
      }
    }
  }
  return all
}

const references = new Map<string, ZonalStats[] | 'outside'>()

for (const mode of ['range', 'download']) {
  test(`zonal (--fetch ${mode}): holes, multipolygons, the raster's edge, a sub-pixel polygon, EPSG:4326 on UTM, all_touched: equal gdal_rasterize + numpy`, async () => {
    const all = cases()
    const input = all.map((k) => JSON.stringify({
      url: ctx.server.url(k.name), id: k.id, geometry: k.geometry, ...(k.crs !== 'EPSG:4326' ? { geometry_crs: k.crs } : {}), ...(k.allTouched ? { all_touched: true } : {})
    })).join('\n')
    const out = join(ctx.dir, `out-${mode}`)
    const run = await runCli(['-o', out, '--fetch', mode, '-c', '4', '--zonal-stats', STATS.join(',')], { stdin: input })
    assert.equal(run.code, 0, run.stderr + run.stdout)
    assert.equal(run.records.length, all.length)
    let subPixel = 0
    for (const k of all) {
      const rec = run.records.find((r) => r.id === k.id)
      assert.equal(rec?.status, 'ok', JSON.stringify(rec))
      assert.equal(rec.output, undefined)
      let ref = references.get(k.id)
      if (!ref) references.set(k.id, ref = reference(k.name, k.raster, k.id, k.geometry, k.crs, k.allTouched))
      assert.notEqual(ref, 'outside', k.id)
      assertZonal(rec.zonal, ref as ZonalStats[], `${k.id} (${mode})`)
      // The sub-pixel square holds no pixel centre; all touched, it holds its one pixel.
      if (k.id.includes('sub-pixel')) {
        assert.equal(rec.zonal?.[0].count as number + (rec.zonal?.[0].nodata_count as number), k.allTouched ? 1 : 0, k.id)
        subPixel++
      }
    }
    assert.equal(subPixel, 2 * FIXTURE_NAMES.length)
    // Masked and nodata pixels were met inside zones, not only assumed.
    assert.ok([...references.values()].some((r) => r !== 'outside' && r.some((b) => (b.nodata_count as number) > 0)))
    assert.equal(existsSync(out) ? readdirSync(out).length : 0, 0, 'no file is written for a zone')
  })
}

test('a zone wholly outside the raster counts nothing; bad geometries are record errors naming the field', async () => {
  const url = ctx.server.url('rgb-byte-tiled.tif')
  const square = { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] }
  const records: Array<[object, string | null, RegExp | null]> = [
    [{ geometry: square }, null, null],
    [{ geometry: { type: 'Point', coordinates: [1, 2] } }, 'BAD_RECORD', /"geometry" must be a GeoJSON Polygon or MultiPolygon, not "Point"/],
    [{ geometry: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [0, 0]]] } }, 'BAD_RECORD', /"geometry": the polygon ring 1 must have at least 4 positions/],
    [{ geometry: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] } }, 'BAD_RECORD', /not closed/],
    [{ geometry: { type: 'Polygon', coordinates: [[[0, 0], ['a', 0], [1, 1], [0, 0]]] } }, 'BAD_RECORD', /"geometry": the polygon ring 1 position 2 must be \[x, y\]/],
    [{ geometry: square, geometry_crs: 'EPSG:99999' }, 'BAD_CRS', /geometry_crs/],
    [{ geometry: square, all_touched: 'yes' }, 'BAD_RECORD', /"all_touched" must be true or false/],
    [{ all_touched: true }, 'BAD_RECORD', /"all_touched" needs "geometry"/],
    [{ geometry: square, points: [[1, 2]] }, 'BAD_RECORD', /"points" or "geometry", not both/]
  ]
  const run = await runCli(['-o', join(ctx.dir, 'bad')], { stdin: records.map(([r]) => JSON.stringify({ url, ...r })).join('\n') })
  records.forEach(([, code, message], i) => {
    const rec = run.records.find((r) => r.line === i + 1)
    if (code === null) {
      assert.equal(rec?.status, 'ok', JSON.stringify(rec))
      assert.deepEqual(rec.zonal?.map((z) => [z.count, z.nodata_count, z.min, z.mean, z.sum]), [[0, 0, null, null, 0], [0, 0, null, null, 0], [0, 0, null, null, 0]])
      return
    }
    assert.equal(rec?.error?.stage, 'input', JSON.stringify(rec))
    assert.equal(rec?.error?.code, code)
    assert.match(rec?.error?.message ?? '', message as RegExp)
  })
  const usage = await runCli(['--zonal-stats', 'count,mode'], { stdin: url })
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /--zonal-stats: unknown statistic "mode"/)
})
