// Records that name the same URL share one fetch and one local copy, which goes when the last of them is
// done. A failed fetch is not cached: a later record for the URL tries again.

export interface Shared<T> {
  value: T
  release: () => Promise<void>
}

interface Entry<T> {
  promise: Promise<T>
  /** Once loaded. */
  value?: { loaded: T }
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
   * value keep it until they release it. With `stale`, only a loaded value it names is forgotten (a load
   * begun since is the fresh one). True when an entry was forgotten.
   */
  forget (key: string, stale?: (value: T) => boolean): boolean {
    const entry = this.entries.get(key)
    if (!entry) return false
    if (stale && !(entry.value && stale(entry.value.loaded))) return false
    this.entries.delete(key)
    return true
  }

  /**
   * The value for `key`, loaded by the first caller and awaited by the others. A caller whose `signal`
   * aborts stops waiting (the load goes on for the others); a value no one is left to hold is disposed of.
   */
  async acquire (key: string, load: () => Promise<T>, signal?: AbortSignal): Promise<Shared<T>> {
    let entry = this.entries.get(key)
    if (!entry) {
      const made: Entry<T> = { promise: load(), refs: 0 }
      made.promise.then((loaded) => { made.value = { loaded } }, () => undefined)
      entry = made
      this.entries.set(key, entry)
    }
    entry.refs++
    const current = entry
    let value: T
    try {
      value = await (signal ? untilAborted(current.promise, signal) : current.promise)
    } catch (err) {
      current.refs--
      if (signal?.aborted && err === signal.reason) {
        // Only this caller gave up: the load goes on, and its value is disposed of if no one holds it.
        void current.promise.then(() => this.disposeIfUnheld(key, current), () => undefined)
      } else if (this.entries.get(key) === current) {
        // The load failed: not cached, so the next caller loads afresh.
        this.entries.delete(key)
      }
      throw err
    }
    let released = false
    return {
      value,
      release: async () => {
        if (released) return
        released = true
        --current.refs
        await this.disposeIfUnheld(key, current)
      }
    }
  }

  private async disposeIfUnheld (key: string, entry: Entry<T>): Promise<void> {
    if (entry.refs > 0) return
    if (this.entries.get(key) === entry) this.entries.delete(key)
    await this.dispose(await entry.promise)
  }
}

/** `promise`, or the signal's reason once it aborts, whichever comes first. */
function untilAborted<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
