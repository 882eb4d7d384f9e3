// The correctness matrix: rasterpipe's output against gdal_translate's for the same request, over every
// data type, a palette, nodata, a mask, alpha, tiled and striped: pixel windows (-srcwin), bboxes in the
// raster's CRS (-projwin), bboxes in EPSG:4326 (-projwin_srs), boundless windows and band lists (-b).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { assertSameRaster, gdalTranslate, memo } from './support/compare.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { PROBE_BYTES } from '../lib/source/probe.js'

const gdal = loadGdal()
const ctx = useServer()

const FIXTURE_NAMES = ['rgb-byte-tiled.tif', 'uint16-striped.tif', 'float32-band-interleaved.tif', 'int16-small.tif',
  'int32-small.tif', 'uint32-small.tif', 'float64-small.tif', 'palette-byte.tif', 'mask-byte.tif', 'rgba-alpha.tif']

interface Case { name: string, record: Record<string, unknown>, gdalArgs: string[] }

/** Corners of a pixel rectangle (fractional) in the raster's CRS. */
function bounds (gt: number[], c0: number, r0: number, c1: number, r1: number): number[] {
  const x0 = gt[0] + c0 * gt[1]
  const x1 = gt[0] + c1 * gt[1]
  const y0 = gt[3] + r0 * gt[5]
  const y1 = gt[3] + r1 * gt[5]
  return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)]
}

/**
 * A lon/lat box carried into the raster's CRS by GDAL's own gdaltransform, 21 points an edge: the box GDAL's
 * -projwin must then take. (gdal_translate -projwin_srs transforms only two corners, and misses the bulge
 * of a curved edge by a pixel or so; that is why rasterpipe densifies.)
 */
function densifiedFromLonLat (wkt: string, ll: number[]): number[] {
  const [x0, y0, x1, y1] = ll
  const pts: string[] = []
  for (let i = 0; i <= 20; i++) {
    const t = i / 20
    pts.push(`${x0 + t * (x1 - x0)} ${y0}`, `${x0 + t * (x1 - x0)} ${y1}`, `${x0} ${y0 + t * (y1 - y0)}`, `${x1} ${y0 + t * (y1 - y0)}`)
  }
  const out = execFileSync('gdaltransform', ['-s_srs', 'EPSG:4326', '-t_srs', wkt, '-output_xy'], { input: pts.join('\n') + '\n' }).toString()
  const xy = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number))
  const xs = xy.map((p) => p[0])
  const ys = xy.map((p) => p[1])
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
}

/** The same box in EPSG:4326, by GDAL's own gdaltransform (lon, lat order). */
function toLonLat (wkt: string, box: number[]): number[] {
  const pts = `${box[0]} ${box[1]}\n${box[2]} ${box[3]}\n`
  const out = execFileSync('gdaltransform', ['-s_srs', wkt, '-t_srs', 'EPSG:4326', '-output_xy'], { input: pts }).toString()
  const [[lon0, lat0], [lon1, lat1]] = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number))
  return [Math.min(lon0, lon1), Math.min(lat0, lat1), Math.max(lon0, lon1), Math.max(lat0, lat1)]
}

