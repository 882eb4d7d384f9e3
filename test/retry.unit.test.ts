// Retrying over the run's real dispatcher (per-host limits over an undici Agent) against a loopback server:
// throttling answers from a host that is serving other requests meanwhile spend no --retries (only time),
// S3's SlowDown and Azure's ServerBusy are throttling whatever their status, and a host that throttles
// every request is counted as any 5xx, so that it cannot hold a record.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent } from 'undici'
import { HostLimitedDispatcher } from '../lib/http/host-dispatcher.js'
import { retrying } from '../lib/http/retry.js'
import { get, rejectStatus, type RequestAuth, type RequestOptions, type Transfer } from '../lib/http/response.js'
import { RecordError } from '../lib/core/errors.js'
import { startServer, type Fault, type RasterServer } from './support/server.js'

let server: RasterServer
let dispatcher: HostLimitedDispatcher
before(async () => {
  server = await startServer()
  dispatcher = new HostLimitedDispatcher(new Agent(), { cap: 8, adaptive: true })
})
after(async () => {
  await dispatcher.close()
  await server.close()
})

const options = (extra: Partial<RequestOptions> = {}): RequestOptions =>
  ({ dispatcher, retries: 1, timeoutMs: 10_000, maxBytes: 1e6, retryBaseMs: 1, throttleMs: 60_000, ...extra })

/**
 * GETs busy.tif until it succeeds; before its `during`-th attempt, another request to the same host
 * (free.tif) is answered 200, as another record's would be while this one is throttled.
 */
async function busy (o: RequestOptions, during?: number): Promise<{ result: Promise<number>, transfer: Transfer }> {
  const transfer: Transfer = { bytes: 0, attempts: 0 }
  let n = 0
  const result = retrying(server.url('busy.tif'), o, transfer, async () => {
    if (++n === during) await (await get(server.url('free.tif'), { ...o, auth: undefined }, {})).body.dump()
    const res = await get(server.url('busy.tif'), o, {})
    if (res.statusCode !== 200) await rejectStatus(res, server.url('busy.tif'), o)
    await res.body.dump()
    return res.statusCode
  })
  return { result, transfer }
}

function serve (...faults: Fault[]): void {
  server.reset()
  server.file('busy.tif', Buffer.alloc(100, 1))
  server.file('free.tif', Buffer.alloc(100, 2))
  server.fault('busy.tif', ...faults)
}

const s503: Fault = { kind: 'status', status: 503 }

test('503 five times with --retries 1, while the host answers another request: ok, the throttling answers spent no retries', async () => {
  serve(s503, s503, s503, s503, s503)
  const { result, transfer } = await busy(options(), 2)
  assert.equal(await result, 200)
  assert.equal(transfer.attempts, 6)
})

test('429 the same', async () => {
  const s429: Fault = { kind: 'status', status: 429 }
  serve(s429, s429, s429)
  const { result } = await busy(options(), 2)
  assert.equal(await result, 200)
})

test('a host that throttles every request and serves none is counted as any 5xx: HTTP_503 after --retries + 1 attempts', async () => {
  serve(s503, s503, s503, s503, s503)
  const { result, transfer } = await busy(options())
  await assert.rejects(result, (err: RecordError) => err.code === 'HTTP_503' && /after 2 attempts/.test(err.message))
  assert.equal(transfer.attempts, 2)
})

test('throttling past throttleMs (the record\'s --max-time) counts against --retries', async () => {
  serve(s503, s503, s503, s503, s503)
  const { result } = await busy(options({ throttleMs: 0 }), 2)
  await assert.rejects(result, (err: RecordError) => err.code === 'HTTP_503')
})

test('a 500 whose body is S3\'s SlowDown, or whose x-ms-error-code is Azure\'s ServerBusy, from a store: throttling, no retries spent', async () => {
  const slowDown: Fault = { kind: 'status', status: 500, body: '<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>' }
  const serverBusy: Fault = { kind: 'status', status: 500, headers: { 'x-ms-error-code': 'ServerBusy' } }
  // A store's addressing, unsigned: the loopback server is the store.
  const auth: RequestAuth = { target: () => server.url('busy.tif'), sign: async () => ({}) }
  serve(slowDown, slowDown, serverBusy, serverBusy)
  const { result } = await busy(options({ auth }), 2)
  assert.equal(await result, 200)
  // The same answers without a store's code are a plain 500, and count.
  serve({ kind: 'status', status: 500 }, { kind: 'status', status: 500 })
  await assert.rejects((await busy(options({ auth }), 2)).result, (err: RecordError) => err.code === 'HTTP_500')
})
