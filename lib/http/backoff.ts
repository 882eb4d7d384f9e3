// When and how long to wait before trying a request again: pure arithmetic, no I/O.

/** Statuses worth another try; every other 4xx is the request's own fault. */
export const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504])

/** Longest wait we accept from a Retry-After header, so one server cannot park a batch for hours. */
const MAX_RETRY_AFTER_S = 120
const MAX_BACKOFF_MS = 30_000

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter (value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (!text) return undefined
  const seconds = /^\s*\d+\s*$/.test(text) ? Number(text) : (Date.parse(text) - now) / 1000
  if (!Number.isFinite(seconds)) return undefined
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_S)
}

/** Full-jitter exponential backoff (attempt counts from 1), never shorter than Retry-After. */
export function backoffMs (attempt: number, baseMs: number, retryAfter?: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** (attempt - 1))
  const jittered = baseMs / 2 + Math.random() * ceiling
  return retryAfter !== undefined ? Math.max(retryAfter * 1000, jittered) : jittered
}
