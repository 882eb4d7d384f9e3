// The open stage: opens the local copy with GDAL (async, on the libuv pool), learns the source's shape,
// and resolves the record's window against it.
// Downloaded files open with an allow-list of single-file raster drivers, so that a file from the network
// cannot make GDAL read local files or other hosts (no VRT, WMS, WCS, MBTiles and the like).
import { RecordError } from '../core/errors.js'
import type { Dataset, Gdal } from './gdal.js'
import type { Job } from '../core/job.js'
import type { SourceInfo } from '../core/records.js'
import { crsName, resolveWindow, tooManyPixels, type CrsCatalog } from './window.js'
import { chooseOverview } from './overview.js'
import { windowBytes } from '../core/budget.js'
import { isWarp } from '../core/request.js'
import { prepareWarp } from './warp.js'
import type { Slots } from '../core/slots.js'
import { openStack } from './stack.js'
import { option, words } from '../core/words.js'

export const RASTER_DRIVERS = ['GTiff', 'PNG', 'JPEG', 'GIF', 'WEBP', 'BMP', 'JP2OpenJPEG', 'HFA']

/** Sides longer than this are not a real raster but a hostile or broken header. */
export const MAX_SOURCE_SIDE = 10_000_000

export function allowedDrivers (gdal: Gdal): string[] {
  const present = new Set(gdal.drivers.getNames())
  return RASTER_DRIVERS.filter((d) => present.has(d))
}

export interface OpenContext {
  gdal: Gdal
  crs: CrsCatalog
  maxPixels: number
  /** --max-memory: a window whose pixels can never fit is refused here, before any block is fetched. */
  maxMemory: number
  /** The run's share of libuv's pool for GDAL: every GDAL call of the stage runs in one slot. */
  gdalCalls: Slots
  /** The output format keeps one nodata value for all bands (GTiff, COG): a stack's bands must agree. */
  oneNodata: boolean
}

export function createOpener ({ gdal, crs, maxPixels, maxMemory, gdalCalls, oneNodata }: OpenContext): (job: Job) => Promise<void> {
  const drivers = allowedDrivers(gdal)

  // A multi-source record opens each of its sources and plans them onto one grid (lib/raster/stack.ts).
  return (job) => gdalCalls.run(() => job.parts ? openStack({ gdal, crs, maxPixels, oneNodata }, job, openSource).then(() => checkMemory(job)) : openStage(job))

  /** Opens a record's local copy and learns its shape. */
  async function openSource (job: Job): Promise<Dataset> {
    const local = job.local
    if (!local) throw new RecordError('open', 'NO_SOURCE', 'nothing was fetched')
    let ds: Dataset
    try {
      ds = local.downloaded
        ? await gdal.openAsync(local.path, 'r', drivers)
        : await gdal.openAsync(local.path, 'r')
    } catch (err) {
      throw new RecordError('open', 'NOT_A_RASTER',
        `${job.url}: not a raster GDAL can read${local.downloaded ? ` with the allowed drivers (${drivers.join(', ')})` : ''}: ${(err as Error).message}`)
    }
    job.dataset = ds
    job.source = await describe(ds, job.url)
    const gt = await ds.geoTransformAsync
    job.georeferenced = gt !== null && !(gt[0] === 0 && gt[1] === 1 && gt[2] === 0 && gt[3] === 0 && gt[4] === 0 && gt[5] === 1)
    return ds
  }

  function checkMemory (job: Job): void {
    if ((job.memoryBytes ?? 0) > maxMemory) {
      throw new RecordError('open', 'OVER_MEMORY', words`window of ${job.memoryBytes} bytes (pixels × bands × ${job.parts ? 'each source\'s data type, summed over the sources' : job.source?.dtype}) is over ${option('maxMemory')} ${maxMemory} bytes`)
    }
  }

  async function openStage (job: Job): Promise<void> {
    const ds = await openSource(job)
    // The window is known from metadata alone, before any pixel (or, in range mode, any block) moves.
    job.window = await resolveWindow(gdal, crs, job, maxPixels)
    if (isWarp(job.request)) {
      // The grid is known once gdalwarp has made it: the output's size is judged on it.
      await prepareWarp({ gdal, crs, maxPixels }, job)
      const grid = job.grid as NonNullable<Job['grid']>
      if (grid.width * grid.height > maxPixels) throw tooManyPixels(grid.width, grid.height, maxPixels, 'open')
      const pixels = job.pixels as Dataset
      job.memoryBytes = windowBytes(grid.width, grid.height, await pixels.bands.countAsync(), (job.source as SourceInfo).dtype)
    } else {
      await pinOverview(ds, job)
      job.memoryBytes = pixelBytes(job)
    }
    checkMemory(job)
  }
}

/** The output window's pixel bytes: its size (or out_size) × the bands read × the data type's size. */
function pixelBytes (job: Job): number {
  const window = job.window as NonNullable<Job['window']>
  const source = job.source as NonNullable<Job['source']>
  const [width, height] = job.request.outSize ?? [window.width, window.height]
  return windowBytes(width, height, job.request.bands?.length ?? source.count, source.dtype)
}

/** Chooses the level a resampled read will use (lib/overview.ts), so that range mode fetches that one. */
async function pinOverview (ds: Dataset, job: Job): Promise<void> {
  const outSize = job.request.outSize
  const window = job.window
  if (!outSize || !window || !job.source) return
  const overviews = (await ds.bands.getAsync(1)).overviews
  const sizes = []
  for (let i = 0, n = await overviews.countAsync(); i < n; i++) sizes.push(await (await overviews.getAsync(i)).sizeAsync)
  const index = chooseOverview({ x: job.source.width, y: job.source.height }, sizes, window, outSize)
  if (index !== null) job.overview = { index, width: sizes[index].x, height: sizes[index].y }
}

async function describe (ds: Dataset, url: string): Promise<SourceInfo> {
  const size = await ds.rasterSizeAsync
  const count = await ds.bands.countAsync()
  if (count === 0) throw new RecordError('open', 'NO_BANDS', `${url}: the file has no raster bands`)
  if (!(size.x > 0 && size.y > 0) || size.x > MAX_SOURCE_SIDE || size.y > MAX_SOURCE_SIDE) {
    throw new RecordError('open', 'BAD_SIZE', `${url}: source of ${size.x}×${size.y} pixels is refused (at most ${MAX_SOURCE_SIDE} a side)`)
  }
  const band = await ds.bands.getAsync(1)
  const srs = await ds.srsAsync
  return {
    driver: ds.driver.description,
    width: size.x,
    height: size.y,
    count,
    dtype: (await band.dataTypeAsync) ?? 'Unknown',
    crs: srs ? crsName(srs) : null
  }
}
