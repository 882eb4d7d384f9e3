// Unit tests of the per-host limit: its start and doubling while it binds, one cut per round on 429/503,
// the floor of 1, the climb back (CUBIC's curve), a queue seen in the answers' times, first come first
// served, Retry-After's hold, the fixed mode; and of the dispatcher over a real undici Agent: a queued
// request aborted by its signal leaves the queue at once, and a queued request's timeout does not tick
// while it waits.
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

/** A host with `n` requests queued or in flight, answered oldest first, each with its number and time. */
class Requests {
  private readonly inFlight: number[] = []
  constructor (readonly host: HostLimit, n: number) {
    for (let i = 0; i < n; i++) host.enqueue((seq) => this.inFlight.push(seq), () => undefined)
  }

  answer (status = 200, rttMs?: number): void {
    const seq = this.inFlight.shift()
    assert.ok(seq !== undefined, 'a request in flight')
    this.host.respond(status, undefined, undefined, { seq, rttMs })
    this.host.release()
  }

  /** Answers every request in flight now (one round), each `status`, and gives the limit after. */
  round (status = 200, rttMs?: number): number {
    for (let n = this.inFlight.length; n > 0; n--) this.answer(status, rttMs)
    return this.host.limit
  }
}

test('the limit starts at 16 (or the cap, if lower) and doubles each round while it binds, up to the cap', () => {
  assert.equal(new HostLimit({ cap: 4, adaptive: true }).limit, 4)
  const requests = new Requests(new HostLimit({ cap: 64, adaptive: true }), 1000)
  assert.equal(requests.host.limit, 16)
  assert.deepEqual([requests.round(), requests.round(), requests.round()], [32, 64, 64])
  assert.deepEqual(requests.host.figures(), { min: 16, max: 64, final: 64, throttled: 0, held: 0 })
})

test('a limit that does not bind (nothing waits, slots are free) does not grow', () => {
  const host = new HostLimit({ cap: 64, adaptive: true })
  const requests = new Requests(host, 4)
  for (let i = 0; i < 4; i++) requests.answer()
  assert.equal(host.limit, 16)
  assert.equal(host.served, 4)
})

test('a throttling answer (429, 503) cuts the limit to 0.7 of itself, once per round: answers to requests sent before the cut cut no further', () => {
  const requests = new Requests(new HostLimit({ cap: 64, adaptive: true }), 1000)
  const { host } = requests
  for (let i = 0; i < 8; i++) requests.answer(i % 2 === 0 ? 503 : 429)
  assert.equal(host.limit, 11)
  assert.equal(host.figures().throttled, 8)
  // The rest of the first 16 are served; the next refusal is to a request sent after the cut.
  for (let i = 0; i < 8; i++) requests.answer()
  const grown = host.limit
  assert.ok(grown >= 11 && grown <= 12, `growing slowly back: ${grown}`)
  requests.answer(503)
  assert.equal(host.limit, Math.floor(grown * 0.7))
  assert.equal(host.figures().throttled, 9)
})

test('Azure\'s ServerBusy code is a throttling answer whatever its status; only answers that are neither throttling nor 5xx count as served', () => {
  const requests = new Requests(new HostLimit({ cap: 16, adaptive: true }), 100)
  const { host } = requests
  requests.answer(500)
  assert.equal(host.limit, 16, 'a plain 500 neither cuts nor raises it')
  host.respond(500, undefined, 'ServerBusy')
  assert.equal(host.limit, 11)
  requests.answer(404) // the host served it: not a sign of load
  requests.answer(200)
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

test('after a cut the limit climbs back fast, slows down near the level it was cut from, then probes above it', () => {
  const requests = new Requests(new HostLimit({ cap: 64, adaptive: true }), 100_000)
  for (let i = 0; i < 16; i++) requests.answer(i < 8 ? 503 : 200)
  const limits: number[] = []
  for (let i = 0; i < 14; i++) limits.push(requests.round())
  // Cut from 16 to 11: back to 15 within 3 rounds, 16 held for some rounds, beyond it only later.
  assert.ok(limits[2] >= 14 && limits[2] <= 16, limits.join(' '))
  const at16 = limits.filter((l) => l === 16).length
  assert.ok(at16 >= 3, `16 kept a while: ${limits.join(' ')}`)
  assert.ok(limits[13] > 16, `then above: ${limits.join(' ')}`)
  assert.ok(limits.every((l, i) => i === 0 || l >= limits[i - 1]), limits.join(' '))
})

test('a round much slower than the fastest, at a limit above any that was fast, is a queue: the limit goes down and stops doubling; at a limit that was fast, it is lag', () => {
  const requests = new Requests(new HostLimit({ cap: 256, adaptive: true }), 100_000)
  const { host } = requests
  assert.equal(requests.round(200, 20), 32)
  assert.equal(requests.round(200, 20), 64)
  assert.equal(requests.round(200, 60), 128)
  // The round sent at 64 came back 3× slower than the fastest: seen as it ends (at the first answer to
  // a request sent after it), the limit goes down by about 2/3, and from there no longer doubles.
  const cut = requests.round(200, 20)
  assert.ok(cut >= 80 && cut <= 90, `${cut}`)
  assert.equal(requests.round(200, 20), cut)
  assert.equal(host.figures().throttled, 0)
  // Slow at a limit no higher than one that was fast lately: the client or the network lagged.
  const lagging = new Requests(new HostLimit({ cap: 16, adaptive: true }), 100_000)
  assert.deepEqual([lagging.round(200, 20), lagging.round(200, 20), lagging.round(200, 90), lagging.round(200, 90)], [16, 16, 16, 16])
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
  // The limit becomes 5; two answers later 4 are in flight, under it, yet the next waits: the host asked
  // for a pause.
  host.respond(429, 1)
  host.release()
  host.release()
  host.enqueue(() => go.resolve(), () => undefined)
  assert.equal(host.limit, 5)
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