function casesFor (name: string): Case[] {
  const ds = gdal.open(join(FIXTURES, name))
  const { x: W, y: H } = ds.rasterSize
  const count = ds.bands.count()
  const gt = ds.geoTransform as number[]
  const wkt = ds.srs?.toWKT() as string
  ds.close()
  const c = Math.floor(W / 4)
  const r = Math.floor(H / 4)
  const cases: Case[] = [
    { name: 'srcwin', record: { window: [c, r, Math.floor(W / 3), Math.floor(H / 3)] }, gdalArgs: ['-srcwin', String(c), String(r), String(Math.floor(W / 3)), String(Math.floor(H / 3))] },
    { name: 'boundless-edge', record: { window: [W - 50, H - 40, 128, 96], boundless: true }, gdalArgs: ['-srcwin', String(W - 50), String(H - 40), '128', '96'] },
    { name: 'boundless-negative', record: { window: [-20, -10, 100, 80], boundless: true }, gdalArgs: ['-srcwin', '-20', '-10', '100', '80'] }
  ]
  // Fractional pixel positions exercise -projwin's rounding.
  const box = bounds(gt, W / 5 + 0.3, H / 6 + 0.7, W / 2 + 0.4, H / 2 + 0.2)
  const [minx, miny, maxx, maxy] = box
  cases.push({ name: 'bbox', record: { bbox: box }, gdalArgs: ['-projwin', String(minx), String(maxy), String(maxx), String(miny)] })
  const ll = toLonLat(wkt, bounds(gt, W / 5, H / 5, W / 5 + 40, H / 5 + 30))
  const inRaster = densifiedFromLonLat(wkt, ll)
  cases.push({
    name: 'bbox-4326',
    record: { bbox: ll, bbox_crs: 'EPSG:4326' },
    gdalArgs: ['-projwin', String(inRaster[0]), String(inRaster[3]), String(inRaster[2]), String(inRaster[1])]
  })
  if (/AUTHORITY\["EPSG","4326"\]\]$/.test(wkt)) {
    // Same CRS on both sides: nothing to densify, and -projwin_srs itself must agree.
    cases.push({
      name: 'bbox-4326-projwin_srs',
      record: { bbox: ll, bbox_crs: 'EPSG:4326' },
      gdalArgs: ['-projwin_srs', 'EPSG:4326', '-projwin', String(ll[0]), String(ll[3]), String(ll[2]), String(ll[1])]
    })
  }
  if (count > 1) {
    const bands = Array.from({ length: count }, (_, i) => count - i)
    cases.push({ name: 'bands-reversed', record: { window: [c, r, 100, 100], bands }, gdalArgs: ['-srcwin', String(c), String(r), '100', '100', ...bands.flatMap((b) => ['-b', String(b)])] })
    cases.push({ name: 'band-last', record: { window: [0, 0, 64, 64], bands: [count] }, gdalArgs: ['-srcwin', '0', '0', '64', '64', '-b', String(count)] })
  }
  return cases
}

// A fixture's cases and gdal_translate's outputs depend on the fixture alone: made once, for both modes.
const casesOf = memo<Case[]>()
const references = memo<string>()

// Every case in download mode, and again in range mode, where only the blocks planned for each window
// are in the local file: a block missed by the plan would show as wrong pixels or a decoding error.
for (const mode of ['download', 'range']) {
for (const name of FIXTURE_NAMES) {
  test(`${name} (--fetch ${mode}): windows, bboxes, boundless reads and bands equal gdal_translate's`, async () => {
    const cases = casesOf(name, () => casesFor(name))
    const out = join(ctx.dir, `${mode}-${name}`)
    const input = cases.map((k) => JSON.stringify({ url: ctx.server.url(name), id: k.name, out: `${k.name}.tif`, ...k.record })).join('\n')
    const run = await runCli(['-o', out, '-c', '4', '--fetch', mode], { stdin: input })
    assert.equal(run.code, 0, run.stderr + run.stdout)
    assert.equal(run.records.length, cases.length)
    for (const k of cases) {
      const rec = run.records.find((r) => r.id === k.name)
      assert.equal(rec?.status, 'ok', JSON.stringify(rec))
      // Files that the first request brings whole are downloads, whatever the mode.
      if (mode === 'range') assert.equal(rec?.fetch, statSync(join(FIXTURES, name)).size > PROBE_BYTES ? 'range' : 'download')
      const ref = references(`${name} ${k.name}`, () => gdalTranslate(join(FIXTURES, name), k.gdalArgs, ctx.dir, `${name}-${k.name}-ref.tif`))
      assertSameRaster(join(out, `${k.name}.tif`), ref, `${name} ${k.name} (${mode})`)
    }
  })
}
}

