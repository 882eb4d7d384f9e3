// A fault inside the HTTP client must not take the process down. undici runs its parser in socket event
// handlers, where an exception (its issue #5360 was one) is uncaught and ends the process: every record
// of the batch lost, and in a library host the host too. Each run's requests are dispatched inside an
// AsyncLocalStorage context, which every socket, timer and callback undici makes for them inherits. An
// uncaught exception in that context is the run's: its dispatcher is replaced (the requests in flight on
// the old one fail, are retried on the new one like any dropped connection, or become error records),
// and the batch goes on. Exceptions from anywhere else are left to the host, or to Node's default.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Dispatcher } from 'undici'
import { Dispatcher as DispatcherBase } from './undici.js'

/** The guard and the dispatcher a request went to: a fault is the run's, and replaces that dispatcher. */
const context = new AsyncLocalStorage<{ guard: GuardedDispatcher, dispatcher: Dispatcher }>()
const live = new Set<GuardedDispatcher>()
let listening = false

/** Whether the exception being handled now is a fault inside a live guard's client (it recovers from it). */
export function isGuardedFault (): boolean {
  const owner = context.getStore()
  return owner !== undefined && live.has(owner.guard)
}

function onUncaught (err: unknown): void {
  const owner = context.getStore()
  if (owner && live.has(owner.guard)) {
    owner.guard.recover(err, owner.dispatcher)
    return
  }
  // Not ours. A listener stops Node's own handling (print it, exit 1): if ours is the only one, step
  // aside and throw it again, so that the host meets it as if we had never listened.
  if (process.listenerCount('uncaughtException') === 1) {
    unlisten()
    process.nextTick(() => { throw err })
  }
}

function listen (): void {
  if (!listening) process.on('uncaughtException', onUncaught)
  listening = true
}

function unlisten (): void {
  if (listening) process.off('uncaughtException', onUncaught)
  listening = false
}

/**
 * A dispatcher that runs every request in its own context and swaps in a fresh one from `make` after a
 * fault in that context. `onFault` hears of each fault (the pipeline turns it into a warning).
 */
export class GuardedDispatcher extends DispatcherBase {
  /** Made on the first request: a run that makes none never loads undici's client (lib/http/undici.ts). */
  private current: Dispatcher | undefined
  private readonly make: () => Dispatcher
  private readonly onFault: (err: unknown) => void
  /** Faults recovered from so far. */
  faults = 0

  constructor (make: () => Dispatcher, onFault: (err: unknown) => void) {
    super()
    this.make = make
    this.onFault = onFault
    live.add(this)
    listen()
  }

  override dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const dispatcher = this.current ??= this.make()
    return context.run({ guard: this, dispatcher }, () => dispatcher.dispatch(options, handler))
  }

  /** After a fault in `broken`'s context; a later fault from the one already replaced replaces nothing. */
  recover (err: unknown, broken: Dispatcher): void {
    if (broken !== this.current) return
    this.faults++
    this.current = this.make()
    // Outside the guarded context: a second fault while tearing down must not recurse into this one.
    context.exit(() => { void broken.destroy(new Error('HTTP client replaced after an internal fault')).catch(() => undefined) })
    this.onFault(err)
  }

  private release (): void {
    live.delete(this)
    if (live.size === 0) unlisten()
  }

  override async close (): Promise<void> {
    this.release()
    await this.current?.close()
  }

  override async destroy (): Promise<void> {
    this.release()
    await this.current?.destroy()
  }
}
