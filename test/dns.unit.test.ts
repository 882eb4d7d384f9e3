// The DNS cache interceptor (lib/http/agent.ts dnsCache) over a recording dispatch: names are looked up
// once and sent to their address with the name kept for TLS (servername) and Host; IPv4 literals and
// IPv6 literals pass untouched (undici's own interceptor would look up `[::1]` as a name).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Dispatcher } from 'undici'
import { dnsCache } from '../lib/http/agent.js'

test('a name is looked up once and dispatched to its address, the name kept as servername and Host; literals are not looked up', () => {
  const looked: string[] = []
  const sent: Array<Dispatcher.DispatchOptions & { servername?: string }> = []
  const dispatch = dnsCache((origin, _opts, cb) => { looked.push(origin.hostname); cb(null, [{ address: '127.0.0.1', family: 4, ttl: 60_000 }]) })(
    (opts) => { sent.push(opts); return true })
  const handler = {} as Dispatcher.DispatchHandler
  for (const origin of ['http://tiles.example.test:8080', 'http://tiles.example.test:8080', 'http://127.0.0.1:9', 'http://[::1]:9', 'https://[2001:db8::1]']) {
    dispatch({ origin, path: '/a.tif', method: 'GET', headers: {} }, handler)
  }
  assert.deepEqual(looked, ['tiles.example.test'])
  assert.deepEqual(sent.map((o) => String(o.origin)), ['http://127.0.0.1:8080', 'http://127.0.0.1:8080', 'http://127.0.0.1:9', 'http://[::1]:9', 'https://[2001:db8::1]'])
  assert.equal(sent[0].servername, 'tiles.example.test')
  assert.deepEqual(sent[0].headers, { host: 'tiles.example.test:8080' })
  assert.equal(sent[2].servername, undefined)
})
