// The memory budget (--max-memory): each record leases its window's pixel bytes from read until its output
// is written, waiting first come first served. What the lease stands for is the output encoded in /vsimem/
// and a warp's pixels; a plain window is copied chunk by chunk, a stack's sources go through temp files.

export class MemoryBudget {
  readonly capacity: number
  private used = 0
  private readonly waiting: { bytes: number, grant: () => void }[] = []

  constructor (capacity: number) {
    this.capacity = capacity
  }

  /** Bytes held now (for tests and stats). */
  get held (): number {
    return this.used
  }

  /**
   * Resolves with a release function once `bytes` fit; the release is safe to call more than once.
   * A request larger than the whole budget can never fit: the caller refuses it before asking. A wait
   * ends with the signal's reason when the signal aborts (a cancelled run must not wait forever).
   */
  async acquire (bytes: number, signal?: AbortSignal): Promise<() => void> {
    if (bytes > this.capacity) throw new RangeError(`${bytes} bytes can never fit in a budget of ${this.capacity}`)
    signal?.throwIfAborted()
    if (this.waiting.length === 0 && this.used + bytes <= this.capacity) {
      this.used += bytes
    } else {
      await new Promise<void>((resolve, reject) => {
        const entry = { bytes, grant: () => { signal?.removeEventListener('abort', abort); resolve() } }
        const abort = (): void => {
          const i = this.waiting.indexOf(entry)
          if (i !== -1) this.waiting.splice(i, 1)
          reject(signal?.reason)
          // Those behind it may fit now.
          this.grant()
        }
        signal?.addEventListener('abort', abort, { once: true })
        this.waiting.push(entry)
      })
    }
    let released = false
    return () => {
      if (released) return
      released = true
      this.used -= bytes
      this.grant()
    }
  }

  private grant (): void {
    // In order: a large window first in line is not starved by small ones behind it.
    while (this.waiting.length > 0 && this.used + this.waiting[0].bytes <= this.capacity) {
      const next = this.waiting.shift() as { bytes: number, grant: () => void }
      this.used += next.bytes
      next.grant()
    }
  }
}

const TYPE_BYTES: Record<string, number> = {
  Byte: 1, Int8: 1, UInt16: 2, Int16: 2, UInt32: 4, Int32: 4, UInt64: 8, Int64: 8, Float32: 4, Float64: 8,
  CInt16: 4, CInt32: 8, CFloat32: 8, CFloat64: 16
}

/** The bytes a window's pixels take in memory: width × height × bands × the data type's size. */
export function windowBytes (width: number, height: number, bands: number, dtype: string): number {
  return width * height * bands * (TYPE_BYTES[dtype] ?? 8)
}
