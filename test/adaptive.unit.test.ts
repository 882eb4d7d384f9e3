// Unit tests of the per-host limit: halving on 429/503, the floor of 1, one more per
// answer up to the cap, first come first served, Retry-After's hold, the fixed mode; and of the dispatcher
// over a real undici Agent: a queued request aborted by its signal leaves the queue at once, and a queued
// request's timeout does not tick while it waits.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent, request, type Dispatcher } from 'undici'
import { HostLimit } from '../lib/http/host-limit.js'
import { HostLimitedDispatcher } from '../lib/http/host-dispatcher.js'
import { Arrivals, deferred } from './support/unit.js'

/** Starts `n` requests (those the limit lets through start at once). */
function start (host: HostLimit, n: number): void {
  for (let i = 0; i < n; i++) host.enqueue(() => undefined, () => undefined)
}

test('each throttling answer (429, 503) halves the limit, rounding down', () => {
  const host = new HostLimit({ cap: 16, adaptive: true })
  start(host, 16)
  assert.equal(host.active, 16)
  host.respond(503)
  assert.equal(host.limit, 8)
  host.respond(429)
  assert.equal(host.limit, 4)
  for (let i = 0; i < 4; i++) host.respond(200)
  assert.equal(host.limit, 8)
  host.respond(503)
  host.respond(503)
  host.respond(503)
  assert.equal(host.limit, 1)
  assert.deepEqual(host.figures(), { min: 1, max: 16, final: 1, throttled: 5, held: 0 })
})

test('Azure\'s ServerBusy code is a throttling answer whatever its status; only answers that are neither throttling nor 5xx count as served', () => {
  const host = new HostLimit({ cap: 16, adaptive: true })
  start(host, 16)
  host.respond(500, undefined, 'ServerBusy')
  assert.equal(host.limit, 8)
  host.respond(500)
  assert.equal(host.limit, 8, 'a plain 500 neither halves nor raises it')
  host.respond(404)
  host.respond(200)
  assert.deepEqual([host.figures().throttled, host.served], [1, 2])
})

test('the limit never goes below 1', () => {
  const host = new HostLimit({ cap: 64, adaptive: true })
  for (let i = 0; i < 20; i++) {
    start(host, 1)
    host.respond(503)
    host.release()
  }
  assert.equal(host.limit, 1)
  assert.equal(host.figures().min, 1)
  assert.equal(host.figures().throttled, 20)
})

test('one more per answer that is not a throttling one or a 5xx, up to the cap', () => {
  const host = new HostLimit({ cap: 8, adaptive: true })
  start(host, 1)
  host.respond(503)
  host.release()
  assert.equal(host.limit, 4)
  const answer = (status: number): void => {
    start(host, 1)
    host.respond(status)
    host.release()
  }
  answer(200)
  assert.equal(host.limit, 5)
  answer(206)
  answer(404) // the host served it: not a sign of load
  assert.equal(host.limit, 7)
  answer(500) // a failure, but not a request to slow down: no change either way
  answer(502)
  assert.equal(host.limit, 7)
  for (let i = 0; i < 10; i++) answer(200)
  assert.equal(host.limit, 8, 'capped at --concurrency')
  assert.deepEqual(host.figures(), { min: 4, max: 8, final: 8, throttled: 1, held: 0 })
})

test('requests beyond the limit wait, and start first come first served as slots free', () => {
  const host = new HostLimit({ cap: 2, adaptive: true })
  const order: number[] = []
  for (let i = 0; i < 5; i++) host.enqueue(() => order.push(i), () => undefined)
  assert.deepEqual(order, [0, 1])
  assert.equal(host.queued, 3)
  host.release()
  assert.deepEqual(order, [0, 1, 2])
  host.release()
  host.release()
  assert.deepEqual(order, [0, 1, 2, 3, 4])
})

test('a cut limit lets no new request through until those in flight are under it', () => {
  const host = new HostLimit({ cap: 4, adaptive: true })
  start(host, 4)
  const later: number[] = []
  host.enqueue(() => later.push(1), () => undefined)
  host.respond(503)
  assert.equal(host.limit, 2)
  host.release()
  host.release()
  assert.deepEqual(later, [], '2 still in flight, the limit is 2')
  host.release()
  assert.deepEqual(later, [1])
})

test('cancel takes a waiting request out of the queue; drop fails every waiting one', () => {
  const host = new HostLimit({ cap: 1, adaptive: true })
  start(host, 1)
  const ran: string[] = []
  const failed: string[] = []
  const cancelB = host.enqueue(() => ran.push('b'), () => failed.push('b'))
  host.enqueue(() => ran.push('c'), () => failed.push('c'))
  host.enqueue(() => ran.push('d'), () => failed.push('d'))
  assert.equal(cancelB(), true)
  assert.equal(host.queued, 2)
  host.release()
  assert.deepEqual(ran, ['c'])
  host.drop(new Error('closed'))
  assert.deepEqual(failed, ['d'])
  assert.equal(host.queued, 0)
})

