// A pipeline stage: an object-mode Transform that works on up to `limit` jobs at once and emits each as
// soon as it is done, out of order. It takes a new job only while it has a free slot and its finished
// jobs waiting to be read are under `highWaterMark`; otherwise it holds the write callback until a job
// finishes or the next stage reads. A slow consumer so stalls the stage, which stalls the one before it:
// backpressure is the concurrency and the memory cap. (Node's own Transform checks its readable buffer
// only for outputs pushed before the callback, which an async stage never has, so it would not stall.)
import { Transform, type TransformCallback } from 'node:stream'
import { asRecordError, type Stage as StageName } from './errors.js'
import type { Job } from './job.js'

export type StageWork = (job: Job) => Promise<void>

export interface StageOptions {
  name: StageName
  /** Jobs worked on at once; also the highWaterMark of both sides. */
  limit: number
}

export class Stage extends Transform {
  readonly name: StageName
  readonly limit: number
  private readonly work: StageWork
  private active = 0
  private waiting?: TransformCallback
  private flushed?: TransformCallback

  constructor (options: StageOptions, work: StageWork) {
    super({ objectMode: true, readableHighWaterMark: options.limit, writableHighWaterMark: options.limit })
    this.name = options.name
    this.limit = options.limit
    this.work = work
  }

  override _transform (job: Job, _enc: BufferEncoding, next: TransformCallback): void {
    // Records that already failed, or need no work, pass straight through without taking a slot.
    if (job.error || job.status === 'skipped') {
      next(null, job)
      return
    }
    this.active++
    this.work(job).then(
      () => this.finish(job),
      (err: unknown) => {
        job.error = asRecordError(err, this.name)
        this.finish(job)
      }
    )
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

  override _flush (done: TransformCallback): void {
    if (this.active === 0) done()
    else this.flushed = done
  }

  private finish (job: Job): void {
    this.active--
    if (this.destroyed) return
    this.push(job)
    this.release()
    if (this.active === 0 && this.flushed) this.flushed()
  }
}
