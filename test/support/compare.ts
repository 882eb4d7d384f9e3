// Compares an output of ours with gdal_translate's for the same request: pixels, geotransform (to 1e-9),
// CRS, data type, band count, nodata, colour interpretation and colour table.
import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import { loadGdal, type Dataset } from '../../lib/raster/gdal.js'

const gdal = loadGdal()

/** A value made once per key and kept for the file's later tests (a reference that depends on its request alone). */
export function memo<T> (): (key: string, make: () => T) => T {
  const made = new Map<string, T>()
  return (key, make) => {
    if (!made.has(key)) made.set(key, make())
    return made.get(key) as T
  }
}

/** Runs GDAL's own gdal_translate (the command-line tool) and returns the path it wrote. */
export function gdalTranslate (src: string, args: string[], dir: string, name: string): string {
  const out = join(dir, name)
  // Internal masks, as rasterpipe writes them: a .msk side file would not be seen by this process, which
  // (as rasterpipe) does not list directories on open.
  execFileSync('gdal_translate', ['-q', '--config', 'GDAL_TIFF_INTERNAL_MASK', 'YES', ...args, src, out], { stdio: ['ignore', 'ignore', 'pipe'] })
  return out
}

export interface ToolRun { code: number | null, stdout: string, stderr: string }

/**
 * Runs a GDAL tool without blocking the event loop: needed when the server it talks to (the S3 fixture)
 * lives in the test's own process.
 */
