// A mosaic record's pixels: its items' sources, each already planned onto the one grid (lib/raster/stack.ts),
// are made on that grid one at a time in a temp file (a window as gdal_translate -srcwin, a warp as gdalwarp
// with an alpha band marking what the source covers), read band by band and fed to the accumulators
// (lib/core/mosaic.ts), then let go: the memory held is the accumulators and one band. The combined bands
// go into one temp GTiff, and a VRT (lib/raster/stack-write.ts) names them, as a stack's are.
import { RecordError } from '../core/errors.js'
import { closeDataset, GMF_ALPHA, GMF_PER_DATASET, maskBeyondNodata, type Dataset, type Gdal } from './gdal.js'
import type { Job, StackPlan } from '../core/job.js'
import { Accumulator, accumulatorBytesPerPixel, type Combine } from '../core/mosaic.js'
import { sourceError } from '../core/each-source.js'
import { openDataset, outputNodata, outputScaleOffset, partBands } from './stack.js'
import { partArgs } from './plan.js'
import { unionType } from './data-types.js'
import { checkPart, gridWkt, openBands, tempFiles, type OutBand, type StackPixels } from './stack-write.js'
import type { TempDir } from '../core/tempdir.js'
import { spaceOr } from './disk-errors.js'
import { windowBytes } from '../core/budget.js'


/** Bytes per pixel a mosaic holds besides its accumulators: one band read (Float64), its validity and alpha, and one band's result. */
const WORKING_BYTES_PER_PIXEL = 8 + 1 + 1 + 8 + 1

/** The bands each of an item's sources gives (its `bands`, else all of the first item's), checked alike for every item. */
function bandsPerSource (job: Job): number[][] {
  const parts = job.parts ?? []
  const ask = job.mosaic
  if (!ask) return []
  const per = Array.from({ length: ask.per }, (_, a) => partBands(parts[a]))
  parts.forEach((part, i) => {
    const want = per[i % ask.per]
    const count = part.opened?.source.count ?? 0
    if (want.some((b) => b > count)) {
      throw sourceError(part, parts.length, new RecordError('open', 'BAD_BANDS', `${part.url}: has ${count} band${count === 1 ? '' : 's'}, where its mosaic's first item's source has ${want.length}`), 'open')
    }
  })
  return per
}

/**
 * A mosaic's bytes in the memory budget, replacing the stack's sum of its parts: its accumulators over the
 * grid (a median holds every item's values) and one band being read. A time series (`none`) is a stack.
 */
export function mosaicBytes (job: Job, plan: StackPlan): number {
  const ask = job.mosaic
  if (!ask || ask.method === 'none') return plan.bytes
  const bands = bandsPerSource(job).reduce((n, b) => n + b.length, 0)
  const pixels = plan.grid.width * plan.grid.height
  return pixels * (bands * accumulatorBytesPerPixel(ask.method, ask.count) + WORKING_BYTES_PER_PIXEL)
}

/** Why a mosaic is over --max-memory, for open's OVER_MEMORY message. */
export function mosaicMemoryWhy (job: Job): string {
  return `the ${job.mosaic?.method ?? ''} mosaic's accumulators (pixels × bands × ${job.mosaic?.method === 'median' ? 'its items × 8, a median holding every value' : 'up to 12'}, and one band read)`
}

/** Integer output types by the largest count they hold. */
function countType (items: number): string {
  return items <= 0xffff ? 'UInt16' : 'UInt32'
}

