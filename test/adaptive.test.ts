// Adaptive concurrency per host, end to end: a loopback server that answers 503 at once to any request
// beyond 8 in flight (as an overloaded server, or S3's SlowDown, does), and `-c 64` with 500 records.
// Adapting, every record is ok, the host's limit goes down to 8 or under and few 503s are met; the same
// run with --fixed-concurrency meets many more (both counts printed), and every record is ok there too: a
// throttling answer from a host that serves others spends no --retries (lib/http/retry.ts), so neither
// count depends on how fast the machine is. Outputs are checked against gdal_translate of the source.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import type { StatsJson } from '../lib/cli/summary.js'
import type { ResultRecord } from '../lib/core/records.js'

const ctx = useServer()
const RECORDS = 500
const CAPACITY = 8
const SOURCE = 'mask-byte.tif'
const ENV = { RASTERPIPE_RETRY_BASE_MS: '50' }

interface Outcome { records: ResultRecord[], ok: number, failed: number, throttled: number, served503: number, stats: StatsJson, out: string, stderr: string }

async function throttledRun (name: string, extra: string[], overloadHeaders: Record<string, string> = {}, records = RECORDS): Promise<Outcome> {
  ctx.server.reset()
  ctx.server.capacity = CAPACITY
  ctx.server.overloadHeaders = overloadHeaders
  // Each answer takes a moment, so that requests pile up at the server as they would at a busy one.
  ctx.server.latency = 20
  try {
    const input = Array.from({ length: records }, (_, i) => ctx.server.url(`${SOURCE}?${name}=${i}`)).join('\n')
    const out = join(ctx.dir, name)
    const statsPath = join(ctx.dir, `${name}.json`)
    const run = await runCli(['-c', '64', '--fetch', 'download', '-w', '0,0,64,64', '--stats', statsPath, '-o', out, ...extra],
      { stdin: input, env: ENV })
    assert.equal(run.records.length, records, run.stderr)
    const stats = JSON.parse(readFileSync(statsPath, 'utf8')) as StatsJson
    return {
      records: run.records,
      ok: run.records.filter((r) => r.status === 'ok').length,
      failed: run.records.filter((r) => r.status === 'error').length,
      throttled: stats.throttled ?? -1,
      served503: ctx.server.overloaded(),
      stats,
      out,
      stderr: run.stderr
    }
  } finally {
    ctx.server.capacity = 0
    ctx.server.overloadHeaders = {}
    ctx.server.latency = 0
  }
}

test(`503 beyond ${CAPACITY} in flight, -c 64, ${RECORDS} records: adapting, 0 failed and fewer 503s than with --fixed-concurrency`, async () => {
  const adaptive = await throttledRun('adaptive', [])
  const fixed = await throttledRun('fixed', ['--fixed-concurrency'])
  const host = adaptive.stats.hosts?.[ctx.server.base]
  console.log(`adaptive: ${adaptive.ok} ok, ${adaptive.failed} failed, ${adaptive.throttled} throttled answers (server sent ${adaptive.served503}), ` +
    `limit ${host?.limit_min}–${host?.limit_max}, ${host?.limit_final} at the end, ${adaptive.stats.wall_s} s`)
  console.log(`fixed:    ${fixed.ok} ok, ${fixed.failed} failed, ${fixed.throttled} throttled answers (server sent ${fixed.served503}), ${fixed.stats.wall_s} s`)

  // A throttling answer spends no record's --retries (only its --max-time), adapting or not.
  assert.equal(adaptive.failed, 0, adaptive.stderr)
  assert.equal(adaptive.ok, RECORDS)
  assert.equal(fixed.failed, 0, fixed.stderr)
  assert.equal(fixed.ok, RECORDS)
  assert.ok(host, `the stats name the host: ${JSON.stringify(adaptive.stats.hosts)}`)
  assert.ok(host.limit_min <= CAPACITY, `the limit went down to ${host.limit_min}`)
  // It starts at 16, not at -c: the first burst is 16 requests, not 64.
  assert.ok(host.limit_max >= 16 && host.limit_max <= 64, `the limit went up to ${host.limit_max}`)
  assert.equal(host.throttled, adaptive.throttled)
  // Every 503 the server sent was seen and counted by the client.
  assert.equal(adaptive.throttled, adaptive.served503)
  assert.equal(fixed.throttled, fixed.served503)
  assert.ok(adaptive.throttled < fixed.throttled, `adaptive ${adaptive.throttled} against fixed ${fixed.throttled}`)
  // About 20 (8 of the first 16, then one now and then as the limit probes above 8). Bounded at 100: the
  // limit learns per round trip, and a loaded machine that sends a round's requests unevenly can make
  // some rounds look like more or fewer in flight than the limit says.
  assert.ok(adaptive.throttled < 100, `adaptive ${adaptive.throttled}`)
  assert.match(adaptive.stderr, /Throttled \(429\/503\): \d+ answers from 1 host/)
  // --fixed-concurrency keeps the limit where it was.
  assert.deepEqual([fixed.stats.hosts?.[ctx.server.base]?.limit_min, fixed.stats.hosts?.[ctx.server.base]?.limit_final], [64, 64])

  // A record that says ok is right: the same window by gdal_translate.
  const reference = gdalTranslate(join(FIXTURES, SOURCE), ['-srcwin', '0', '0', '64', '64', '-co', 'COMPRESS=DEFLATE', '-co', 'TILED=YES'], ctx.dir, 'reference.tif')
  for (const r of [adaptive.records[0], adaptive.records[RECORDS >> 1], adaptive.records[RECORDS - 1]]) {
    assertSameRaster(r.output as string, reference, `line ${r.line}`)
  }
})

test('the same with Retry-After: 1 on each 503 (64 records): the host\'s new requests are held, 0 failed', async () => {
  const records = 64
  const adaptive = await throttledRun('adaptive-ra', [], { 'retry-after': '1' }, records)
  const fixed = await throttledRun('fixed-ra', ['--fixed-concurrency'], { 'retry-after': '1' }, records)
  const host = adaptive.stats.hosts?.[ctx.server.base]
  console.log(`adaptive, Retry-After 1: ${adaptive.ok} ok, ${adaptive.failed} failed, ${adaptive.throttled} throttled answers, ` +
    `${host?.retry_after_holds} holds, limit ${host?.limit_min}–${host?.limit_max}, ${adaptive.stats.wall_s} s`)
  console.log(`fixed, Retry-After 1:    ${fixed.ok} ok, ${fixed.failed} failed, ${fixed.throttled} throttled answers, ${fixed.stats.wall_s} s`)
  assert.equal(adaptive.failed, 0, adaptive.stderr)
  assert.equal(fixed.failed, 0, fixed.stderr)
  assert.ok(host && host.retry_after_holds > 0, JSON.stringify(host))
  assert.equal(adaptive.throttled, adaptive.served503)
  // Not compared: with Retry-After every retry waits its second in both modes, and most 503s of the fixed
  // run are its first burst of 64, as many as the machine sends before the first answers come back.
})
