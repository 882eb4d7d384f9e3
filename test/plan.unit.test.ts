// A record's plan as GDAL's arguments (lib/raster/plan.ts), and the record's results let go by one call
// (lib/core/job.ts dropResults): the request and the outcome stay, every stage's result goes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { bandSelectArgs, gdalwarpArgs, partArgs, translateArgs, warpArgs } from '../lib/raster/plan.js'
import { dropResults, gridOf, makeJob, releaseLease, type Job, type WarpPlan, type WindowPlan } from '../lib/core/job.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { FIXTURES } from './support/run.js'

const window = { col: 10, row: 20, width: 30, height: 40 }
const grid = { crs: 'EPSG:32618', transform: [500000, 10, 0, 4200000, 0, -10], width: 30, height: 40 }

test('translateArgs: -srcwin, then a part\'s -a_nodata, the bands, and under out_size the pinned level (NONE: full resolution)', () => {
  const plain: WindowPlan = { kind: 'window', window, bytes: 0 }
  assert.deepEqual(translateArgs(plain, 'VRT'), ['-of', 'VRT', '-srcwin', '10', '20', '30', '40'])
  assert.deepEqual(translateArgs({ ...plain, bands: [3, 1], outSize: [15, 20] }, 'VRT'),
    ['-of', 'VRT', '-srcwin', '10', '20', '30', '40', '-b', '3', '-b', '1', '-outsize', '15', '20', '-ovr', 'NONE'])
  assert.deepEqual(translateArgs({ ...plain, outSize: [15, 20], overview: { index: 1, width: 256, height: 256 } }, 'VRT').slice(-2), ['-ovr', '1'])
  assert.deepEqual(partArgs({ ...plain, nodata: '255', bands: [2] }), ['-of', 'GTiff', '-srcwin', '10', '20', '30', '40', '-a_nodata', '255', '-b', '2'])
})

test('gdalwarpArgs: the target grid, the exact transformer, the pinned level, and alpha or nodata as gdalwarp starts a new file', () => {
  const te: [number, number, number, number] = [0, 0, 300, 400]
  assert.deepEqual(gdalwarpArgs({ window, boundless: false, dstCrs: 'EPSG:4326' }, 'EPSG:4326', te, null, false),
    ['-t_srs', 'EPSG:4326', '-te', '0', '0', '300', '400', '-r', 'near', '-et', '0', '-ovr', 'NONE', '-wo', 'INIT_DEST=NO_DATA'])
  assert.deepEqual(gdalwarpArgs({ window, boundless: false, res: [10, 10], tap: true, resampling: 'cubic' }, undefined, te, 2, true),
    ['-te', '0', '0', '300', '400', '-tr', '10', '10', '-tap', '-r', 'cubic', '-et', '0', '-ovr', '2', '-dstalpha', '-wo', 'INIT_DEST=0'])
  const warp: WarpPlan = { kind: 'warp', window, grid, footprint: { window }, args: ['-te', '0', '0', '1', '1'], bytes: 0 }
  assert.deepEqual(warpArgs(warp, 'MEM'), ['-of', 'MEM', '-te', '0', '0', '1', '1'])
  assert.deepEqual(partArgs(warp), ['-of', 'GTiff', '-te', '0', '0', '1', '1'])
  assert.deepEqual(bandSelectArgs([2, 3]), ['-of', 'VRT', '-b', '2', '-b', '3'])
})

test('a window plan\'s VRT over a real source holds the window\'s pixels, band by band as asked', async () => {
  const gdal = loadGdal()
  const src = gdal.open(join(FIXTURES, 'rgb-byte-tiled.tif'))
  try {
    const vrt = await gdal.translateAsync('', src, translateArgs({ kind: 'window', window, bands: [3, 1], bytes: 0 }, 'VRT'))
    try {
      assert.deepEqual(vrt.rasterSize, { x: 30, y: 40 })
      for (const [i, b] of [3, 1].entries()) {
        const want = src.bands.get(b).pixels.read(10, 20, 30, 40)
        assert.deepEqual(vrt.bands.get(i + 1).pixels.read(0, 0, 30, 40), want, `band ${i + 1} is the source's band ${b}`)
      }
    } finally {
      vrt.close()
    }
  } finally {
    src.close()
  }
})

test('dropResults: every stage\'s result goes (a stack\'s parts\' too); the request and the outcome stay', () => {
  const part = makeJob({ line: 3, url: 'http://example.invalid/b.tif', request: { window, boundless: false }, headers: {} })
  const job: Job = makeJob({ line: 3, url: 'http://example.invalid/a.tif', request: { window, boundless: false }, headers: { a: 'b' }, parts: [part] })
  let released = 0
  const results = (j: Job): void => {
    j.fetched = { kind: 'range' }
    j.opened = { source: { driver: 'GTiff', width: 1, height: 1, count: 1, dtype: 'Byte', crs: null }, georeferenced: true, window }
    j.plan = { kind: 'stack', grid, bytes: 8 }
    j.lease = { bytes: 8, release: () => { released++ } }
    j.written = { warnings: ['w'] }
  }
  results(job)
  results(part)
  job.bytes = 100
  job.attempts = 2
  job.sourceChanged = true
  assert.equal(gridOf(job.plan), grid)
  releaseLease(job)
  releaseLease(job)
  assert.equal(released, 1, 'a lease is given back once')
  dropResults(job)
  for (const j of [job, part]) {
    for (const key of ['fetched', 'opened', 'plan', 'lease', 'pixels', 'written']) assert.equal(key in j, false, `${key} dropped`)
  }
  assert.deepEqual([job.url, job.headers, job.request.window, job.bytes, job.attempts, job.sourceChanged], ['http://example.invalid/a.tif', { a: 'b' }, window, 100, 2, true])
  assert.equal(gridOf(job.plan), undefined)
})
