// One host's limit on requests in flight, learnt from its answers as TCP's CUBIC learns a path's window,
// in round trips rather than seconds (a round ends at the first answer to a request sent after it began):
// - it starts below the cap (--concurrency) and doubles each round (one more per answer) until the first
//   sign of load, so a host that can take few requests is not sent the whole cap at once;
// - a throttling answer (429 Too Many Requests, 503 Service Unavailable, Azure's ServerBusy code) cuts it to
//   0.7 of itself, once per round: throttling answers to requests sent before the cut are the same refusal,
//   heard late. The level it was cut from is remembered as the host's last safe level;
// - after a cut it grows back fast while far below that level, slowly near it, and probes above it slowly
//   first (CUBIC's curve): against a host of fixed capacity it stays near it, refused once every few
//   rounds, and it finds a capacity that has grown within a few rounds;
// - a round whose served answers came back much slower than the host's fastest recent rounds, at a limit
//   higher than any that was fast lately, is a queue building at the host (Gradient2's signal): the limit
//   goes down by as much as they slowed (at most halved) and stops doubling.
// It grows only while it binds (requests waiting, or every slot taken): an idle host's limit does not rise
// to a level never tried. A host that asks for a pause (Retry-After on a throttling answer) gets no new
// request until then. Requests beyond the limit wait here, in order, before any connection or timer of
// the HTTP client is theirs. No I/O and no clock for the limit (the caller gives each answer's time), no
// undici: the dispatcher (lib/http/host-dispatcher.ts) feeds it.

/** Statuses that say "too many requests, slow down". */
export const THROTTLING_STATUS = new Set([429, 503])

/** Stores' error codes that say the same, whatever status carries them (S3's SlowDown, Azure's ServerBusy). */
const THROTTLING_CODES = new Set(['SlowDown', 'ServerBusy'])

/** A throttling answer: its status, or the store's error code (Azure's x-ms-error-code, S3's body <Code>). */
export function isThrottlingAnswer (status: number, code?: string): boolean {
  return THROTTLING_STATUS.has(status) || (code !== undefined && THROTTLING_CODES.has(code))
}

/** The first limit, when the cap is higher: TCP's initial window is of the same order. */
export const INITIAL_LIMIT = 16
/** A cut keeps this share of the limit (CUBIC's β). */
const CUT = 0.7
/** CUBIC's C, per round cubed: from the last safe level, 1 more after ~5 rounds, 8 more after ~9. */
const CURVE = 0.01
/** A round at most this many times slower than the host's fastest recent rounds is not a queue. */
const RTT_TOLERANCE = 2
/** The fastest round is looked for among the last 32 to 64 rounds, so a host grown slower for good stops counting as queueing. */
const RTT_ROUNDS = 32

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

/** What the caller knows of the request an answer is for. */
export interface Sent {
  /** The number its start was given (enqueue's `start`): which answers came from before a cut. */
  seq: number
  /** From its start to its answer's status, in ms. */
  rttMs?: number
}

interface Waiter {
  start: (seq: number) => void
  fail: (err: Error) => void
}

export interface HostLimitOptions {
  /** The highest limit. */
  cap: number
  /** false: the limit stays at the cap, and throttling is only counted. */
  adaptive: boolean
}

