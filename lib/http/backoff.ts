// When and how long to wait before trying a request again: pure arithmetic, no I/O.

/** Statuses worth another try; every other 4xx is the request's own fault. */
export const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504])

/** Longest wait we accept from a Retry-After header, so one server cannot park a batch for hours. */
const MAX_RETRY_AFTER_S = 120
const MAX_BACKOFF_MS = 30_000

// The three forms RFC 9110 allows for an HTTP date, all in GMT: IMF-fixdate, RFC 850 and asctime.
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/
const RFC_850 = /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/
const ASCTIME = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/

/**
 * Seconds from a Retry-After header (delta-seconds or an HTTP date), or undefined for anything else:
 * Date.parse alone would take "2099" for a year and an asctime date for local time.
 */
export function parseRetryAfter (value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim()
  if (!text) return undefined
  let seconds: number
  if (/^\d+$/.test(text)) seconds = Number(text)
  else if (IMF_FIXDATE.test(text) || RFC_850.test(text)) seconds = (Date.parse(text) - now) / 1000
  else if (ASCTIME.test(text)) seconds = (Date.parse(`${text} GMT`) - now) / 1000
  else return undefined
  if (!Number.isFinite(seconds)) return undefined
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_S)
}

/** Full-jitter exponential backoff (attempt counts from 1), never shorter than Retry-After. */
export function backoffMs (attempt: number, baseMs: number, retryAfter?: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** (attempt - 1))
  const jittered = baseMs / 2 + Math.random() * ceiling
  return retryAfter !== undefined ? Math.max(retryAfter * 1000, jittered) : jittered
}
