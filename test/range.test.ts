// Range reads: a window out of a large COG moves only the header and the blocks under it, over the same
// HTTP layer (retries, byte accounting) as downloads; auto picks range or download from the first answer.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { makeNoisyTiff } from '../bench/data.js'
import type { StatsJson } from '../lib/cli/summary.js'

let server: RasterServer
let dir: string
let cogPath: string
let cogSize: number
const ENV = { RASTERPIPE_RETRY_BASE_MS: '20' }

before(async () => {
  dir = scratch()
  cogPath = makeNoisyTiff(dir, 'big-cog.tif', 4096, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=512'], 'COG')
  cogSize = statSync(cogPath).size
  server = await startServer()
  server.file('big-cog.tif', readFileSync(cogPath))
  for (const f of readdirSync(FIXTURES)) server.file(f, readFileSync(join(FIXTURES, f)))
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

async function one (name: string, record: object, args: string[] = []): Promise<{ rec: import('../lib/core/records.js').ResultRecord, out: string, stderr: string, code: number | null }> {
  const out = join(dir, `out-${name}`)
  const run = await runCli(['-o', out, ...args], { stdin: JSON.stringify({ url: server.url('big-cog.tif'), out: `${name}.tif`, ...record }) + '\n', env: ENV })
  assert.equal(run.records.length, 1, run.stderr)
  return { rec: run.records[0], out: join(out, `${name}.tif`), stderr: run.stderr, code: run.code }
}

test('range mode: a 512×512 window of a 4096×4096 COG moves under 3% of it in at most 3 requests', async () => {
  assert.ok(cogSize > 10e6, `the COG is ${cogSize} bytes`)
  // 64 tiles of 512×512: a window on the tile grid needs one (1/64 = 1.6%), one across it four (6.25%).
  for (const [name, window, share] of [['aligned', [1024, 1536, 512, 512], 0.03], ['unaligned', [1300, 1700, 512, 512], 4 / 64 + 0.01]] as const) {
    server.reset()
    const { rec, out, code, stderr } = await one(`range-${name}`, { window }, ['--fetch', 'range'])
    assert.equal(code, 0, stderr)
    assert.equal(rec.fetch, 'range')
    // The blocks stage is timed under its own name.
    for (const stage of ['fetch', 'open', 'blocks', 'read', 'write'] as const) assert.equal(typeof rec.ms[stage], 'number', `ms.${stage}`)
    const s = server.stats('big-cog.tif')
    assert.ok(s.requests <= 3, `${name}: ${s.requests} requests`)
    assert.ok(s.bytes < cogSize * share, `${name}: ${s.bytes} bytes of ${cogSize} (${(100 * s.bytes / cogSize).toFixed(2)}%)`)
    assert.equal(rec.bytes, s.bytes, 'the record counts exactly the body bytes the server sent')
    assert.equal(rec.attempts, s.requests)
    const ref = gdalTranslate(cogPath, ['-srcwin', ...window.map(String)], dir, `ref-${name}.tif`)
    assertSameRaster(out, ref, `range ${name}`)
  }
})

test('auto: range for the large COG, download for a small tile and for a server that ignores Range', async () => {
  server.reset()
  const cog = await one('auto-cog', { window: [0, 0, 512, 512] })
  assert.equal(cog.rec.fetch, 'range')
  assert.ok(server.stats('big-cog.tif').bytes < cogSize * 0.03)

  const tile = await runCli(['-o', join(dir, 'auto-tile')], { stdin: server.url('tile-rgb.png') + '\n' })
  assert.equal(tile.records[0].fetch, 'download')
  assert.equal(server.stats('tile-rgb.png').requests, 1, 'a small tile: the first request brought it all')

  server.reset()
  server.noRanges = true
  try {
    const whole = await one('auto-noranges', { window: [0, 0, 512, 512] })
    assert.equal(whole.rec.status, 'ok')
    assert.equal(whole.rec.fetch, 'download')
    assert.equal(server.stats('big-cog.tif').requests, 1, 'a server that ignores Range: one request, the download')
    assert.equal(whole.rec.bytes, cogSize)
  } finally {
    server.noRanges = false
  }
})

test('range faults: a 503 on a block request recovers; a truncated range is retried, never decoded', async () => {
  for (const [name, fault] of [['503', { kind: 'status', status: 503 }], ['truncated', { kind: 'truncate', after: 1000 }], ['reset', { kind: 'reset', after: 1000 }]] as const) {
    server.reset()
    // The first request (the probe) succeeds; the fault hits the block request after it.
    server.fault('big-cog.tif', { kind: 'delay', ms: 0 }, fault)
    const { rec, out, code, stderr } = await one(`fault-${name}`, { window: [2048, 2048, 512, 512] }, ['--fetch', 'range'])
    assert.equal(code, 0, stderr)
    assert.equal(rec.status, 'ok', JSON.stringify(rec))
    assert.equal(rec.fetch, 'range')
    assert.equal(server.stats('big-cog.tif').requests, 3, `${name}: probe, failed block request, retry`)
    const ref = gdalTranslate(cogPath, ['-srcwin', '2048', '2048', '512', '512'], dir, `ref-fault-${name}.tif`)
    assertSameRaster(out, ref, `after ${name}`)
  }
})

test('range faults: a 404 is an error record', async () => {
  const run = await runCli(['-o', join(dir, 'r404'), '--fetch', 'range'], { stdin: server.url('no-such.tif') + '\n', env: ENV })
  assert.equal(run.code, 1)
  assert.equal(run.records[0].error?.code, 'HTTP_404')
  assert.equal(server.stats('no-such.tif').requests, 1)
})

// The event loop's delay is a measurement, not a pass mark (it depends on the machine's load): it is
// reported here and measured against its target in bench/ (`make bench`, RESULTS.md).
test('a 20-COG range batch: all ok by ranges, with its event-loop delay reported in --stats', async (t) => {
  server.reset()
  const input = Array.from({ length: 20 }, (_, i) => JSON.stringify({ url: `${server.url('big-cog.tif')}?n=${i}`, window: [(i % 7) * 500, (i % 5) * 700, 512, 512] })).join('\n')
  const stats = join(dir, 'loop-stats.json')
  const run = await runCli(['-o', join(dir, 'loop'), '--fetch', 'range', '-c', '8', '--stats', stats], { stdin: input })
  assert.equal(run.code, 0, run.stderr)
  assert.ok(run.records.every((r) => r.fetch === 'range'))
  const s = JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
  assert.ok(Number.isFinite(s.event_loop_delay_ms.max) && Number.isFinite(s.event_loop_delay_ms.p99), 'the stats carry the event-loop delay')
  t.diagnostic(`event-loop delay max ${s.event_loop_delay_ms.max} ms, p99 ${s.event_loop_delay_ms.p99} ms`)
})

test('--out-size reads from an overview: fewer bytes than full resolution, equal to gdal_translate -outsize', async () => {
  server.reset()
  const small = await one('outsize', { window: [0, 0, 2048, 2048], out_size: [256, 256] }, ['--fetch', 'range'])
  assert.equal(small.code, 0, small.stderr)
  const smallBytes = server.stats('big-cog.tif').bytes
  server.reset()
  const full = await one('outsize-full', { window: [0, 0, 2048, 2048] }, ['--fetch', 'range'])
  assert.equal(full.code, 0, full.stderr)
  const fullBytes = server.stats('big-cog.tif').bytes
  assert.ok(smallBytes < fullBytes / 4, `out-size moved ${smallBytes} bytes, full resolution ${fullBytes}`)
  // rasterpipe pins the level: the most reduced one with at least 256 pixels across the 2048 window (512², index 2).
  const ref = gdalTranslate(cogPath, ['-srcwin', '0', '0', '2048', '2048', '-outsize', '256', '256', '-ovr', '2'], dir, 'ref-outsize.tif')
  assertSameRaster(small.out, ref, 'out-size 256 from 2048')
})

test('range mode never asks for an empty range: windows at the last rows of a striped TIFF (7-row strips) are ok', async () => {
  // The last strip ends at the file's last byte: its block padding past the end used to become
  // `Range: bytes=N-(N-1)`, answered 416 (or, by other servers, with the whole file).
  const striped = gdalTranslate(join(FIXTURES, 'uint16-striped.tif'), ['-co', 'BLOCKYSIZE=7', '-co', 'COMPRESS=NONE'], dir, 'striped7.tif')
  server.file('striped7.tif', readFileSync(striped))
  server.reset()
  const windows = Array.from({ length: 10 }, (_, i) => [0, 650 + i * 4, 100, 10 + i])
  assert.ok(windows.some(([, row, , height]) => row + height > 700), 'a window crosses the last row')
  const input = windows.map((window) => JSON.stringify({ url: server.url('striped7.tif'), window })).join('\n') + '\n'
  const out = join(dir, 'out-striped7')
  const run = await runCli(['-o', out, '--fetch', 'range', '-c', '1', '--no-progress'], { stdin: input, env: ENV })
  assert.equal(run.code, 0, run.stderr)
  for (const range of server.stats('striped7.tif').ranges) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(range)
    assert.ok(m && Number(m[2]) >= Number(m[1]), `an empty or inverted range was asked: ${range}`)
  }
  for (const r of run.records) {
    assert.equal(r.fetch, 'range')
    // The window the record reports (clipped to the raster's 700 rows), as gdal_translate reads it.
    const w = r.window as NonNullable<typeof r.window>
    const srcwin = [w.col, w.row, w.width, w.height].map(String)
    assertSameRaster(r.output as string, gdalTranslate(striped, ['-srcwin', ...srcwin], dir, `ref-striped7-${r.line}.tif`), `line ${r.line}`)
  }
})

test('--max-bytes limits what a record moves: a range read of a COG larger than it is ok; a download of it is refused before its body', async () => {
  assert.ok(cogSize > 10e6)
  for (const mode of ['range', 'auto']) {
    server.reset()
    const { rec, out, code, stderr } = await one(`maxbytes-${mode}`, { window: [1024, 1536, 512, 512] }, ['--fetch', mode, '--max-bytes', '5MB'])
    assert.equal(code, 0, stderr)
    assert.equal(rec.fetch, 'range')
    assert.ok(rec.bytes < 5e6, `${rec.bytes} bytes`)
    assertSameRaster(out, gdalTranslate(cogPath, ['-srcwin', '1024', '1536', '512', '512'], dir, `ref-maxbytes-${mode}.tif`), mode)
  }
  server.reset()
  const refused = await one('maxbytes-download', { window: [1024, 1536, 512, 512] }, ['--fetch', 'download', '--max-bytes', '5MB'])
  assert.equal(refused.rec.error?.code, 'TOO_LARGE')
  assert.equal(server.stats('big-cog.tif').requests, 1)
  assert.equal(refused.rec.bytes, 0, 'refused before its body')
  // A window whose blocks alone are over the limit is refused before they are fetched.
  server.reset()
  const tooBig = await one('maxbytes-window', { window: [0, 0, 4096, 4096] }, ['--fetch', 'range', '--max-bytes', '5MB', '--max-pixels', String(4096 * 4096)])
  assert.equal(tooBig.rec.error?.code, 'TOO_LARGE')
  assert.match(tooBig.rec.error?.message ?? '', /the window needs \d+ more bytes, over --max-bytes 5000000/)
  assert.ok(server.totalBytes() < 1e6, `${server.totalBytes()} bytes sent`)
})

test('two records needing the same tile at the same time make one request for it', async () => {
  server.reset()
  // Latency keeps the first block request in flight while the second record plans the same tile.
  server.latency = 150
  try {
    const record = JSON.stringify({ url: server.url('big-cog.tif'), window: [1024, 1536, 512, 512] })
    const run = await runCli(['-o', join(dir, 'same-block'), '--fetch', 'range', '-c', '2', '--no-progress'], {
      stdin: `${record}\n${JSON.stringify({ url: server.url('big-cog.tif'), window: [1024, 1536, 512, 512], out: 'second.tif' })}\n`, env: ENV
    })
    assert.equal(run.code, 0, run.stderr)
    const s = server.stats('big-cog.tif')
    assert.equal(new Set(s.ranges).size, s.ranges.length, `a range was asked twice: ${s.ranges.join(', ')}`)
    assert.equal(s.requests, 2, `the probe and one block request: ${s.ranges.join(', ')}`)
    for (const r of run.records) assertSameRaster(r.output as string, gdalTranslate(cogPath, ['-srcwin', '1024', '1536', '512', '512'], dir, 'ref-same-block.tif'), `line ${r.line}`)
  } finally {
    server.latency = 0
  }
})
