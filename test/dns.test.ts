// The DNS cache of the run's client (lib/http/dns-cache.ts, net.connect's lookup): a host name is looked up
// once per DNS_TTL_MS however many connections are made to it, not once per connection on libuv's pool.
// The lookups are counted through the agent's `resolve` seam, which calls the real node:dns lookup.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { lookup as dnsLookup } from 'node:dns'
import { FIXTURES } from './support/run.js'
import { startServer, type RasterServer } from './support/server.js'
import { createHttpClient } from '../lib/http/client.js'
import type { Resolve } from '../lib/http/dns-cache.js'
import { undici } from '../lib/http/undici.js'

const FILE = 'int16-small.tif'
const server: RasterServer = await startServer(FIXTURES)
const port = new URL(server.base).port
after(async () => { await server.close() })

function counting (): { resolve: Resolve, names: string[] } {
  const names: string[] = []
  return {
    names,
    resolve: (hostname, cb) => {
      names.push(hostname)
      dnsLookup(hostname, { all: true }, cb)
    }
  }
}

test('one lookup for many connections to a host (each answer closes its connection), redirects included; IPs are not looked up; Host stays the name', async () => {
  const { resolve, names } = counting()
  const client = createHttpClient({ concurrency: 2, adaptive: false, timeoutMs: 30_000, agent: { resolve }, onFault: () => undefined })
  after(async () => { await client.destroy() })
  server.reset()
  server.connectionClose = true
  const hosts: Array<string | undefined> = []
  server.route = (path, _query, headers) => { hosts.push(headers.host); return path }
  try {
    const ask = async (url: string): Promise<void> => {
      const res = await undici().request(url, { dispatcher: client })
      await res.body.dump()
      assert.equal(res.statusCode, 200, url)
    }
    for (let i = 0; i < 6; i++) await ask(`http://localhost:${port}/${FILE}`)
    server.fault('/moved.tif', { kind: 'redirect', to: `http://localhost:${port}/${FILE}` })
    await ask(`http://localhost:${port}/moved.tif`)
    assert.equal(server.totalRequests(), 8, 'six requests, and a redirect of two')
    assert.deepEqual(names, ['localhost'], 'one lookup for eight connections')
    assert.ok(hosts.every((h) => h === `localhost:${port}`), `Host names the host, not its address: ${hosts.join(', ')}`)
    await ask(`http://127.0.0.1:${port}/${FILE}`)
    assert.deepEqual(names, ['localhost'], 'an IP is not looked up')
  } finally {
    server.connectionClose = false
    delete server.route
  }
})

test('a name that does not resolve is a DNS error, as without the cache', async () => {
  const client = createHttpClient({
    concurrency: 1,
    adaptive: false,
    timeoutMs: 30_000,
    // No name is sent to a resolver from a test: the lookup answers as getaddrinfo does for an unknown name.
    agent: { resolve: (_hostname, cb) => cb(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' }), []) },
    onFault: () => undefined
  })
  after(async () => { await client.destroy() })
  await assert.rejects(undici().request(`http://nowhere.test:${port}/${FILE}`, { dispatcher: client }), { code: 'ENOTFOUND' })
})
