// Chips on a target grid against GDAL's own gdalwarp: every fixture (integer and float types, nodata, a
// mask, alpha, a palette with nearest only) over HTTP, in download and range mode, to another CRS, the
// automatic UTM zone, --res with --tap, --out-size; nearest equal pixel for pixel, the other methods
// within one unit (integers) or 1e-6 relative (floats). The reference's extent is the record's window
// (or bbox) carried over by GDAL here, densified 21 points an edge, as README's "Chips on a grid" says.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { assertNearRaster, gdalWarp, memo, type Difference } from './support/compare.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { rasterPipeline } from '../lib/index.js'

const gdal = loadGdal()
const ctx = useServer()

const FIXTURE_NAMES = ['rgb-byte-tiled.tif', 'uint16-striped.tif', 'float32-band-interleaved.tif', 'int16-small.tif',
  'int32-small.tif', 'uint32-small.tif', 'float64-small.tif', 'palette-byte.tif', 'mask-byte.tif', 'rgba-alpha.tif']
const METHODS = ['nearest', 'bilinear', 'cubic', 'average']

interface Case { id: string, record: Record<string, unknown>, args: string[], method: string }

type Srs = InstanceType<typeof gdal.SpatialReference>

function densified (box: number[], from: Srs, to: Srs): number[] {
  if (from.isSame(to)) return box
  const ct = new gdal.CoordinateTransformation(from, to)
  const [x0, y0, x1, y1] = box
  const pts: { x: number, y: number }[] = []
  for (let i = 0; i < 21; i++) {
    const t = i / 20
    for (const [x, y] of [[x0 + t * (x1 - x0), y0], [x0 + t * (x1 - x0), y1], [x0, y0 + t * (y1 - y0)], [x1, y0 + t * (y1 - y0)]]) pts.push(ct.transformPoint(x, y))
  }
  const xs = pts.map((p) => p.x)
  const ys = pts.map((p) => p.y)
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
}

