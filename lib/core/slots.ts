// A counting semaphore, first come first served: at most `size` holders at once. The run shares one
// among every GDAL call (open, read, write), sized from libuv's pool, so GDAL never takes every thread of
// the pool that `fs` (downloads, sparse writes, renames) and DNS need as well.

export class Slots {
  readonly size: number
  private held = 0
  private most = 0
  private readonly queue: (() => void)[] = []

  constructor (size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`slots: size must be a whole number of at least 1, got ${size}`)
    this.size = size
  }

  /** Holders now. */
  get active (): number { return this.held }
  /** Callers waiting for a slot. */
  get waiting (): number { return this.queue.length }
  /** The most holders there have been at once. */
  get peak (): number { return this.most }

  /** Runs `work` once a slot is free, and frees the slot when it settles. */
  async run<T> (work: () => Promise<T>): Promise<T> {
    if (this.held < this.size) this.held++
    else await new Promise<void>((resolve) => this.queue.push(resolve))
    this.most = Math.max(this.most, this.held)
    try {
      return await work()
    } finally {
      // The slot passes straight to the next in line, so a newcomer cannot jump the queue.
      const next = this.queue.shift()
      if (next) next()
      else this.held--
    }
  }
}

/**
 * GDAL's share of libuv's pool: its size (UV_THREADPOOL_SIZE, default 4, as libuv reads it) less one
 * thread kept for `fs`, at least one.
 */
export function gdalShare (env: NodeJS.ProcessEnv = process.env): number {
  const pool = Number(env.UV_THREADPOOL_SIZE)
  const size = Number.isSafeInteger(pool) && pool > 0 ? Math.min(pool, 1024) : 4
  return Math.max(1, size - 1)
}
