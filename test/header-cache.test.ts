// The header cache across runs (--cache-dir), end to end: 96 windows out of 6 COGs (made by
// gdal_translate -of COG, served from disk with ETags), twice with the same cache: the second run makes
// exactly one request per window and writes the same bytes; a COG replaced on the server is read again
// in its new version and its entry renewed; eviction keeps the directory under --cache-max; a corrupt
// entry is ignored and rewritten; a FIFO, a link, a directory or garbage in an entry's place is a miss
// with a warning, and the run ends.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { runCli, scratch, type RunResult } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { makeNoisyTiff } from '../bench/data.js'
import type { ResultRecord } from '../lib/core/records.js'

const COGS = 6
const TILE = 256
/** 4 × 4 tiles of 256²: every window below is one tile, so one range, so one request. */
const SIDE = 4 * TILE
const ENV = { RASTERPIPE_RETRY_BASE_MS: '20' }

let server: RasterServer
let dir: string
let served: string
let base: string

/** A COG of SIDE² out of the noisy base at (x, y), by GDAL's own COG driver; uncompressible enough to pass 1 MiB. */
function makeCog (name: string, x: number, y: number, at = served): string {
  const path = join(at, name)
  execFileSync('gdal_translate', ['-q', '-of', 'COG', '-srcwin', String(x), String(y), String(SIDE), String(SIDE),
    '-co', `BLOCKSIZE=${TILE}`, '-co', 'COMPRESS=DEFLATE', base, path])
  return path
}

const cogName = (i: number): string => `cog-${i}.tif`
const keyFile = (cache: string, url: string): string => join(cache, `${createHash('sha256').update(url).digest('hex')}.head`)

function records (cogs: number[] = Array.from({ length: COGS }, (_, i) => i)): string {
  const lines: string[] = []
  for (const i of cogs) {
    for (let ty = 0; ty < 4; ty++) {
      for (let tx = 0; tx < 4; tx++) {
        lines.push(JSON.stringify({ url: server.url(cogName(i)), window: [tx * TILE, ty * TILE, TILE, TILE], out: `c${i}-${tx}-${ty}.tif` }))
      }
    }
  }
  return lines.join('\n') + '\n'
}

async function run (out: string, cache: string, stdin: string, extra: string[] = []): Promise<RunResult> {
  const r = await runCli(['-o', join(dir, out), '--cache-dir', cache, ...extra], { stdin, env: ENV })
  assert.equal(r.code, 0, r.stderr)
  for (const rec of r.records) assert.equal(rec.status, 'ok', JSON.stringify(rec))
  return r
}

/** The cache file's JSON line. */
function entryHeader (path: string): { validator: string, url: string, size: number } {
  const data = readFileSync(path)
  return JSON.parse(data.subarray(0, data.indexOf(10)).toString()) as { validator: string, url: string, size: number }
}

async function etagOf (name: string): Promise<string> {
  const res = await fetch(server.url(name), { headers: { range: 'bytes=0-0' } })
  await res.arrayBuffer()
  const etag = res.headers.get('etag')
  assert.ok(etag)
  return etag
}

function checkAgainstGdal (recs: ResultRecord[], out: string, src: (i: number) => string, tag: string): void {
  for (const rec of recs) {
    const [, i, tx, ty] = /c(\d)-(\d)-(\d)\.tif$/.exec(rec.output as string) as RegExpExecArray
    const ref = gdalTranslate(src(Number(i)), ['-srcwin', String(Number(tx) * TILE), String(Number(ty) * TILE), String(TILE), String(TILE)], dir, `ref-${tag}-${i}-${tx}-${ty}.tif`)
    assertSameRaster(join(dir, out, `c${i}-${tx}-${ty}.tif`), ref, `${tag} ${rec.output}`)
  }
}

before(() => {
  dir = scratch()
  served = join(dir, 'served')
  mkdirSync(served)
  base = makeNoisyTiff(dir, 'base.tif', 2048, 3, ['TILED=YES'])
  for (let i = 0; i < COGS; i++) makeCog(cogName(i), i * 150, 1024 - i * 150)
})
before(async () => { server = await startServer(served) })
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