test('--fixed-concurrency: throttling answers are counted, the limit stays at the cap', () => {
  const host = new HostLimit({ cap: 16, adaptive: false })
  start(host, 16)
  for (let i = 0; i < 16; i++) host.respond(503, 5)
  assert.deepEqual(host.figures(), { min: 16, max: 16, final: 16, throttled: 16, held: 0 })
})

test('Retry-After on a throttling answer holds the host\'s new requests until then; those in flight go on', async () => {
  const host = new HostLimit({ cap: 8, adaptive: true })
  start(host, 6)
  const go = deferred()
  // The limit becomes 4; two answers later 2 are in flight, under it, yet the next waits: the host asked
  // for a pause.
  host.respond(429, 1)
  host.release()
  host.release()
  host.enqueue(() => go.resolve(), () => undefined)
  assert.equal(host.limit, 4)
  assert.equal(host.queued, 1)
  assert.equal(host.active, 4)
  host.release()
  host.release()
  assert.equal(host.queued, 1)
  assert.equal(host.active, 2)
  assert.equal(host.figures().held, 1)
  await go.promise
  assert.equal(host.queued, 0)
})

/** A loopback server whose responses the test sends: each request is handed over unanswered. */
async function heldServer (): Promise<{ url: string, requests: Arrivals<ServerResponse>, close: () => Promise<void> }> {
  const requests = new Arrivals<ServerResponse>()
  const server = createServer((_req, res) => requests.push(res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`,
    requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

test('a request waiting for its host\'s slot is aborted by its signal at once, and never reaches the server', async () => {
  const srv = await heldServer()
  const dispatcher = new HostLimitedDispatcher(new Agent({ connections: 4 }), { cap: 1, adaptive: true })
  try {
    const first = request(srv.url, { dispatcher })
    const res = await srv.requests.next()
    const abort = new AbortController()
    const queued = request(srv.url, { dispatcher, signal: abort.signal })
    abort.abort(new Error('the run was cancelled'))
    await assert.rejects(queued, /the run was cancelled/)
    res.end('ok')
    const answer = await first
    assert.equal(await answer.body.text(), 'ok')
    // The next request goes, and is the server's second: the aborted one never left the queue.
    const third = request(srv.url, { dispatcher })
    ;(await srv.requests.next()).end('third')
    assert.equal(await (await third).body.text(), 'third')
    assert.equal(srv.requests.seen.length, 2)
  } finally {
    await dispatcher.destroy()
    await srv.close()
  }
})

/** An Agent whose dispatches and failed requests are logged in order, by path. */
function tracedAgent (log: string[]): Dispatcher {
  return new Agent({ connections: 4 }).compose((dispatch) => (opts, handler) => {
    log.push(`dispatched ${opts.path}`)
    return dispatch(opts, {
      ...handler,
      onRequestStart: (c, ctx) => handler.onRequestStart?.(c, ctx),
      onResponseStart: (c, status, headers, message) => handler.onResponseStart?.(c, status, headers, message),
      onResponseData: (c, chunk) => handler.onResponseData?.(c, chunk),
      onResponseEnd: (c, trailers) => handler.onResponseEnd?.(c, trailers),
      onResponseError: (c, err) => {
        log.push(`failed ${opts.path}`)
        handler.onResponseError?.(c, err)
      }
    })
  })
}

test('a queued request\'s headers timeout does not tick while it waits for a slot', async () => {
  const srv = await heldServer()
  const log: string[] = []
  const dispatcher = new HostLimitedDispatcher(tracedAgent(log), { cap: 1, adaptive: true })
  try {
    // The first request is never answered: it holds the one slot until its own headers timeout fires.
    const first = request(`${srv.url}?1`, { dispatcher, headersTimeout: 300 })
    await srv.requests.next()
    // The second waits those 300 ms in the queue, with the same timeout: had its timer run meanwhile, it
    // would fail as soon as it reached the server. It reaches the server only once the first has failed.
    const second = request(`${srv.url}?2`, { dispatcher, headersTimeout: 300 })
    await assert.rejects(first, { name: 'HeadersTimeoutError' })
    ;(await srv.requests.next()).end('second')
    assert.equal(await (await second).body.text(), 'second')
    assert.deepEqual(log, ['dispatched /x?1', 'failed /x?1', 'dispatched /x?2'])
  } finally {
    await dispatcher.destroy()
    await srv.close()
  }
})
