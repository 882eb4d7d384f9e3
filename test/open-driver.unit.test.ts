// Unit tests of the one-driver open: which driver a downloaded file's first bytes name, and the open stage
// opening with that driver alone, falling back to the allow-list, never outside it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { driverByMagic, readHead } from '../lib/raster/magic.js'
import { allowedDrivers, createOpener, RASTER_DRIVERS } from '../lib/raster/open.js'
import { closeJobDatasets, loadGdal } from '../lib/raster/gdal.js'
import { CrsCatalog } from '../lib/raster/window.js'
import { Slots } from '../lib/core/slots.js'
import { RecordError } from '../lib/core/errors.js'
import type { Job } from '../lib/core/job.js'
import { FIXTURES, scratch } from './support/run.js'
import { bareJob } from './support/unit.js'

const gdal = loadGdal()
let dir: string

before(() => { dir = scratch('rp-open-driver-') })
after(() => { rmSync(dir, { recursive: true, force: true }) })

const bytes = (...parts: Array<number[] | string>): Uint8Array =>
  Buffer.concat(parts.map((p) => typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p)))

test('the signature names its driver: TIFF and BigTIFF in either byte order, PNG, JPEG, WebP', () => {
  const all = RASTER_DRIVERS
  for (const magic of ['II*\0', 'MM\0*', 'II+\0', 'MM\0+']) assert.equal(driverByMagic(bytes(magic, [0, 0, 0, 8]), all), 'GTiff', JSON.stringify(magic))
  assert.equal(driverByMagic(bytes([0x89], 'PNG\r\n\x1a\n', [0, 0, 0, 13]), all), 'PNG')
  assert.equal(driverByMagic(bytes([0xff, 0xd8, 0xff, 0xe0]), all), 'JPEG')
  assert.equal(driverByMagic(bytes('RIFF', [1, 2, 3, 4], 'WEBPVP8 '), all), 'WEBP')
})

test('no driver is named for other bytes, a short head, or a driver outside the allowed list', () => {
  const all = RASTER_DRIVERS
  assert.equal(driverByMagic(bytes('<VRTDataset>'), all), undefined)
  assert.equal(driverByMagic(bytes('II*'), all), undefined, 'three bytes of a four-byte signature')
  assert.equal(driverByMagic(bytes('II*\0'), all), 'GTiff', 'the signature alone is enough to name it')
  assert.equal(driverByMagic(bytes('RIFF', [1, 2, 3, 4], 'WAVEfmt '), all), undefined, 'a RIFF that is not WebP')
  assert.equal(driverByMagic(bytes('II*\0', [0, 0, 0, 8]), ['PNG', 'JPEG']), undefined)
  assert.equal(driverByMagic(new Uint8Array(0), all), undefined)
})

test('readHead: the first bytes of a file, nothing of a missing one', () => {
  assert.equal(driverByMagic(readHead(join(FIXTURES, 'int16-small.tif')), RASTER_DRIVERS), 'GTiff')
  assert.equal(driverByMagic(readHead(join(FIXTURES, 'tile-rgb.png')), RASTER_DRIVERS), 'PNG')
  assert.equal(readHead(join(dir, 'missing')).length, 0)
  writeFileSync(join(dir, 'tiny'), 'MM')
  assert.deepEqual([...readHead(join(dir, 'tiny'))], [0x4d, 0x4d])
})

/** The open stage run on a local file, as a download (so with the allow-list). */
async function openDownloaded (path: string): Promise<Job> {
  const open = createOpener({ gdal, crs: new CrsCatalog(gdal), maxPixels: 1e8, maxMemory: 1e9, gdalCalls: new Slots(1), oneNodata: true })
  const job = bareJob(1, { request: { window: { col: 0, row: 0, width: 8, height: 8 }, boundless: false } })
  job.fetched = { kind: 'download', local: { path, downloaded: true, release: async () => undefined } }
  await open(job)
  return job
}

test('downloaded files open with the driver their signature names, and describe as before', async () => {
  for (const [name, driver] of [['int16-small.tif', 'GTiff'], ['tile-rgb.png', 'PNG']]) {
    const job = await openDownloaded(join(FIXTURES, name))
    try {
      assert.equal(job.opened?.source.driver, driver, name)
      const ds = job.opened?.dataset
      assert.ok(ds)
      assert.deepEqual([job.opened?.source.width, job.opened?.source.height], [ds.rasterSize.x, ds.rasterSize.y])
      assert.equal(job.opened?.source.count, ds.bands.count())
    } finally {
      closeJobDatasets(job)
    }
  }
})

test('a file with no signature still opens with an allowed driver (the list is tried)', async () => {
  // A GIF: no signature of ours names it; the list's GIF driver opens it.
  const gif = join(dir, 'small.gif')
  assert.ok(allowedDrivers(gdal).includes('GIF'))
  const png = gdal.open(join(FIXTURES, 'tile-rgb.png'))
  gdal.translate(gif, png, ['-of', 'GIF', '-b', '1']).close()
  png.close()
  const job = await openDownloaded(gif)
  try {
    assert.equal(job.opened?.source.driver, 'GIF')
  } finally {
    closeJobDatasets(job)
  }
})

test('a file its named driver refuses (and no other allowed driver reads) is NOT_A_RASTER with that driver\'s reason', async () => {
  const broken = join(dir, 'broken.tif')
  writeFileSync(broken, Buffer.concat([Buffer.from('II*\0', 'latin1'), Buffer.from([0xff, 0xff, 0xff, 0x7f]), Buffer.alloc(64)]))
  await assert.rejects(openDownloaded(broken), (err: unknown) => {
    assert.ok(err instanceof RecordError)
    assert.equal(err.code, 'NOT_A_RASTER')
    assert.match(err.message, /not a raster GDAL can read with the allowed drivers/)
    assert.match(err.message, /TIFFReadDirectory/, 'libtiff\'s own reason, not the list\'s "Error opening dataset"')
    return true
  })
})

test('the allow-list holds: a VRT (no signature of ours) that GDAL alone would open is refused', async () => {
  const vrt = join(dir, 'evil.tif')
  copyFileSync(join(FIXTURES, 'int16-small.tif'), join(dir, 'inner.tif'))
  const inner = gdal.open(join(dir, 'inner.tif'))
  gdal.translate(vrt, inner, ['-of', 'VRT']).close()
  inner.close()
  const plain = gdal.open(vrt)
  assert.equal(plain.driver.description, 'VRT')
  plain.close()
  assert.ok(!allowedDrivers(gdal).includes('VRT'))
  await assert.rejects(openDownloaded(vrt), (err: unknown) => err instanceof RecordError && err.code === 'NOT_A_RASTER')
})
