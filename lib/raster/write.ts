// The write stage: the window (a VRT over the source) is copied into the output, GDAL reading and
// encoding it chunk by chunk; a warp's pixels are warped into memory first (see warpPixels) and copied;
// a stack's sources each into a file of our own, stacked by a VRT (lib/raster/stack-write.ts).
// GDAL encodes the output into a /vsimem/ file, and Node writes those bytes to a temporary name beside
// the final place, so that a full disk or any other write error is the system call's own error, never a
// GDAL message lost on a pool thread (GDAL on a full disk wrote unreadable TIFFs and GeoPackages of zeros
// and still returned a dataset). Drivers that cannot write to /vsimem/ (netCDF, KEA) write in place and
// are read back pixel for pixel. The file is then opened again and checked before it is renamed, so a
// visible output is never partial or wrong; an output to an object store is written whole in the private
// temp directory and then uploaded (lib/store/upload.ts), visible only once complete.
import { randomBytes } from 'node:crypto'
import { renameSync } from 'node:fs'
import { mkdir, open, realpath, rm, stat, type FileHandle } from 'node:fs/promises'
import { basename, dirname, extname, join, resolve, sep } from 'node:path'
import { RecordError } from '../core/errors.js'
import { diskError, spaceOr } from './disk-errors.js'
import { checkedStep, closeDataset, closeJobDatasets, GMF_ALL_VALID, type Dataset, type Gdal } from './gdal.js'
import { warpPixels } from './warp.js'
import { stackPixels } from './stack-write.js'
import { mosaicPixels } from './mosaic.js'
import { exprDataset } from './band-math.js'
import { releaseLease, type Job, type StackPlan, type WarpPlan, type WindowPlan, type Written } from '../core/job.js'
import { removeOnExit } from '../core/tempdir.js'
import { mergeCreationOptions, readingDriver, WRITES_BY_NAME } from './formats.js'
import type { Slots } from '../core/slots.js'
import type { TempDir } from '../core/tempdir.js'
import { isStoreUri } from '../core/url.js'
import { uploadFile } from '../store/upload.js'
import { chipStats, validFraction } from './stats.js'
import type { RequestAuth, RequestOptions } from '../http/response.js'
import { option, words } from '../core/words.js'

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
  /** --out-dir: a local output's directory must lie under its real path (no symlink leads out of it). */
  outDir: string
  /** The store's request auth for an output URI, and the HTTP options uploads use. */
  upload: { auth: (uri: string) => RequestAuth | undefined, http: RequestOptions }
}

let seq = 0

/** The write stage's results on the record, made on first use. */
function writtenOf (job: Job): Written {
  return (job.written ??= { warnings: [] })
}

/**
 * A hidden name beside the output, short whatever the output's name (so a 255-byte name stays legal), with
 * `.part` (as leftovers are looked for) and the output's extension (GDAL opens it again to check it). Random
 * too: runs in containers sharing one -o often have the same pid (1), and their sequences start alike.
 */
export function temporaryName (path: string): string {
  return join(dirname(path), `.rasterpipe-${process.pid}-${++seq}-${randomBytes(6).toString('hex')}.part${extname(path).slice(0, 16)}`)
}

/**
 * `path` made anew, exclusively, as ours (removeOnExit then holds it); the error is the system call's. Only
 * such temps are removed on failure or at exit, never a file of the same name another run made (a
 * collision fails our create; it does not make it ours).
 */
async function createOwn (path: string): Promise<FileHandle> {
  const file = await open(path, 'wx', 0o644)
  removeOnExit.add(path)
  return file
}

