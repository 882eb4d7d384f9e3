// Unit tests of the retry arithmetic: Retry-After parsing (seconds, HTTP dates, garbage, the cap) and full-jitter backoff bounds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { backoffMs, parseRetryAfter, RETRYABLE_STATUS } from '../lib/http/backoff.js'

const CAP_S = 120
const MAX_BACKOFF_MS = 30_000
/** A whole second, as HTTP dates have no finer resolution. */
const NOW = Date.parse('2025-06-01T12:00:00Z')

/** Runs fn with Math.random returning r, so that the jitter's bounds can be reached exactly. */
function withRandom<T> (r: number, fn: () => T): T {
  const real = Math.random
  Math.random = () => r
  try {
    return fn()
  } finally {
    Math.random = real
  }
}

test('parseRetryAfter: delta-seconds, with spaces around, capped at 120 s', () => {
  fc.assert(fc.property(fc.nat({ max: 1_000_000 }), fc.constantFrom('', ' ', '  '), (s, pad) => {
    assert.equal(parseRetryAfter(`${pad}${s}${pad}`, NOW), Math.min(s, CAP_S))
  }))
  assert.equal(parseRetryAfter('0', NOW), 0)
  assert.equal(parseRetryAfter('99999999999999999999999', NOW), CAP_S)
})

test('parseRetryAfter: an HTTP date gives the seconds until it, a past one 0, a far one the cap', () => {
  fc.assert(fc.property(fc.integer({ min: -1e6, max: 1e6 }), (k) => {
    const date = new Date(NOW + k * 1000)
    // IMF-fixdate, the form servers send, and RFC 850's obsolete form, which recipients must accept.
    const rfc850 = date.toUTCString().replace(/^(\w{3}), (\d\d) (\w{3}) \d\d(\d\d)/, (_m, d, dd, mon, yy) =>
      `${({ Sun: 'Sunday', Mon: 'Monday', Tue: 'Tuesday', Wed: 'Wednesday', Thu: 'Thursday', Fri: 'Friday', Sat: 'Saturday' } as Record<string, string>)[d]}, ${dd}-${mon}-${yy}`)
    const want = Math.min(Math.max(k, 0), CAP_S)
    assert.equal(parseRetryAfter(date.toUTCString(), NOW), want, date.toUTCString())
    assert.equal(parseRetryAfter(rfc850, NOW), want, rfc850)
  }))
})

test('parseRetryAfter: absent, empty or garbage is undefined; of several values the first counts', () => {
  for (const v of [undefined, '', 'abc', '12abc', '5 minutes', '1e3', '0x10', 'soon']) {
    assert.equal(parseRetryAfter(v, NOW), undefined, JSON.stringify(v))
  }
  assert.equal(parseRetryAfter([], NOW), undefined)
  assert.equal(parseRetryAfter(['7', '100'], NOW), 7)
  assert.equal(parseRetryAfter(['garbage', '7'], NOW), undefined)
  assert.equal(parseRetryAfter([new Date(NOW + 30_000).toUTCString()], NOW), 30)
})

test('parseRetryAfter: an asctime date is GMT whatever the local time zone', () => {
  const tz = process.env.TZ
  process.env.TZ = 'America/New_York'
  try {
    assert.equal(parseRetryAfter('Sun Jun  1 12:00:30 2025', NOW), 30)
  } finally {
    if (tz === undefined) delete process.env.TZ
    else process.env.TZ = tz
  }
})

test('parseRetryAfter: text that is neither delta-seconds nor an HTTP date is ignored', () => {
  for (const v of ['Fri 2099', '1.5', '-1', '10, 20', '2099-01-01']) assert.equal(parseRetryAfter(v, NOW), undefined, v)
  assert.equal(parseRetryAfter('2099', NOW), 120, 'digits alone are delta-seconds (capped), not a year')
})

test('backoffMs: full jitter between base/2 and base/2 + min(30 s, base·2^(attempt-1))', () => {
  const attempt = fc.integer({ min: 1, max: 40 })
  const base = fc.integer({ min: 1, max: 5000 })
  fc.assert(fc.property(attempt, base, (a, b) => {
    const ceiling = Math.min(MAX_BACKOFF_MS, b * 2 ** (a - 1))
    const ms = backoffMs(a, b)
    assert.ok(ms >= b / 2 && ms < b / 2 + ceiling, `${ms} ms for attempt ${a}, base ${b}`)
    // The ends of the range are reached: with no jitter, and with the most.
    assert.equal(withRandom(0, () => backoffMs(a, b)), b / 2)
    assert.ok(Math.abs(withRandom(1 - 2 ** -53, () => backoffMs(a, b)) - (b / 2 + ceiling)) < 1e-6)
  }))
})

test('backoffMs: never shorter than Retry-After, and no longer than the larger of the two', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5000 }), fc.double({ min: 0, max: CAP_S, noNaN: true }),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (a, b, after, r) => {
      const jittered = withRandom(r, () => backoffMs(a, b))
      assert.equal(withRandom(r, () => backoffMs(a, b, after)), Math.max(after * 1000, jittered))
    }))
})

test('the statuses retried are the transient ones', () => {
  assert.deepEqual([...RETRYABLE_STATUS].sort((x, y) => x - y), [408, 425, 429, 500, 502, 503, 504])
  for (const s of [400, 401, 403, 404, 410, 416, 501]) assert.equal(RETRYABLE_STATUS.has(s), false, String(s))
})
