// Unit tests of the header cache's files: what is written and read back, what is refused (torn, corrupt,
// foreign), least-recently-used eviction under the bound, and concurrent writers and readers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { chownSync, closeSync, constants, copyFileSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { HeaderCache, parseEntry, type HeadEntry } from '../lib/source/header-cache.js'
import { UsageError } from '../lib/core/errors.js'
import { scratch } from './support/run.js'

/** An entry of `head` bytes at 0 and `tail` bytes further on, filled with `fill`. */
function entry (fill: number, head = 1000, tail = 200, validator = '"v1"'): HeadEntry {
  const bytes = Buffer.alloc(head + tail, fill)
  bytes.writeUInt32LE(0x002a4949, 0) // 'II*\0'
  return { size: 100_000, validator, head, structureBytes: head + tail, ranges: [[0, head], [50_000, 50_000 + tail]], bytes }
}

/** A clock the test moves: eviction order is by it, not by the machine's timing. */
function testClock (): { now: () => number, tick: () => void } {
  let t = Date.now()
  return { now: () => t, tick: () => { t += 1000 } }
}

function withDir (body: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = scratch('rp-hc-')
    try {
      await body(dir)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

test('an entry reads back as written; its file is named by a hash of the key and holds no header value', withDir(async (dir) => {
  const cache = HeaderCache.open(join(dir, 'made/by/open'), 1e6)
  const url = 'https://example.org/a.tif?X-Amz-Signature=abcdef123456&x=1'
  const key = `${url}\n${JSON.stringify([['authorization', 'Bearer s3cret-token']])}`
  assert.equal(await cache.read(key), null, 'nothing yet')
  const e = entry(7)
  await cache.write(key, url, e)
  const back = await cache.read(key)
  assert.ok(back)
  assert.deepEqual({ ...back, bytes: undefined }, { ...e, bytes: undefined })
  assert.ok(back.bytes.equals(e.bytes))

  const names = readdirSync(cache.dir)
  assert.deepEqual(names, [`${createHash('sha256').update(key).digest('hex')}.head`])
  const text = readFileSync(join(cache.dir, names[0]))
  const header = JSON.parse(text.subarray(0, text.indexOf(10)).toString()) as Record<string, unknown>
  assert.equal(header.url, 'https://example.org/a.tif?X-Amz-Signature=REDACTED&x=1')
  assert.equal(header.validator, '"v1"')
  for (const secret of ['s3cret-token', 'abcdef123456', 'authorization']) assert.ok(!text.includes(secret), `the file holds '${secret}'`)
  // Another key is another entry.
  assert.equal(await cache.read(url), null)
}))

test('a torn, corrupt or foreign file is a miss, and the next write replaces it', withDir(async (dir) => {
  const cache = HeaderCache.open(dir, 1e6)
  await cache.write('a', 'http://h/a.tif', entry(1))
  await cache.write('b', 'http://h/b.tif', entry(2))
  const file = cache.pathOf('a')
  const good = readFileSync(file)
  const newline = good.indexOf(10)
  const header = JSON.parse(good.subarray(0, newline).toString()) as Record<string, unknown>
  const withHeader = (h: Record<string, unknown>, body = good.subarray(newline + 1)): Buffer => Buffer.concat([Buffer.from(JSON.stringify(h) + '\n'), body])
  const flipped = Buffer.from(good)
  flipped[newline + 500] ^= 0xff
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['torn in the header', good.subarray(0, newline - 10)],
    ['torn in the bytes', good.subarray(0, good.length - 1)],
    ['a byte flipped', flipped],
    ['not JSON', Buffer.concat([Buffer.from('{"format": nope\n'), good.subarray(newline + 1)])],
    ['another format version', withHeader({ ...header, version: 1 })],
    ['ranges that overlap', withHeader({ ...header, ranges: [[0, 1000], [999, 1199]] })],
    ['ranges past the file', withHeader({ ...header, size: 1100 })],
    ['a head past the first range', withHeader({ ...header, head: 1001 })],
    ['no validator', withHeader({ ...header, validator: '' })],
    ['too long for its ranges', Buffer.concat([good, Buffer.from('x')])]
  ]
  for (const [what, bytes] of cases) {
    writeFileSync(file, bytes)
    assert.equal(await cache.read('a'), null, what)
  }
  // b's (valid) file under a's name: an entry for another key is not a's.
  copyFileSync(cache.pathOf('b'), file)
  assert.equal(await cache.read('a'), null, 'foreign')
  assert.equal(parseEntry(readFileSync(file), createHash('sha256').update('b').digest('hex'))?.validator, '"v1"', 'it is b\'s')
  await cache.write('a', 'http://h/a.tif', entry(3))
  assert.equal((await cache.read('a'))?.bytes[600], 3, 'rewritten')
}))

test('an entry of the previous format version (its Last-Modified may be weak) is a miss without a warning; a corrupt one still warns', withDir(async (dir) => {
  const warnings: string[] = []
  const cache = HeaderCache.open(dir, 1e6, undefined, (message) => warnings.push(String(message)))
  await cache.write('a', 'http://h/a.tif', entry(1))
  const file = cache.pathOf('a')
  const good = readFileSync(file)
  const newline = good.indexOf(10)
  const header = JSON.parse(good.subarray(0, newline).toString()) as Record<string, unknown>
  writeFileSync(file, Buffer.concat([Buffer.from(JSON.stringify({ ...header, version: 1 }) + '\n'), good.subarray(newline + 1)]))
  assert.equal(await cache.read('a'), null, 'version 1 is not replayed')
  assert.deepEqual(warnings, [], 'an old version is no fault: no warning')
  writeFileSync(file, good.subarray(0, good.length - 1))
  assert.equal(await cache.read('a'), null, 'torn')
  assert.equal(warnings.length, 1, 'a torn entry warns')
}))

test('least recently used entries go when the directory passes the bound; files not the cache\'s are left alone', withDir(async (dir) => {
  const clock = testClock()
  const size = (): number => readdirSync(dir).filter((n) => n.endsWith('.head')).reduce((s, n) => s + statSync(join(dir, n)).size, 0)
  const probe = HeaderCache.open(join(dir, 'measure'), 1e6)
  await probe.write('x', 'http://h/x.tif', entry(0))
  const one = statSync(probe.pathOf('x')).size
  rmSync(probe.dir, { recursive: true })

  // Room for three and a half entries.
  const cache = HeaderCache.open(dir, Math.floor(one * 3.5), clock.now)
  writeFileSync(join(dir, 'notes.txt'), 'mine')
  const staleTemp = join(dir, `.${'0'.repeat(64)}.123.abcdef.tmp`)
  writeFileSync(staleTemp, 'left by a crashed run')
  for (const k of ['a', 'b', 'c']) {
    await cache.write(k, `http://h/${k}.tif`, entry(1))
    clock.tick()
  }
  assert.equal(size(), 3 * one)
  assert.ok(await cache.read('a'), 'a is used again: now the most recent')
  clock.tick()
  // A temp file an hour old is a crashed writer's: the next listing removes it.
  for (let i = 0; i < 3600; i++) clock.tick()
  await cache.write('d', 'http://h/d.tif', entry(1))
  const kept = async (k: string): Promise<boolean> => (await cache.read(k)) !== null
  assert.deepEqual(await Promise.all(['a', 'b', 'c', 'd'].map(kept)), [true, false, true, true], 'b was the least recently used')
  assert.ok(size() <= cache.maxBytes, `${size()} bytes over ${cache.maxBytes}`)
  assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine')
  assert.ok(!readdirSync(dir).includes(staleTemp.split('/').pop() as string), 'the stale temp file is gone')

  // An entry larger than the whole bound is not written (it would only push every other one out).
  const big = entry(1, 1000, cache.maxBytes)
  big.size = cache.maxBytes * 2
  big.ranges = [[0, 1000], [2000, 2000 + cache.maxBytes]]
  await cache.write('huge', 'http://h/huge.tif', big)
  assert.equal(await cache.read('huge'), null)
  assert.deepEqual(await Promise.all(['a', 'c', 'd'].map(kept)), [true, true, true])
}))

test('concurrent writers of one key (two caches, as two runs): every read is whole, one version or another, never torn', withDir(async (dir) => {
  const runs = [HeaderCache.open(dir, 1e8), HeaderCache.open(dir, 1e8)]
  const versions = Array.from({ length: 24 }, (_, i) => entry(i + 1, 20_000 + i * 1000, 5000, `"v${i + 1}"`))
  let writing = true
  let reads = 0
  let whole = 0
  const reader = async (cache: HeaderCache): Promise<void> => {
    while (writing) {
      const got = await cache.read('k')
      reads++
      if (got === null) continue
      whole++
      const v = Number(/^"v(\d+)"$/.exec(got.validator)?.[1])
      const expected = versions[v - 1]
      assert.ok(expected, `read an unknown validator ${got.validator}`)
      assert.ok(got.bytes.equals(expected.bytes), `the bytes of ${got.validator} are another version's`)
      assert.deepEqual(got.ranges, expected.ranges)
    }
  }
  const readers = [reader(runs[0]), reader(runs[1]), reader(runs[0])]
  await Promise.all(versions.map((v, i) => runs[i % 2].write('k', 'http://h/k.tif', v)))
  writing = false
  await Promise.all(readers)
  assert.ok(reads > 0 && whole > 0, `${reads} reads, ${whole} of an entry`)
  const last = await runs[0].read('k')
  assert.ok(last && versions.some((v) => v.bytes.equals(last.bytes)))
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temp file is left')
}))

test('a dropped entry is not read again until written anew; a cache that cannot be made is a usage error', withDir(async (dir) => {
  const cache = HeaderCache.open(dir, 1e6)
  await cache.write('a', 'http://h/a.tif', entry(1))
  await cache.drop('a')
  assert.equal(await cache.read('a'), null)
  assert.deepEqual(readdirSync(dir), [])
  // Another run writing it meanwhile does not make this run trust it again; its own write does.
  await HeaderCache.open(dir, 1e6).write('a', 'http://h/a.tif', entry(2))
  assert.equal(await cache.read('a'), null)
  await cache.write('a', 'http://h/a.tif', entry(3))
  assert.equal((await cache.read('a'))?.bytes[600], 3)

  writeFileSync(join(dir, 'plain-file'), '')
  for (const bad of [join(dir, 'plain-file'), join(dir, 'plain-file', 'sub')]) {
    assert.throws(() => HeaderCache.open(bad, 1e6), (err: unknown) => err instanceof UsageError && err.option === 'cacheDir' && /^cacheDir: cannot use .*: not a directory$/.test(err.message), bad)
  }
}))

test('a FIFO, a device, a link, a directory or another user\'s file where an entry would be: a miss with one warning, never a hang; a write replaces it without following a link', withDir(async (dir) => {
  const warnings: string[] = []
  // One cache a kind, as one run a kind: a run warns once of an entry.
  const open = (): HeaderCache => HeaderCache.open(join(dir, 'c'), 1e6, undefined, (message) => warnings.push(String(message)))
  const valid = HeaderCache.open(join(dir, 'valid'), 1e6)
  await valid.write('k', 'http://h/k.tif', entry(4))
  const outside = join(dir, 'outside.head')
  copyFileSync(valid.pathOf('k'), outside)
  const before = readFileSync(outside)
  const path = open().pathOf('k')
  const root = process.getuid?.() === 0
  const kinds: Array<[string, RegExp, () => void]> = [
    ['a FIFO', /is a named pipe \(FIFO\)/, () => execFileSync('mkfifo', [path])],
    ['a link to a valid entry', /is a symbolic link/, () => symlinkSync(outside, path)],
    ['a directory', /is a directory/, () => mkdirSync(path)],
    ['a truncated entry', /is not a whole entry/, () => writeFileSync(path, before.subarray(0, 100))]
  ]
  // Only root can make a device or give a file away.
  if (root) {
    kinds.push(['a device', /is a device/, () => execFileSync('mknod', [path, 'c', '1', '3'])])
    kinds.push(['another user\'s entry', /is owned by another user \(uid 65534\)/, () => { copyFileSync(outside, path); chownSync(path, 65534, 65534) }])
  } else {
    console.log('not root: the device and the other user\'s file are not tried')
  }
  for (const [what, why, make] of kinds) {
    rmSync(path, { recursive: true, force: true })
    make()
    warnings.length = 0
    const cache = open()
    try {
      assert.equal(await cache.read('k'), null, what)
      assert.equal(await cache.read('k'), null, `${what}, again`)
    } finally {
      // Were an open waiting for a writer, this lets it go, so that a failing test still ends (ENXIO when none waits).
      if (lstatSync(path).isFIFO()) {
        try { closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)) } catch { /* none waits */ }
      }
    }
    assert.equal(warnings.length, 1, `${what}: warned once: ${warnings.join(' | ')}`)
    assert.match(warnings[0], why, what)
    assert.ok(warnings[0].includes(path), `${what}: the warning names the file`)
    if (what === 'a directory') {
      // Not replaceable: the write keeps nothing, throws nothing, and warns no more.
      await cache.write('k', 'http://h/k.tif', entry(5))
      assert.ok(lstatSync(path).isDirectory())
      assert.deepEqual(readdirSync(join(dir, 'c')), [basename(path)], 'no temp file left')
      assert.equal(warnings.length, 1)
      continue
    }
    await cache.write('k', 'http://h/k.tif', entry(5))
    assert.ok(lstatSync(path).isFile(), `${what}: replaced by a regular file`)
    assert.equal((await cache.read('k'))?.bytes[600], 5, `${what}: the new entry reads back`)
    assert.ok(readFileSync(outside).equals(before), `${what}: the file outside is untouched`)
  }
}))