test('96 windows of 6 COGs twice with one --cache-dir: the second run makes 96 requests and the same bytes; a replaced COG is read anew and its entry renewed', async () => {
  const cache = join(dir, 'cache')
  for (let i = 0; i < COGS; i++) {
    const size = statSync(join(served, cogName(i))).size
    assert.ok(size >= 1024 * 1024, `${cogName(i)} is ${size} bytes: too small for range mode under auto`)
  }
  const input = records()

  // Cold: a probe per COG (shared by its 16 windows), then the blocks.
  const cold = await run('cold', cache, input)
  assert.equal(cold.records.length, 96)
  for (const rec of cold.records) {
    assert.equal(rec.fetch, 'range')
    assert.equal(rec.cache, 'miss')
  }
  checkAgainstGdal(cold.records, 'cold', (i) => join(served, cogName(i)), 'cold')
  const coldRequests = server.totalRequests()
  for (let i = 0; i < COGS; i++) {
    const h = entryHeader(keyFile(cache, server.url(cogName(i))))
    assert.equal(h.validator, await etagOf(cogName(i)), `entry ${i} holds the ETag the server sends`)
    assert.equal(h.url, server.url(cogName(i)))
  }

  // Warm: no probe, one request per window, each guarded by the ETag.
  server.reset()
  const warm = await run('warm', cache, input)
  assert.equal(warm.records.length, 96)
  assert.equal(server.totalRequests(), 96, `the warm run made ${server.totalRequests()} requests (the cold one ${coldRequests})`)
  for (let i = 0; i < COGS; i++) {
    const s = server.stats(cogName(i))
    const etag = await etagOf(cogName(i))
    assert.deepEqual(s.ifMatch.slice(0, 16), Array(16).fill(etag), `every block request of ${cogName(i)} carries If-Match`)
  }
  for (const rec of warm.records) {
    assert.equal(rec.cache, 'hit')
    assert.equal(rec.fetch, 'range')
    assert.equal(rec.attempts, 1)
    const name = rec.output as string
    const first = readFileSync(join(dir, 'cold', name.split('/').pop() as string))
    assert.ok(readFileSync(name).equals(first), `${name} differs from the cold run's`)
  }

  // One COG replaced on the server: new content, new file, new ETag.
  const oldTag = await etagOf(cogName(2))
  const next = makeCog('next.tif', 700, 300, dir)
  renameSync(next, join(served, cogName(2)))
  const newTag = await etagOf(cogName(2))
  assert.notEqual(newTag, oldTag)
  server.reset()
  const after = await run('after', cache, input)
  const renewed = after.records.filter((r) => r.output?.includes('/c2-'))
  assert.equal(renewed.length, 16)
  for (const rec of renewed) assert.equal(rec.cache, 'renewed', JSON.stringify(rec))
  for (const rec of after.records.filter((r) => !r.output?.includes('/c2-'))) assert.equal(rec.cache, 'hit')
  checkAgainstGdal(renewed, 'after', (i) => join(served, cogName(i)), 'after')
  assert.equal(entryHeader(keyFile(cache, server.url(cogName(2)))).validator, newTag, 'the entry holds the new ETag')
  // The others: still one request a window.
  for (const i of [0, 1, 3, 4, 5]) assert.equal(server.stats(cogName(i)).requests, 16)
  console.log(`requests: cold ${coldRequests}, warm ${96}, after the replacement ${server.totalRequests()} (cog-2: ${server.stats(cogName(2)).requests})`)

  // And the renewed entry serves the next run alone.
  server.reset()
  const again = await run('again', cache, records([2]))
  for (const rec of again.records) assert.equal(rec.cache, 'hit')
  assert.equal(server.totalRequests(), 16)
})

test('a server that ignores If-Match: the 206\'s own ETag shows the change, and the record is read again whole in one version', async () => {
  const cache = join(dir, 'cache-ignoring')
  const url = server.url(cogName(0))
  const one = JSON.stringify({ url, window: [TILE, TILE, TILE, TILE], out: 'one.tif' }) + '\n'
  await run('ignoring-cold', cache, one)
  // The block request of the warm run meets another version (honouring Range, not If-Match or If-Range).
  server.reset()
  server.fault(cogName(0), { kind: 'version', body: readFileSync(join(served, cogName(1))), etag: '"another"' })
  const warm = await run('ignoring-warm', cache, one)
  assert.equal(warm.records[0].cache, 'renewed')
  assert.equal(server.stats(cogName(0)).requests, 3, 'the block (another version), a fresh probe, the block')
  const ref = gdalTranslate(join(served, cogName(0)), ['-srcwin', String(TILE), String(TILE), String(TILE), String(TILE)], dir, 'ref-ignoring.tif')
  assertSameRaster(join(dir, 'ignoring-warm', 'one.tif'), ref, 'after a change the server did not refuse')
})

