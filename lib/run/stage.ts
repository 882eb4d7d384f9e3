// A pipeline stage: an object-mode Transform that works on up to `limit` jobs at once and emits each as
// soon as it is done, out of order. It takes a new job only while it has a free slot and its finished
// jobs waiting to be read are under `highWaterMark`; otherwise it holds the write callback until a job
// finishes or the next stage reads. A slow consumer so stalls the stage, which stalls the one before it:
// backpressure is the concurrency and the memory cap. (Node's own Transform checks its readable buffer
// only for outputs pushed before the callback, which an async stage never has, so it would not stall.)
import { Transform, type TransformCallback } from 'node:stream'
import { asRecordError, RecordError, type Stage as StageName } from '../core/errors.js'
import type { Job } from '../core/job.js'

export type StageWork = (job: Job) => Promise<void>

export interface StageOptions {
  name: StageName
  /** Jobs worked on at once; also the highWaterMark of both sides. */
  limit: number
  /** Once aborted (the run was cancelled), jobs pass through as errors without starting work. */
  signal?: AbortSignal
  /** Jobs this stage has work for (default: all); the others pass through untimed, taking no slot. */
  applies?: (job: Job) => boolean
  /**
   * Slots a job takes (default 1): a multi-source record's fetches count one a source, so that the limit
   * stays the fetches in flight. A job is started while a slot is free, so the limit may be passed by
   * one job's weight less one.
   */
  weight?: (job: Job) => number
}

export class Stage extends Transform {
  readonly name: StageName
  readonly limit: number
  private readonly work: StageWork
  private readonly signal?: AbortSignal
  private readonly applies?: (job: Job) => boolean
  private readonly weight: (job: Job) => number
  /** Work started and not yet settled, so that a cancelled run can wait for it before letting go. */
  private readonly pending = new Set<Promise<void>>()
  private active = 0
  private waiting?: TransformCallback
  private flushed?: TransformCallback

  constructor (options: StageOptions, work: StageWork) {
    super({ objectMode: true, readableHighWaterMark: options.limit, writableHighWaterMark: options.limit })
    this.name = options.name
    this.limit = options.limit
    this.work = work
    this.signal = options.signal
    this.applies = options.applies
    this.weight = options.weight ?? (() => 1)
  }

  override _transform (job: Job, _enc: BufferEncoding, next: TransformCallback): void {
    // Records that already failed, or need no work, pass straight through without taking a slot.
    if (job.error || job.status === 'skipped' || (this.applies && !this.applies(job))) {
      next(null, job)
      return
    }
    if (this.signal?.aborted) {
      job.error = new RecordError(this.name, 'CANCELLED', 'the run was cancelled before this record was done')
      next(null, job)
      return
    }
    const weight = this.weight(job)
    this.active += weight
    const t0 = performance.now()
    const done = this.work(job).finally(() => {
      // Each stage times itself, into the record's ms under its own name.
      job.ms[this.name as keyof typeof job.ms] = Math.round(performance.now() - t0)
    }).then(
      () => this.finish(job, weight),
      (err: unknown) => {
        job.error = asRecordError(err, this.name)
        this.finish(job, weight)
      }
    )
    this.pending.add(done)
    void done.finally(() => this.pending.delete(done))
    this.waiting = next
    this.release()
  }

  override _read (size: number): void {
    // The reader wants more: take a job if a slot is free, whatever is buffered. Node calls _read again
    // only after the next push, so declining here while no job is active would stall the chain for good.
    // Release first: if Transform then parks the write callback (its buffer is at the mark), its own
    // _read below hands it on at once.
    this.release(true)
    super._read(size)
  }

  private release (wanted = false): void {
    const waiting = this.waiting
    if (waiting && this.active < this.limit && (wanted || this.readableLength < this.readableHighWaterMark)) {
      this.waiting = undefined
      waiting()
    }
  }

  /** Resolves when no work of this stage is running (GDAL calls included: they cannot be interrupted). */
  async idle (): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending])
  }

  override _flush (done: TransformCallback): void {
    if (this.active === 0) done()
    else this.flushed = done
  }

  private finish (job: Job, weight: number): void {
    this.active -= weight
    if (this.destroyed) return
    // For watchers (progress, tests): this stage is done with the job, ok or not.
    this.emit('settled', job)
    this.push(job)
    this.release()
    if (this.active === 0 && this.flushed) this.flushed()
  }
}
