// The temp file's one handle per source (lib/source/fetch.ts) is closed whatever becomes of its records:
// a fetch that fails mid-body, blocks that fail after the source was opened for ranges, a record that
// succeeds. Counted in this process's /proc/self/fd, by the files they point to.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { scratch } from './support/run.js'
import { makeNoisyTiff } from '../bench/data.js'
import { rasterPipeline, type ResultRecord } from '../lib/index.js'

let server: RasterServer
let dir: string

before(async () => {
  dir = scratch()
  server = await startServer()
  const cog = readFileSync(makeNoisyTiff(dir, 'cog.tif', 2048, 1, ['COMPRESS=DEFLATE', 'BLOCKSIZE=256'], 'COG'))
  const small = readFileSync(makeNoisyTiff(dir, 'small.tif', 300, 1, []))
  for (const name of ['cog-ok.tif', 'cog-blocks-fail.tif', 'cog-probe-fail.tif']) server.file(name, cog)
  for (const name of ['small-ok.tif', 'small-fail.tif']) server.file(name, small)
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

/** This process's open descriptors on files under `root`. */
function openUnder (root: string): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return readlinkSync(join('/proc/self/fd', fd))
    } catch {
      return ''
    }
  }).filter((target) => target.startsWith(root))
}

test('no temp file stays open after a run whose records failed in the fetch and in the blocks', async () => {
  const tempRoot = scratch('rp-handles-')
  // Mid-body resets (not retried), and a block request refused after the COG's head and directories came.
  server.fault('cog-probe-fail.tif', { kind: 'reset', after: 5000 })
  server.fault('small-fail.tif', { kind: 'reset', after: 5000 })
  server.fault('cog-blocks-fail.tif', { kind: 'delay', ms: 0 }, { kind: 'status', status: 404 })
  const pipeline = rasterPipeline({ outDir: join(dir, 'out'), tempRoot, retries: 0, concurrency: 2 })
  // The first request of cog-blocks-fail passes; its block request (the last tile, past any first request) is the 404.
  for (const name of ['cog-ok.tif', 'cog-blocks-fail.tif', 'cog-probe-fail.tif']) pipeline.write({ url: server.url(name), window: [1900, 1900, 100, 100] })
  for (const name of ['small-ok.tif', 'small-fail.tif']) pipeline.write({ url: server.url(name), window: [0, 0, 100, 100] })
  pipeline.end()
  const records: ResultRecord[] = []
  for await (const r of pipeline) records.push(r)
  await pipeline.released
  const status = Object.fromEntries(records.map((r) => [new URL(r.url ?? '').pathname.slice(1), r.status === 'ok' ? 'ok' : r.error?.code]))
  assert.equal(status['cog-ok.tif'], 'ok')
  assert.equal(status['small-ok.tif'], 'ok')
  for (const name of ['cog-probe-fail.tif', 'small-fail.tif', 'cog-blocks-fail.tif']) assert.notEqual(status[name], 'ok', `${name}: ${JSON.stringify(records)}`)
  assert.deepEqual(openUnder(tempRoot), [])
  rmSync(tempRoot, { recursive: true, force: true })
})
