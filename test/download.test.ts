// Download mode over real HTTP: byte accounting, sharing one download between records of a URL, and the
// private temp directory going away.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'

let server: RasterServer
let dir: string

before(async () => {
  server = await startServer(FIXTURES)
  dir = scratch()
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

test('a download counts exactly the body bytes the server sent, in one attempt', async () => {
  server.reset()
  const run = await runCli(['-o', join(dir, 'bytes'), '--fetch', 'download'], { stdin: server.url('uint16-striped.tif') + '\n' })
  assert.equal(run.code, 0, run.stderr)
  const [r] = run.records
  assert.equal(r.fetch, 'download')
  assert.equal(r.attempts, 1)
  assert.equal(r.bytes, statSync(join(FIXTURES, 'uint16-striped.tif')).size)
  assert.equal(r.bytes, server.stats('uint16-striped.tif').bytes)
})

for (const mode of ['download', 'auto']) {
  test(`three records for one URL with three windows (--fetch ${mode}): fetched once, three correct outputs`, async () => {
    await sharedCase(mode)
  })
}

async function sharedCase (mode: string): Promise<void> {
  server.reset()
  const windows = [[0, 0, 256, 256], [300, 200, 256, 256], [900, 900, 256, 256]]
  const input = windows.map((w, i) => JSON.stringify({ url: server.url('rgb-byte-tiled.tif'), window: w, out: `w${i}.tif` })).join('\n')
  const out = join(dir, `shared-${mode}`)
  const run = await runCli(['-o', out, '-c', '4', '--fetch', mode], { stdin: input })
  assert.equal(run.code, 0, run.stderr)
  assert.equal(run.records.length, 3)
  // download: one request; auto: the probe and the rest of this 0.5 MB file, once for all three records.
  assert.equal(server.stats('rgb-byte-tiled.tif').requests, mode === 'download' ? 1 : 2)
  assert.equal(server.stats('rgb-byte-tiled.tif').bytes, statSync(join(FIXTURES, 'rgb-byte-tiled.tif')).size)
  assert.equal(run.records.reduce((sum, r) => sum + r.bytes, 0), server.stats('rgb-byte-tiled.tif').bytes)
  for (const r of run.records) {
    assert.equal(r.status, 'ok')
    const w = r.window
    assert.ok(w)
    const ref = gdalTranslate(join(FIXTURES, 'rgb-byte-tiled.tif'), ['-srcwin', String(w.col), String(w.row), String(w.width), String(w.height)], dir, `shared-${mode}-ref-${r.line}.tif`)
    assertSameRaster(join(out, `w${r.line - 1}.tif`), ref, `window ${w.col},${w.row}`)
  }
}
