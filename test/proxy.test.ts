// Proxies: runs of the CLI with http_proxy / HTTP_PROXY / HTTPS_PROXY / NO_PROXY and library runs with
// `proxy` and `noProxy`, through a logging proxy on loopback (test/support/proxy.ts). Plain http goes in
// absolute form, https by CONNECT (a certificate made here, trusted through `caBundle` or Node's
// NODE_EXTRA_CA_CERTS); NO_PROXY by host, IP, domain suffix and '*'; proxy credentials never printed.
// Names other than localhost do not resolve here: the proxy maps `*.example.test` to 127.0.0.1, and direct
// matches by name are made with localhost (or, at the client's level, a lookup of our own seam).
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { lookup as dnsLookup } from 'node:dns'
import { join } from 'node:path'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { startServer, type RasterServer } from './support/server.js'
import { startProxy, type LoggingProxy } from './support/proxy.js'
import { awsEnv, startS3 } from './support/s3.js'
import { rasterPipeline } from '../lib/index.js'
import type { ResultRecord } from '../lib/core/records.js'
import { createHttpClient } from '../lib/http/client.js'
import { resolveProxies } from '../lib/http/proxy.js'
import { Secrets } from '../lib/http/redact.js'
import { undici } from '../lib/http/undici.js'

const FILE = 'int16-small.tif'
const HOST = 'tiles.example.test'
const PROXY_PASSWORD = 'pr0xy-pa55-w0rd-9c1e'
const dir = scratch('rp-proxy-')
after(() => rmSync(dir, { recursive: true, force: true }))

let server: RasterServer
let port: string
before(async () => {
  server = await startServer(FIXTURES)
  port = new URL(server.base).port
})
after(async () => { await server.close() })

async function proxy (credentials?: string): Promise<LoggingProxy> {
  const p = await startProxy({ hosts: [HOST, 'tiles.other.test'], ...(credentials ? { credentials } : {}) })
  after(async () => { await p.close() })
  return p
}

const args = (out: string): string[] => ['-o', join(dir, out), '-w', '0,0,20,20', '--no-progress', '--retries', '0']

for (const variable of ['http_proxy', 'HTTP_PROXY']) {
  test(`${variable}: every request goes through the proxy, in absolute form; a name only the proxy knows is fetched`, async () => {
    const p = await proxy()
    server.reset()
    const run = await runCli([...args(variable), '--fetch', 'range'], { stdin: `http://${HOST}:${port}/${FILE}\n`, env: { [variable]: p.url } })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.records[0].status, 'ok')
    assert.ok(p.log.length > 0)
    assert.equal(p.log.length, server.totalRequests(), 'each request the server answered came through the proxy')
    for (const r of p.log) {
      assert.equal(r.method, 'GET')
      assert.equal(r.target, `http://${HOST}:${port}/${FILE}`, 'absolute form')
    }
  })
}

