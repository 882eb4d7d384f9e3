// Round trips per record under --fetch auto, counted by the loopback server: a file of at most 1 MiB in
// one request; a window of a COG in at most 3 cold (first request, directories past it, blocks) and 1 warm
// with --cache-dir (its blocks).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { runCli, scratch } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { makeNoisyTiff } from '../bench/data.js'

let server: RasterServer
let dir: string
const small: { name: string, path: string }[] = []
let cogPath: string
const COGS = 4

before(async () => {
  dir = scratch()
  server = await startServer()
  // Tiled and stripped, compressed and not; the last just under 1 MiB.
  const kinds: [number, number, string[]][] = [
    [256, 3, ['COMPRESS=DEFLATE', 'TILED=YES']], [300, 1, []], [512, 3, ['COMPRESS=DEFLATE']], [590, 3, []]
  ]
  for (const [i, [side, bands, options]] of kinds.entries()) {
    const path = makeNoisyTiff(dir, `small-${i}.tif`, side, bands, options)
    assert.ok(statSync(path).size <= 1024 * 1024, `${path}: ${statSync(path).size} bytes`)
    small.push({ name: `small-${i}.tif`, path })
    server.file(`small-${i}.tif`, readFileSync(path))
  }
  cogPath = makeNoisyTiff(dir, 'cog.tif', 2048, 1, ['COMPRESS=DEFLATE', 'BLOCKSIZE=256'], 'COG')
  assert.ok(statSync(cogPath).size > 2 * 1024 * 1024, `the COG is ${statSync(cogPath).size} bytes`)
  for (let i = 0; i < COGS; i++) server.file(`cog-${i}.tif`, readFileSync(cogPath))
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

test('auto: each file of at most 1 MiB is one request', async () => {
  server.reset()
  const input = small.map(({ name }) => JSON.stringify({ url: server.url(name), window: [10, 20, 200, 150], out: name })).join('\n') + '\n'
  const run = await runCli(['-o', join(dir, 'small-out'), '-c', '2'], { stdin: input })
  assert.equal(run.code, 0, run.stderr)
  assert.equal(run.records.length, small.length)
  for (const { name, path } of small) {
    assert.equal(server.stats(name).requests, 1, `${name}: ${server.stats(name).ranges.join(', ')}`)
    assert.equal(server.stats(name).bytes, statSync(path).size)
    assertSameRaster(join(dir, 'small-out', name), gdalTranslate(path, ['-srcwin', '10', '20', '200', '150'], dir, `ref-${name}`), name)
  }
  for (const rec of run.records) assert.equal(rec.fetch, 'download')
})

test('auto: a window of a COG is at most 3 requests cold, 1 warm with --cache-dir; the first request to the host shrinks once its COGs are known', async () => {
  const cache = join(dir, 'cache')
  // Inside one 256² tile: its blocks are one range.
  const window = [778, 1034, 200, 200]
  // One record at a time, so each learns from the ones before.
  const input = Array.from({ length: COGS }, (_, i) => JSON.stringify({ url: server.url(`cog-${i}.tif`), window, out: `w${i}.tif` })).join('\n') + '\n'
  const ref = gdalTranslate(cogPath, ['-srcwin', ...window.map(String)], dir, 'ref-cog.tif')
  for (const [run, most] of [['cold', 3], ['warm', 1]] as const) {
    server.reset()
    const out = join(dir, `cog-${run}`)
    const r = await runCli(['-o', out, '-c', '1', '--cache-dir', cache], { stdin: input })
    assert.equal(r.code, 0, r.stderr)
    for (let i = 0; i < COGS; i++) {
      const s = server.stats(`cog-${i}.tif`)
      assert.ok(s.requests >= 1 && s.requests <= most, `${run} cog-${i}: ${s.requests} requests (${s.ranges.join(', ')})`)
      if (run === 'warm') assert.equal(s.requests, 1)
      assertSameRaster(join(out, `w${i}.tif`), ref, `${run} cog-${i}`)
    }
    for (const rec of r.records) assert.equal(rec.fetch, 'range')
    if (run === 'cold') {
      // The first asked for a MiB; the next, knowing the host's COGs, for no more than their headers need, twice over.
      assert.equal(server.stats('cog-0.tif').ranges[0], `bytes=0-${1024 * 1024 - 1}`)
      const next = /^bytes=0-(\d+)$/.exec(server.stats('cog-1.tif').ranges[0])
      assert.ok(next && Number(next[1]) + 1 < 1024 * 1024, `cog-1's first request: ${server.stats('cog-1.tif').ranges[0]}`)
    }
  }
})
