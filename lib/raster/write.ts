// The write stage: the window (a VRT over the source) is copied into the output file, GDAL reading and
// encoding it chunk by chunk; a warp's pixels are warped into memory first (see warpPixels) and copied.
// It is written under a temporary name beside its final place and renamed when whole, so a visible output
// is never partial; an output to an object store is written whole in the private temp directory and then
// uploaded (lib/store/upload.ts), visible only once complete.
import { renameSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { RecordError } from '../errors.js'
import { closeDataset, closeJobDatasets, type Dataset, type Gdal } from './gdal.js'
import { warpPixels } from './warp.js'
import { stackPixels } from './stack-write.js'
import type { Job } from '../run/job.js'
import { removeOnExit } from '../run/tempdir.js'
import { mergeCreationOptions } from './formats.js'
import type { Slots } from '../run/slots.js'
import type { TempDir } from '../run/tempdir.js'
import { isStoreUri } from '../input/output-name.js'
import { uploadFile } from '../store/upload.js'
import { chipStats, validFraction } from './stats.js'
import type { RequestAuth, RequestOptions } from '../http/response.js'

export interface WriteContext {
  gdal: Gdal
  format: string
  creationOptions: string[]
  /** The run was cancelled: a finished output is not put in place after that moment. */
  cancelled: AbortSignal
  gdalCalls: Slots
  /** --chip-stats: the output's statistics in the record. */
  chipStats: boolean
  /** --min-valid: a chip whose valid fraction is under it is not kept (its record says skipped, and why). */
  minValid?: number
  /** The run's private temp directory, where outputs bound for an object store are written first. */
  temp: TempDir
  /** The store's request auth for an output URI, and the HTTP options uploads use. */
  upload: { auth: (uri: string) => RequestAuth | undefined, http: RequestOptions }
}

let seq = 0
/** GDAL's mask flag for a band without invalid pixels (gdal-async does not export it). */
const GMF_ALL_VALID = 0x01

export function temporaryName (path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${++seq}.part`)
}

/**
 * One copy both reads the source and writes the output, so its failure is told apart by reading the
 * window again (block by block, nothing held): if that fails too, the source could not be read
 * (READ_FAILED, as when the read was a stage of its own), else the output could not be written.
 */
async function copyError (gdal: Gdal, job: Job, window: Dataset, err: Error): Promise<RecordError> {
  try {
    for (const band of window.bands) {
      await gdal.checksumImageAsync(band)
      const mask = (band.getMaskFlags() & GMF_ALL_VALID) === 0 ? band.getMaskBand() : null
      if (mask) await gdal.checksumImageAsync(mask)
    }
  } catch {
    return new RecordError('write', 'READ_FAILED', `${job.url}: ${err.message}`)
  }
  return new RecordError('write', 'WRITE_FAILED', `${job.output}: ${err.message}`)
}

export function createWriter (ctx: WriteContext): (job: Job) => Promise<void> {
  const driver = ctx.gdal.drivers.get(ctx.format)
  const options = mergeCreationOptions(ctx.format, ctx.creationOptions)

  /** The output file, written whole from `from` and closed. */
  async function copyInto (temp: string, from: Dataset): Promise<void> {
    const out = await driver.createCopyAsync(temp, from, options)
    try {
      await out.flushAsync()
    } finally {
      out.close()
    }
  }

  /** The window (a VRT, or a warp into memory) copied into the output. */
  async function writeWindow (job: Job, temp: string): Promise<void> {
    const pixels = job.pixels
    if (!pixels) throw new RecordError('write', 'NO_PIXELS', 'nothing was read')
    try {
      await ctx.gdalCalls.run(async () => {
        const from = job.warpArgs ? await warpPixels(ctx.gdal, job) : pixels
        try {
          await copyInto(temp, from)
        } finally {
          if (from !== pixels) closeDataset(from)
        }
      })
    } catch (err) {
      // A warp's VRT reads the same source as its warp into memory: reading it tells the two apart too.
      throw await ctx.gdalCalls.run(() => copyError(ctx.gdal, job, pixels, err as Error))
    }
  }

  /** A stack's sources on the grid, stacked (lib/raster/stack-write.ts) and copied into the output. */
  async function writeStack (job: Job, temp: string): Promise<void> {
    const stack = await stackPixels(ctx.gdal, job, ctx.temp)
    try {
      await copyInto(temp, stack.dataset)
    } catch (err) {
      // The stacked pixels are files of our own in memory, read already: the output failed.
      throw new RecordError('write', 'WRITE_FAILED', `${job.output}: ${(err as Error).message}`)
    } finally {
      stack.release()
    }
  }

  return async function writeStage (job: Job): Promise<void> {
    const final = job.outputPath as string
    const store = isStoreUri(final)
    const temp = store ? ctx.temp.file(basename(final)) : temporaryName(final)
    try {
      if (!store) await mkdir(dirname(final), { recursive: true })
      removeOnExit.add(temp)
      if (job.parts) {
        await ctx.gdalCalls.run(() => writeStack(job, temp))
      } else {
        await writeWindow(job, temp)
      }
      // The window first, then the source it reads from; both idle now (their async calls have returned).
      for (const part of job.parts ?? []) closeJobDatasets(part)
      closeJobDatasets(job)
      if (ctx.chipStats || ctx.minValid !== undefined) {
        const stats = await ctx.gdalCalls.run(() => chipStats(ctx.gdal, temp))
        if (ctx.chipStats) job.stats = stats
        const valid = validFraction(stats)
        if (ctx.minValid !== undefined && valid < ctx.minValid) {
          await rm(temp, { force: true })
          job.status = 'skipped'
          job.skipped = { reason: 'min-valid', valid }
          job.releaseMemory?.()
          job.releaseMemory = undefined
          return
        }
      }
      // Checked and renamed in one turn of the event loop: a cancel either comes before and nothing
      // appears, or after, and the output was already in place. (An async rename still in flight when
      // the consumer stops would put an output in place after that moment.) One local rename is a
      // single quick system call.
      if (ctx.cancelled.aborted) throw new RecordError('write', 'CANCELLED', `${job.output}: the run was cancelled; not written`)
      if (store) {
        const auth = ctx.upload.auth(final)
        if (!auth) throw new RecordError('write', 'BAD_URL', `${final}: no store for this output`)
        await uploadFile(temp, final, auth, { ...ctx.upload.http, auth }, () => !ctx.cancelled.aborted)
        await rm(temp, { force: true })
      } else {
        renameSync(temp, final)
      }
      // Written: its pixels are gone from memory, and the next window may take their place.
      job.releaseMemory?.()
      job.releaseMemory = undefined
    } catch (err) {
      // The record's own error, even should the temp file not go (the run's exit removes it then).
      await rm(temp, { force: true }).catch(() => undefined)
      throw err
    } finally {
      removeOnExit.forget(temp)
    }
  }
}
