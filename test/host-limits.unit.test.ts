// Unit test of the host limits as an undici interceptor (lib/http/host-dispatcher.ts, HostLimits) composed
// over a plain Agent with dispatcher.compose: each answer reaches its origin's limit once, and every
// request's slot is freed when it ends, read or failed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent, request } from 'undici'
import { HostLimits } from '../lib/http/host-dispatcher.js'

test('composed as an interceptor, the host limits hear each final answer once and free each slot as its request ends', async () => {
  // 429 to the first request, 200 to the rest.
  let n = 0
  const server = createServer((_req, res) => {
    res.statusCode = n++ === 0 ? 429 : 200
    res.end('body')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const limits = new HostLimits({ cap: 4, adaptive: true })
  const agent = new Agent()
  const dispatcher = agent.compose(limits.interceptor)
  try {
    const throttled = await request(`${origin}/a`, { dispatcher })
    assert.equal(throttled.statusCode, 429)
    await throttled.body.dump()
    assert.deepEqual(limits.figures()[origin], { min: 2, max: 4, final: 2, throttled: 1, held: 0 })
    const ok = await request(`${origin}/b`, { dispatcher })
    assert.equal(await ok.body.text(), 'body')
    // One request at a time does not fill the limit of 2: it stays (a limit grows only while it binds).
    assert.deepEqual(limits.figures()[origin], { min: 2, max: 4, final: 2, throttled: 1, held: 0 })
    assert.equal(limits.served(`${origin}/anything`), 1)
    // A request that fails (its signal aborted mid-way) frees its slot too.
    const abort = new AbortController()
    const aborted = request(`${origin}/c`, { dispatcher, signal: abort.signal })
    abort.abort(new Error('cancelled'))
    await assert.rejects(aborted, /cancelled/)
    // Every slot was released as its request ended: idle at once, before any other event is handled.
    const now = await Promise.race([limits.idle().then(() => 'idle'), new Promise((resolve) => setImmediate(() => resolve('busy')))])
    assert.equal(now, 'idle')
  } finally {
    await agent.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})
