// Records that name the same URL share one fetch and one local copy, which goes when the last of them is
// done. A failed fetch is not cached: a later record for the URL tries again.

export interface Shared<T> {
  value: T
  release: () => Promise<void>
}

interface Entry<T> {
  promise: Promise<T>
  refs: number
}

export class SourceCache<T> {
  private readonly entries = new Map<string, Entry<T>>()
  private readonly dispose: (value: T) => Promise<void>

  constructor (dispose: (value: T) => Promise<void>) {
    this.dispose = dispose
  }

  /**
   * The next acquire of `key` loads afresh (the source changed on the server); holders of the current
   * value keep it until they release it.
   */
  forget (key: string): void {
    this.entries.delete(key)
  }

  async acquire (key: string, load: () => Promise<T>): Promise<Shared<T>> {
    let entry = this.entries.get(key)
    if (!entry) {
      entry = { promise: load(), refs: 0 }
      this.entries.set(key, entry)
    }
    entry.refs++
    const current = entry
    let value: T
    try {
      value = await current.promise
    } catch (err) {
      current.refs--
      if (this.entries.get(key) === current) this.entries.delete(key)
      throw err
    }
    let released = false
    return {
      value,
      release: async () => {
        if (released) return
        released = true
        if (--current.refs > 0) return
        if (this.entries.get(key) === current) this.entries.delete(key)
        await this.dispose(value)
      }
    }
  }
}
