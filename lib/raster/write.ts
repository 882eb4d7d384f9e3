// The write stage: the in-memory window becomes the output file. It is written under a temporary name
// beside its final place and renamed when whole, so a visible output is never partial.
import { renameSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { RecordError } from '../errors.js'
import type { Gdal } from './gdal.js'
import type { Job } from '../run/job.js'
import { removeOnExit } from '../run/tempdir.js'
import { mergeCreationOptions } from './formats.js'
import type { Slots } from '../run/slots.js'

export interface WriteContext {
  gdal: Gdal
  format: string
  creationOptions: string[]
  /** The run was cancelled: a finished output is not put in place after that moment. */
  cancelled: AbortSignal
  gdalCalls: Slots
}

let seq = 0

export function temporaryName (path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${++seq}.part`)
}

export function createWriter (ctx: WriteContext): (job: Job) => Promise<void> {
  const driver = ctx.gdal.drivers.get(ctx.format)
  const options = mergeCreationOptions(ctx.format, ctx.creationOptions)

  return async function writeStage (job: Job): Promise<void> {
    const final = job.outputPath as string
    const temp = temporaryName(final)
    try {
      const pixels = job.pixels
      if (!pixels) throw new RecordError('write', 'NO_PIXELS', 'nothing was read')
      await mkdir(dirname(final), { recursive: true })
      removeOnExit.add(temp)
      try {
        await ctx.gdalCalls.run(async () => {
          const out = await driver.createCopyAsync(temp, pixels, options)
          try {
            await out.flushAsync()
          } finally {
            out.close()
          }
        })
      } catch (err) {
        throw new RecordError('write', 'WRITE_FAILED', `${job.output}: ${(err as Error).message}`)
      }
      pixels.close()
      job.pixels = undefined
      // Checked and renamed in one turn of the event loop: a cancel either comes before and nothing
      // appears, or after, and the output was already in place. (An async rename still in flight when
      // the consumer stops would put an output in place after that moment.) One local rename is a
      // single quick system call.
      if (ctx.cancelled.aborted) throw new RecordError('write', 'CANCELLED', `${job.output}: the run was cancelled; not written`)
      renameSync(temp, final)
      // Written: its pixels are gone from memory, and the next window may take their place.
      job.releaseMemory?.()
      job.releaseMemory = undefined
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    } finally {
      removeOnExit.forget(temp)
    }
  }
}
