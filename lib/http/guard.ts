// A fault inside the HTTP client must not take the process down. undici runs its parser in socket event
// handlers, where an exception (its issue #5360 was one) is uncaught and ends the process: every record
// of the batch lost, and in a library host the host too. Each run's requests are dispatched inside an
// AsyncLocalStorage context, which every socket, timer and callback undici makes for them inherits. An
// uncaught exception in that context is the run's: its dispatcher is replaced (the requests in flight on
// the old one fail, are retried on the new one like any dropped connection, or become error records),
// and the batch goes on. Exceptions from anywhere else are left to the host, or to Node's default.
import { AsyncLocalStorage } from 'node:async_hooks'
import { Dispatcher } from 'undici'
import { printable } from './redact.js'

/** The guard and the dispatcher a request went to: a fault is the run's, and replaces that dispatcher. */
const context = new AsyncLocalStorage<{ guard: GuardedDispatcher, dispatcher: Dispatcher }>()
const live = new Set<GuardedDispatcher>()

function onUncaught (err: unknown): void {
  const owner = context.getStore()
  if (owner && live.has(owner.guard)) {
    owner.guard.recover(err, owner.dispatcher)
    return
  }
  // Not ours. If we are the only listener, do what Node does when there is none: print it and exit 1.
  if (process.listenerCount('uncaughtException') === 1) {
    // Line by line, so that the stack keeps its lines and a URL in the message loses its credentials.
    process.stderr.write(`${(err instanceof Error && err.stack ? err.stack : String(err)).split('\n').map((line) => printable(line)).join('\n')}\n`)
    process.exit(1)
  }
}

/**
 * A dispatcher that runs every request in its own context and swaps in a fresh one from `make` after a
 * fault in that context. `onFault` hears of each fault (the pipeline turns it into a warning).
 */
export class GuardedDispatcher extends Dispatcher {
  private current: Dispatcher
  private readonly make: () => Dispatcher
  private readonly onFault: (err: unknown) => void
  /** Faults recovered from so far. */
  faults = 0

  constructor (make: () => Dispatcher, onFault: (err: unknown) => void) {
    super()
    this.make = make
    this.onFault = onFault
    this.current = make()
    if (live.size === 0) process.on('uncaughtException', onUncaught)
    live.add(this)
  }

  override dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const dispatcher = this.current
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
    if (live.size === 0) process.off('uncaughtException', onUncaught)
  }

  override async close (): Promise<void> {
    this.release()
    await this.current.close()
  }

  override async destroy (): Promise<void> {
    this.release()
    await this.current.destroy()
  }
}