test('eviction keeps the cache under --cache-max, least recently used first; a corrupt entry is ignored and rewritten', async () => {
  const sizes = readdirSync(join(dir, 'cache')).map((n) => statSync(join(dir, 'cache', n)).size)
  const largest = Math.max(...sizes)
  const cache = join(dir, 'cache-small')
  const max = Math.floor(largest * 3.5)
  const window = (i: number): string => JSON.stringify({ url: server.url(cogName(i)), window: [0, 0, TILE, TILE], out: `e${i}.tif` })
  const used = (): string[] => {
    const names = new Set(readdirSync(cache))
    return Array.from({ length: COGS }, (_, i) => i).filter((i) => names.has(keyFile(cache, server.url(cogName(i))).split('/').pop() as string)).map(String)
  }
  const total = (): number => readdirSync(cache).reduce((s, n) => s + statSync(join(cache, n)).size, 0)
  // One at a time (-c 1), so that entries are written in input order.
  await run('evict', cache, [0, 1, 2, 3, 4, 5].map(window).join('\n') + '\n', ['--cache-max', String(max), '-c', '1'])
  assert.deepEqual(used(), ['3', '4', '5'], 'the three most recent stay')
  assert.ok(total() <= max, `${total()} bytes in the cache, over --cache-max ${max}`)
  // cog-3 used again (a hit) becomes the most recent: cog-0 coming back pushes out cog-4.
  const hit = await run('evict-2', cache, window(3) + '\n', ['--cache-max', String(max)])
  assert.equal(hit.records[0].cache, 'hit')
  await run('evict-3', cache, window(0) + '\n', ['--cache-max', String(max)])
  assert.deepEqual(used(), ['0', '3', '5'])
  assert.ok(total() <= max)

  // A corrupt entry (a byte of its directories flipped): ignored, the record probes and is right, the
  // entry written again.
  const file = keyFile(cache, server.url(cogName(5)))
  const bytes = readFileSync(file)
  bytes[bytes.indexOf(10) + 200] ^= 0xff
  writeFileSync(file, bytes)
  server.reset()
  const fixed = await run('corrupt', cache, window(5) + '\n', ['--cache-max', String(max)])
  assert.equal(fixed.records[0].cache, 'miss')
  assert.equal(server.stats(cogName(5)).requests, 1, 'the probe (a MiB: this run knows nothing of the host yet) brought the block too')
  const ref = gdalTranslate(join(served, cogName(5)), ['-srcwin', '0', '0', String(TILE), String(TILE)], dir, 'ref-corrupt.tif')
  assertSameRaster(join(dir, 'corrupt', 'e5.tif'), ref, 'after a corrupt entry')
  const rewritten = readFileSync(file)
  const body = rewritten.subarray(rewritten.indexOf(10) + 1)
  assert.equal((JSON.parse(rewritten.subarray(0, rewritten.indexOf(10)).toString()) as { sha256: string }).sha256, createHash('sha256').update(body).digest('hex'))
  server.reset()
  const warm = await run('corrupt-warm', cache, window(5) + '\n', ['--cache-max', String(max)])
  assert.equal(warm.records[0].cache, 'hit')
  assert.equal(server.totalRequests(), 1)
})

