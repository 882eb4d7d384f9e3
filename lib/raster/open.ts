// The open stage: opens the local copy with GDAL (async, on the libuv pool), learns the source's shape,
// resolves the record's window against it, and plans how GDAL makes its pixels: a plain window (at the
// level out_size reads), a warp (lib/raster/warp.ts) or a stack of sources (lib/raster/stack.ts).
// Downloaded files open with an allow-list of single-file raster drivers, so that a file from the network
// cannot make GDAL read local files or other hosts (no VRT, WMS, WCS, MBTiles and the like).
import { RecordError } from '../core/errors.js'
import { closeDataset, type Dataset, type Gdal } from './gdal.js'
import type { Job, Opened, Overview, Plan, PointsPlan, ZonalPlan } from '../core/job.js'
import type { PixelWindow } from '../core/request.js'
import type { SourceInfo } from '../core/records.js'
import { crsName, resolveWindow, tooManyPixels, type CrsCatalog } from './window.js'
import { chooseOverview } from './overview.js'
import { windowBytes } from '../core/budget.js'
import { planExpr } from './band-math.js'
import { isWarp } from '../core/request.js'
import { overviewSizes, planWarp } from './warp.js'
import type { Slots } from '../core/slots.js'
import { openStack } from './stack.js'
import { mosaicBytes, mosaicMemoryWhy } from './mosaic.js'
import { openSeries } from './series.js'
import { option, words } from '../core/words.js'
import { driverByMagic, readHead } from './magic.js'
import { planPoints } from './points.js'
import { planZonal } from './zonal.js'
import { planStackValues, planStackWindow } from './stack-values.js'
import { keepValuesPlan, valuesWindowPlan } from './values-window.js'

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
  return (job) => gdalCalls.run(async () => {
    if (!job.parts) return await openStage(job)
    // A time series' points or zone: each source a values record of its own (lib/raster/series.ts).
    if ((job.points || job.zone) && job.mosaic) return await openSeries(job, openStage)
    const stack = await openStack({ gdal, crs, maxPixels, oneNodata }, job, openSource)
    // A mosaic holds its accumulators, not every source's pixels (lib/raster/mosaic.ts).
    if (job.mosaic) stack.bytes = mosaicBytes(job, stack)
    // Points or a zone on the stack's grid: each source planned to read only what they need.
    if (job.points || job.zone) job.plan = await planStackValues({ gdal, crs, maxPixels }, job, stack)
    // `out` or --write: the window is written too, as a stack of its own (lib/raster/stack-values.ts).
    if ((job.points || job.zone) && job.output !== undefined) {
      const values = job.plan as PointsPlan | ZonalPlan
      job.plan = await planStackWindow({ gdal, crs, maxPixels, oneNodata }, job, values)
      keepValuesPlan(job, values)
    }
    checkMemory(job, job.plan ?? stack)
  })

  /** Opens a record's local copy and learns its shape. */
  async function openSource (job: Job): Promise<Opened & { dataset: Dataset }> {
    const local = job.fetched?.local
    if (!local) throw new RecordError('open', 'NO_SOURCE', 'nothing was fetched')
    let ds: Dataset
    try {
      ds = local.downloaded
        ? await openAllowed(gdal, local.path, drivers, local.sparse ? 'GTiff' : driverByMagic(readHead(local.path), drivers))
        : await gdal.openAsync(local.path, 'r')
    } catch (err) {
      throw new RecordError('open', 'NOT_A_RASTER',
        `${job.url}: not a raster GDAL can read${local.downloaded ? ` with the allowed drivers (${drivers.join(', ')})` : ''}: ${(err as Error).message}`)
    }
    let source: SourceInfo
    let gt: number[] | null
    try {
      source = await describe(ds, job.url)
      // Idle and just opened, its geotransform read with the header: a synchronous get costs no I/O.
      gt = ds.geoTransform
    } catch (err) {
      // Not attached to the record: closed here (idle, its calls have returned).
      closeDataset(ds)
      throw err
    }
    const opened = { dataset: ds, source, georeferenced: gt !== null && !(gt[0] === 0 && gt[1] === 1 && gt[2] === 0 && gt[3] === 0 && gt[4] === 0 && gt[5] === 1) }
    job.opened = opened
    return opened
  }

  function checkMemory (job: Job, plan: Plan): void {
    planExpr(job, plan)
    if (plan.bytes > maxMemory) {
      throw new RecordError('open', 'OVER_MEMORY', words`window of ${plan.bytes} bytes (${job.mosaic && job.mosaic.method !== 'none' ? mosaicMemoryWhy(job) : `pixels × bands × ${job.parts ? 'each source\'s data type, summed over the sources' : job.opened?.source.dtype}`}) is over ${option('maxMemory')} ${maxMemory} bytes`)
    }
  }

  async function openStage (job: Job): Promise<void> {
    const opened = await openSource(job)
    if (job.points || job.zone) {
      // Point samples (their pixels and the block-sized reads under them) or a zone (the window of its bounds).
      const values = job.points
        ? await planPoints(gdal, crs, opened, job.points, job.request.bands)
        : await planZonal(gdal, crs, opened, job.zone as NonNullable<typeof job.zone>, job.request.bands, maxPixels)
      // `out` or --write: the window is written too, planned as a plain window's (lib/raster/values-window.ts).
      const plan = job.output !== undefined ? valuesWindowPlan(job, values, opened.source) : values
      job.plan = plan
      // A zone's window is the record's, as a window's is.
      if (plan.kind === 'window') opened.window = plan.window
      if (plan.kind === 'zonal' && plan.window) opened.window = plan.window
      checkMemory(job, plan)
      return
    }
    // The window is known from metadata alone, before any pixel (or, in range mode, any block) moves.
    const window = await resolveWindow(gdal, crs, opened, job.request, maxPixels)
    opened.window = window
    let plan: Plan
    if (isWarp(job.request)) {
      // The grid is known once gdalwarp has made it: the output's size is judged on it.
      plan = await planWarp({ gdal, crs, maxPixels }, job, opened, job.request, window)
      job.plan = plan
      if (plan.grid.width * plan.grid.height > maxPixels) throw tooManyPixels(plan.grid.width, plan.grid.height, maxPixels, 'open')
    } else {
      const r = job.request
      const overview = r.outSize ? await pinOverview(opened, window, r.outSize) : undefined
      const [width, height] = r.outSize ?? [window.width, window.height]
      plan = {
        kind: 'window',
        window,
        ...(r.bands ? { bands: r.bands } : {}),
        ...(r.outSize ? { outSize: r.outSize } : {}),
        ...(overview ? { overview } : {}),
        // The output window's pixel bytes: its size (or out_size) × the bands read × the data type's size.
        bytes: windowBytes(width, height, r.bands?.length ?? opened.source.count, opened.source.dtype)
      }
      job.plan = plan
    }
    checkMemory(job, plan)
  }
}

