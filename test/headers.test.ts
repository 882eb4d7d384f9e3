// The user's request headers (--header, a record's `headers`): sent to the URL's own origin, dropped when a
// redirect leaves it, and, like credentials in URLs, never printed.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { once } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { gdalTranslate, assertSameRaster } from './support/compare.js'

const SOURCE = join(FIXTURES, 'int16-small.tif')
const BYTES = readFileSync(SOURCE)
const API_KEY = 'k3y-0f-the-user-5e7c'
const BEARER = 'Bearer t0ken-for-one-record-91ab'
const SIG = 'sIgNaTuRe-in-the-url-77f0'

/** A loopback origin that records each request's headers; it serves the fixture, or redirects, or fails. */
async function origin (answer: (path: string) => { redirect?: string, status?: number }): Promise<{ url: string, seen: IncomingHttpHeaders[], server: Server }> {
  const seen: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    seen.push(req.headers)
    const a = answer(req.url ?? '/')
    if (a.redirect) { res.writeHead(302, { location: a.redirect }).end(); return }
    if (a.status) { res.writeHead(a.status, { 'content-type': 'text/plain' }).end(`no such thing: ${req.url ?? ''}`); return }
    res.writeHead(200, { 'content-length': BYTES.length, 'content-type': 'image/tiff' }).end(BYTES)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  after(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server }
}

const dir = scratch('rp-headers-')
after(() => rmSync(dir, { recursive: true, force: true }))

test('--header and a record\'s headers reach the URL\'s origin; a redirect to another origin carries none of them, nor Authorization', async () => {
  const other = await origin(() => ({}))
  const first = await origin((path) => path.startsWith('/moved') ? { redirect: `${other.url}/elsewhere.tif` } : {})
  const records = [
    JSON.stringify({ url: `${first.url}/direct.tif`, id: 'direct', headers: { Authorization: BEARER } }),
    JSON.stringify({ url: `${first.url}/moved.tif`, id: 'moved', headers: { Authorization: BEARER } })
  ].join('\n') + '\n'
  const run = await runCli(['-o', join(dir, 'out'), '--fetch', 'download', '-w', '0,0,40,30', '-H', `X-Api-Key: ${API_KEY}`, '--no-progress'], { stdin: records })
  assert.equal(run.code, 0, run.stderr)
  // Records come in completion order.
  assert.deepEqual(run.records.map((r) => [r.id, r.status]).sort(), [['direct', 'ok'], ['moved', 'ok']])
  for (const h of first.seen) {
    assert.equal(h['x-api-key'], API_KEY, 'the --header reached the origin')
    assert.equal(h.authorization, BEARER, 'the record\'s header reached the origin')
  }
  assert.equal(other.seen.length, 1)
  assert.equal(other.seen[0]['x-api-key'], undefined, 'the --header did not follow the redirect to another origin')
  assert.equal(other.seen[0].authorization, undefined, 'nor did Authorization')
  const reference = gdalTranslate(SOURCE, ['-srcwin', '0', '0', '40', '30'], dir, 'ref.tif')
  for (const r of run.records) assertSameRaster(r.output as string, reference, String(r.id))
  for (const secret of [API_KEY, BEARER]) {
    assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), 'no header value is printed')
  }
})

test('credentials in a URL are redacted in records and messages; header values never appear, even in errors', async () => {
  const failing = await origin(() => ({ status: 403 }))
  const url = `${failing.url}/private.tif?sv=2024-01-01&sig=${SIG}&token=${SIG}x`
  const run = await runCli(['-o', join(dir, 'out2'), '--retries', '0', '-H', `X-Api-Key: ${API_KEY}`, '--no-progress'], {
    stdin: JSON.stringify({ url, id: 'p1' }) + '\n'
  })
  assert.equal(run.code, 1)
  const [r] = run.records
  assert.equal(r.id, 'p1', 'the id joins the record to its input')
  assert.equal(r.error?.code, 'HTTP_403')
  assert.equal(r.url, `${failing.url}/private.tif?sv=2024-01-01&sig=REDACTED&token=REDACTED`)
  assert.equal(r.error?.message, `${r.url}: server answered HTTP 403`, 'the message names the redacted URL, its colon kept')
  assert.equal(failing.seen[0]['x-api-key'], API_KEY)
  for (const secret of [SIG, API_KEY]) {
    assert.ok(!run.stdout.includes(secret), `stdout carries no ${secret === SIG ? 'signature' : 'header value'}`)
    assert.ok(!run.stderr.includes(secret), `stderr carries no ${secret === SIG ? 'signature' : 'header value'}`)
  }
})

test('bad headers are usage errors that never echo a value', async () => {
  for (const [args, pattern] of [
    [['-H', 'no colon here'], /--header: each must be 'Name: value'; one has no name before a colon\n/],
    [['-H', 'Range: bytes=0-1'], /--header: 'Range' is set by rasterpipe itself/],
    [['-H', 'Bad Name: x'], /--header: 'Bad Name' is not a header name/]
  ] as const) {
    const run = await runCli([...args], { stdin: '' })
    assert.equal(run.code, 2, args.join(' '))
    assert.match(run.stderr, pattern)
  }
  const noColon = await runCli(['-H', 'Bearer 0nly-a-value'], { stdin: '' })
  assert.ok(!noColon.stderr.includes('0nly-a-value'), 'a header given without its name is not echoed')
  const bad = await runCli(['-o', join(dir, 'out3'), '--no-progress'], { stdin: JSON.stringify({ url: 'http://127.0.0.1:9/x.tif', headers: { 'X-Key': 5 } }) + '\n' })
  assert.equal(bad.records[0].error?.stage, 'input')
  assert.match(bad.records[0].error?.message ?? '', /headers: the value of 'X-Key' must be a string/)
})
