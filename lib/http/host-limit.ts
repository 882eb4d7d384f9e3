// One host's limit on requests in flight, adapted to its answers: a throttling answer (429 Too Many
// Requests, 503 Service Unavailable, Azure's ServerBusy code) halves it, down to 1; every answer that is neither
// (nor another 5xx) raises it by one, up to the cap (--concurrency). A host that asks for a pause
// (Retry-After on a throttling answer) gets no new request until then. Requests beyond the limit wait here,
// in order, before any connection or timer of the HTTP client is theirs. No I/O, no undici: the dispatcher
// (lib/http/host-dispatcher.ts) feeds it.

/** Statuses that say "too many requests, slow down". */
export const THROTTLING_STATUS = new Set([429, 503])

/** Stores' error codes that say the same, whatever status carries them (S3's SlowDown, Azure's ServerBusy). */
const THROTTLING_CODES = new Set(['SlowDown', 'ServerBusy'])

/** A throttling answer: its status, or the store's error code (Azure's x-ms-error-code, S3's body <Code>). */
export function isThrottlingAnswer (status: number, code?: string): boolean {
  return THROTTLING_STATUS.has(status) || (code !== undefined && THROTTLING_CODES.has(code))
}

/** What the run reports per host. */
export interface HostLimitFigures {
  /** The limit's lowest, highest and last values over the run. */
  min: number
  max: number
  final: number
  /** Throttling answers (429, 503) seen. */
  throttled: number
  /** Times a Retry-After held the host's new requests. */
  held: number
}

interface Waiter {
  start: () => void
  fail: (err: Error) => void
}

export interface HostLimitOptions {
  /** The highest limit, and the first. */
  cap: number
  /** false: the limit stays at the cap, and throttling is only counted. */
  adaptive: boolean
}

export class HostLimit {
  readonly cap: number
  readonly adaptive: boolean
  limit: number
  active = 0
  /** Answers that were neither throttling nor another 5xx: the host is serving. */
  served = 0
  private min: number
  private max: number
  private throttled = 0
  private held = 0
  private heldUntil = 0
  private timer: NodeJS.Timeout | undefined
  // A Set keeps insertion order (first come, first served) and lets an aborted waiter leave in O(1).
  private readonly waiting = new Set<Waiter>()
  private idleWaiters: Array<() => void> = []

  constructor ({ cap, adaptive }: HostLimitOptions) {
    this.cap = cap
    this.adaptive = adaptive
    this.limit = cap
    this.min = cap
    this.max = cap
  }

  /** Requests waiting for a slot. */
  get queued (): number {
    return this.waiting.size
  }

  /**
   * Runs `start` at once when a slot is free, else when one frees up. Returns a cancel that takes the
   * request out of the queue (true) or says it has started already (false).
   */
  enqueue (start: () => void, fail: (err: Error) => void): () => boolean {
    const waiter: Waiter = { start, fail }
    this.waiting.add(waiter)
    this.pump()
    return () => {
      const was = this.waiting.delete(waiter)
      if (was) this.settle()
      return was
    }
  }

  /**
   * A response's status (at its start, before the body). Every throttling answer halves the limit and
   * each other answer adds one, so the limit finds the host's capacity within a few round trips (why not
   * once per round trip: bench/RESULTS.md, "Figures behind the code").
   */
  respond (status: number, retryAfterS?: number, code?: string): void {
    if (isThrottlingAnswer(status, code)) {
      this.throttled++
      if (!this.adaptive) return
      this.setLimit(Math.max(1, Math.floor(this.limit / 2)))
      if (retryAfterS !== undefined && retryAfterS > 0) this.hold(retryAfterS * 1000)
    } else if (status < 500) {
      this.served++
      if (this.adaptive && this.limit < this.cap) this.setLimit(this.limit + 1)
    }
  }

  /** A request that had a slot is over (its body read, or failed): the next may go. */
  release (): void {
    this.active--
    this.pump()
    this.settle()
  }

  /** Fails every waiting request (the dispatcher is being destroyed) and stops the hold's timer. */
  drop (err: Error): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const waiters = [...this.waiting]
    this.waiting.clear()
    for (const w of waiters) w.fail(err)
    this.settle()
  }

  /** Resolves once nothing is in flight or waiting. */
  async idle (): Promise<void> {
    if (this.active === 0 && this.waiting.size === 0) return
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  figures (): HostLimitFigures {
    return { min: this.min, max: this.max, final: this.limit, throttled: this.throttled, held: this.held }
  }

  private setLimit (value: number): void {
    this.limit = value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }

  /**
   * Retry-After on a throttling answer: the host asks for no request until then. Each request's retry
   * already waits that long (lib/http/retry.ts); holding the queue too keeps the other records' requests
   * from running into the same refusal meanwhile. Requests in flight go on.
   */
  private hold (ms: number): void {
    const until = performance.now() + ms
    if (until <= this.heldUntil) return
    this.held++
    this.heldUntil = until
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.pump()
    }, ms)
  }

  private pump (): void {
    if (this.timer !== undefined) return
    while (this.active < this.limit && this.waiting.size > 0) {
      const [next] = this.waiting
      this.waiting.delete(next)
      this.active++
      next.start()
    }
  }

  private settle (): void {
    if (this.active > 0 || this.waiting.size > 0) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }
}
