// Retrying a request: transient failures (network faults, 5xx, 429) are tried again after a jittered
// backoff that honours Retry-After; every other failure, or the last one, becomes the record's error.
// Throttling answers (429, 503, a store's SlowDown) from a host that is serving other requests meanwhile
// are "slow down", not failures: they spend no --retries, only time.
import { setTimeout as sleep } from 'node:timers/promises'
import { backoffMs } from './backoff.js'
import { networkError } from './errors.js'
import { HostLimitedDispatcher } from './host-dispatcher.js'
import { isThrottling, type RequestOptions, type Transfer } from './response.js'
import { reword } from '../core/words.js'

/**
 * Runs one request (`attempt`) until it succeeds, retrying transient failures with jittered backoff.
 * Counts every request in `transfer.attempts`. A throttling answer is not counted against `o.retries`
 * while the host has served some other request since this one began (it is busy, and its limit adapts)
 * and for at most `o.throttleMs` (the record's --max-time): a host that throttles every request is down,
 * and its answers count as any 5xx does.
 */
export async function retrying<T> (url: string, o: RequestOptions, transfer: Transfer, attempt: () => Promise<T>): Promise<T> {
  const served = servedCount(o, url)
  const servedAtStart = served()
  const started = performance.now()
  let counted = 0
  for (let tries = 1; ; tries++) {
    transfer.attempts++
    try {
      return await attempt()
    } catch (caught) {
      const err = networkError(caught, url)
      const slowDown = isThrottling(err) && o.throttleMs !== undefined && performance.now() - started < o.throttleMs && served() > servedAtStart
      if (!slowDown) counted++
      if (!err.retryable || counted > o.retries || o.signal?.aborted) {
        if (tries > 1) reword(err, (message) => `${message} (after ${tries} attempts)`)
        throw err
      }
      // Backing off from throttling grows no longer than --retries' own backoffs do.
      await sleep(backoffMs(Math.min(tries, o.retries + 1), o.retryBaseMs, err.retryAfter), undefined, o.signal ? { signal: o.signal } : undefined)
    }
  }
}

/** The answers the request's host has served so far (0 where the run's host limits are not in the way). */
function servedCount (o: RequestOptions, url: string): () => number {
  const d = o.dispatcher
  if (!(d instanceof HostLimitedDispatcher)) return () => 0
  // A store's request goes to its HTTPS address, the host whose limit it waits for.
  const target = o.auth?.target() ?? url
  return () => d.served(target)
}
