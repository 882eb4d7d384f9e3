// Small pieces for unit tests: promises the test settles itself (so tests wait for events, not time) and bare jobs.
import type { Job } from '../../lib/core/job.js'
import { newJob } from '../../lib/input/parse.js'

export interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (err: unknown) => void
}

export function deferred<T = void> (): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/**
 * Values that arrive one by one (work started, records emitted), awaited in order: next() resolves with
 * the next value pushed, at once if it came already.
 */
export class Arrivals<T> {
  readonly seen: T[] = []
  private taken = 0
  private readonly waiters: Array<(value: T) => void> = []

  push (value: T): void {
    this.seen.push(value)
    const waiter = this.waiters.shift()
    if (waiter) {
      this.taken++
      waiter(value)
    }
  }

  async next (): Promise<T> {
    if (this.taken < this.seen.length) return this.seen[this.taken++]
    return await new Promise<T>((resolve) => this.waiters.push(resolve))
  }
}

/** A job as parse makes it, before any stage has seen it. */
export function bareJob (line: number, extra: Partial<Job> = {}): Job {
  return Object.assign(newJob(line, `http://example.invalid/${line}.tif`), { request: { window: { col: 0, row: 0, width: 512, height: 512 }, boundless: false }, started: 0 }, extra)
}
