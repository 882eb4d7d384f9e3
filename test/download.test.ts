// Download mode over real HTTP: byte accounting, sharing one download between records of a URL, and the
// private temp directory going away.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'

const ctx = useServer()

test('a download counts exactly the body bytes the server sent, in one attempt', async () => {
  ctx.server.reset()
  const run = await runCli(['-o', join(ctx.dir, 'bytes'), '--fetch', 'download'], { stdin: ctx.server.url('uint16-striped.tif') + '\n' })
  assert.equal(run.code, 0, run.stderr)
  const [r] = run.records
  assert.equal(r.fetch, 'download')
  assert.equal(r.attempts, 1)
  assert.equal(r.bytes, statSync(join(FIXTURES, 'uint16-striped.tif')).size)
  assert.equal(r.bytes, ctx.server.stats('uint16-striped.tif').bytes)
})

for (const mode of ['download', 'auto']) {
  test(`three records for one URL with three windows (--fetch ${mode}): fetched once, three correct outputs`, async () => {
    await sharedCase(mode)
  })
}

async function sharedCase (mode: string): Promise<void> {
  ctx.server.reset()
  const windows = [[0, 0, 256, 256], [300, 200, 256, 256], [900, 900, 256, 256]]
  const input = windows.map((w, i) => JSON.stringify({ url: ctx.server.url('rgb-byte-tiled.tif'), window: w, out: `w${i}.tif` })).join('\n')
  const out = join(ctx.dir, `shared-${mode}`)
  const run = await runCli(['-o', out, '-c', '4', '--fetch', mode], { stdin: input })
  assert.equal(run.code, 0, run.stderr)
  assert.equal(run.records.length, 3)
  // One request, once for all three records: under auto, the first request brings this 0.5 MB file whole.
  assert.equal(ctx.server.stats('rgb-byte-tiled.tif').requests, 1)
  assert.equal(ctx.server.stats('rgb-byte-tiled.tif').bytes, statSync(join(FIXTURES, 'rgb-byte-tiled.tif')).size)
  assert.equal(run.records.reduce((sum, r) => sum + r.bytes, 0), ctx.server.stats('rgb-byte-tiled.tif').bytes)
  for (const r of run.records) {
    assert.equal(r.status, 'ok')
    const w = r.window
    assert.ok(w)
    const ref = gdalTranslate(join(FIXTURES, 'rgb-byte-tiled.tif'), ['-srcwin', String(w.col), String(w.row), String(w.width), String(w.height)], ctx.dir, `shared-${mode}-ref-${r.line}.tif`)
    assertSameRaster(join(out, `w${r.line - 1}.tif`), ref, `window ${w.col},${w.row}`)
  }
}
