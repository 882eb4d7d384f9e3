// Unit tests of the source cache: one fetch per URL shared by its records, disposed after the last release, failures not kept.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { SourceCache, type Shared } from '../lib/source/cache.js'
import { deferred, type Deferred } from './support/unit.js'

/** A cache whose loads the test settles by hand, counting loads and disposals per value. */
function harness () {
  const loads: Array<{ key: string, d: Deferred<string> }> = []
  const disposed: string[] = []
  const cache = new SourceCache<string>(async (value) => { disposed.push(value) })
  const acquire = (key: string): Promise<Shared<string>> => cache.acquire(key, () => {
    const d = deferred<string>()
    loads.push({ key, d })
    return d.promise
  })
  /** Settles load i with value; every acquire given must then hold that value. */
  const settle = async (i: number, value: string, ...acquires: Array<Promise<Shared<string>>>): Promise<Array<Shared<string>>> => {
    loads[i].d.resolve(value)
    const shared = await Promise.all(acquires)
    for (const s of shared) assert.equal(s.value, value)
    return shared
  }
  return { cache, loads, disposed, acquire, settle }
}

test('records for one URL share one fetch; the copy goes when the last holder releases it', async () => {
  const h = harness()
  const first = h.acquire('a')
  const second = h.acquire('a')
  // Concurrent acquires while the fetch is in flight wait on that fetch, not a second one.
  assert.equal(h.loads.length, 1)
  const [s1, s2] = await h.settle(0, 'copy-a', first, second)
  // A third record after the fetch finished shares it too.
  const s3 = await h.acquire('a')
  assert.equal(s3.value, 'copy-a')
  assert.equal(h.loads.length, 1)

  await s1.release()
  await s1.release() // a second release of one holder counts once
  await s2.release()
  assert.deepEqual(h.disposed, [], 'one holder is left')
  await s3.release()
  assert.deepEqual(h.disposed, ['copy-a'])

  // Once gone, the next record fetches again.
  const again = h.acquire('a')
  assert.equal(h.loads.length, 2)
  h.loads[1].d.resolve('copy-a2')
  assert.equal((await again).value, 'copy-a2')
})

test('a failed fetch is not cached: its waiters all get the error, the next record fetches again', async () => {
  const h = harness()
  const waiting = [h.acquire('a'), h.acquire('a')]
  const boom = new Error('HTTP 503')
  h.loads[0].d.reject(boom)
  for (const w of waiting) await assert.rejects(w, (err) => err === boom)
  const retry = h.acquire('a')
  assert.equal(h.loads.length, 2)
  h.loads[1].d.resolve('copy')
  const s = await retry
  assert.equal(s.value, 'copy')
  await s.release()
  assert.deepEqual(h.disposed, ['copy'], 'only the fetched copy is disposed')
})

test('a fetch started after a failure is not dropped by the failed fetch\'s other waiters as they wake', async () => {
  const h = harness()
  const first = h.acquire('a')
  const second = h.acquire('a')
  h.loads[0].d.reject(new Error('reset'))
  await assert.rejects(first, /^Error: reset$/)
  const next = h.acquire('a')
  await assert.rejects(second, /^Error: reset$/)
  // The second waiter's clean-up came after the new fetch began: a further record still shares that fetch.
  const alongside = h.acquire('a')
  assert.equal(h.loads.length, 2)
  await h.settle(1, 'fresh', next, alongside)
})

test('forget: the next acquire fetches afresh; holders of the old copy keep it until they release', async () => {
  const h = harness()
  const p = h.acquire('a')
  h.loads[0].d.resolve('old')
  const old = await p
  h.cache.forget('a')
  const q = h.acquire('a')
  assert.equal(h.loads.length, 2)
  h.loads[1].d.resolve('new')
  const fresh = await q
  await old.release()
  assert.deepEqual(h.disposed, ['old'])
  // The old copy's release must not drop the new entry: a further acquire shares the new fetch.
  const shared = await h.acquire('a')
  assert.equal(shared.value, 'new')
  assert.equal(h.loads.length, 2)
  await fresh.release()
  await shared.release()
  assert.deepEqual(h.disposed, ['old', 'new'])
})