export class HostLimit {
  readonly cap: number
  readonly adaptive: boolean
  active = 0
  /** Answers that were neither throttling nor another 5xx: the host is serving. */
  served = 0
  /** The limit, unrounded. */
  private window: number
  /** Below it the limit doubles each round; a cut or a queue sets it. */
  private threshold = Infinity
  /** The level the last cut was made from, and the rounds since that cut (grown while the limit bound). */
  private lastCutFrom = 0
  private roundsSinceCut = 0
  /** Rounds the curve takes from the cut back to `lastCutFrom`. */
  private plateauAt = 0
  /** Requests started so far; a throttling answer to one numbered below `recovery` was sent before the last cut. */
  private started = 0
  private recovery = 0
  /** The round under way ends at the first answer to a request numbered from `roundEnd` on: served answers' times in it. */
  private roundEnd = 0
  private roundRttSum = 0
  private roundRttCount = 0
  private rounds = 0
  /** The limit when the round under way began. */
  private roundLimit: number
  /** The highest round-start limit whose round was fast, in this span of rounds and the one before. */
  private clear = 0
  private clearBefore = 0
  /** The fastest round's mean time in this span of RTT_ROUNDS rounds and in the one before. */
  private fastest = Infinity
  private fastestBefore = Infinity
  private queueing = false
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
    this.window = adaptive ? Math.min(cap, INITIAL_LIMIT) : cap
    this.min = this.limit
    this.max = this.limit
    this.roundLimit = this.limit
  }

  /** Requests in flight at most, now. */
  get limit (): number {
    return Math.max(1, Math.floor(this.window))
  }

  /** Requests waiting for a slot. */
  get queued (): number {
    return this.waiting.size
  }

  /**
   * Runs `start` at once when a slot is free, else when one frees up; it gets the request's number, for
   * `respond`. Returns a cancel that takes the request out of the queue (true) or says it has started
   * already (false).
   */
  enqueue (start: (seq: number) => void, fail: (err: Error) => void): () => boolean {
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
   * A response's status (at its start, before the body), with the request's number and time when the
   * caller has them (without, the answer is taken as the latest request's).
   */
  respond (status: number, retryAfterS?: number, code?: string, sent?: Sent): void {
    const seq = sent?.seq ?? this.started - 1
    if (isThrottlingAnswer(status, code)) {
      this.throttled++
      if (!this.adaptive) return
      if (seq >= this.recovery) this.cut()
      if (retryAfterS !== undefined && retryAfterS > 0) this.hold(retryAfterS * 1000)
    } else if (status < 500) {
      this.served++
      if (this.adaptive) this.serve(seq, sent?.rttMs)
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

  /** A served answer: the limit grows if it binds and no queue shows. */
  private serve (seq: number, rttMs: number | undefined): void {
    if (rttMs !== undefined) {
      this.roundRttSum += rttMs
      this.roundRttCount++
    }
    if (!this.queueing && this.active + this.waiting.size >= this.limit) this.grow()
    if (seq >= this.roundEnd) this.endRound()
  }

  private grow (): void {
    if (this.window >= this.cap) return
    if (this.window < this.threshold) {
      this.setWindow(this.window + 1)
      return
    }
    // CUBIC: the curve's value one round on, reached over this round's answers (at most 1.5× per round).
    this.roundsSinceCut += 1 / this.window
    const t = this.roundsSinceCut + 1 - this.plateauAt
    const target = Math.min(this.lastCutFrom + CURVE * t * t * t, this.window * 1.5)
    if (target > this.window) this.setWindow(this.window + (target - this.window) / this.window)
  }

  /** Throttled: cut, remembering the level cut from (when lower than the last one, the host's capacity shrank: aim below it). */
  private cut (): void {
    const from = this.window
    this.lastCutFrom = from < this.lastCutFrom ? from * (1 + CUT) / 2 : from
    this.setWindow(Math.max(1, from * CUT))
    this.threshold = this.window
    this.roundsSinceCut = 0
    this.plateauAt = Math.cbrt(Math.max(0, this.lastCutFrom - this.window) / CURVE)
    this.recovery = this.started
  }

  /** A round's mean time against the fastest recent round's: much slower is a queue at the host. */
  private endRound (): void {
    if (this.roundRttCount > 0) {
      const mean = this.roundRttSum / this.roundRttCount
      if (++this.rounds % RTT_ROUNDS === 0) {
        this.fastestBefore = this.fastest
        this.fastest = Infinity
        this.clearBefore = this.clear
        this.clear = 0
      }
      this.fastest = Math.min(this.fastest, mean)
      const allowed = RTT_TOLERANCE * Math.min(this.fastest, this.fastestBefore)
      const clear = Math.max(this.clear, this.clearBefore)
      // Slow at a limit no higher than one that was fast lately: the client or the network lagged, not
      // a queue our requests made at the host.
      this.queueing = mean > allowed && this.roundLimit > clear
      if (mean <= allowed) this.clear = Math.max(this.clear, this.roundLimit)
      // A queue: the limit goes down as much as the answers slowed beyond the tolerance (Gradient2's rule,
      // at most halved, not below the clear level), then the curve probes above it, slowly first.
      if (this.queueing) {
        this.setWindow(Math.max(1, clear, this.window * Math.max(0.5, allowed / mean)))
        this.threshold = this.lastCutFrom = this.window
        this.roundsSinceCut = this.plateauAt = 0
      }
    }
    this.roundEnd = this.started
    this.roundLimit = this.limit
    this.roundRttSum = 0
    this.roundRttCount = 0
  }

  private setWindow (value: number): void {
    this.window = Math.min(this.cap, value)
    const limit = this.limit
    if (limit < this.min) this.min = limit
    if (limit > this.max) this.max = limit
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
      next.start(this.started++)
    }
  }

  private settle (): void {
    if (this.active > 0 || this.waiting.size > 0) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }
}
