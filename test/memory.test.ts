// Memory bounded in bytes: the pixel bytes of the windows in flight stay within --max-memory, whatever
// the window sizes, and a window that can never fit is an error record before its blocks are fetched.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryBudget } from '../lib/core/budget.js'
import { makeFloat64Gradient } from '../bench/data.js'
import type { StatsJson } from '../lib/cli/summary.js'
import { startServer, type RasterServer } from './support/server.js'
import { runCli, scratch } from './support/run.js'

let dir: string
let source: string
let server: RasterServer
const SIDE = 4096
const WINDOW_BYTES = SIDE * SIDE * 8

before(async () => {
  dir = scratch('rp-mem-')
  // A Float64 raster of 4096²: 134 MB of pixels a window; a gradient, so that outputs compress quickly.
  source = makeFloat64Gradient(join(dir, 'float64.tif'), SIDE)
  server = await startServer()
  server.file('float64.tif', readFileSync(source))
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

test('the budget: waits while full, in order; a release lets the next in; an abort stops a wait', async () => {
  const budget = new MemoryBudget(100)
  const a = await budget.acquire(60)
  const order: string[] = []
  const b = budget.acquire(50).then((release) => { order.push('b'); return release })
  const c = budget.acquire(10).then((release) => { order.push('c'); return release })
  await Promise.resolve()
  assert.equal(budget.held, 60, 'b waits; c waits behind it although it would fit')
  a()
  a()
  const [rb, rc] = await Promise.all([b, c])
  assert.deepEqual(order, ['b', 'c'])
  assert.equal(budget.held, 60)
  const stop = new AbortController()
  const d = budget.acquire(90, stop.signal)
  stop.abort(new Error('cancelled'))
  await assert.rejects(d, /cancelled/)
  rb(); rc()
  assert.equal(budget.held, 0)
  await assert.rejects(budget.acquire(101), RangeError)
})

test('24 windows of 4096² Float64 (134 MB each) at -c 16 with --max-memory 512MB: all ok, peak RSS within 512 MB of an empty run', async () => {
  const statsOf = async (input: string, name: string): Promise<StatsJson> => {
    const stats = join(dir, `${name}.json`)
    const run = await runCli(['-o', join(dir, `out-${name}`), '-c', '16', '--max-memory', '512MB', '--no-progress', '--stats', stats,
      '-w', `0,0,${SIDE},${SIDE}`, '--co', 'ZLEVEL=1'], { stdin: input })
    assert.equal(run.code, 0, run.stderr.slice(-2000))
    return JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
  }
  const empty = await statsOf('', 'empty')
  const input = Array.from({ length: 24 }, (_, i) => JSON.stringify({ url: source, out: `w${i}.tif` })).join('\n') + '\n'
  const full = await statsOf(input, 'full')
  assert.equal(full.ok, 24)
  const above = full.peak_rss_mb - empty.peak_rss_mb
  process.stderr.write(`memory: peak RSS ${full.peak_rss_mb} MB with 24 windows of ${WINDOW_BYTES} bytes, ${empty.peak_rss_mb} MB with none: ${above} MB above\n`)
  assert.ok(above <= 512, `peak RSS ${full.peak_rss_mb} MB is ${above} MB above the empty run's ${empty.peak_rss_mb} MB`)
})

test('--max-memory 100MB: every 134 MB window is an error naming both numbers, and no block is fetched for it', async () => {
  const input = Array.from({ length: 4 }, (_, i) => JSON.stringify({ url: `${server.url('float64.tif')}?i=${i}`, window: [0, 0, SIDE, SIDE] })).join('\n') + '\n'
  const run = await runCli(['-o', join(dir, 'out-over'), '--fetch', 'range', '--max-memory', '100MB', '--no-progress'], { stdin: input })
  assert.equal(run.code, 1)
  assert.equal(run.records.length, 4)
  for (const r of run.records) {
    assert.equal(r.error?.code, 'OVER_MEMORY', JSON.stringify(r))
    assert.equal(r.error?.stage, 'open')
    assert.match(r.error?.message ?? '', new RegExp(`window of ${WINDOW_BYTES} bytes .* is over --max-memory 100000000 bytes`))
    // The head and directories only: 64 KiB, and the tile offsets read by the probe.
    assert.ok(r.bytes < 1_000_000, `${r.bytes} bytes fetched`)
    assert.equal(r.ms.blocks, undefined, 'the blocks stage did no work')
  }
})