export async function mosaicPixels (gdal: Gdal, job: Job, plan: StackPlan, temp: TempDir): Promise<StackPixels> {
  const ask = job.mosaic
  if (!ask || ask.method === 'none') throw new RecordError('write', 'NO_PIXELS', 'not a mosaic')
  const method: Combine = ask.method
  const parts = job.parts ?? []
  const { width, height } = plan.grid
  const pixels = width * height
  let dataset: Dataset | undefined
  const { file, drop, dropAll } = tempFiles(temp, 'mosaic')
  const release = (): void => {
    closeDataset(dataset)
    dropAll()
  }
  try {
    const per = bandsPerSource(job)
    const accumulators = per.map((bands) => bands.map(() => new Accumulator(method, pixels, ask.count)))
    for (const [i, part] of parts.entries()) {
      const a = i % ask.per
      try {
        await addPart(gdal, part, per[a], accumulators[a], width, height, file('.tif'), drop)
      } catch (err) {
        const failed = err instanceof RecordError ? err : await spaceOr(temp.path, windowBytes(width, height, per[a].length, part.opened?.source.dtype ?? 'Float64'), new RecordError('write', 'READ_FAILED', (err as Error).message))
        throw sourceError(part, parts.length, failed, 'write')
      }
    }
    // The output's bands: one type for all; nodata the first item's (none: NaN for floats), a mean's or median's NaN.
    const firsts = parts.slice(0, ask.per)
    const dtype = method === 'count' ? countType(ask.count)
      : method === 'mean' || method === 'median' ? 'Float64'
        : unionType(parts.map((p) => p.opened?.source.dtype ?? 'Float64'))
    const out = file('.tif')
    const bands: OutBand[] = []
    const gtiff = gdal.drivers.get('GTiff')
    const ds = await gtiff.createAsync(out, width, height, per.reduce((n, b) => n + b.length, 0), dtype)
    try {
      ds.geoTransform = plan.grid.transform
      const wkt = gridWkt(gdal, plan.grid)
      if (wkt) ds.srs = gdal.SpatialReference.fromWKT(wkt)
      let index = 0
      for (const [a, read] of per.entries()) {
        const part = firsts[a]
        const src = openDataset(part)
        const entry = part.stackSource
        for (const [j, b] of read.entries()) {
          const band = await src.bands.getAsync(b)
          let nodata: number | null = method === 'count' ? null : method === 'mean' || method === 'median' ? NaN : await outputNodata(part, b)
          if (nodata === null && method !== 'count' && dtype.startsWith('Float')) nodata = NaN
          const { values, valid } = accumulators[a][j].result()
          const fill = nodata ?? 0
          for (let p = 0; p < pixels; p++) if (valid[p] === 0) values[p] = fill
          index++
          await (await ds.bands.getAsync(index)).pixels.writeAsync(0, 0, width, height, values)
          const { scale, offset } = await outputScaleOffset(part, b)
          bands.push({
            file: out,
            band: index,
            dtype,
            description: entry?.name !== undefined ? (read.length === 1 ? entry.name : `${entry.name}_${b}`) : await band.descriptionAsync,
            nodata,
            // A count is of values, not of the band's quantity: no scale or offset.
            scale: method === 'count' ? null : scale,
            offset: method === 'count' ? null : offset,
            interpretation: method === 'count' ? 'Undefined' : await band.colorInterpretationAsync ?? 'Undefined'
          })
        }
      }
      await ds.flushAsync()
    } finally {
      closeDataset(ds)
    }
    await checkPart(out, windowBytes(width, height, bands.length, dtype))
    dataset = await openBands(gdal, job, plan.grid, bands, file('.vrt'), 'mosaic')
    return { dataset, release }
  } catch (err) {
    release()
    throw err
  }
}

/**
 * One source on the grid, into `path` (let go once read), each of its bands added to its accumulator. A
 * value counts inside the source only (a window's part within the file, where the band's mask — per
 * dataset, alpha — says valid; a warp's where gdalwarp's alpha says, which honours those masks), and
 * where it is not the source's nodata (nor NaN).
 */