test('a bbox on a source without georeferencing is an error; a window on it is written without a geotransform', async () => {
  const url = ctx.server.url('tile-rgb.png')
  const input = [JSON.stringify({ url, bbox: [0, 0, 10, 10] }), JSON.stringify({ url, window: [10, 10, 64, 64], out: 'tile.tif' })].join('\n')
  const out = join(ctx.dir, 'nogeo')
  const run = await runCli(['-o', out], { stdin: input })
  assert.equal(run.code, 1)
  const bad = run.records.find((r) => r.line === 1)
  assert.equal(bad?.error?.code, 'NOT_GEOREFERENCED')
  const ok = run.records.find((r) => r.line === 2)
  assert.equal(ok?.status, 'ok')
  assert.equal(ok?.georeferenced, false)
  const ref = gdalTranslate(join(FIXTURES, 'tile-rgb.png'), ['-of', 'GTiff', '-srcwin', '10', '10', '64', '64'], ctx.dir, 'tile-ref.tif')
  assertSameRaster(join(out, 'tile.tif'), ref, 'png tile window')
})

test('--format COG writes a COG layout; --co COMPRESS=LZW shows in gdalinfo', async () => {
  const url = ctx.server.url('rgb-byte-tiled.tif')
  const cog = await runCli(['-o', join(ctx.dir, 'cog'), '--format', 'COG', '-w', '0,0,600,600'], { stdin: JSON.stringify({ url, out: 'a.tif' }) })
  assert.equal(cog.code, 0, cog.stderr)
  const info = execFileSync('gdalinfo', [join(ctx.dir, 'cog', 'a.tif')]).toString()
  assert.match(info, /LAYOUT=COG/)
  assert.match(info, /COMPRESSION=DEFLATE/)
  const lzw = await runCli(['-o', join(ctx.dir, 'lzw'), '--co', 'COMPRESS=LZW'], { stdin: JSON.stringify({ url, out: 'b.tif' }) })
  assert.equal(lzw.code, 0, lzw.stderr)
  assert.match(execFileSync('gdalinfo', [join(ctx.dir, 'lzw', 'b.tif')]).toString(), /COMPRESSION=LZW/)
})

test('the default encoding is DEFLATE at level 1 (GTiff ZLEVEL, COG LEVEL), as gdal_translate writes it; a given level or codec wins', async () => {
  const url = ctx.server.url('rgb-byte-tiled.tif')
  const src = join(FIXTURES, 'rgb-byte-tiled.tif')
  const window = ['-srcwin', '0', '0', '600', '600']
  const cases: Array<{ name: string, args: string[], ref: string[] }> = [
    { name: 'gtiff', args: [], ref: ['-co', 'COMPRESS=DEFLATE', '-co', 'ZLEVEL=1', '-co', 'TILED=YES'] },
    { name: 'cog', args: ['--format', 'COG'], ref: ['-of', 'COG', '-co', 'COMPRESS=DEFLATE', '-co', 'LEVEL=1'] },
    { name: 'zlevel9', args: ['--co', 'ZLEVEL=9'], ref: ['-co', 'COMPRESS=DEFLATE', '-co', 'ZLEVEL=9', '-co', 'TILED=YES'] },
    // ZSTD at its own default level (9 in GDAL 3.6), not at the level 1 meant for DEFLATE.
    { name: 'zstd', args: ['--co', 'COMPRESS=ZSTD'], ref: ['-co', 'COMPRESS=ZSTD', '-co', 'TILED=YES'] }
  ]
  for (const c of cases) {
    const run = await runCli(['-o', join(ctx.dir, `enc-${c.name}`), '-w', '0,0,600,600', ...c.args], { stdin: JSON.stringify({ url, out: 'a.tif' }) })
    assert.equal(run.code, 0, run.stderr)
    const ours = join(ctx.dir, `enc-${c.name}`, 'a.tif')
    const ref = gdalTranslate(src, [...window, ...c.ref], ctx.dir, `enc-${c.name}-ref.tif`)
    assertSameRaster(ours, ref, c.name)
    // The same codec and level compress the same blocks to the same bytes: equal sizes show the level.
    assert.equal(statSync(ours).size, statSync(ref).size, `${c.name}: size against gdal_translate ${c.ref.join(' ')}`)
  }
})