/** Writes `bytes` into a file just created (never through an existing one); the error is the system call's. */
async function writeNew (file: FileHandle, bytes: Uint8Array): Promise<void> {
  try {
    await file.writeFile(bytes)
  } finally {
    // close() reports what a network file system defers to it.
    await file.close()
  }
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
  const { gdal } = ctx
  const driver = gdal.drivers.get(ctx.format)
  const options = mergeCreationOptions(ctx.format, ctx.creationOptions)
  const byName = WRITES_BY_NAME.has(ctx.format)
  const reader = gdal.drivers.get(readingDriver(ctx.format))
  let outRoot: Promise<string> | undefined
  /** Output directories made and checked in this run: made once, not on every record. */
  const madeDirs = new Set<string>()

  /** What GDAL made: checked against the file opened again. */
  interface Shape { width: number, height: number, bands: number }

  /**
   * The output file `temp`, written whole from `from`: encoded by GDAL in memory and written by Node
   * (or, for a driver that writes by name, by GDAL in place), its dataset closed with GDAL's error state
   * read. Returns what GDAL made and, for the in-memory way, the number of bytes written.
   */
  async function copyInto (job: Job, temp: string, from: Dataset): Promise<{ shape: Shape, bytes: number | null }> {
    const target = byName ? temp : `/vsimem/rasterpipe-out-${process.pid}-${++seq}${extname(temp)}`
    let out: Dataset | undefined
    try {
      if (byName) {
        // GDAL would open an existing file (no O_EXCL): the name is claimed first, and GDAL writes over our empty file.
        try {
          await (await createInOutput(job, temp)).close()
        } catch (err) {
          throw err instanceof RecordError ? err : diskError(job.output as string, err)
        }
      }
      out = await driver.createCopyAsync(target, from, options)
      await out.flushAsync()
      // Idle once flushed: its size and band count are members, got without a pool round trip.
      const size = out.rasterSize
      const shape = { width: size.x, height: size.y, bands: out.bands.count() }
      // The close writes what the driver kept back (a TIFF's directory, a GeoPackage's last tiles).
      const closing = out
      out = undefined
      checkedStep(gdal, writtenOf(job).warnings, () => closing.close())
      if (byName) return { shape, bytes: null }
      const bytes = gdal.vsimem.release(target)
      try {
        await writeNew(await createInOutput(job, temp), bytes)
      } catch (err) {
        throw err instanceof RecordError ? err : diskError(job.output as string, err)
      }
      return { shape, bytes: bytes.length }
    } finally {
      if (out) { try { out.close() } catch { /* already closed */ } }
      if (!byName) { try { gdal.vsimem.release(target) } catch { /* released above, or never made */ } }
    }
  }

  /**
   * The written file opened again: its size on disk, its raster size and bands as GDAL made them, and for a
   * driver that wrote by name (its write errors unseen) every band's checksum against the window's. A
   * netCDF of several bands opens as one subdataset per band (its variables Band1, Band2, …).
   */
  async function checkWritten (job: Job, temp: string, from: Dataset, made: { shape: Shape, bytes: number | null }): Promise<void> {
    const fail = (why: string): RecordError => new RecordError('write', 'WRITE_FAILED', `${job.output as string}: ${why}`)
    const st = await stat(temp)
    if (made.bytes !== null && st.size !== made.bytes) throw fail(`the file has ${st.size} of its ${made.bytes} bytes`)
    const opened: Dataset[] = []
    try {
      try {
        // The driver's own open (one pool task, GDAL's message on failure).
        opened.push(await reader.openAsync(temp, 'r'))
      } catch (err) {
        throw fail(`the written file does not open again: ${(err as Error).message}`)
      }
      // Each dataset is idle once opened: its size and bands (read with its header) are got synchronously.
      const bands = []
      const subdatasets = opened[0].bands.count() === 0 ? opened[0].getMetadata('SUBDATASETS') as Record<string, string> : {}
      // One at a time, each kept in `opened` as it opens: a later one failing leaves none unclosed.
      for (const k of Object.keys(subdatasets).filter((k) => k.endsWith('_NAME'))) opened.push(await gdal.openAsync(subdatasets[k]))
      for (const ds of opened) {
        const size = ds.rasterSize
        for (let b = 1, n = ds.bands.count(); b <= n; b++) bands.push({ size, band: ds.bands.get(b) })
      }
      const { shape } = made
      const wrong = bands.find(({ size }) => size.x !== shape.width || size.y !== shape.height)
      if (bands.length !== shape.bands || wrong) {
        throw fail(`the written file reads as ${bands.length} bands of ${wrong ? `${wrong.size.x}×${wrong.size.y}` : `${shape.width}×${shape.height}`}, not ${shape.bands} of ${shape.width}×${shape.height}`)
      }
      if (made.bytes !== null) return
      for (const [i, { band }] of bands.entries()) {
        if (i >= await from.bands.countAsync()) break
        const want = await gdal.checksumImageAsync(await from.bands.getAsync(i + 1))
        const got = await gdal.checksumImageAsync(band)
        if (want !== got) throw fail(`band ${i + 1} reads back with checksum ${got}, not the window's ${want}`)
      }
    } catch (err) {
      if (err instanceof RecordError) throw err
      throw fail(`the written file cannot be read again: ${(err as Error).message}`)
    } finally {
      for (const ds of opened.reverse()) closeDataset(ds)
    }
  }

  /**
   * A failure of GDAL writing in place (the by-name drivers): a full disk tells itself only by the space
   * left, so a file system with less free than the window's bytes makes it NO_SPACE.
   */
  async function inPlaceError (job: Job, temp: string, err: RecordError): Promise<RecordError> {
    return byName && err.code !== 'READ_FAILED' ? await spaceOr(dirname(temp), job.plan?.bytes ?? 1, err) : err
  }

  /** Copied and checked; `failed` turns a GDAL failure into the record's error. */
  async function copyChecked (job: Job, temp: string, from: Dataset, failed: (err: Error) => Promise<RecordError>): Promise<void> {
    let made
    try {
      made = await copyInto(job, temp, from)
    } catch (err) {
      throw await inPlaceError(job, temp, err instanceof RecordError ? err : await failed(err as Error))
    }
    try {
      await checkWritten(job, temp, from, made)
    } catch (err) {
      throw await inPlaceError(job, temp, err as RecordError)
    }
  }

  /** The window (the read stage's VRT, or a warp into memory) copied into the output. */
  async function writeWindow (job: Job, plan: WindowPlan | WarpPlan, temp: string): Promise<void> {
    // A warp's VRT (made at open for its grid) reads what its warp reads: a failure is told apart on it.
    const pixels = plan.kind === 'warp' ? plan.vrt : job.pixels
    if (!pixels) throw new RecordError('write', 'NO_PIXELS', 'nothing was read')
    await ctx.gdalCalls.run(async () => {
      let from: Dataset
      try {
        from = plan.kind === 'warp' ? await warpPixels(gdal, plan.source ?? job.opened?.dataset, plan) : pixels
      } catch (err) {
        throw await copyError(gdal, job, pixels, err as Error)
      }
      let copied = from
      try {
        copied = await withExpr(job, from, pixels)
        // A warp's VRT reads the same source as its warp into memory: reading it tells the two apart too.
        await copyChecked(job, temp, copied, async (err) => await copyError(gdal, job, pixels, err))
      } finally {
        if (copied !== from) closeDataset(copied)
        if (from !== pixels) closeDataset(from)
      }
    })
  }

  /**
   * The pixels to copy: `from` itself, or with band math its expressions evaluated into a MEM dataset that
   * is closed after `from` is (a failure to read `from` is told apart on `source`, as a copy's is).
   */
  async function withExpr (job: Job, from: Dataset, source: Dataset): Promise<Dataset> {
    if (!job.expr) return from
    try {
      return await exprDataset(gdal, job, from)
    } catch (err) {
      throw err instanceof RecordError ? err : await copyError(gdal, job, source, err as Error)
    }
  }

  /** A stack's sources on the grid, stacked (lib/raster/stack-write.ts) and copied into the output. */
  async function writeStack (job: Job, plan: StackPlan, temp: string): Promise<void> {
    const stack = job.mosaic && job.mosaic.method !== 'none' ? await mosaicPixels(gdal, job, plan, ctx.temp) : await stackPixels(gdal, job, plan, ctx.temp)
    let copied = stack.dataset
    try {
      copied = await withExpr(job, stack.dataset, stack.dataset)
      // The stacked pixels are files of our own, checked when made: the output failed.
      await copyChecked(job, temp, copied, async (err) => new RecordError('write', 'WRITE_FAILED', `${job.output as string}: ${err.message}`))
    } finally {
      if (copied !== stack.dataset) closeDataset(copied)
      stack.release()
    }
  }

  /**
   * `temp` created as ours in the output's directory; should that directory, made earlier in the run, be
   * gone (removed meanwhile), it is made and checked again, once, and the create tried again.
   */
  async function createInOutput (job: Job, temp: string): Promise<FileHandle> {
    try {
      return await createOwn(temp)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !madeDirs.delete(dirname(temp)) || job.outputPath === undefined) throw err
      await outputDirectory(job, job.outputPath)
      return await createOwn(temp)
    }
  }

  /**
   * The output's directory, made (once per run), and resolved: it must lie under --out-dir's real path. Its deepest existing
   * ancestor is resolved first, so a symlink out of -o refuses the record before anything is made through it.
   */
  async function outputDirectory (job: Job, final: string): Promise<void> {
    const dir = dirname(final)
    if (madeDirs.has(dir)) return
    try {
      // -o itself is made where it resolves (the run's own choice); only what lies under it is checked.
      outRoot ??= mkdir(resolve(ctx.outDir), { recursive: true }).then(async () => await realpath(resolve(ctx.outDir)))
      const root = await outRoot
      const inside = (real: string): void => {
        if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) {
          throw new RecordError('write', 'BAD_OUTPUT', words`${job.output as string}: its directory resolves to '${real}', outside ${option('outDir')}; not written`)
        }
      }
      let existing = dir
      for (;;) {
        try {
          inside(await realpath(existing))
          break
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(existing) === existing) throw err
          existing = dirname(existing)
        }
      }
      await mkdir(dir, { recursive: true })
      // Again once made: a link put in place meanwhile is caught here, before anything is written.
      inside(await realpath(dir))
      madeDirs.add(dir)
    } catch (err) {
      if (err instanceof RecordError) throw err
      outRoot = undefined
      throw diskError(job.output as string, err)
    }
  }

  return async function writeStage (job: Job): Promise<void> {
    const final = job.outputPath as string
    const store = isStoreUri(final)
    const temp = store ? ctx.temp.file(basename(final)) : temporaryName(final)
    try {
      if (!store) await outputDirectory(job, final)
      // The plan's pixels made (lib/raster/plan.ts gives GDAL its arguments) and copied into the output.
      const plan = job.plan
      if (!plan || plan.kind === 'points' || plan.kind === 'zonal') throw new RecordError('write', 'NO_PIXELS', 'nothing was read')
      if (plan.kind === 'stack') {
        await ctx.gdalCalls.run(() => writeStack(job, plan, temp))
      } else {
        await writeWindow(job, plan, temp)
      }
      // The window first, then the source it reads from; both idle now (their async calls have returned).
      for (const part of job.parts ?? []) closeJobDatasets(part)
      closeJobDatasets(job)
      if (ctx.chipStats || ctx.minValid !== undefined) {
        const stats = await ctx.gdalCalls.run(() => chipStats(gdal, temp))
        if (ctx.chipStats) writtenOf(job).stats = stats
        const valid = validFraction(stats)
        if (ctx.minValid !== undefined && valid < ctx.minValid) {
          await rm(temp, { force: true })
          job.status = 'skipped'
          writtenOf(job).skipped = { reason: 'min-valid', valid }
          releaseLease(job)
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
        try {
          renameSync(temp, final)
        } catch (err) {
          throw diskError(job.output as string, err)
        }
      }
      // Written: its pixels are gone from memory, and the next window may take their place.
      releaseLease(job)
    } catch (err) {
      // The record's own error, even should the temp file not go (the run's exit removes it then). Only
      // a temp this process made: a failed create means the name was another run's file.
      if (removeOnExit.has(temp)) await rm(temp, { force: true }).catch(() => undefined)
      throw err
    } finally {
      removeOnExit.forget(temp)
    }
  }
}