test('a FIFO, a link to a valid entry outside, a directory, a truncated entry or garbage where an entry would be: every record ok with GDAL\'s pixels, a warning, and the run exits', async () => {
  const url = server.url(cogName(1))
  const lines = [0, 1].map((tx) => JSON.stringify({ url, window: [tx * TILE, 0, TILE, TILE], out: `c1-${tx}-0.tif` })).join('\n') + '\n'
  // A valid entry of this very URL, outside the cache: what a link would lend the cache if followed.
  const elsewhere = join(dir, 'cache-elsewhere')
  await run('bad-valid', elsewhere, lines)
  const valid = readFileSync(keyFile(elsewhere, url))
  const outside = join(dir, 'outside.head')
  writeFileSync(outside, valid)
  const kinds: Array<[string, (path: string) => void]> = [
    ['a FIFO', (path) => execFileSync('mkfifo', [path])],
    ['a link to a valid entry outside', (path) => symlinkSync(outside, path)],
    ['a directory', (path) => mkdirSync(path)],
    ['a truncated entry', (path) => writeFileSync(path, valid.subarray(0, valid.length >> 1))],
    ['garbage', (path) => writeFileSync(path, randomBytes(4096))]
  ]
  for (const [i, [what, make]] of kinds.entries()) {
    const cache = join(dir, `cache-bad-${i}`)
    mkdirSync(cache)
    // Where the run will look: the key of a record without headers is its URL.
    make(keyFile(cache, url))
    // A bound on a run that does not end (it was killed: signal set), not on its speed.
    const r = await runCli(['-o', join(dir, `bad-${i}`), '--cache-dir', cache], { stdin: lines, env: ENV, timeoutMs: 300_000 })
    assert.equal(r.signal, null, `${what}: the run did not end by itself\n${r.stderr}`)
    assert.equal(r.code, 0, `${what}: ${r.stderr}`)
    assert.equal(r.records.length, 2)
    for (const rec of r.records) {
      assert.equal(rec.status, 'ok', `${what}: ${JSON.stringify(rec)}`)
      assert.equal(rec.cache, 'miss', `${what}: ${JSON.stringify(rec)}`)
    }
    checkAgainstGdal(r.records, `bad-${i}`, (n) => join(served, cogName(n)), `bad-${i}`)
    assert.match(r.stderr, /--cache-dir [^\n]*: the entry [^\n]*\.head is [^\n]*not used/, `${what}: a warning names the entry`)
    assert.ok(readFileSync(outside).equals(valid), `${what}: the file outside the cache is untouched`)
    if (what !== 'a directory') assert.ok(lstatSync(keyFile(cache, url)).isFile(), `${what}: replaced by a fresh entry`)
  }
})

test('--cache-dir that cannot be a directory is a usage error; --cache-max reads sizes', async () => {
  const file = join(dir, 'a-file')
  writeFileSync(file, '')
  const bad = await runCli(['--cache-dir', join(file, 'sub')], { stdin: '' })
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /^rasterpipe: --cache-dir: cannot use '.*a-file\/sub' for the cache: not a directory\nTry 'rasterpipe --help'/)
  const size = await runCli(['--cache-dir', join(dir, 'c'), '--cache-max', 'lots'], { stdin: '' })
  assert.equal(size.code, 2)
  assert.match(size.stderr, /--cache-max: 'lots' is not a size/)
})

test('decisions replayed: a TIFF whose overviews\' directories lie at its end, cached by --fetch range, is one request warm; auto still downloads it', async () => {
  const cache = join(dir, 'cache-ends')
  // gdaladdo appends the overviews, and their directories, past the head.
  const ends = makeNoisyTiff(dir, 'ends.tif', SIDE, 3, ['TILED=YES', `BLOCKXSIZE=${TILE}`, `BLOCKYSIZE=${TILE}`])
  execFileSync('gdaladdo', ['-q', '-r', 'nearest', ends, '2', '4'])
  copyFileSync(ends, join(served, 'ends.tif'))
  const one = (w: number[], out: string): string => JSON.stringify({ url: server.url('ends.tif'), window: w, out }) + '\n'
  const check = (out: string, w: number[]): void => {
    const ref = gdalTranslate(ends, ['-srcwin', ...w.map(String)], dir, `ref-${out}`)
    assertSameRaster(join(dir, 'ends', out), ref, out)
  }

  server.reset()
  const cold = await run('ends', cache, one([0, 0, TILE, TILE], 'cold.tif'), ['--fetch', 'range'])
  assert.deepEqual([cold.records[0].fetch, cold.records[0].cache], ['range', 'miss'])
  assert.ok(server.totalRequests() >= 3, `the probe, the directories past the head, the block: ${server.totalRequests()}`)
  check('cold.tif', [0, 0, TILE, TILE])

  server.reset()
  const warm = await run('ends', cache, one([TILE, TILE, TILE, TILE], 'warm.tif'), ['--fetch', 'range'])
  assert.deepEqual([warm.records[0].fetch, warm.records[0].cache], ['range', 'hit'])
  assert.equal(server.totalRequests(), 1, 'the directories past the head came from the cache too')
  check('warm.tif', [TILE, TILE, TILE, TILE])

  // Under auto a probe would have downloaded this file (its directories are not at its head): so does a
  // run that finds its entry.
  server.reset()
  const auto = await run('ends', cache, one([0, TILE, TILE, TILE], 'auto.tif'))
  assert.deepEqual([auto.records[0].fetch, auto.records[0].cache], ['download', 'miss'])
  assert.equal(auto.records[0].bytes, statSync(ends).size)
  check('auto.tif', [0, TILE, TILE, TILE])

  server.reset()
  const again = await run('ends', cache, one([TILE, 0, TILE, TILE], 'again.tif'), ['--fetch', 'range'])
  assert.equal(again.records[0].cache, 'hit', 'the auto run left the entry')
  assert.equal(server.totalRequests(), 1)
  check('again.tif', [TILE, 0, TILE, TILE])
})

