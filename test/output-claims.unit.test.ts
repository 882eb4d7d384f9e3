// The run's table of output paths: a path claimed for one request is refused to another, named by the
// first record's line and input, through every growth of the table; the same request may claim it again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OutputClaims } from '../lib/output/claims.js'
import { outputFor } from '../lib/output/names.js'
import { resolveOptions } from '../lib/run/options.js'

test('100,000 paths: each free once, free again to the same request, refused to another with the first line and input', () => {
  const claims = new OutputClaims()
  const n = 100_000
  for (let i = 1; i <= n; i++) assert.equal(claims.claim(`/out/chip-${i}.tif`, `request ${i}`, i, i % 2 === 0 ? 'even.ndjson' : undefined), undefined)
  for (let i = 1; i <= n; i += 997) {
    assert.equal(claims.claim(`/out/chip-${i}.tif`, `request ${i}`, n + i), undefined, 'the same request again')
    assert.deepEqual(claims.claim(`/out/chip-${i}.tif`, `another request ${i}`, n + i), i % 2 === 0 ? { line: i, input: 'even.ndjson' } : { line: i })
  }
})

test('the same request with other headers is refused, saying so; with the same headers it may claim again', () => {
  const claims = new OutputClaims()
  assert.equal(claims.claim('/out/a.tif', 'request', 1, undefined, '[["x-api-key","a"]]'), undefined)
  assert.equal(claims.claim('/out/a.tif', 'request', 2, undefined, '[["x-api-key","a"]]'), undefined)
  assert.deepEqual(claims.claim('/out/a.tif', 'request', 3, undefined, '[["x-api-key","b"]]'), { line: 1, headersDiffer: true })
  assert.deepEqual(claims.claim('/out/a.tif', 'another request', 4, undefined, '[["x-api-key","a"]]'), { line: 1 })
})

test('a default name shows no user-info of its URL, a URL without a path included', () => {
  const o = resolveOptions({ outDir: 'chips' })
  const request = { window: { col: 0, row: 0, width: 8, height: 8 }, boundless: false }
  for (const url of ['http://u:Zq9pwXw@example.org', 'http://Zq9pwXw@example.org/', 'http://u:Zq9pwXw@example.org/a.tif']) {
    const name = outputFor(url, request, undefined, o, '.tif').display
    assert.ok(!name.includes('Zq9pwXw'), name)
  }
})
