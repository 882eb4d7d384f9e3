// Every request of a run passes here first (GETs, range reads, HEADs, uploads): each origin gets its own
// adaptive limit on requests in flight (lib/http/host-limit.ts), and a request over it waits in that
// origin's queue before it reaches the HTTP client. undici starts a request's connect, headers and body
// timers when it is dispatched to a connection, so a request waiting here loses none of its --timeout;
// the run's signal (which carries --max-time, the record's total) still aborts it while it waits.
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { Dispatcher as DispatcherBase } from './undici.js'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import { Decorator } from './decorator.js'
import { parseRetryAfter } from './backoff.js'
import { HostLimit, type HostLimitFigures } from './host-limit.js'

type Handler = Dispatcher.DispatchHandler
type Signal = AbortSignal | { on: (e: 'abort', l: () => void) => void, removeListener: (e: 'abort', l: () => void) => void, aborted?: boolean, reason?: unknown }

export interface HostDispatcherOptions {
  /** Requests in flight per origin at most (--concurrency). */
  cap: number
  /** false (--fixed-concurrency): each origin's limit stays at `cap`; throttling is counted only. */
  adaptive: boolean
}

/**
 * Each origin's limit as an undici interceptor: a request waits in its origin's queue, then goes on down
 * the chain with a handler (HostAnswer) that tells the limit of its answer and frees its slot.
 */
export class HostLimits {
  private readonly hosts = new Map<string, HostLimit>()
  private dropped = false

  constructor (private readonly options: HostDispatcherOptions) {}

  readonly interceptor: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => {
    const signal = (options as { signal?: Signal | null }).signal ?? undefined
    if (this.dropped) {
      fail(handler, closed())
      return true
    }
    if (signal?.aborted) {
      fail(handler, abortReason(signal))
      return true
    }
    const host = this.hostFor(options.origin)
    let waiting = true
    const onAbort = (): void => {
      // Still waiting when the signal fires: out of the queue, failed with the signal's reason, as undici
      // fails a request aborted in its own queue.
      if (cancel()) fail(handler, abortReason(signal as Signal))
    }
    const cancel = host.enqueue((seq) => {
      waiting = false
      unlisten(signal, onAbort)
      const answer = new HostAnswer(handler, host, seq)
      try {
        dispatch(options, answer)
      } catch (err) {
        answer.finish()
        throw err
      }
    }, (err) => {
      waiting = false
      unlisten(signal, onAbort)
      fail(handler, err)
    })
    // A request that found a free slot has started already, inside enqueue().
    if (waiting && signal) listen(signal, onAbort)
    return true
  }

  /** Each origin's limit over the run and the throttling answers it gave. */
  figures (): Record<string, HostLimitFigures> {
    return Object.fromEntries([...this.hosts].map(([origin, host]) => [origin, host.figures()]))
  }

  /**
   * Answers the host of `url` has given that were neither throttling nor another 5xx, so far: a request
   * throttled while this grows is one of many the host is slowing down, not one it cannot serve.
   */
  served (url: string): number {
    return this.hosts.get(safeOrigin(url))?.served ?? 0
  }

  /** Every host's requests, queued and in flight, are over. */
  async idle (): Promise<void> {
    await Promise.all([...this.hosts.values()].map((h) => h.idle()))
  }

  /** Fails every request still queued, and any dispatched from now on. */
  drop (): void {
    this.dropped = true
    for (const host of this.hosts.values()) host.drop(closed())
  }

  private hostFor (origin: string | URL | undefined): HostLimit {
    const key = origin === undefined ? '' : typeof origin === 'string' ? safeOrigin(origin) : origin.origin
    let host = this.hosts.get(key)
    if (!host) this.hosts.set(key, host = new HostLimit({ cap: this.options.cap, adaptive: this.options.adaptive }))
    return host
  }
}

/** `inner` under the host limits (HostLimits' interceptor): closing waits for the queued requests to run. */
export class HostLimitedDispatcher extends DispatcherBase {
  readonly limits: HostLimits
  private readonly inner: Dispatcher
  private readonly chain: Dispatcher

  constructor (inner: Dispatcher, options: HostDispatcherOptions) {
    super()
    this.inner = inner
    this.limits = new HostLimits(options)
    this.chain = inner.compose(this.limits.interceptor)
  }

  override dispatch (options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    return this.chain.dispatch(options, handler)
  }

  /** Each origin's limit over the run and the throttling answers it gave. */
  figures (): Record<string, HostLimitFigures> {
    return this.limits.figures()
  }

  /** See HostLimits.served. */
  served (url: string): number {
    return this.limits.served(url)
  }

  override async close (): Promise<void> {
    await this.limits.idle()
    await this.inner.close()
  }

  override async destroy (): Promise<void> {
    this.limits.drop()
    await this.inner.destroy()
  }
}

/** Tells the host's limit of the request's final answer, and frees its slot when the request ends, however. */
class HostAnswer extends Decorator {
  private over = false
  private readonly startedAt = performance.now()

  constructor (handler: Handler, private readonly host: HostLimit, private readonly seq: number) {
    super(handler)
  }

  finish (): void {
    if (this.over) return
    this.over = true
    this.host.release()
  }

  override onResponseStart (controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, message?: string): void {
    // 1xx answers come before the final one and say nothing of the host's load (DecoratorHandler lets one final answer through).
    if (status >= 200) {
      const code = headers['x-ms-error-code']
      this.host.respond(status, parseRetryAfter(headers['retry-after']), Array.isArray(code) ? code[0] : code,
        { seq: this.seq, rttMs: performance.now() - this.startedAt })
    }
    super.onResponseStart?.(controller, status, headers, message)
  }

  override onResponseEnd (controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.finish()
    super.onResponseEnd?.(controller, trailers)
  }

  override onResponseError (controller: Dispatcher.DispatchController, err: Error): void {
    this.finish()
    super.onResponseError?.(controller, err)
  }

  // An upgraded connection is no longer a request in flight (rasterpipe makes none; a library host may).
  override onRequestUpgrade (controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    this.finish()
    super.onRequestUpgrade?.(controller, status, headers, socket)
  }
}

/** Fails a request that never reached the HTTP client: it has no controller yet, as undici's own early failures. */
function fail (handler: Handler, err: Error): void {
  handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, err)
}

function closed (): Error {
  return new Error('the HTTP client was closed')
}

function safeOrigin (text: string): string {
  try {
    return new URL(text).origin
  } catch {
    return text
  }
}

function abortReason (signal: Signal): Error {
  const reason = signal.reason
  if (reason instanceof Error) return reason
  const err = new Error('This operation was aborted')
  err.name = 'AbortError'
  return err
}

function listen (signal: Signal, listener: () => void): void {
  if ('addEventListener' in signal) signal.addEventListener('abort', listener, { once: true })
  else signal.on('abort', listener)
}

function unlisten (signal: Signal | undefined, listener: () => void): void {
  if (!signal) return
  if ('removeEventListener' in signal) signal.removeEventListener('abort', listener)
  else signal.removeListener('abort', listener)
}
