// The fault matrix: each fault injected by the loopback server into one URL of a batch of three. Every
// case checks the faulty record and the server's request count, and that the batch around it succeeds,
// one record per input, no temp file left (runCli), no partial output.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { Fault } from './support/server.js'
import { useServer } from './support/context.js'
import { bytesKept, FIXTURES, runCli, scratch, type RunResult } from './support/run.js'
import { loadGdal } from '../lib/raster/gdal.js'
import type { ResultRecord } from '../lib/core/records.js'

const gdal = loadGdal()
const ctx = useServer()
const ENV = { RASTERPIPE_RETRY_BASE_MS: '20' }

interface CaseResult { run: RunResult, rec: ResultRecord, requests: number, ranges: string[], out: string }

/** Every output there opens in GDAL and has the full window its record reports; no .part is left. */
function assertWholeOutputs (out: string, records: ResultRecord[]): void {
  const names = readdirSync(out, { recursive: true }) as string[]
  assert.deepEqual(names.filter((n) => n.includes('.part')), [], 'partial outputs left')
  for (const r of records.filter((x) => x.status === 'ok')) {
    const ds = gdal.open(r.output as string)
    assert.deepEqual(ds.rasterSize, { x: r.window?.width, y: r.window?.height })
    ds.bands.get(1).pixels.read(0, 0, ds.rasterSize.x, ds.rasterSize.y)
    ds.close()
  }
}

async function faultCase (name: string, setup: (path: string) => void, args: string[] = [], source = 'int16-small.tif', env: Record<string, string> = {}): Promise<CaseResult> {
  const path = `case-${name}.tif`
  ctx.server.file(path, readFileSync(join(FIXTURES, source)))
  setup(path)
  const out = join(ctx.dir, name)
  // Small neighbours, so that they pass under the --max-bytes of the size cases.
  const input = [ctx.server.url(path), ctx.server.url('int32-small.tif') + `?${name}`, ctx.server.url('float64-small.tif') + `?${name}`].join('\n')
  // Download mode: the matrix counts the requests of whole-file transfers (range mode has its own tests).
  const run = await runCli(['-o', out, '-c', '3', '--fetch', 'download', ...args], { stdin: input, env: { ...ENV, ...env } })
  assert.equal(run.records.length, 3, `one record per input: ${run.stdout}`)
  const rec = run.records.find((r) => r.line === 1) as ResultRecord
  for (const r of run.records.filter((x) => x.line !== 1)) assert.equal(r.status, 'ok', `the rest of the batch: ${JSON.stringify(r)}`)
  assert.equal(run.code, rec.status === 'ok' ? 0 : 1, run.stderr)
  if (rec.status === 'ok' || readdirSync(ctx.dir).includes(name)) assertWholeOutputs(out, run.records)
  return { run, rec, requests: ctx.server.stats(path).requests, ranges: ctx.server.stats(path).ranges, out }
}

const faults = (...list: Fault[]) => (path: string) => ctx.server.fault(path, ...list)

test('503 twice, then OK: ok after 3 attempts', async () => {
  const c = await faultCase('503', faults({ kind: 'status', status: 503 }, { kind: 'status', status: 503 }))
  assert.equal(c.rec.status, 'ok')
  assert.equal(c.rec.attempts, 3)
  assert.equal(c.requests, 3)
})

test('429 with Retry-After: 1: ok, having waited at least a second', async () => {
  const c = await faultCase('429', faults({ kind: 'status', status: 429, headers: { 'retry-after': '1' } }))
  assert.equal(c.rec.status, 'ok')
  assert.equal(c.rec.attempts, 2)
  assert.equal(c.requests, 2)
  assert.ok((c.rec.ms.fetch ?? 0) >= 1000, `fetch took ${c.rec.ms.fetch} ms`)
})

