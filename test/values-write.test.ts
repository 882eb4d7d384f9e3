// A values record that also writes its window (--write, or its own "out"): the record carries both its
// values (or zonal statistics) and the output, which equals gdal_translate -srcwin of the window: for
// points the bounding box of their pixels (gdallocationinfo's), for a zone the window of its bounds. In
// range mode the window's blocks hold the points' blocks: the values still equal gdallocationinfo's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { locationInfo } from './support/gdal-values.js'
import type { ResultRecord } from '../lib/core/records.js'
import { loadGdal } from '../lib/raster/gdal.js'

const gdal = loadGdal()

const ctx = useServer()

/** gdallocationinfo's pixel (column, line) of each point, from its XML answer. */
function pixelsOf (path: string, points: number[][]): Array<[number, number]> {
  return points.map((p) => {
    const xml = execFileSync('gdallocationinfo', ['-xml', '-geoloc', path, String(p[0]), String(p[1])]).toString()
    const m = /pixel="(\d+)" line="(\d+)"/.exec(xml)
    assert.ok(m, xml)
    return [Number(m[1]), Number(m[2])]
  })
}

for (const mode of ['range', 'download']) {
  test(`--write and "out" (--fetch ${mode}): a points record's output is the points' bounding box, a zone's its window, as gdal_translate -srcwin cuts them; the values as without`, async () => {
    const name = 'rgb-byte-tiled.tif'
    const src = join(FIXTURES, name)
    const gt = [500000, 10, 0, 4200000, 0, -10]
    const at = (c: number, r: number): number[] => [gt[0] + c * gt[1], gt[3] + r * gt[5]]
    const points = [at(300.5, 40.25), at(310, 700.5), at(290.2, 512), at(700.9, 333.3), at(2000, 5)]
    const zone = { type: 'Polygon', coordinates: [[at(100.5, 200.5), at(180.2, 210.7), at(150.4, 290.1), at(100.5, 200.5)]] }
    const input = [
      { url: ctx.server.url(name), id: 'pts', points, points_crs: 'EPSG:32618' },
      { url: ctx.server.url(name), id: 'zone', geometry: zone, geometry_crs: 'EPSG:32618', bands: [2] },
      { url: ctx.server.url(name), id: 'own', points: points.slice(0, 2), points_crs: 'EPSG:32618', out: 'own.tif', expr: 'b1 + b2' }
    ]
    const out = join(ctx.dir, `out-${mode}`)
    const run = await runCli(['-q', '-o', out, '--fetch', mode, '--write'], { stdin: input.map((r) => JSON.stringify(r)).join('\n') + '\n' })
    assert.equal(run.code, 0, run.stderr + run.stdout)
    const rec = (id: string): ResultRecord => {
      const r = run.records.find((x) => x.id === id) as ResultRecord
      assert.equal(r?.status, 'ok', JSON.stringify(r))
      assert.ok(r.output, `${id}: an output`)
      return r
    }
    // Points: the values as gdallocationinfo gives them, the window the box of their pixels (the one off the raster aside).
    const pts = rec('pts')
    const ref = locationInfo(src, ['-geoloc'], points, 3).map((v) => v && v.map(Number))
    assert.deepEqual(pts.values, ref)
    const px = pixelsOf(src, points.slice(0, 4))
    const c0 = Math.min(...px.map((p) => p[0]))
    const r0 = Math.min(...px.map((p) => p[1]))
    const win = [c0, r0, Math.max(...px.map((p) => p[0])) - c0 + 1, Math.max(...px.map((p) => p[1])) - r0 + 1]
    assert.deepEqual(pts.window, { col: win[0], row: win[1], width: win[2], height: win[3] })
    assertSameRaster(pts.output as string, gdalTranslate(src, ['-srcwin', ...win.map(String)], ctx.dir, `pts-${mode}.tif`), `points window (${mode})`)
    // A zone: its statistics, and its bounds' window (columns 100…181, rows 200…291) of band 2.
    const z = rec('zone')
    assert.equal(z.zonal?.length, 1)
    assert.ok((z.zonal?.[0].count as number) > 0)
    assert.deepEqual(z.window, { col: 100, row: 200, width: 81, height: 91 })
    assertSameRaster(z.output as string, gdalTranslate(src, ['-srcwin', '100', '200', '81', '91', '-b', '2'], ctx.dir, `zone-${mode}.tif`), `zone window (${mode})`)
    // The record's own "out" with band math: the values are the expression's; the file is its output over the box.
    const own = rec('own')
    assert.equal(own.output, join(out, 'own.tif'))
    assert.deepEqual(own.values, ref.slice(0, 2).map((v) => v && [(v[0] as number) + (v[1] as number)]))
    const ds = execFileSync('gdalinfo', ['-json', join(out, 'own.tif')]).toString()
    assert.deepEqual((JSON.parse(ds) as { size: number[] }).size, [Math.abs(px[0][0] - px[1][0]) + 1, Math.abs(px[0][1] - px[1][1]) + 1])
  })
}

