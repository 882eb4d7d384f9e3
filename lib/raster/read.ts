// The read stage: takes the plan's pixel bytes from the memory budget (the record's lease, held until
// written) and, for a plain window, makes it a VRT over the source by GDAL's own translate, which keeps
// what gdal_translate keeps (types, nodata, colours, scale, masks). The write stage's copy reads its pixels.
import { RecordError } from '../core/errors.js'
import type { Gdal } from './gdal.js'
import { releaseLease, type Job } from '../core/job.js'
import { translateArgs } from './plan.js'
import { readValues } from './read-values.js'
import { valuesPlanOf } from './values-window.js'
import { readSeries } from './series.js'
import type { Slots } from '../core/slots.js'
import type { MemoryBudget } from '../core/budget.js'

export interface ReadContext {
  gdal: Gdal
  /** Pixel bytes of the windows in flight: a record waits here while it is full. */
  budget: MemoryBudget
  /** The run was cancelled: stop waiting for the budget. */
  cancelled: AbortSignal
  gdalCalls: Slots
}

export function createReader (ctx: ReadContext): (job: Job) => Promise<void> {
  return async function readStage (job: Job): Promise<void> {
    const plan = job.plan
    if (!plan) throw new RecordError('read', 'NO_WINDOW', 'no window was resolved')
    try {
      job.lease = { bytes: plan.bytes, release: await ctx.budget.acquire(plan.bytes, ctx.cancelled) }
    } catch {
      throw new RecordError('read', 'CANCELLED', 'the run was cancelled before this record was done')
    }
    if ((plan.kind === 'points' || plan.kind === 'zonal') && job.parts && job.mosaic) {
      // A time series' points or zone, item by item (lib/raster/series.ts).
      try {
        job.written = { warnings: [], series: await ctx.gdalCalls.run(() => readSeries(ctx.gdal, job)) }
      } finally {
        releaseLease(job)
      }
      return
    }
    // A values record's plan, or the values of one that writes its window too (lib/raster/values-window.ts).
    const values = plan.kind === 'points' || plan.kind === 'zonal' ? plan : valuesPlanOf(job)
    if (values) {
      if (!job.parts && !job.opened?.dataset) throw new RecordError('read', 'NOT_OPEN', 'the source is not open')
      try {
        // Straight from the source (points read by read, each within one block; a zone's window), a
        // stack's from each of its sources: no VRT, no output file (lib/raster/read-values.ts).
        job.written = { warnings: [], ...await ctx.gdalCalls.run(() => readValues(ctx.gdal, job, values)) }
      } catch (err) {
        if (values === plan) releaseLease(job)
        if (err instanceof RecordError) throw err
        throw new RecordError('read', 'READ_FAILED', `${job.url}: ${(err as Error).message}`)
      }
      if (values === plan) return releaseLease(job)
    }
    // A warp's VRT was made at open (its grid decides what range mode fetches); a stack's sources are read
    // by the write stage into temp files (lib/raster/stack-write.ts): nothing more to make here.
    if (plan.kind !== 'window') return
    const ds = job.opened?.dataset
    if (!ds) throw new RecordError('read', 'NOT_OPEN', 'the source is not open')
    try {
      // A GDAL slot only for the translate itself: a record waiting for memory holds no thread.
      job.pixels = await ctx.gdalCalls.run(() => ctx.gdal.translateAsync('', ds, translateArgs(plan, 'VRT')))
    } catch (err) {
      throw new RecordError('read', 'READ_FAILED', `${job.url}: ${(err as Error).message}`)
    }
  }
}