test('a server that gives only Last-Modified: the entry holds it, block requests carry If-Unmodified-Since, and a newer file is refused (412) and read again', async () => {
  const cache = join(dir, 'cache-lm')
  const file = join(dir, 'lm.tif')
  copyFileSync(join(served, cogName(3)), file)
  // Modified a minute ago: its Last-Modified, over a second before the answer's Date, is a strong validator
  // (RFC 9110 8.8.2.2); one within the second of Date would be weak, and the file downloaded.
  const past = new Date(Date.now() - 60_000)
  utimesSync(file, past, past)
  const seen: Array<string | undefined> = []
  // Range, If-Range and If-Unmodified-Since as RFC 9110 has them, on a file that has no ETag.
  const lm = createServer((req, res) => {
    const data = readFileSync(file)
    const modified = new Date(Math.floor(statSync(file).mtimeMs / 1000) * 1000)
    const stamp = modified.toUTCString()
    const unmodifiedSince = req.headers['if-unmodified-since']
    seen.push(unmodifiedSince)
    if (unmodifiedSince !== undefined && modified.getTime() > Date.parse(unmodifiedSince)) {
      res.writeHead(412).end()
      return
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
    const ifRange = req.headers['if-range']
    if (m && (ifRange === undefined || ifRange === stamp)) {
      const end = Math.min(Number(m[2]), data.length - 1)
      res.writeHead(206, { 'last-modified': stamp, 'content-range': `bytes ${m[1]}-${end}/${data.length}`, 'content-length': String(end + 1 - Number(m[1])) })
      res.end(data.subarray(Number(m[1]), end + 1))
      return
    }
    res.writeHead(200, { 'last-modified': stamp, 'content-length': String(data.length) }).end(data)
  })
  await new Promise<void>((resolve) => lm.listen(0, '127.0.0.1', resolve))
  try {
    const url = `http://127.0.0.1:${(lm.address() as AddressInfo).port}/lm.tif`
    const one = JSON.stringify({ url, window: [TILE, 0, TILE, TILE], out: 'lm.tif' }) + '\n'
    const cold = await run('lm-cold', cache, one)
    assert.deepEqual([cold.records[0].fetch, cold.records[0].cache], ['range', 'miss'])
    const stamp = new Date(Math.floor(statSync(file).mtimeMs / 1000) * 1000).toUTCString()
    assert.equal(entryHeader(keyFile(cache, url)).validator, stamp)

    seen.length = 0
    const warm = await run('lm-warm', cache, one)
    assert.equal(warm.records[0].cache, 'hit')
    assert.deepEqual(seen, [stamp], 'one request, with If-Unmodified-Since')

    // A new file, a second later.
    copyFileSync(join(served, cogName(4)), file)
    const later = new Date(Date.parse(stamp) + 5000)
    utimesSync(file, later, later)
    seen.length = 0
    const renewed = await run('lm-renewed', cache, one)
    assert.equal(renewed.records[0].cache, 'renewed')
    assert.deepEqual(seen, [stamp, undefined, later.toUTCString()], 'refused, probed afresh, the block of the new file')
    assert.equal(entryHeader(keyFile(cache, url)).validator, later.toUTCString())
    const ref = gdalTranslate(file, ['-srcwin', String(TILE), '0', String(TILE), String(TILE)], dir, 'ref-lm.tif')
    assertSameRaster(join(dir, 'lm-renewed', 'lm.tif'), ref, 'the new file after If-Unmodified-Since')
  } finally {
    await new Promise<void>((resolve) => lm.close(() => resolve()))
  }
})

test('a stack with one source replaced on the server: that source is read anew (renewed), the other stays a hit, and the pixels are the new file\'s', async () => {
  const cache = join(dir, 'cache-stack')
  const a = 'stack-a.tif'
  const b = 'stack-b.tif'
  copyFileSync(join(served, cogName(3)), join(served, a))
  copyFileSync(join(served, cogName(3)), join(served, b))
  const line = JSON.stringify({ urls: [server.url(a), server.url(b)], window: [TILE, TILE, TILE, TILE], out: 'stack.tif' }) + '\n'
  const cold = await run('stack-cold', cache, line)
  assert.deepEqual(cold.records[0].sources?.map((s) => s.cache), ['miss', 'miss'])
  // Source a replaced by another COG on the same grid (same origin, other pixels), so it is still read plainly.
  const next = join(dir, 'stack-next.tif')
  execFileSync('gdal_translate', ['-q', '-of', 'COG', '-scale', '0', '255', '255', '0', '-co', `BLOCKSIZE=${TILE}`, '-co', 'COMPRESS=DEFLATE', join(served, cogName(3)), next])
  renameSync(next, join(served, a))
  server.reset()
  const warm = await run('stack-warm', cache, line)
  const rec = warm.records[0]
  assert.deepEqual(rec.sources?.map((s) => s.cache), ['renewed', 'hit'], JSON.stringify(rec))
  assert.equal(entryHeader(keyFile(cache, server.url(a))).validator, await etagOf(a), 'the entry of the replaced source holds its new ETag')
  // The output's first three bands are the new file's window, the last three the unchanged file's.
  const out = join(dir, 'stack-warm', 'stack.tif')
  for (const [from, bands, tag] of [[a, '1 2 3', 'new'], [b, '4 5 6', 'kept']] as const) {
    const ours = gdalTranslate(out, bands.split(' ').flatMap((n) => ['-b', n]).concat(['-colorinterp', 'red,green,blue']), dir, `stack-${tag}-ours.tif`)
    const ref = gdalTranslate(join(served, from), ['-srcwin', String(TILE), String(TILE), String(TILE), String(TILE), '-colorinterp', 'red,green,blue'], dir, `stack-${tag}-ref.tif`)
    assertSameRasterPixels(ours, ref, `stack band ${tag}`)
  }
})

/** Pixels, size and georeferencing equal (band descriptions and colour interpretation aside). */
function assertSameRasterPixels (ours: string, ref: string, what: string): void {
  const info = (path: string): string => execFileSync('gdalinfo', ['-checksum', path]).toString()
    .split('\n').filter((l) => /Checksum=|Size is|Origin =|Pixel Size =/.test(l)).join('\n')
  assert.equal(info(ours), info(ref), what)
}

test('a window whose blocks lie in the cached head: the warm run still asks the server once (one byte, If-Match), so a replaced file is read anew, never served stale', async () => {
  const cache = join(dir, 'cache-head')
  // Stripped and uncompressed (1100² Byte, 1.2 MB: read by ranges under auto): the top rows' strips lie in the probe's 64 KiB.
  const a = makeNoisyTiff(dir, 'head-a.tif', 1100, 1, [])
  copyFileSync(a, join(served, 'head.tif'))
  const line = JSON.stringify({ url: server.url('head.tif'), window: [0, 0, 32, 32], out: 'h.tif' }) + '\n'
  const checksum = (p: string): string => (execFileSync('gdalinfo', ['-checksum', p]).toString().match(/Checksum=\d+/g) ?? []).join()
  const reference = (src: string, name: string): string => gdalTranslate(src, ['-srcwin', '0', '0', '32', '32'], dir, name)
  await run('head-cold', cache, line)
  // Unchanged: one request, the check.
  server.reset()
  const same = await run('head-same', cache, line)
  assert.equal(same.records[0].cache, 'hit')
  assert.equal(server.totalRequests(), 1, 'a warm window inside the head checks the version once')
  assert.equal(checksum(join(dir, 'head-same', 'h.tif')), checksum(reference(a, 'head-ref-a.tif')))
  // Replaced by its inverse (same size, new ETag): refused 412, read again from a fresh probe.
  execFileSync('gdal_translate', ['-q', '-scale', '0', '255', '255', '0', a, join(dir, 'head-b.tif')])
  renameSync(join(dir, 'head-b.tif'), join(served, 'head.tif'))
  server.reset()
  const warm = await run('head-warm', cache, line)
  assert.equal(warm.records[0].cache, 'renewed', JSON.stringify(warm.records[0]))
  const fresh = reference(join(served, 'head.tif'), 'head-ref-b.tif')
  assert.notEqual(checksum(fresh), checksum(reference(a, 'head-ref-a2.tif')), 'the replacement has other pixels')
  assert.equal(checksum(join(dir, 'head-warm', 'h.tif')), checksum(fresh), 'the output is the current file\'s')
})
