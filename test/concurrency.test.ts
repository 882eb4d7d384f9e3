// Bounded concurrency and backpressure: the limits hold at the server, and a slow reader of results stops
// the pipeline from pulling input far ahead of what it has emitted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { useServer } from './support/context.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { rasterPipeline, type RasterPipeline } from '../lib/run/pipeline.js'
import type { ResultRecord } from '../lib/core/records.js'

const ctx = useServer()

/**
 * Resolves once the pipeline has come to rest with nobody reading: no stage has work running, and a whole
 * turn of the event loop moved nothing (work finishing in one stage can start work in the next).
 */
async function atRest (pipeline: RasterPipeline): Promise<void> {
  let last = ''
  for (;;) {
    await Promise.all(pipeline.stages.map((s) => s.idle()))
    await new Promise<void>((resolve) => setImmediate(resolve))
    const state = JSON.stringify([pipeline.taken(), ...pipeline.stages.map((s) => [s.writableLength, s.readableLength])])
    if (state === last) return
    last = state
  }
}

test('--concurrency 4 with 20 inputs: the server sees 4 requests in flight, never more', async () => {
  ctx.server.reset()
  ctx.server.latency = 150
  try {
    const input = Array.from({ length: 20 }, (_, i) => JSON.stringify({ url: `${ctx.server.url('int16-small.tif')}?n=${i}`, window: [0, 0, 64, 64] })).join('\n')
    const run = await runCli(['-c', '4', '--fetch', 'download', '-o', join(ctx.dir, 'c4')], { stdin: input })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.records.length, 20)
    assert.equal(ctx.server.stats('int16-small.tif').requests, 20)
    assert.equal(ctx.server.maxInFlight(), 4)
  } finally {
    ctx.server.latency = 0
  }
})

test('backpressure: 2,000 records and a slow reader; input pulled stays a bounded distance ahead', async () => {
  const tempRoot = scratch('rp-bp-')
  const pipeline = rasterPipeline({ outDir: join(ctx.dir, 'bp'), concurrency: 8, tempRoot, window: { col: 0, row: 0, width: 16, height: 16 } })
  const total = 2000
  const src = join(FIXTURES, 'int16-small.tif')

  // The producer writes as fast as the pipeline accepts, honouring write()'s backpressure.
  const produced = (async () => {
    for (let i = 0; i < total; i++) {
      if (!pipeline.write(JSON.stringify({ url: src, out: `r${i % 50}.tif` }))) {
        await new Promise((resolve) => pipeline.once('drain', resolve))
      }
    }
    pipeline.end()
  })()

  // Every stage holds at most its limit in work plus its two buffers (and one parked write); the parse and
  // finalize streams and the chain's own two sides hold at most their buffers of 16.
  const stages = pipeline.stages.reduce((sum, s) => sum + s.limit + s.writableHighWaterMark + s.readableHighWaterMark + 1, 0)
  const bound = stages + 3 * (16 + 16 + 1)
  let read = 0
  let maxAhead = 0
  let aheadWhilePaused = 0
  for await (const record of pipeline as AsyncIterable<ResultRecord>) {
    assert.equal(record.status, 'ok', JSON.stringify(record))
    read++
    maxAhead = Math.max(maxAhead, pipeline.taken() - read)
    if (read === 100) {
      // The reader stalls: the pipeline must stall too, not keep reading input.
      const before = pipeline.taken()
      await atRest(pipeline)
      aheadWhilePaused = pipeline.taken() - before
    } else if (read < 300) {
      // A slow reader is the case under test (not a wait for something): it lets the pipeline run ahead.
      await sleep(2)
    }
  }
  await produced
  assert.deepEqual(readdirSync(tempRoot), [], 'the run removed its temp directory')
  rmSync(tempRoot, { recursive: true, force: true })
  assert.equal(read, total)
  assert.ok(maxAhead <= bound, `pulled ${maxAhead} records ahead of the results read (bound ${bound})`)
  assert.ok(aheadWhilePaused <= bound, `while the reader stalled, ${aheadWhilePaused} more records were pulled`)
  assert.ok(maxAhead >= 8, `the pipeline should work ahead up to its limits, pulled only ${maxAhead} ahead`)
})