function casesFor (name: string): Case[] {
  const ds = gdal.open(join(FIXTURES, name))
  const { x: W, y: H } = ds.rasterSize
  const gt = ds.geoTransform as number[]
  const srs = ds.srs as Srs
  const epsg = srs.getAuthorityCode(null)
  const nodata = ds.bands.get(1).noDataValue !== null
  const alphaBand = ds.bands.get(ds.bands.count()).colorInterpretation === 'Alpha'
  const palette = Boolean(ds.bands.get(1).colorTable)
  ds.close()
  const win = [Math.floor(W / 4), Math.floor(H / 4), Math.floor(W / 3), Math.floor(H / 3)]
  const box = [gt[0] + win[0] * gt[1], gt[3] + (win[1] + win[3]) * gt[5], gt[0] + (win[0] + win[2]) * gt[1], gt[3] + win[1] * gt[5]]
  const ll = gdal.SpatialReference.fromEPSG(4326)
  const centre = new gdal.CoordinateTransformation(srs, ll).transformPoint((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
  const zone = `EPSG:${(centre.y >= 0 ? 32600 : 32700) + Math.floor((centre.x + 180) / 6) + 1}`
  // Targets: lon/lat sources to UTM, UTM to lon/lat and to Web Mercator, Web Mercator to lon/lat.
  const geographic = epsg === '4326'
  const utm = /^32[67]\d\d$/.test(epsg ?? '')
  const unit = (t: string): number => gdal.SpatialReference.fromUserInput(t).isGeographic() ? 0.0002 : 12
  const targets: { id: string, crs: string, given: string, extra: Record<string, unknown>, args: string[] }[] = []
  if (geographic) targets.push({ id: 'to-utm', crs: 'EPSG:32618', given: 'EPSG:32618', extra: {}, args: [] })
  else targets.push({ id: 'to-4326', crs: 'EPSG:4326', given: 'EPSG:4326', extra: {}, args: [] })
  if (utm) targets.push({ id: 'to-3857', crs: 'EPSG:3857', given: 'EPSG:3857', extra: { out_size: [150, 120] }, args: ['-ts', '150', '120'] })
  // Lon/lat fixtures have pixels of 100 m and 1 km; the projected ones of 2 to 30 m.
  const res = geographic ? '150' : '7'
  targets.push({ id: 'utm-auto-res-tap', crs: zone, given: 'utm', extra: { res: Number(res), tap: true }, args: ['-tr', res, res, '-tap'] })
  if (!geographic) targets.push({ id: 'res-4326', crs: 'EPSG:4326', given: 'EPSG:4326', extra: { res: [unit('EPSG:4326'), unit('EPSG:4326') * 0.8] }, args: ['-tr', String(unit('EPSG:4326')), String(unit('EPSG:4326') * 0.8)] })
  const cases: Case[] = []
  for (const method of palette ? ['nearest'] : METHODS) {
    for (const t of targets) {
      const te = densified(box, srs, gdal.SpatialReference.fromUserInput(t.crs))
      const args = ['-t_srs', t.crs, '-te', ...te.map(String), ...t.args, '-r', method === 'nearest' ? 'near' : method, '-et', '0', '-ovr', 'NONE']
      // Alpha where the source has neither nodata nor alpha (gdalwarp carries a source alpha itself).
      if (!nodata && !alphaBand) args.push('-dstalpha')
      cases.push({ id: `${t.id}-${method}`, method, args, record: { window: win, dst_crs: t.given, resampling: method, ...t.extra } })
    }
  }
  return cases
}

function interpretations (path: string): unknown[] {
  const ds = gdal.open(path)
  try {
    return ds.bands.map((b) => b.colorInterpretation ?? 'Undefined')
  } finally {
    ds.close()
  }
}

/**
 * The source's colour interpretation, and Alpha for an alpha band rasterpipe adds. (gdalwarp itself
 * writes Gray and Undefined for an RGB source to which it adds alpha: not compared with it.)
 */
function expectedInterpretations (name: string): unknown[] {
  const ds = gdal.open(join(FIXTURES, name))
  try {
    const own = ds.bands.map((b) => b.colorInterpretation ?? 'Undefined')
    const added = ds.bands.get(1).noDataValue === null && own[own.length - 1] !== 'Alpha'
    return added ? [...own, 'Alpha'] : own
  } finally {
    ds.close()
  }
}

const worst: Record<string, { max: number, pixels: number, cases: number }> = {}

// A fixture's cases and gdalwarp's outputs depend on the fixture alone: made once, for both modes.
const casesOf = memo<Case[]>()
const references = memo<string>()

for (const mode of ['download', 'range']) {
  for (const name of FIXTURE_NAMES) {
    test(`${name} (--fetch ${mode}): warps equal gdalwarp's (nearest exactly, others within tolerance)`, async () => {
      const cases = casesOf(name, () => casesFor(name))
      const out = join(ctx.dir, `warp-${mode}-${name}`)
      const input = cases.map((k) => JSON.stringify({ url: ctx.server.url(name), id: k.id, out: `${k.id}.tif`, ...k.record })).join('\n')
      const run = await runCli(['-o', out, '-c', '4', '--fetch', mode], { stdin: input })
      assert.equal(run.code, 0, run.stderr + run.stdout)
      assert.equal(run.records.length, cases.length)
      const float = name.startsWith('float')
      for (const k of cases) {
        const rec = run.records.find((r) => r.id === k.id)
        assert.equal(rec?.status, 'ok', JSON.stringify(rec))
        const ref = references(`${name} ${k.id}`, () => gdalWarp(join(FIXTURES, name), k.args, ctx.dir, `${name}-${k.id}-ref.tif`))
        const tolerance = k.method === 'nearest' ? 0 : float ? 1e-6 : 1
        const ours = join(out, `${k.id}.tif`)
        // Every method against gdalwarp's file output itself, sources with nodata included (rasterpipe warps
        // into a dataset of its own, as gdalwarp into a file, not through a warped VRT's blocks).
        const d: Difference = assertNearRaster(ours, ref, `${name} ${k.id} (${mode})`, tolerance)
        assert.deepEqual(interpretations(ours), expectedInterpretations(name), `${name} ${k.id}: colour interpretation`)
        // The record's grid is the output's.
        const ds = gdal.open(ref)
        assert.deepEqual([rec?.grid?.width, rec?.grid?.height], [ds.rasterSize.x, ds.rasterSize.y])
        ;(rec?.grid?.transform ?? []).forEach((v, i) => assert.ok(Math.abs(v - (ds.geoTransform as number[])[i]) <= 1e-9))
        assert.ok(gdal.SpatialReference.fromUserInput(rec?.grid?.crs as string).isSame(ds.srs as Srs))
        ds.close()
        const key = `${k.method} ${float ? 'float' : 'integer'}`
        const w = worst[key] ??= { max: 0, pixels: 0, cases: 0 }
        w.max = Math.max(w.max, d.max)
        w.pixels += d.pixels
        w.cases++
      }
    })
  }
}

test('the matrix, summed up', () => {
  const lines = Object.entries(worst).map(([k, w]) => `${k}: ${w.cases} cases, max difference ${w.max}, ${w.pixels} pixels differ`)
  process.stderr.write(`warp matrix against gdalwarp's file output:\n  ${lines.join('\n  ')}\n`)
  for (const [k, w] of Object.entries(worst)) if (k.startsWith('nearest')) assert.equal(w.max, 0)
})

test('a 512×512 chip at 10 m in UTM out of a 4096² EPSG:4326 COG: by range under 5% of the file, equal to the download', async () => {
  const mem = gdal.drivers.get('MEM').create('', 4096, 4096, 1, 'Byte')
  mem.srs = gdal.SpatialReference.fromEPSG(4326)
  // About 9 by 11 m pixels at 40° N.
  mem.geoTransform = [-75, 0.0001, 0, 40, 0, -0.0001]
  const data = new Uint8Array(4096 * 4096)
  let seed = 7
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    data[i] = ((i % 4096) + Math.floor(i / 4096)) / 32 + (seed >>> 26)
  }
  mem.bands.get(1).pixels.write(0, 0, 4096, 4096, data)
  const path = join(ctx.dir, 'big-4326.tif')
  gdal.drivers.get('COG').createCopy(path, mem, ['COMPRESS=DEFLATE', 'BLOCKSIZE=256']).close()
  mem.close()
  const size = (await import('node:fs')).statSync(path).size
  ctx.server.file('big-4326.tif', (await import('node:fs')).readFileSync(path))
  const c = new gdal.CoordinateTransformation(gdal.SpatialReference.fromEPSG(4326), gdal.SpatialReference.fromEPSG(32618)).transformPoint(-74.8, 39.8)
  const bbox = [c.x - 2560, c.y - 2560, c.x + 2560, c.y + 2560]
  const records = ['nearest', 'bilinear', 'cubic'].map((m) => JSON.stringify({ url: ctx.server.url('big-4326.tif'), id: m, out: `${m}.tif`, bbox, bbox_crs: 'EPSG:32618', dst_crs: 'EPSG:32618', res: 10, resampling: m }))
  const outs: Record<string, string> = {}
  for (const mode of ['range', 'download']) {
    outs[mode] = join(ctx.dir, `big-${mode}`)
    const run = await runCli(['-o', outs[mode], '--fetch', mode], { stdin: records.join('\n') })
    assert.equal(run.code, 0, run.stderr)
    for (const rec of run.records) {
      assert.deepEqual([rec.grid?.width, rec.grid?.height], [512, 512])
      assert.equal(rec.fetch, mode)
    }
    if (mode === 'range') {
      // The three records share the file's head and blocks: the bytes of all three against the file.
      const bytes = run.records.reduce((sum, r) => sum + r.bytes, 0)
      assert.ok(bytes < 0.05 * size, `${bytes} bytes of ${size}`)
      process.stderr.write(`COG chips (nearest, bilinear, cubic) by range: ${bytes} bytes of a ${size}-byte file (${(100 * bytes / size).toFixed(2)}%)\n`)
    }
  }
  for (const m of ['nearest', 'bilinear', 'cubic']) assertNearRaster(join(outs.range, `${m}.tif`), join(outs.download, `${m}.tif`), `COG ${m}: range against download`, 0, true)
})

test('warped windows leave nothing in GDAL\'s memory files once written (the warped VRTs are freed)', async () => {
  const gdal = loadGdal()
  const memFiles = (): string[] => { try { return gdal.fs.readDir('/vsimem') } catch { return [] } }
  const before = memFiles().filter((f) => f.startsWith('rasterpipe-warp-'))
  const pipeline = rasterPipeline({ outDir: join(ctx.dir, 'vsimem'), dstCrs: 'EPSG:3857' })
  for (let i = 0; i < 5; i++) pipeline.write({ url: join(FIXTURES, 'int16-small.tif'), window: [i, i, 32, 32] })
  pipeline.end()
  const statuses: string[] = []
  for await (const r of pipeline) statuses.push(r.status)
  await pipeline.released
  assert.deepEqual(statuses, ['ok', 'ok', 'ok', 'ok', 'ok'])
  assert.deepEqual(memFiles().filter((f) => f.startsWith('rasterpipe-warp-')), before)
})
