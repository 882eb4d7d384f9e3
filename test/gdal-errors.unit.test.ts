// GDAL's messages belong to records: a synchronous GDAL step on the main thread is followed by a read of
// GDAL's error state (lib/raster/gdal.ts checkedStep), so a failure GDAL only reported fails the step, and
// a warning is kept for the record. The full-disk case needs root to mount a tmpfs; it skips otherwise.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { checkedStep, loadGdal } from '../lib/raster/gdal.js'
import { scratch } from './support/run.js'

const gdal = loadGdal()
const dir = scratch('rp-gdalerr-')
let mounted = false
after(() => {
  if (mounted) execFileSync('umount', [dir], { stdio: 'pipe' })
  rmSync(dir, { recursive: true, force: true })
})

test('closing a TIFF on a full disk: close() returns, and checkedStep throws GDAL\'s write error', (t) => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' })
    mounted = true
  } catch {
    t.skip('cannot mount a tmpfs here (needs root)')
    return
  }
  const ds = gdal.drivers.get('GTiff').create(join(dir, 'x.tif'), 512, 512, 1, gdal.GDT_Byte)
  // 256 KiB of pixels, held in GDAL's block cache until the close writes them.
  ds.bands.get(1).pixels.write(0, 0, 512, 512, new Uint8Array(512 * 512).fill(7))
  const warnings: string[] = []
  assert.throws(() => checkedStep(gdal, warnings, () => ds.close()), /No space left on device/)
  assert.equal(gdal.lastError, null, 'GDAL\'s error state is left clear for the next step')
})

test('a synchronous step\'s warning goes to the record\'s warnings; no failure, no throw', () => {
  const mem = gdal.drivers.get('MEM').create('', 4, 4, 1, gdal.GDT_Int16)
  const path = `/vsimem/rp-gdal-errors-${process.pid}.png`
  const warnings: string[] = []
  try {
    checkedStep(gdal, warnings, () => gdal.drivers.get('PNG').createCopy(path, mem).close())
  } finally {
    mem.close()
    gdal.vsimem.release(path)
  }
  assert.equal(warnings.length, 1)
  assert.match(warnings[0], /^GDAL: PNG driver doesn't support data type Int16/)
  assert.equal(gdal.lastError, null)
})
