// Retrying a request: transient failures (network faults, 5xx, 429) are tried again after a jittered
// backoff that honours Retry-After; every other failure, or the last one, becomes the record's error.
import { setTimeout as sleep } from 'node:timers/promises'
import { backoffMs } from './backoff.js'
import { networkError } from './errors.js'
import type { RequestOptions, Transfer } from './response.js'

/**
 * Runs one request (`attempt`) until it succeeds, retrying transient failures with jittered backoff.
 * Counts every request in `transfer.attempts`.
 */
export async function retrying<T> (url: string, o: RequestOptions, transfer: Transfer, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    transfer.attempts++
    try {
      return await attempt()
    } catch (caught) {
      const err = networkError(caught, url)
      if (!err.retryable || tries > o.retries || o.signal?.aborted) {
        if (tries > 1) err.message += ` (after ${tries} attempts)`
        throw err
      }
      await sleep(backoffMs(tries, o.retryBaseMs, err.retryAfter), undefined, o.signal ? { signal: o.signal } : undefined)
    }
  }
}
