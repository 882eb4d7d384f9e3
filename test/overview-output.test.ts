// Outputs that copy the source's overviews: gdal_translate -of COG (and GTiff with COPY_SRC_OVERVIEWS=YES)
// of a window of a source with overviews writes the window's overviews from the source's, so a range read
// must hold the blocks of every overview under the window too, not only those of the level it reads.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { runCli, scratch } from './support/run.js'
import { assertSameOverviews, assertSameRaster, gdalTranslate } from './support/compare.js'
import { makeNoisyTiff } from '../bench/data.js'
import { copiesOverviews, mergeCreationOptions } from '../lib/raster/formats.js'
import type { ResultRecord } from '../lib/core/records.js'

let server: RasterServer
let dir: string
const ENV = { RASTERPIPE_RETRY_BASE_MS: '20' }

/** A COG made by GDAL's own tool from a noisy GTiff (its overviews are the COG driver's). */
function makeCog (name: string, side: number, args: string[]): string {
  const noisy = makeNoisyTiff(dir, `${name}-src.tif`, side, 3, ['TILED=YES', 'COMPRESS=DEFLATE'])
  const path = join(dir, name)
  execFileSync('gdal_translate', ['-q', '-of', 'COG', ...args, noisy, path], { stdio: ['ignore', 'ignore', 'pipe'] })
  rmSync(noisy)
  return path
}

before(async () => {
  dir = scratch()
  // 4096² in 512² DEFLATE tiles: overviews of 2048², 1024² and 512².
  makeCog('deflate.tif', 4096, ['-co', 'COMPRESS=DEFLATE', '-co', 'BLOCKSIZE=512'])
  // Uncompressed: a block never fetched reads as zeros, not as an error. Then with an internal mask (from
  // band 3), whose levels the COG driver writes DEFLATE-compressed.
  makeCog('raw.tif', 3072, ['-b', '1', '-b', '2', '-co', 'COMPRESS=NONE', '-co', 'BLOCKSIZE=256'])
  makeCog('raw-mask.tif', 3072, ['-b', '1', '-b', '2', '-mask', '3', '-co', 'COMPRESS=NONE', '-co', 'BLOCKSIZE=256'])
  server = await startServer(dir)
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Case { name: string, source: string, window: [number, number, number, number], fetch: 'range' | 'auto', format: 'COG' | 'GTiff', co?: string[] }

/** One record as rasterpipe runs it, and gdal_translate of the local file's same window with the same creation options. */
async function compare (c: Case): Promise<{ rec: ResultRecord, share: number }> {
  server.reset()
  const out = join(dir, `out-${c.name}`)
  const run = await runCli(['-o', out, '--format', c.format, '--fetch', c.fetch, ...(c.co ?? []).flatMap((o) => ['--co', o])],
    { stdin: JSON.stringify({ url: server.url(c.source), window: c.window, out: 'x.tif' }) + '\n', env: ENV })
  assert.equal(run.records.length, 1, run.stderr)
  const rec = run.records[0]
  assert.equal(rec.status, 'ok', `${c.name}: ${JSON.stringify(rec.error)}`)
  assert.equal(run.code, 0, run.stderr)
  assert.equal(rec.fetch, 'range', `${c.name}: read by ranges`)
  const local = join(dir, c.source)
  const options = mergeCreationOptions(c.format, c.co ?? []).flatMap((o) => ['-co', o])
  const ref = gdalTranslate(local, ['-of', c.format, ...options, '-srcwin', ...c.window.map(String)], dir, `ref-${c.name}.tif`)
  assertSameRaster(join(out, 'x.tif'), ref, c.name)
  const levels = assertSameOverviews(join(out, 'x.tif'), ref, c.name)
  assert.ok(levels > 0, `${c.name}: gdal_translate's output has overviews (${levels})`)
  return { rec, share: server.stats(c.source).bytes / statSync(local).size }
}

test('--format COG of 2048×2048 windows of a DEFLATE COG with overviews, by range and auto: ok, every band and overview equal to gdal_translate -of COG, under half the file moved', async (t) => {
  for (const c of [
    { name: 'cog-range', source: 'deflate.tif', window: [1024, 1024, 2048, 2048], fetch: 'range', format: 'COG' },
    { name: 'cog-auto', source: 'deflate.tif', window: [1000, 700, 2048, 2048], fetch: 'auto', format: 'COG' }
  ] satisfies Case[]) {
    const { share } = await compare(c)
    t.diagnostic(`${c.name}: ${(100 * share).toFixed(1)}% of the file moved`)
    assert.ok(share < 0.5, `${c.name}: ${(100 * share).toFixed(1)}% of the file moved`)
  }
})

test('outputs that copy overviews from uncompressed COGs, with and without a mask (COG; GTiff with COPY_SRC_OVERVIEWS=YES): every overview and mask overview equal to gdal_translate, no unfetched block read as zeros', async (t) => {
  for (const c of [
    { name: 'raw-cog', source: 'raw.tif', window: [700, 500, 1024, 1024], fetch: 'range', format: 'COG' },
    { name: 'raw-mask-cog', source: 'raw-mask.tif', window: [700, 500, 1024, 1024], fetch: 'range', format: 'COG' },
    { name: 'raw-mask-gtiff', source: 'raw-mask.tif', window: [700, 500, 1024, 1024], fetch: 'auto', format: 'GTiff', co: ['COPY_SRC_OVERVIEWS=YES'] },
    // The COG driver builds its own overviews from full resolution: no overview block is fetched, and none is needed.
    { name: 'raw-cog-ignore', source: 'raw.tif', window: [700, 500, 1024, 1024], fetch: 'range', format: 'COG', co: ['OVERVIEWS=IGNORE_EXISTING'] }
  ] satisfies Case[]) {
    const { share } = await compare(c)
    t.diagnostic(`${c.name}: ${(100 * share).toFixed(1)}% of the file moved`)
    assert.ok(share < 0.5, `${c.name}: ${(100 * share).toFixed(1)}% of the file moved`)
  }
})

test('copiesOverviews: COG unless OVERVIEWS=NONE or IGNORE_EXISTING, GTiff with COPY_SRC_OVERVIEWS true as GDAL reads it, KEA; no other format', () => {
  const cases: Array<[string, string[], boolean]> = [
    ['COG', ['COMPRESS=DEFLATE'], true],
    ['COG', ['OVERVIEWS=FORCE_USE_EXISTING'], true],
    ['COG', ['overviews=none'], false],
    ['COG', ['OVERVIEWS=IGNORE_EXISTING'], false],
    ['COG', ['OVERVIEWS=NONE', 'OVERVIEWS=AUTO'], true],
    ['GTiff', ['TILED=YES'], false],
    ['GTiff', ['COPY_SRC_OVERVIEWS=YES'], true],
    ['GTiff', ['copy_src_overviews=on'], true],
    ['GTiff', ['COPY_SRC_OVERVIEWS=NO'], false],
    ['GTiff', ['COPY_SRC_OVERVIEWS=0'], false],
    ['KEA', [], true],
    ['GPKG', [], false],
    ['PNG', [], false]
  ]
  for (const [format, options, expected] of cases) assert.equal(copiesOverviews(format, options), expected, `${format} ${options.join(' ')}`)
})