export async function gdalTool (tool: string, args: string[], env: Record<string, string> = {}): Promise<ToolRun> {
  return await new Promise((resolve, reject) => {
    const child = spawn(tool, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** gdal_translate from `src` (a /vsis3/ or /vsigs/ path) with `env`, asynchronously; fails on its error. */
export async function gdalTranslateAsync (src: string, args: string[], dir: string, name: string, env: Record<string, string>): Promise<string> {
  const out = join(dir, name)
  const run = await gdalTool('gdal_translate', ['-q', '--config', 'GDAL_TIFF_INTERNAL_MASK', 'YES', ...args, src, out], env)
  assert.equal(run.code, 0, `gdal_translate ${src}: ${run.stderr}`)
  return out
}

function pixels (ds: Dataset, b: number): ArrayLike<number> {
  const band = ds.bands.get(b)
  return band.pixels.read(0, 0, ds.rasterSize.x, ds.rasterSize.y) as ArrayLike<number>
}

export function assertSameRaster (ours: string, reference: string, what: string): void {
  const a = gdal.open(ours)
  const b = gdal.open(reference)
  try {
    assert.deepEqual(a.rasterSize, b.rasterSize, `${what}: size`)
    assert.equal(a.bands.count(), b.bands.count(), `${what}: band count`)
    const ga = a.geoTransform
    const gb = b.geoTransform
    assert.equal(ga === null, gb === null, `${what}: georeferenced`)
    if (ga && gb) ga.forEach((v, i) => assert.ok(Math.abs(v - gb[i]) <= 1e-9, `${what}: geotransform[${i}] ${v} != ${gb[i]}`))
    const sa = a.srs
    const sb = b.srs
    assert.equal(sa === null, sb === null, `${what}: CRS presence`)
    if (sa && sb) assert.ok(sa.isSame(sb), `${what}: CRS differs`)
    for (let i = 1; i <= a.bands.count(); i++) {
      const ba = a.bands.get(i)
      const bb = b.bands.get(i)
      assert.equal(ba.dataType, bb.dataType, `${what}: band ${i} data type`)
      assert.equal(ba.noDataValue, bb.noDataValue, `${what}: band ${i} nodata`)
      assert.equal(ba.colorInterpretation, bb.colorInterpretation, `${what}: band ${i} colour interpretation`)
      const ca = ba.colorTable
      const cb = bb.colorTable
      assert.equal(ca === null, cb === null, `${what}: band ${i} colour table presence`)
      if (ca && cb) assert.ok(ca.isSame(cb), `${what}: band ${i} colour table`)
      assert.equal(ba.scale, bb.scale, `${what}: band ${i} scale`)
      assert.equal(ba.offset, bb.offset, `${what}: band ${i} offset`)
      assert.equal(ba.description, bb.description, `${what}: band ${i} description`)
      assert.equal(ba.getMaskFlags(), bb.getMaskFlags(), `${what}: band ${i} mask flags`)
      if ((ba.getMaskFlags() & 0x01) === 0) {
        const ma = ba.getMaskBand()
        const mb = bb.getMaskBand()
        const { x, y } = a.rasterSize
        assert.deepEqual(ma?.pixels.read(0, 0, x, y), mb?.pixels.read(0, 0, x, y), `${what}: band ${i} mask pixels`)
      }
      const pa = pixels(a, i)
      const pb = pixels(b, i)
      assert.equal(pa.length, pb.length)
      for (let k = 0; k < pa.length; k++) {
        const x = pa[k]
        const y = pb[k]
        if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) {
          assert.fail(`${what}: band ${i} pixel ${k % a.rasterSize.x},${Math.floor(k / a.rasterSize.x)}: ${x} != ${y}`)
        }
      }
    }
  } finally {
    a.close()
    b.close()
  }
}

/**
 * Every overview of every band, and of its mask, equal in count, size and GDAL's checksum
 * (GDALChecksumImage, what gdalinfo -checksum prints): with assertSameRaster, the whole of a file with
 * overviews. Returns how many overview levels the reference has.
 */
export function assertSameOverviews (ours: string, reference: string, what: string): number {
  const a = gdal.open(ours)
  const b = gdal.open(reference)
  try {
    assert.equal(a.bands.count(), b.bands.count(), `${what}: band count`)
    const levels = (band: ReturnType<Dataset['bands']['get']>, name: string): Array<{ size: string, checksum: number }> =>
      Array.from({ length: band.overviews.count() }, (_, i) => {
        const ovr = band.overviews.get(i)
        return { size: `${name} overview ${i}: ${ovr.size.x}×${ovr.size.y}`, checksum: gdal.checksumImage(ovr) }
      })
    for (let i = 1; i <= b.bands.count(); i++) {
      const ba = a.bands.get(i)
      const bb = b.bands.get(i)
      assert.deepEqual(levels(ba, `band ${i}`), levels(bb, `band ${i}`), `${what}: band ${i} overviews`)
      assert.equal(ba.getMaskFlags(), bb.getMaskFlags(), `${what}: band ${i} mask flags`)
      const ma = ba.getMaskBand()
      const mb = bb.getMaskBand()
      if (ma && mb && (bb.getMaskFlags() & 0x01) === 0) assert.deepEqual(levels(ma, `band ${i} mask`), levels(mb, `band ${i} mask`), `${what}: band ${i} mask overviews`)
    }
    return b.bands.get(1).overviews.count()
  } finally {
    a.close()
    b.close()
  }
}

/** Runs GDAL's own gdalwarp (the command-line tool) and returns the path it wrote. */
export function gdalWarp (src: string, args: string[], dir: string, name: string): string {
  const out = join(dir, name)
  execFileSync('gdalwarp', ['-q', '-overwrite', '--config', 'GDAL_TIFF_INTERNAL_MASK', 'YES', ...args, src, out], { stdio: ['ignore', 'ignore', 'pipe'] })
  return out
}

export interface Difference { max: number, pixels: number }

/**
 * As assertSameRaster, but pixels may differ by `tolerance` (absolute for integer types, relative for
 * floats): the largest difference and how many pixels differ, for the test to report.
 */
export function assertNearRaster (ours: string, reference: string, what: string, tolerance: number, interpretation = false): Difference {
  const a = gdal.open(ours)
  const b = gdal.open(reference)
  const found: Difference = { max: 0, pixels: 0 }
  try {
    assert.deepEqual(a.rasterSize, b.rasterSize, `${what}: size`)
    assert.equal(a.bands.count(), b.bands.count(), `${what}: band count`)
    const ga = a.geoTransform as number[]
    const gb = b.geoTransform as number[]
    ga.forEach((v, i) => assert.ok(Math.abs(v - gb[i]) <= 1e-9, `${what}: geotransform[${i}] ${v} != ${gb[i]}`))
    assert.ok(a.srs?.isSame(b.srs as NonNullable<typeof b.srs>), `${what}: CRS differs`)
    for (let i = 1; i <= a.bands.count(); i++) {
      const ba = a.bands.get(i)
      const bb = b.bands.get(i)
      assert.equal(ba.dataType, bb.dataType, `${what}: band ${i} data type`)
      assert.equal(ba.noDataValue, bb.noDataValue, `${what}: band ${i} nodata`)
      if (interpretation) assert.equal(ba.colorInterpretation, bb.colorInterpretation, `${what}: band ${i} colour interpretation`)
      assert.equal(ba.colorTable === null, bb.colorTable === null, `${what}: band ${i} colour table presence`)
      const float = (ba.dataType ?? '').startsWith('Float')
      const pa = pixels(a, i)
      const pb = pixels(b, i)
      for (let k = 0; k < pa.length; k++) {
        const x = pa[k]
        const y = pb[k]
        if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue
        const d = float ? Math.abs(x - y) / Math.max(1, Math.abs(y)) : Math.abs(x - y)
        found.pixels++
        found.max = Math.max(found.max, d)
        if (!(d <= tolerance)) assert.fail(`${what}: band ${i} pixel ${k % a.rasterSize.x},${Math.floor(k / a.rasterSize.x)}: ${x} != ${y}`)
      }
    }
  } finally {
    a.close()
    b.close()
  }
  return found
}