/** A band's pixels as GDAL reads them. */
function bandPixels (path: string, b: number): number[] {
  const ds = gdal.open(path)
  try {
    const { x, y } = ds.rasterSize
    return Array.from(ds.bands.get(b).pixels.read(0, 0, x, y) as ArrayLike<number>)
  } finally {
    ds.close()
  }
}

test('--write on a urls stack: the points\' box of the stack\'s grid is written as a stack, its bands gdal_translate -srcwin\'s of each source; the values as without', async () => {
  const rgb = join(FIXTURES, 'rgb-byte-tiled.tif')
  const u32 = join(FIXTURES, 'uint32-small.tif')
  const gt = [500000, 10, 0, 4200000, 0, -10]
  const at = (c: number, r: number): number[] => [gt[0] + c * gt[1], gt[3] + r * gt[5]]
  const points = [at(200.5, 100.5), at(300.2, 250.7), at(240, 180)]
  const record = { urls: [{ url: ctx.server.url('rgb-byte-tiled.tif'), name: 'rgb' }, { url: ctx.server.url('uint32-small.tif'), name: 'u32' }], points, points_crs: 'EPSG:32618' }
  for (const mode of ['range', 'download']) {
    const out = join(ctx.dir, `stack-${mode}`)
    const run = await runCli(['-q', '-o', out, '--fetch', mode, '--write'], { stdin: JSON.stringify(record) + '\n' })
    assert.equal(run.code, 0, run.stderr + run.stdout)
    const rec = run.records[0]
    assert.equal(rec.status, 'ok', JSON.stringify(rec))
    const ref = points.map((p) => [...(locationInfo(rgb, ['-geoloc'], [p], 3)[0] ?? []), ...(locationInfo(u32, ['-geoloc'], [p], 1)[0] ?? [null])]
      .map((x) => x === null ? null : Number(x)))
    // The second point lies past uint32-small.tif's 256² extent: its band is null there.
    assert.equal(ref[1][3], null)
    assert.deepEqual(rec.values, ref)
    assert.deepEqual(rec.grid, { crs: 'EPSG:32618', transform: [gt[0] + 200 * 10, 10, 0, gt[3] - 100 * 10, 0, -10], width: 101, height: 151 })
    const win = ['-srcwin', '200', '100', '101', '151']
    const rgbWin = gdalTranslate(rgb, win, ctx.dir, `rgb-${mode}.tif`)
    const u32Win = gdalTranslate(u32, win, ctx.dir, `u32-${mode}.tif`)
    const output = rec.output as string
    for (let b = 1; b <= 3; b++) assert.deepEqual(bandPixels(output, b), bandPixels(rgbWin, b), `band ${b} (${mode})`)
    assert.deepEqual(bandPixels(output, 4), bandPixels(u32Win, 1), `band 4 (${mode})`)
  }
})

test('--write: a points record with no point on the raster is an error record; the batch goes on', async () => {
  const url = ctx.server.url('rgb-byte-tiled.tif')
  const input = [
    { url, points: [[0, 0]], points_crs: 'EPSG:32618' },
    { urls: [{ url }], points: [[0, 0]], points_crs: 'EPSG:32618' },
    { url, points: [[500005, 4199995]] }
  ]
  const run = await runCli(['-q', '-o', join(ctx.dir, 'errs'), '--write'], { stdin: input.map((r) => JSON.stringify(r)).join('\n') + '\n' })
  assert.equal(run.code, 1)
  const byLine = (n: number): ResultRecord => run.records.find((r) => r.line === n) as ResultRecord
  assert.equal(byLine(1).error?.code, 'OUTSIDE', JSON.stringify(byLine(1)))
  assert.match(byLine(1).error?.message ?? '', /no point lies on the raster/)
  assert.equal(byLine(2).error?.code, 'OUTSIDE', JSON.stringify(byLine(2)))
  assert.match(byLine(2).error?.message ?? '', /no point lies on the stack's grid/)
  assert.equal(byLine(3).status, 'ok')
  assert.ok(byLine(3).output)
})