test('forget of a stale copy only: records restarting one after another share the one fresh fetch', async () => {
  const h = harness()
  const p = [h.acquire('a'), h.acquire('a')]
  const [r1, r2] = await h.settle(0, 'v1', ...p)
  const isV1 = (v: string): boolean => v === 'v1'
  // The first record to find v1 changed forgets it and fetches afresh.
  assert.equal(h.cache.forget('a', isV1), true)
  const again1 = h.acquire('a')
  assert.equal(h.loads.length, 2)
  // The second, a moment later, finds the fresh fetch in flight (not v1): it is not forgotten but shared.
  assert.equal(h.cache.forget('a', isV1), false)
  const again2 = h.acquire('a')
  assert.equal(h.loads.length, 2)
  const [n1, n2] = await h.settle(1, 'v2', again1, again2)
  // Loaded now, v2 is still not the stale copy.
  assert.equal(h.cache.forget('a', isV1), false)
  assert.equal(h.cache.forget('b', isV1), false, 'nothing to forget')
  for (const s of [r1, r2, n1, n2]) await s.release()
  assert.deepEqual(h.disposed, ['v1', 'v2'])
})

test('any sequence of acquires and releases: one fetch per key while held, each copy disposed once, after its last holder', async () => {
  type Op = { kind: 'acquire', key: string } | { kind: 'release', pick: number }
  const op = fc.oneof(
    fc.record({ kind: fc.constant('acquire' as const), key: fc.constantFrom('a', 'b', 'c') }),
    fc.record({ kind: fc.constant('release' as const), pick: fc.nat() })
  )
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops: Op[]) => {
    let n = 0
    const disposed: string[] = []
    const cache = new SourceCache<string>(async (value) => { disposed.push(value) })
    const held: Array<{ key: string, s: Shared<string> }> = []
    const model = new Map<string, { value: string, refs: number }>()
    const loaded: string[] = []
    for (const o of ops) {
      if (o.kind === 'acquire') {
        const s = await cache.acquire(o.key, async () => { const v = `${o.key}${n++}`; loaded.push(v); return v })
        const m = model.get(o.key) ?? { value: s.value, refs: 0 }
        assert.equal(s.value, m.value, 'a key held by others gives their copy')
        m.refs++
        model.set(o.key, m)
        held.push({ key: o.key, s })
      } else if (held.length > 0) {
        const [{ key, s }] = held.splice(o.pick % held.length, 1)
        await s.release()
        const m = model.get(key)
        assert.ok(m)
        if (--m.refs === 0) {
          model.delete(key)
          assert.equal(disposed.at(-1), m.value, 'disposed when its last holder released it')
        }
      }
      // Disposed are exactly the copies loaded and no longer held.
      const live = new Set([...model.values()].map((m) => m.value))
      assert.deepEqual(disposed.slice().sort(), loaded.filter((v) => !live.has(v)).sort())
    }
  }))
})

test('a waiter whose signal aborts stops waiting; the load goes on for the others, and a value no one holds is disposed of', async () => {
  const h = harness()
  const loader = h.acquire('a')
  const impatient = new AbortController()
  const waiting = h.cache.acquire('a', async () => { throw new Error('not called: the load in flight is shared') }, impatient.signal)
  impatient.abort(new Error('its own time is up'))
  await assert.rejects(waiting, /its own time is up/)
  assert.equal(h.loads.length, 1, 'the load was not dropped')
  const [held] = await h.settle(0, 'copy-a', loader)
  await held.release()
  assert.deepEqual(h.disposed, ['copy-a'])

  // Every holder gave up before the load finished: its value is disposed of once it comes.
  const alone = new AbortController()
  const gaveUp = h.cache.acquire('b', () => { const d = deferred<string>(); h.loads.push({ key: 'b', d }); return d.promise }, alone.signal)
  alone.abort(new Error('gave up'))
  await assert.rejects(gaveUp, /gave up/)
  h.loads[1].d.resolve('copy-b')
  await h.loads[1].d.promise
  await new Promise<void>((resolve) => setImmediate(resolve))
  assert.deepEqual(h.disposed, ['copy-a', 'copy-b'])
})
