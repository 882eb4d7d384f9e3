// The DNS cache (lib/http/dns-cache.ts) over a recording resolver and a clock of the test's: a name is
// resolved once per TTL, lookups in flight share one resolution, failures are not kept, and net.connect's
// two forms (one address, or all with `all`) and its family filter are answered.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { LookupAddress } from 'node:dns'
import { DnsCache, type Resolve } from '../lib/http/dns-cache.js'

const ADDRESSES: LookupAddress[] = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }]

function recording (): { resolve: Resolve, asked: string[], answer: (err?: NodeJS.ErrnoException) => void } {
  const asked: string[] = []
  const pending: Array<Parameters<Resolve>[1]> = []
  return {
    asked,
    resolve: (hostname, cb) => { asked.push(hostname); pending.push(cb) },
    answer: (err) => { for (const cb of pending.splice(0)) cb(err ?? null, err ? [] : ADDRESSES) }
  }
}

type Answer = [NodeJS.ErrnoException | null, string | LookupAddress[], number | undefined]

function ask (cache: DnsCache, hostname: string, options: { all?: boolean, family?: number }): Promise<Answer> {
  return new Promise((resolve) => cache.lookup(hostname, options, (err, address, family) => resolve([err, address, family])))
}

test('lookups in flight share one resolution; the answer is kept for the TTL, then asked again', async () => {
  let now = 1000
  const r = recording()
  const cache = new DnsCache(60_000, r.resolve, () => now)
  const first = ask(cache, 'tiles.example.test', { all: true })
  const second = ask(cache, 'TILES.example.test', { family: 4 })
  r.answer()
  assert.deepEqual(await first, [null, ADDRESSES, undefined])
  assert.deepEqual(await second, [null, '127.0.0.1', 4], 'one address of the family asked for')
  now += 59_999
  assert.deepEqual(await ask(cache, 'tiles.example.test', {}), [null, '::1', 6])
  assert.deepEqual(r.asked, ['tiles.example.test'], 'one resolution within the TTL')
  now += 1
  const later = ask(cache, 'tiles.example.test', { all: true })
  r.answer()
  await later
  assert.deepEqual(r.asked, ['tiles.example.test', 'tiles.example.test'], 'asked again after the TTL')
})

test('a failure is passed on and not kept; a family with no address is ENOTFOUND', async () => {
  const r = recording()
  const cache = new DnsCache(60_000, r.resolve)
  const failed = ask(cache, 'nowhere.test', { all: true })
  r.answer(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' }))
  assert.equal((await failed)[0]?.code, 'ENOTFOUND')
  const again = ask(cache, 'nowhere.test', {})
  r.answer()
  assert.deepEqual(await again, [null, '::1', 6], 'the next connection asks again')
  const v4only = new DnsCache(60_000, (_h, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]))
  assert.equal((await ask(v4only, 'a.test', { family: 6 }))[0]?.code, 'ENOTFOUND')
})