/** Chooses the level a resampled read will use (lib/overview.ts), so that range mode fetches that one. */
async function pinOverview (opened: Opened & { dataset: Dataset }, window: PixelWindow, outSize: readonly [number, number]): Promise<Overview | undefined> {
  const sizes = await overviewSizes(opened.dataset)
  const index = chooseOverview({ x: opened.source.width, y: opened.source.height }, sizes, window, outSize)
  return index !== null ? { index, width: sizes[index].x, height: sizes[index].y } : undefined
}

/**
 * A downloaded file opened with the one driver its first bytes name, else (no signature, or that driver
 * refuses it) with the other allowed drivers; never with a driver outside `drivers`. A refusal says the
 * named driver's reason, GDAL's own, rather than the list's "Error opening dataset".
 */
async function openAllowed (gdal: Gdal, path: string, drivers: string[], named: string | undefined): Promise<Dataset> {
  if (named === undefined) return await gdal.openAsync(path, 'r', drivers)
  try {
    // The driver's own open: gdal-async's with a list, even of one, hides GDAL's message.
    return await gdal.drivers.get(named).openAsync(path, 'r')
  } catch (err) {
    const others = drivers.filter((d) => d !== named)
    if (others.length === 0) throw err
    try {
      return await gdal.openAsync(path, 'r', others)
    } catch {
      throw err
    }
  }
}

/**
 * The source's shape, read from a dataset just opened and idle (no async call of it running): what GDAL
 * read with the header is got synchronously, the CRS (PROJ's database, I/O) on the pool.
 */
async function describe (ds: Dataset, url: string): Promise<SourceInfo> {
  const size = ds.rasterSize
  const count = ds.bands.count()
  if (count === 0) throw new RecordError('open', 'NO_BANDS', `${url}: the file has no raster bands`)
  if (!(size.x > 0 && size.y > 0) || size.x > MAX_SOURCE_SIDE || size.y > MAX_SOURCE_SIDE) {
    throw new RecordError('open', 'BAD_SIZE', `${url}: source of ${size.x}×${size.y} pixels is refused (at most ${MAX_SOURCE_SIDE} a side)`)
  }
  const dtype = ds.bands.get(1).dataType ?? 'Unknown'
  const srs = await ds.srsAsync
  return {
    driver: ds.driver.description,
    width: size.x,
    height: size.y,
    count,
    dtype,
    crs: srs ? crsName(srs) : null
  }
}
