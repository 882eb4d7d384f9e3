// Which validator may tie byte ranges to one version of a file (RFC 9110 8.8): a strong ETag, or a
// Last-Modified at least a second older than the response's Date (8.8.2.2), and nothing else.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { strongValidator, type Headers } from '../lib/http/response.js'

const DATE = 'Sat, 05 Dec 2026 21:00:10 GMT'

test('strongValidator: a strong ETag, or a Last-Modified a second or more before Date; weak ETags, Last-Modified within the second of Date or without a Date are not', () => {
  const rows: [string, Headers, string | undefined][] = [
    ['a strong ETag', { etag: '"abc"' }, '"abc"'],
    ['a strong ETag beside a weak Last-Modified', { etag: '"abc"', 'last-modified': DATE, date: DATE }, '"abc"'],
    ['a weak ETag', { etag: 'W/"abc"' }, undefined],
    // If-Range may carry a date only where there is no entity tag at all (RFC 9110 13.1.5).
    ['a weak ETag beside a strong Last-Modified', { etag: 'W/"abc"', 'last-modified': 'Sat, 05 Dec 2026 20:00:00 GMT', date: DATE }, undefined],
    ['Last-Modified equal to Date', { 'last-modified': DATE, date: DATE }, undefined],
    ['Last-Modified one second before Date', { 'last-modified': 'Sat, 05 Dec 2026 21:00:09 GMT', date: DATE }, 'Sat, 05 Dec 2026 21:00:09 GMT'],
    ['Last-Modified an hour before Date', { 'last-modified': 'Sat, 05 Dec 2026 20:00:10 GMT', date: DATE }, 'Sat, 05 Dec 2026 20:00:10 GMT'],
    ['Last-Modified after Date (another clock)', { 'last-modified': 'Sat, 05 Dec 2026 21:00:20 GMT', date: DATE }, undefined],
    // Nothing to deduce strength from: a Last-Modified alone is weak.
    ['Last-Modified without Date', { 'last-modified': 'Sat, 05 Dec 2026 20:00:00 GMT' }, undefined],
    ['a Last-Modified that is not a date', { 'last-modified': 'yesterday', date: DATE }, undefined],
    ['a Date that is not a date', { 'last-modified': 'Sat, 05 Dec 2026 20:00:00 GMT', date: 'now' }, undefined],
    ['no validator', { date: DATE }, undefined]
  ]
  for (const [what, headers, expected] of rows) assert.equal(strongValidator(headers), expected, what)
})