async function addPart (gdal: Gdal, part: Job, read: number[], accumulators: Accumulator[], width: number, height: number, path: string, drop: (path: string) => void): Promise<void> {
  const src = openDataset(part)
  const plan = part.plan
  if (!plan || (plan.kind !== 'window' && plan.kind !== 'warp')) throw new RecordError('write', 'NO_PIXELS', `${part.url}: the source was not planned`)
  const ds = plan.kind === 'window'
    ? await gdal.translateAsync(path, src, partArgs(plan))
    : await gdal.warpAsync(path, null, [plan.source ?? src], [...partArgs(plan), '-dstalpha'])
  try {
    const pixels = width * height
    const inside = new Uint8Array(pixels)
    // A window's part: the band's own mask over the file's pixels in the window (null: all valid there).
    let bandMask: ((b: number) => Promise<Uint8Array | null>) | undefined
    if (plan.kind === 'window') {
      // The file's own pixels within the window; past its edge, nothing (gdal_translate filled it).
      const { col, row } = plan.window
      const source = part.opened?.source
      const x0 = Math.max(0, -col)
      const x1 = Math.max(x0, Math.min(width, (source?.width ?? 0) - col))
      const y0 = Math.max(0, -row)
      const y1 = Math.max(y0, Math.min(height, (source?.height ?? 0) - row))
      for (let y = y0; y < y1; y++) inside.fill(1, y * width + x0, y * width + x1)
      // A per-dataset mask (or alpha) is every band's: read once for the part.
      let shared: Uint8Array | undefined
      bandMask = async (b) => {
        const band = await src.bands.getAsync(b)
        const maskBand = maskBeyondNodata(band)
        if (!maskBand || x1 === x0 || y1 === y0) return null
        const perDataset = (band.getMaskFlags() & GMF_PER_DATASET) !== 0
        if (perDataset && shared) return shared
        // Range mode fetched the bands read and the mask's own blocks; an alpha band not read, in a file
        // whose bands are stored apart, was not fetched: it would read as zeros (all masked).
        if ((band.getMaskFlags() & GMF_ALPHA) !== 0 && part.fetched?.local?.sparse && !read.includes(src.bands.count()) && src.getMetadata('IMAGE_STRUCTURE').INTERLEAVE === 'BAND') {
          throw new RecordError('write', 'READ_FAILED', `${part.url}: its alpha band masks the bands read, and range mode did not fetch it (the file stores its bands apart); read it with --fetch download, or with its alpha band in "bands"`)
        }
        const w = x1 - x0
        const h = y1 - y0
        const m = await maskBand.pixels.readAsync(col + x0, row + y0, w, h, new Uint8Array(w * h))
        const out = new Uint8Array(pixels)
        for (let y = 0; y < h; y++) out.set(m.subarray(y * w, (y + 1) * w), (y0 + y) * width + x0)
        if (perDataset) shared = out
        return out
      }
    } else {
      // gdalwarp's alpha (-dstalpha), the mask of every band: where the source gave a value, its masks,
      // alpha and nodata honoured. A source alpha band becomes it, so it is asked by mask, not by number.
      const alphaBand = (await ds.bands.getAsync(1)).getMaskBand()
      if (!alphaBand) throw new RecordError('write', 'READ_FAILED', `${part.url}: the warped source has no alpha to tell its pixels from the grid's`)
      const alpha = await alphaBand.pixels.readAsync(0, 0, width, height, new Uint8Array(pixels))
      for (let p = 0; p < pixels; p++) inside[p] = alpha[p] > 0 ? 1 : 0
    }
    const valid = new Uint8Array(pixels)
    const values = new Float64Array(pixels)
    for (const [j, b] of read.entries()) {
      const band = await ds.bands.getAsync(j + 1)
      await band.pixels.readAsync(0, 0, width, height, values)
      const own = await outputNodata(part, b)
      // GDAL compares a Float32 band's pixels with its nodata in Float32 (-9999.9 is stored as its fround).
      const nodata = own !== null && band.dataType === 'Float32' ? Math.fround(own) : own
      const mask = bandMask ? await bandMask(b) : null
      for (let p = 0; p < pixels; p++) valid[p] = inside[p] === 1 && (mask === null || mask[p] > 0) && values[p] !== nodata ? 1 : 0
      accumulators[j].add(values, valid)
    }
  } finally {
    closeDataset(ds)
    drop(path)
  }
}