test('connection reset half-way: ok, and the retry asked only for the rest', async () => {
  const size = readFileSync(join(FIXTURES, 'rgb-byte-tiled.tif')).length
  // The reset comes once the download has kept some of the body, however slowly the run reads it.
  const tmp = scratch('rp-reset-')
  const c = await faultCase('reset', faults({ kind: 'reset', after: 200_000, when: async () => await bytesKept(tmp, 'case-reset') }), [], 'rgb-byte-tiled.tif', { TMPDIR: tmp })
  assert.equal(c.rec.status, 'ok', JSON.stringify(c.rec))
  assert.equal(c.requests, 2)
  assert.equal(c.ranges.length, 1, 'the retry is a Range request')
  const from = Number(/^bytes=(\d+)-$/.exec(c.ranges[0])?.[1])
  assert.ok(from > 0 && from <= 200_000, `resumed from ${from}`)
  assert.ok(c.rec.bytes < size + 200_000, `fetched ${c.rec.bytes} bytes for a ${size}-byte file`)
  assert.deepEqual(readdirSync(tmp), [], 'rasterpipe left temp files behind')
  rmSync(tmp, { recursive: true, force: true })
})

test('truncated body: ok after a retry', async () => {
  const c = await faultCase('truncated', faults({ kind: 'truncate', after: 50_000 }))
  assert.equal(c.rec.status, 'ok', JSON.stringify(c.rec))
  assert.equal(c.requests, 2)
})

test('a body that stalls past --timeout: TIMEOUT after the retries', async () => {
  const c = await faultCase('stall', (p) => ctx.server.always(p, { kind: 'stall', after: 10_000 }), ['--timeout', '1', '--retries', '1'])
  assert.equal(c.rec.status, 'error')
  assert.equal(c.rec.error?.code, 'TIMEOUT')
  assert.equal(c.rec.error?.stage, 'fetch')
  assert.equal(c.rec.attempts, 2)
  assert.equal(c.requests, 2)
})

test('a server that never sends headers: TIMEOUT after the retries', async () => {
  const c = await faultCase('silent', (p) => ctx.server.always(p, { kind: 'silent' }), ['--timeout', '1', '--retries', '1'])
  assert.equal(c.rec.status, 'error')
  assert.equal(c.rec.error?.code, 'TIMEOUT')
  assert.equal(c.requests, 2)
})

test('404: an error after exactly one request', async () => {
  const c = await faultCase('404', (p) => ctx.server.always(p, { kind: 'status', status: 404 }))
  assert.equal(c.rec.status, 'error')
  assert.equal(c.rec.error?.code, 'HTTP_404')
  assert.equal(c.rec.error?.retryable, false)
  assert.equal(c.requests, 1)
})

test('an HTML page with status 200: an error at stage open saying it is not a raster', async () => {
  const c = await faultCase('html', (p) => ctx.server.always(p, { kind: 'body', body: '<!doctype html><title>Sign in</title>', contentType: 'text/html' }))
  assert.equal(c.rec.status, 'error')
  assert.equal(c.rec.error?.stage, 'open')
  assert.equal(c.rec.error?.code, 'NOT_A_RASTER', JSON.stringify(c.rec.error))
  assert.match(c.rec.error?.message ?? '', /not a raster/)
  assert.equal(c.requests, 1)
})

test('a corrupted TIFF: an error record, and the process carries on', async () => {
  const good = readFileSync(join(FIXTURES, 'rgb-byte-tiled.tif'))
  const bad = Buffer.from(good)
  for (let i = 4096; i < bad.length; i += 7) bad[i] ^= 0x5a
  const c = await faultCase('corrupt', (p) => ctx.server.always(p, { kind: 'body', body: bad }), [], 'rgb-byte-tiled.tif')
  assert.equal(c.rec.status, 'error')
  // The header survives (the flips start at byte 4096): GDAL opens the file and fails on the first tile,
  // when its pixels are read: that is the write stage's copy (the read stage only makes the window, a VRT).
  assert.equal(c.rec.error?.stage, 'write', JSON.stringify(c.rec.error))
  assert.equal(c.rec.error?.code, 'READ_FAILED', JSON.stringify(c.rec.error))
  assert.match(c.rec.error?.message ?? '', /IReadBlock failed/)
})

test('a body over --max-bytes (by Content-Length): refused, nothing kept', async () => {
  const c = await faultCase('toolarge', () => undefined, ['--max-bytes', '110000'])
  assert.equal(c.rec.status, 'error')
  assert.equal(c.rec.error?.code, 'TOO_LARGE')
  assert.equal(c.requests, 1)
})

