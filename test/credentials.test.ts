// Basic auth from a URL's user-info and from netrc files, against loopback servers that need it: sent
// percent-decoded to the URL's origin only, not to the origin a redirect leads to, never printed; netrc by
// machine, default, and not to hosts it does not name.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { startServer, type RasterServer } from './support/server.js'
import { rasterPipeline } from '../lib/index.js'
import type { ResultRecord } from '../lib/core/records.js'

const FILE = 'int16-small.tif'
const USER = 'earth-user'
const PASSWORD = 'p@ss:w0rd-of-the-url-4f2a'
const NETRC_PASSWORD = 'netrc-pa55-for-localhost-77'
const DEFAULT_PASSWORD = 'netrc-default-pa55-31'
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

const dir = scratch('rp-credentials-')
after(() => rmSync(dir, { recursive: true, force: true }))

/** /denied answers 401 (again after a reset). */
function deny (s: RasterServer): void {
  s.always('/denied', { kind: 'status', status: 401, headers: { 'www-authenticate': 'Basic realm="test"' } })
}

/** A server of the fixtures that answers 401 unless a request carries one of `accepted`. */
async function guarded (...accepted: string[]): Promise<RasterServer> {
  const s = await startServer(FIXTURES)
  deny(s)
  s.route = (path, _query, headers) => accepted.includes(headers.authorization ?? '') ? path : '/denied'
  return s
}

let server: RasterServer
let port: string
before(async () => {
  server = await guarded(basic(USER, PASSWORD), basic('nu', NETRC_PASSWORD), basic('du', DEFAULT_PASSWORD))
  port = new URL(server.base).port
})
after(async () => { await server.close() })

const userInfo = `${USER}:${encodeURIComponent(PASSWORD)}`
const args = (out: string): string[] => ['-o', join(dir, out), '-w', '0,0,20,20', '--no-progress', '--retries', '0']

test('user-info becomes Basic, percent-decoded, in download and range modes; without it the server says 401; nothing of it is printed (records, stderr, --stats)', async () => {
  for (const fetch of ['download', 'range']) {
    const stats = join(dir, `${fetch}-stats.json`)
    const run = await runCli([...args(fetch), '--fetch', fetch, '--stats', stats], {
      stdin: [`http://${userInfo}@127.0.0.1:${port}/${FILE}`, JSON.stringify({ url: `http://127.0.0.1:${port}/${FILE}`, out: 'none.tif' })].join('\n') + '\n'
    })
    assert.equal(run.code, 1, run.stderr)
    const [withAuth, without] = [1, 2].map((line) => run.records.find((r) => r.line === line) as ResultRecord)
    assert.equal(withAuth.status, 'ok', JSON.stringify(withAuth.error))
    assert.equal(withAuth.url, `http://REDACTED@127.0.0.1:${port}/${FILE}`, 'the record shows the URL without its user-info')
    assert.equal(without.error?.code, 'HTTP_401')
    for (const text of [run.stdout, run.stderr, readFileSync(stats, 'utf8')]) {
      for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), basic(USER, PASSWORD).slice(6)]) assert.ok(!text.includes(secret), `${secret} printed`)
    }
  }
  assert.ok(server.stats('/int16-small.tif').authorization.every((a) => a === basic(USER, PASSWORD)))
})

test('a redirect to another origin carries no Authorization; one within the origin does', async () => {
  const other = await startServer(FIXTURES)
  after(async () => { await other.close() })
  server.fault('/away.tif', { kind: 'redirect', to: `${other.base}/${FILE}` })
  server.fault('/here.tif', { kind: 'redirect', to: `/${FILE}` })
  // The redirects answer only with the credentials: the routes send the others to /denied.
  const route = server.route
  server.route = (path, query, headers) => path === '/away.tif' || path === '/here.tif' ? path : (route as NonNullable<typeof route>)(path, query, headers)
  try {
    const before = server.stats(`/${FILE}`).requests
    const run = await runCli([...args('redirects'), '--fetch', 'download'], {
      stdin: [`http://${userInfo}@127.0.0.1:${port}/away.tif`, JSON.stringify({ url: `http://${userInfo}@127.0.0.1:${port}/here.tif`, out: 'here.tif' })].join('\n') + '\n'
    })
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(other.stats(`/${FILE}`).authorization, [undefined], 'the other origin saw no Authorization')
    assert.equal(server.stats(`/${FILE}`).requests, before + 1, 'the same-origin redirect reached the file with its credentials')
    assert.ok(!run.stdout.includes(PASSWORD) && !run.stderr.includes(PASSWORD))
  } finally {
    server.route = route
  }
})

async function collect (options: Parameters<typeof rasterPipeline>[0], urls: string[]): Promise<ResultRecord[]> {
  const run = rasterPipeline(options)
  const warnings: string[] = []
  run.on('warning', (m) => warnings.push(m))
  for (const url of urls) run.write(url)
  run.end()
  const out: ResultRecord[] = []
  for await (const r of run) out.push(r)
  assert.ok(!JSON.stringify([out, warnings]).includes('pa55'), 'no netrc password in records or warnings')
  return out.sort((a, b) => a.line - b.line)
}

