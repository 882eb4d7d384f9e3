// The last stage: every job leaves as exactly one result record, whatever happened to it, after its
// datasets are closed and its local copy is released.
import { Transform, type TransformCallback } from 'node:stream'
import { gridOf, releaseLease, type Job } from '../core/job.js'
import type { ResultRecord, Status } from '../core/records.js'
import { printable, redactAbout, redactUrl } from '../http/redact.js'
import { closeJobDatasets } from '../raster/gdal.js'
import { retryRecord } from '../input/retry.js'
import { keyNames, type OptionNames } from '../core/words.js'

/**
 * The job's result record; URLs and messages as they may be shown (no credential, no secret value), its
 * error's message naming options as `names` says (by key unless the caller names them otherwise).
 */
export function toResult (job: Job, secrets: Iterable<string> = [], names: OptionNames = keyNames): ResultRecord {
  // The record's own URLs are replaced whole in its messages: as text, one with a space or quote is not.
  const urls = [job.url, ...(job.parts ?? []).map((p) => p.url)]
  const status: Status = job.error ? 'error' : job.status ?? 'ok'
  job.ms.total = Math.round(performance.now() - job.started)
  // Built field by field so that the key order is README's ("Result records"), whatever the job learnt first.
  const r: ResultRecord = { line: job.line } as ResultRecord
  if (job.input !== undefined) r.input = job.input
  if (job.id !== undefined) r.id = job.id
  if (job.url) r.url = redactUrl(job.url)
  r.status = status
  // A chip skipped by --min-valid was never written: no output to name.
  if (job.output !== undefined && status !== 'error' && !job.written?.skipped) r.output = job.output
  if (job.fetched !== undefined) r.fetch = job.fetched.kind
  if (job.parts) {
    // A stack's transfer is its sources': each listed, the record's the sums, its fetch theirs when one.
    const kinds = new Set(job.parts.map((p) => p.fetched?.kind))
    const kind = job.parts[0].fetched?.kind
    if (kinds.size === 1 && kind !== undefined) r.fetch = kind
    r.bytes = job.parts.reduce((sum, p) => sum + p.bytes, 0)
    r.attempts = job.parts.reduce((sum, p) => sum + p.attempts, 0)
    r.sources = job.parts.map((p) => ({
      url: redactUrl(p.url),
      ...(p.fetched !== undefined ? { fetch: p.fetched.kind } : {}),
      ...(p.fetched?.cache !== undefined ? { cache: p.fetched.cache } : {}),
      bytes: p.bytes,
      attempts: p.attempts,
      ...mosaicItem(job, p)
    }))
    if (job.mosaic && job.mosaic.items.length > 0) r.items = [...job.mosaic.items]
    if (job.mosaic?.group !== undefined) r.group = job.mosaic.group
  } else {
    if (job.fetched?.cache !== undefined) r.cache = job.fetched.cache
    r.bytes = job.bytes
    r.attempts = job.attempts
  }
  const { opened, written } = job
  if (opened?.window) r.window = opened.window
  if (opened) r.source = opened.source
  if (opened?.georeferenced === false) r.georeferenced = false
  const grid = gridOf(job.plan)
  if (grid) r.grid = grid
  if (written?.stats) r.stats = written.stats
  if (written?.values) r.values = written.values
  if (written?.zonal) r.zonal = written.zonal
  if (written?.series) r.series = written.series
  if (written && written.warnings.length > 0) r.warnings = written.warnings.map((w) => redactAbout(w, urls, secrets))
  if (written?.skipped) {
    r.reason = written.skipped.reason
    r.valid = written.skipped.valid
  }
  r.ms = job.ms
  if (job.error) r.error = { ...job.error.toJSON(), message: redactAbout(job.error.say(names), urls, secrets) }
  if (job.error && job.error.stage !== 'input' && (job.url || job.retryInput)) r.record = job.retryInput ?? retryRecord(job)
  return r
}

/** A mosaic's source: the id of its item. */
function mosaicItem (job: Job, part: Job): { item?: string } {
  const ask = job.mosaic
  const index = part.stackSource?.index
  if (!ask || ask.items.length === 0 || index === undefined) return {}
  return { item: ask.items[Math.floor(index / ask.per)] }
}

/** Lets go of whatever a job still holds. Datasets are idle here: no stage works on the job any more. */
export async function releaseJob (job: Job): Promise<void> {
  for (const part of job.parts ?? []) await releaseJob(part)
  closeJobDatasets(job)
  releaseLease(job)
  const local = job.fetched?.local
  if (job.fetched) job.fetched.local = undefined
  await local?.release()
}

export class Finalize extends Transform {
  private readonly onReleased: (job: Job) => void
  private readonly secrets: Iterable<string>
  private readonly warn: (message: string) => void
  private readonly names: OptionNames
  private pending: Promise<void> = Promise.resolve()

  /**
   * `warn`: the run's warnings (the pipeline's 'warning' event, which redacts and escapes what it is given);
   * `names`: how records' messages name options.
   */
  constructor (onReleased: (job: Job) => void, secrets: Iterable<string> = [], warn: (message: string) => void = () => undefined, names: OptionNames = keyNames) {
    super({ objectMode: true, highWaterMark: 16 })
    this.onReleased = onReleased
    this.secrets = secrets
    this.warn = warn
    this.names = names
  }

  /** Called when the stream is destroyed before its end (the run's consumer stopped early, or a failure). */
  onCancel?: () => void

  override _destroy (err: Error | null, done: (error?: Error | null) => void): void {
    if (!(this.writableFinished && this.readableEnded)) this.onCancel?.()
    done(err)
  }

  override _transform (job: Job, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending = releaseJob(job).then(() => {
      this.onReleased(job)
      done(null, toResult(job, this.secrets, this.names))
    }, (err: unknown) => {
      // Failing to remove a temp file must not lose the record; the run's temp dir goes at the end anyway.
      this.warn(`could not release line ${job.line}: ${printable((err as Error).message, this.secrets)}`)
      this.onReleased(job)
      done(null, toResult(job, this.secrets, this.names))
    })
  }

  /** Resolves when no release is running (one at a time: the transform takes the next after `done`). */
  async idle (): Promise<void> {
    await this.pending
  }
}