test('a body over --max-bytes without Content-Length: stopped while streaming, nothing kept', async () => {
  const body = readFileSync(join(FIXTURES, 'int16-small.tif'))
  const c = await faultCase('toolarge-chunked', (p) => ctx.server.always(p, { kind: 'body', body, chunked: true }), ['--max-bytes', '110000'])
  assert.equal(c.rec.status, 'error')
  assert.equal(c.rec.error?.code, 'TOO_LARGE')
  assert.equal(c.requests, 1)
})

test('a redirect is followed', async () => {
  const c = await faultCase('redirect', (p) => ctx.server.fault(p, { kind: 'redirect', to: '/int16-small.tif' }))
  assert.equal(c.rec.status, 'ok', JSON.stringify(c.rec))
  assert.equal(ctx.server.stats('case-redirect.tif').requests, 1)
})

test('a redirect loop is an error', async () => {
  const c = await faultCase('loop', (p) => ctx.server.always(p, { kind: 'redirect', to: `/${p}` }))
  assert.equal(c.rec.status, 'error')
  assert.equal(c.rec.error?.code, 'TOO_MANY_REDIRECTS')
  assert.ok(c.requests >= 1 && c.requests <= 6, `${c.requests} requests`)
})

test('a chain of more than five redirects is an error', async () => {
  const c = await faultCase('chain', (p) => {
    ctx.server.always(p, { kind: 'redirect', to: '/hop-1.tif' })
    for (let i = 1; i <= 7; i++) ctx.server.always(`hop-${i}.tif`, { kind: 'redirect', to: `/hop-${i + 1}.tif` })
  })
  assert.equal(c.rec.status, 'error')
  assert.equal(c.rec.error?.code, 'TOO_MANY_REDIRECTS')
  assert.equal(ctx.server.stats('hop-6.tif').requests, 0, 'no sixth redirect followed')
})

test('a redirect to a file: or s3: URL is refused as such (BAD_REDIRECT), naming the target with its secrets redacted', async () => {
  const targets: Array<[string, string, RegExp]> = [
    ['redirect-file', `file://${join(FIXTURES, 'int16-small.tif')}?token=s3cr3t-file`, /redirected to 'file:\/\/[^']*int16-small\.tif\?token=REDACTED': only http and https redirects are followed/],
    ['redirect-s3', 's3://bucket/scene.tif?X-Amz-Signature=s3cr3t-s3', /redirected to 's3:\/\/bucket\/scene\.tif\?X-Amz-Signature=REDACTED': only http and https redirects are followed/]
  ]
  for (const [name, to, message] of targets) {
    const c = await faultCase(name, (p) => ctx.server.always(p, { kind: 'redirect', to }))
    assert.equal(c.rec.status, 'error')
    assert.equal(c.rec.error?.stage, 'fetch')
    assert.equal(c.rec.error?.code, 'BAD_REDIRECT', JSON.stringify(c.rec.error))
    assert.equal(c.rec.error?.retryable, false)
    assert.match(c.rec.error?.message ?? '', message)
    assert.ok(c.rec.error?.message.startsWith(ctx.server.url(`case-${name}.tif`)), c.rec.error?.message)
    assert.equal(c.requests, 1, 'asked once: a refused redirect is not retried')
    assert.ok(!c.run.stdout.includes('s3cr3t') && !c.run.stderr.includes('s3cr3t'), 'the target\'s secret is printed')
  }
})

test('connection refused: an error after the retries', async () => {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as { port: number }).port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  const input = [`http://127.0.0.1:${port}/gone.tif`, ctx.server.url('int16-small.tif') + '?refused'].join('\n')
  const run = await runCli(['-o', join(ctx.dir, 'refused'), '--retries', '2', '--fetch', 'download'], { stdin: input, env: ENV })
  assert.equal(run.code, 1)
  assert.equal(run.records.length, 2)
  const rec = run.records.find((r) => r.line === 1)
  assert.equal(rec?.error?.code, 'CONNECTION_REFUSED')
  assert.equal(rec?.attempts, 3)
  assert.equal(run.records.find((r) => r.line === 2)?.status, 'ok')
})