test('netrc: the machine\'s entry for its host, the default for others; a host it does not name gets nothing; the URL\'s user-info wins', async () => {
  const withDefault = join(dir, 'netrc')
  writeFileSync(withDefault, [
    '# credentials for the test',
    'machine example.org login someone password "not this one"',
    `machine LOCALHOST`,
    `  login nu password ${NETRC_PASSWORD}`,
    'macdef init',
    'machine 127.0.0.1 login macro password in-a-macro',
    '',
    `default login du password "${DEFAULT_PASSWORD}"`
  ].join('\n'))
  const base = { outDir: join(dir, 'netrc-out'), fetch: 'download' as const, retries: 0, window: { col: 0, row: 0, width: 20, height: 20 } }
  server.reset()
  deny(server)
  const records = await collect({ ...base, netrcFile: withDefault }, [`http://localhost:${port}/${FILE}`, `http://127.0.0.1:${port}/${FILE}?b`, `http://${userInfo}@localhost:${port}/${FILE}?c`])
  assert.deepEqual(records.map((r) => r.status), ['ok', 'ok', 'ok'], JSON.stringify(records.map((r) => r.error)))
  assert.deepEqual(server.stats(`/${FILE}`).authorization.sort(), [basic('du', DEFAULT_PASSWORD), basic('nu', NETRC_PASSWORD), basic(USER, PASSWORD)].sort())
  const noDefault = join(dir, 'netrc-no-default')
  writeFileSync(noDefault, `machine localhost login nu password ${NETRC_PASSWORD}\n`)
  server.reset()
  deny(server)
  const [other] = await collect({ ...base, outDir: join(dir, 'netrc-out-2'), netrcFile: noDefault }, [`http://127.0.0.1:${port}/${FILE}`])
  assert.equal(other.error?.code, 'HTTP_401')
  assert.deepEqual(server.stats('/denied').authorization, [undefined], 'the localhost entry was not sent to 127.0.0.1')
})

test('netrc: $NETRC for netrc alone; a file that cannot be read is a usage error naming it', () => {
  assert.throws(() => rasterPipeline({ netrcFile: join(dir, 'no-such-netrc') }), (err: Error) => err.name === 'UsageError' && /netrcFile: cannot read the netrc file '.*no-such-netrc': no such file/.test(err.message))
  const saved = process.env.NETRC
  process.env.NETRC = join(dir, 'no-netrc-here')
  try {
    assert.throws(() => rasterPipeline({ netrc: true }), /netrc: cannot read the netrc file '.*no-netrc-here'/)
  } finally {
    if (saved === undefined) delete process.env.NETRC
    else process.env.NETRC = saved
  }
})

test('netrc across a redirect to another origin: the new host gets its own entry, never the first host\'s', async () => {
  const other = await startServer(FIXTURES)
  after(async () => { await other.close() })
  const otherPort = new URL(other.base).port
  const file = join(dir, 'netrc-hops')
  writeFileSync(file, `machine 127.0.0.1 login du password ${DEFAULT_PASSWORD}\nmachine localhost login nu password ${NETRC_PASSWORD}\n`)
  server.reset()
  deny(server)
  server.fault('/hop.tif', { kind: 'redirect', to: `http://localhost:${otherPort}/${FILE}` })
  const [record] = await collect({ outDir: join(dir, 'netrc-hops-out'), fetch: 'download', retries: 0, window: { col: 0, row: 0, width: 20, height: 20 }, netrcFile: file },
    [`http://127.0.0.1:${port}/hop.tif`])
  assert.equal(record.status, 'ok', JSON.stringify(record.error))
  assert.deepEqual(server.stats('/hop.tif').authorization, [basic('du', DEFAULT_PASSWORD)])
  assert.deepEqual(other.stats(`/${FILE}`).authorization, [basic('nu', NETRC_PASSWORD)])
})

test('two origins that redirect to each other, with netrc: the hops are counted across them and the record ends, having asked at most 6 times', async () => {
  const other = await startServer(FIXTURES)
  after(async () => { await other.close() })
  const file = join(dir, 'netrc-loop')
  writeFileSync(file, `machine 127.0.0.1 login du password ${DEFAULT_PASSWORD}\nmachine localhost login nu password ${NETRC_PASSWORD}\n`)
  server.reset()
  server.always('/loop.tif', { kind: 'redirect', to: `http://localhost:${new URL(other.base).port}/loop.tif` })
  other.always('/loop.tif', { kind: 'redirect', to: `http://127.0.0.1:${port}/loop.tif` })
  const [record] = await collect({ outDir: join(dir, 'netrc-loop-out'), fetch: 'download', retries: 0, maxTime: 600, window: { col: 0, row: 0, width: 20, height: 20 }, netrcFile: file },
    [`http://127.0.0.1:${port}/loop.tif`])
  assert.equal(record.status, 'error', JSON.stringify(record))
  assert.match(record.error?.code ?? '', /^(TOO_MANY_REDIRECTS|HTTP_302)$/, JSON.stringify(record.error))
  const asked = server.stats('/loop.tif').requests + other.stats('/loop.tif').requests
  assert.ok(asked <= 6, `asked ${asked} times: the first request and at most 5 redirects`)
})
