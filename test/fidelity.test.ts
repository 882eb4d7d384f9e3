// Every fixture, fetched over HTTP: a 512×512 window and an edge-crossing one must equal what GDAL's own
// gdal_translate -srcwin makes of the same (clipped) window.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readdirSync } from 'node:fs'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { loadGdal } from '../lib/raster/gdal.js'

const gdal = loadGdal()
const ctx = useServer()

const fixtures = readdirSync(FIXTURES).filter((f) => /\.(tif|png)$/.test(f)).sort()

test('the fixtures cover several types, layouts and sizes', () => {
  assert.ok(fixtures.length >= 5, `only ${fixtures.length} fixtures`)
})

for (const name of fixtures) {
  test(`${name}: windows equal gdal_translate -srcwin`, async () => {
    const ds = gdal.open(join(FIXTURES, name))
    const { x: width, y: height } = ds.rasterSize
    ds.close()
    const windows = [
      { request: [0, 0, 512, 512], expect: [0, 0, Math.min(512, width), Math.min(512, height)] },
      { request: [width - 100, height - 50, 512, 512], expect: [width - 100, height - 50, 100, 50] }
    ]
    const input = windows.map((w, i) => JSON.stringify({ url: ctx.server.url(name), window: w.request, out: `${name}-${i}.tif` })).join('\n')
    const out = join(ctx.dir, name)
    const run = await runCli(['-o', out, '-c', '2'], { stdin: input })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.records.length, 2)
    for (const r of run.records) {
      const i = r.line - 1
      assert.equal(r.status, 'ok', JSON.stringify(r))
      assert.equal(r.fetch, 'download')
      const [col, row, w, h] = windows[i].expect
      assert.deepEqual(r.window, { col, row, width: w, height: h })
      const ref = gdalTranslate(join(FIXTURES, name), ['-srcwin', String(col), String(row), String(w), String(h)], ctx.dir, `${name}-ref-${i}.tif`)
      assertSameRaster(join(out, `${name}-${i}.tif`), ref, `${name} window ${windows[i].request.join(',')}`)
    }
  })
}