test('proxy credentials are sent as Proxy-Authorization and never printed; refused ones are PROXY_AUTH', async () => {
  const p = await proxy(`pu:${PROXY_PASSWORD}`)
  const url = `http://${HOST}:${port}/${FILE}`
  const good = await runCli(args('cred-good'), { stdin: `${url}\n`, env: { HTTP_PROXY: `http://pu:${PROXY_PASSWORD}@127.0.0.1:${p.port}` } })
  assert.equal(good.code, 0, good.stderr)
  assert.equal(good.records[0].status, 'ok')
  assert.equal(p.log[0].headers['proxy-authorization'], `Basic ${Buffer.from(`pu:${PROXY_PASSWORD}`).toString('base64')}`)
  const bad = await runCli(args('cred-bad'), { stdin: `${url}\n`, env: { HTTP_PROXY: `http://pu:not-${PROXY_PASSWORD}@127.0.0.1:${p.port}` } })
  assert.equal(bad.code, 1)
  assert.equal(bad.records[0].error?.code, 'PROXY_AUTH', bad.stdout)
  const malformed = await runCli(args('cred-malformed'), { stdin: `${url}\n`, env: { HTTP_PROXY: `http://pu:${PROXY_PASSWORD}@[bad:${p.port}` } })
  assert.equal(malformed.code, 2)
  assert.match(malformed.stderr, /HTTP_PROXY: 'http:\/\/REDACTED@\[bad/)
  for (const run of [good, bad, malformed]) {
    for (const text of [run.stdout, run.stderr]) {
      assert.ok(!text.includes(PROXY_PASSWORD), `no proxy password printed: ${text}`)
      assert.ok(!text.includes(Buffer.from(`pu:${PROXY_PASSWORD}`).toString('base64')))
    }
  }
})

test('NO_PROXY by host name, by IP and \'*\' sends those hosts direct; a suffix that is not a domain boundary does not', async () => {
  const p = await proxy()
  const records = [`http://localhost:${port}/${FILE}`, `http://127.0.0.1:${port}/${FILE}`, `http://${HOST}:${port}/${FILE}`].map((url, i) => JSON.stringify({ url, id: String(i), out: `${i}.tif` })).join('\n') + '\n'
  const cases: Array<[string, string[]]> = [
    ['localhost', [`http://127.0.0.1:${port}/${FILE}`, `http://${HOST}:${port}/${FILE}`]],
    ['example.org, 127.0.0.1', [`http://localhost:${port}/${FILE}`, `http://${HOST}:${port}/${FILE}`]],
    ['127.0.0.0/8', [`http://localhost:${port}/${FILE}`, `http://${HOST}:${port}/${FILE}`]],
    // 'xample.test' is no domain of tiles.example.test: proxied. 'localhost' by its leading-dot form.
    ['xample.test,.localhost', [`http://127.0.0.1:${port}/${FILE}`, `http://${HOST}:${port}/${FILE}`]]
  ]
  for (const [noProxy, proxied] of cases) {
    p.log.length = 0
    const run = await runCli([...args(`np-${noProxy}`), '--fetch', 'download'], { stdin: records, env: { HTTP_PROXY: p.url, NO_PROXY: noProxy } })
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual([...new Set(p.log.map((r) => r.target))].sort(), proxied.sort(), `NO_PROXY=${noProxy}`)
  }
  // '*': nothing through the proxy.
  p.log.length = 0
  const all = await runCli([...args('np-all'), '--fetch', 'download'], { stdin: [`http://localhost:${port}/${FILE}`, `http://127.0.0.1:${port}/${FILE}`].join('\n') + '\n', env: { http_proxy: p.url, no_proxy: '*' } })
  assert.equal(all.code, 0, all.stderr)
  assert.deepEqual(p.log, [])
})

test('noProxy overrides NO_PROXY; domain suffixes go direct (a lookup of our seam maps the names), others through the proxy', async () => {
  const p = await proxy()
  const secrets = new Secrets()
  const proxies = resolveProxies({ proxy: p.url, noProxy: 'direct.test' }, secrets, { NO_PROXY: '*' })
  assert.ok(proxies)
  const looked: string[] = []
  const client = createHttpClient({
    concurrency: 2,
    adaptive: false,
    timeoutMs: 30_000,
    agent: {
      proxies,
      // The direct route's lookups: names under .test stand for 127.0.0.1.
      resolve: (hostname, cb) => { looked.push(hostname); dnsLookup('127.0.0.1', { all: true }, cb) }
    },
    onFault: () => undefined
  })
  after(async () => { await client.destroy() })
  server.reset()
  for (const host of ['a.direct.test', 'direct.test', 'tiles.other.test']) {
    const res = await undici().request(`http://${host}:${port}/${FILE}`, { dispatcher: client })
    await res.body.dump()
    assert.equal(res.statusCode, 200, host)
  }
  assert.deepEqual(looked, ['a.direct.test', 'direct.test'], 'the direct hosts were resolved here')
  assert.deepEqual(p.log.map((r) => r.target), [`http://tiles.other.test:${port}/${FILE}`], 'the other went through the proxy, which resolved it')
  assert.equal(server.totalRequests(), 3)
  assert.deepEqual(Object.keys(client.figures()).sort(), [`http://a.direct.test:${port}`, `http://direct.test:${port}`, `http://tiles.other.test:${port}`], 'host limits keyed by the target origin')
})

test('a store\'s requests go through the proxy too: the HEAD of --skip-existing and the upload, signed as direct', async () => {
  const p = await proxy()
  const s3 = await startS3({ buckets: ['results'] })
  after(async () => { await s3.close() })
  const run = await runCli(['-o', 's3://results/proxied', '-w', '0,0,20,20', '--no-progress', '--retries', '0', '--skip-existing'], {
    stdin: `http://${HOST}:${port}/${FILE}\n`,
    env: { ...awsEnv(s3), HTTP_PROXY: p.url }
  })
  assert.equal(run.code, 0, run.stderr)
  assert.equal(run.records[0].status, 'ok')
  const methods = p.log.filter((r) => r.target.startsWith(`${s3.endpoint}/results/`)).map((r) => r.method)
  assert.ok(methods.includes('HEAD') && methods.includes('PUT'), `the store's requests through the proxy: ${methods.join(', ')}`)
})

/**
 * A certificate for tiles.example.test and localhost (not 127.0.0.1: a connection made to the address the
 * DNS cache found must still check the name), made now, and an https server of the fixture with it.
 */
async function httpsOrigin (): Promise<{ port: number, ca: string, requests: () => number }> {
  const key = join(dir, 'key.pem')
  const ca = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', ca, '-days', '1',
    '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST},DNS:localhost`], { stdio: 'ignore' })
  const bytes = readFileSync(join(FIXTURES, FILE))
  let requests = 0
  const s: HttpsServer = createHttpsServer({ key: readFileSync(key), cert: readFileSync(ca) }, (_req, res) => {
    requests++
    res.writeHead(200, { 'content-length': bytes.length, 'content-type': 'image/tiff' }).end(bytes)
  })
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  after(() => { s.closeAllConnections(); s.close() })
  return { port: (s.address() as AddressInfo).port, ca, requests: () => requests }
}

async function collect (options: Parameters<typeof rasterPipeline>[0], url: string): Promise<ResultRecord[]> {
  const run = rasterPipeline(options)
  run.end(url)
  const out: ResultRecord[] = []
  for await (const r of run) out.push(r)
  return out
}

test('https through the proxy by CONNECT, the server checked against caBundle (--cacert); Node\'s own CAs refuse it', async () => {
  const p = await proxy()
  const origin = await httpsOrigin()
  const url = `https://${HOST}:${origin.port}/${FILE}`
  const base = { outDir: join(dir, 'https'), fetch: 'download' as const, retries: 0, window: { col: 0, row: 0, width: 20, height: 20 } }
  const [trusted] = await collect({ ...base, proxy: p.url, caBundle: origin.ca }, url)
  assert.equal(trusted.status, 'ok', JSON.stringify(trusted.error))
  assert.deepEqual(p.log.map((r) => [r.method, r.target]), [['CONNECT', `${HOST}:${origin.port}`]], 'one tunnel, nothing in the clear')
  const [untrusted] = await collect({ ...base, outDir: join(dir, 'https-untrusted'), proxy: p.url }, url)
  assert.equal(untrusted.status, 'error', 'a self-signed certificate is refused without caBundle')
  const guarded = await proxy(`pu:${PROXY_PASSWORD}`)
  const [refused] = await collect({ ...base, outDir: join(dir, 'https-refused'), proxy: guarded.url, caBundle: origin.ca }, url)
  assert.equal(refused.error?.code, 'PROXY_AUTH', 'a tunnel refused with 407')
  const [allowed] = await collect({ ...base, outDir: join(dir, 'https-allowed'), proxy: `http://pu:${PROXY_PASSWORD}@127.0.0.1:${guarded.port}`, caBundle: origin.ca }, url)
  assert.equal(allowed.status, 'ok', JSON.stringify(allowed.error))
  assert.deepEqual(guarded.log.map((r) => [r.method, r.headers['proxy-authorization'] !== undefined]), [['CONNECT', false], ['CONNECT', true]])
  // Direct, by a name that resolves here, with the same bundle: the DNS cache connects to 127.0.0.1, TLS checks the name.
  const [direct] = await collect({ ...base, outDir: join(dir, 'https-direct'), caBundle: origin.ca }, `https://localhost:${origin.port}/${FILE}`)
  assert.equal(direct.status, 'ok', JSON.stringify(direct.error))
  p.log.length = 0
  const cli = await runCli([...args('https-cli'), '--fetch', 'download', '--cacert', origin.ca], { stdin: `${url}\n`, env: { HTTPS_PROXY: p.url } })
  assert.equal(cli.code, 0, cli.stderr)
  assert.deepEqual(p.log.map((r) => r.method), ['CONNECT'])
})

test('HTTPS_PROXY alone leaves http direct, HTTP_PROXY alone leaves https direct (as curl)', async () => {
  const p = await proxy()
  const origin = await httpsOrigin()
  const pem = join(dir, 'only-cert.pem')
  writeFileSync(pem, readFileSync(origin.ca))
  const run = await runCli([...args('split'), '--fetch', 'download'], {
    stdin: [`http://localhost:${port}/${FILE}`, JSON.stringify({ url: `https://localhost:${origin.port}/${FILE}`, out: 's.tif' })].join('\n') + '\n',
    env: { HTTPS_PROXY: p.url, NODE_EXTRA_CA_CERTS: pem }
  })
  assert.equal(run.code, 0, run.stderr)
  assert.deepEqual(p.log.map((r) => [r.method, r.target]), [['CONNECT', `localhost:${origin.port}`]])
  p.log.length = 0
  const other = await runCli([...args('split2'), '--fetch', 'download'], {
    stdin: [`http://localhost:${port}/${FILE}`, JSON.stringify({ url: `https://localhost:${origin.port}/${FILE}`, out: 's.tif' })].join('\n') + '\n',
    env: { HTTP_PROXY: p.url, NODE_EXTRA_CA_CERTS: pem }
  })
  assert.equal(other.code, 0, other.stderr)
  assert.deepEqual(p.log.map((r) => [r.method, r.target]), [['GET', `http://localhost:${port}/${FILE}`]])
})

test('a dispatcher of the library user\'s own is refused with proxy or caBundle: it makes its own connections', () => {
  assert.throws(() => rasterPipeline({ dispatcher: () => new (undici().Agent)(), proxy: 'http://127.0.0.1:9' }), /proxy cannot go with dispatcher/)
  assert.throws(() => rasterPipeline({ caBundle: join(dir, 'none.pem') }), /caBundle: cannot read .*no such file/)
})
