// A pipeline stage: an object-mode Transform that works on up to `limit` jobs at once and emits each as
// soon as it is done, out of order. It stops taking input while full, and Node's Transform holds its
// write callback while the readable side is above `highWaterMark`, so a slow consumer stalls the stage,
// which stalls the stage before it: backpressure is the concurrency and the memory cap.
import { Transform, type TransformCallback } from 'node:stream'
import { asRecordError, type Stage as StageName } from './errors.js'
import type { Job } from './job.js'

export type StageWork = (job: Job) => Promise<void>

export interface StageOptions {
  name: StageName
  limit: number
  highWaterMark?: number
  /** Code for errors that are not already RecordErrors. */
  code?: string
}

export class Stage extends Transform {
  readonly name: StageName
  private readonly limit: number
  private readonly work: StageWork
  private readonly code: string
  private active = 0
  /** Peak of `active`, for tests and stats. */
  peak = 0
  private waiting?: TransformCallback
  private flushed?: TransformCallback

  constructor (options: StageOptions, work: StageWork) {
    const hwm = options.highWaterMark ?? options.limit
    super({ objectMode: true, readableHighWaterMark: hwm, writableHighWaterMark: hwm })
    this.name = options.name
    this.limit = options.limit
    this.work = work
    this.code = options.code ?? 'FAILED'
  }

  override _transform (job: Job, _enc: BufferEncoding, next: TransformCallback): void {
    // Records that already failed, or need no work, pass straight through without taking a slot.
    if (job.error || job.status === 'skipped') {
      next(null, job)
      return
    }
    this.active++
    if (this.active > this.peak) this.peak = this.active
    this.work(job).then(
      () => this.finish(job),
      (err: unknown) => {
        job.error = asRecordError(err, this.name, this.code)
        this.finish(job)
      }
    )
    if (this.active < this.limit) next()
    else this.waiting = next
  }

  override _flush (done: TransformCallback): void {
    if (this.active === 0) done()
    else this.flushed = done
  }

  private finish (job: Job): void {
    this.active--
    if (this.destroyed) return
    this.push(job)
    const waiting = this.waiting
    if (waiting) {
      this.waiting = undefined
      waiting()
    }
    if (this.active === 0 && this.flushed) this.flushed()
  }
}
