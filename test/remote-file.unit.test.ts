// Unit tests of one remote file (lib/source/remote-file.ts) and the sparse source over it
// (lib/source/sparse.ts), on a file served from memory (test/support/fake-transport.ts): no server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RecordError } from '../lib/core/errors.js'
import type { Transfer } from '../lib/http/response.js'
import { RemoteFile } from '../lib/source/remote-file.js'
import { fetchMissing, MERGE_GAP, type SparseSource } from '../lib/source/sparse.js'
import { FakeTransport, type FakeOptions } from './support/fake-transport.js'

const SIZE = 1024 * 1024

/** Bytes that say where they are: no two ranges of the file look alike. */
function content (size = SIZE, salt = 0): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((i + salt) >>> 0, i)
  return b
}

const counter = (): Transfer => ({ bytes: 0, attempts: 0 })

/** A sparse source of the fake file as a probe leaves it (nothing held yet), its local file in a fresh directory. */
async function sparseOf (t: { after: (fn: () => Promise<void>) => void }, fake: FakeTransport): Promise<SparseSource> {
  const dir = await mkdtemp(join(tmpdir(), 'remote-file-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const path = join(dir, 'sparse')
  await writeFile(path, Buffer.alloc(fake.bytes.length))
  const file = await open(path, 'r+')
  t.after(async () => { await file.close() })
  const src: SparseSource = { url: fake.url, path, file, size: fake.bytes.length, info: { ifds: [], structure: [] }, held: [], inFlight: [] }
  if (fake.etag !== undefined) src.validator = fake.etag
  return src
}

/** The fake file and a sparse source of it, with a RemoteFile per record (each with its own transfer). */
async function setup (t: { after: (fn: () => Promise<void>) => void }, o: FakeOptions = {}) {
  const fake = new FakeTransport(content(), o)
  const src = await sparseOf(t, fake)
  const record = (transfer = counter()): RemoteFile => new RemoteFile(fake, transfer, src)
  /** The sparse file's bytes in [a, b), to compare with the file's. */
  const local = async (a: number, b: number): Promise<Buffer> => (await readFile(src.path)).subarray(a, b)
  return { fake, src, record, local }
}

async function rejectsWith (work: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(err instanceof RecordError, String(err))
    assert.equal(err.code, code, err.message)
    if (message) assert.match(err.message, message)
    return true
  })
}

test('a block in flight for one record is awaited by another, not fetched again; each byte is counted once, by the record that fetched it', async (t) => {
  const { fake, src, record, local } = await setup(t)
  const a = counter()
  const b = counter()
  const block: [number, number] = [100_000, 150_000]
  // Both records plan the same block at once: the second finds it in flight.
  await Promise.all([fetchMissing(src, [block], record(a)), fetchMissing(src, [block], record(b))])
  assert.deepEqual(fake.ranges(), ['bytes=100000-149999'])
  assert.equal(a.bytes, 50_000)
  assert.equal(b.bytes, 0)
  assert.equal(fake.sent, 50_000)
  assert.deepEqual(src.held, [block])
  assert.deepEqual(await local(...block), fake.bytes.subarray(...block))
  // Held now: asked again, no request.
  await fetchMissing(src, [[120_000, 130_000]], record(b))
  assert.equal(fake.requests.length, 1)
})

test('a block whose fetch fails for the record that started it is fetched by the record awaiting it', async (t) => {
  const { fake, src, record, local } = await setup(t)
  const a = counter()
  const b = counter()
  const first = record(a)
  // The first record's request ends cut three times: it gives up after its retries.
  fake.cuts.push(10, 10, 10)
  const results = await Promise.allSettled([fetchMissing(src, [[0, 40_000]], first), fetchMissing(src, [[0, 40_000]], record(b))])
  assert.equal(results[0].status, 'rejected')
  assert.equal(results[1].status, 'fulfilled')
  assert.deepEqual(fake.ranges(), Array(4).fill('bytes=0-39999'))
  assert.equal(b.bytes, 40_000)
  assert.equal(a.bytes, 30)
  assert.deepEqual(await local(0, 40_000), fake.bytes.subarray(0, 40_000))
})

test('ranges closer than MERGE_GAP are one request; farther ones are asked apart, at once; held parts are not asked again', async (t) => {
  const { fake, src, record, local } = await setup(t)
  await fetchMissing(src, [[0, 1000]], record())
  const far = 2000 + MERGE_GAP + 1
  await fetchMissing(src, [[500, 1500], [1600, 2000], [far, far + 100]], record())
  assert.deepEqual(fake.ranges(), ['bytes=0-999', 'bytes=1000-1999', `bytes=${far}-${far + 99}`])
  assert.deepEqual(src.held, [[0, 2000], [far, far + 100]])
  assert.deepEqual(await local(0, 2000), fake.bytes.subarray(0, 2000))
  // Block padding past the end of the file is clamped; nothing past it is asked.
  await fetchMissing(src, [[SIZE - 10, SIZE + 4]], record())
  assert.equal(fake.ranges().at(-1), `bytes=${SIZE - 10}-${SIZE - 1}`)
})

test('a range of another version is refused as SOURCE_CHANGED, and nothing of it is held', async (t) => {
  const cases: Array<[string, (fake: FakeTransport) => void, RegExp]> = [
    ['a server that honours If-Match (412)', (f) => f.change(content(SIZE, 7), '"v2"'), /changed on the server since its directories were read \(412\)/],
    ['a server that ignores the conditions and names another ETag', (f) => { f.honoursConditions = false; f.change(content(SIZE, 7), '"v2"') }, /validator "v2", was "v1"/],
    ['a server that drops the ETag', (f) => { f.dropsEtag = true }, /without the validator the file was opened with/],
    ['another size under the same ETag', (f) => { f.honoursConditions = false; f.change(content(SIZE + 4), '"v1"') }, /now 1048580 bytes, was 1048576/],
    ['a server that answers If-Range with the whole file', (f) => { f.ignoresRange = true }, /changed on the server during the run$/]
  ]
  for (const [what, alter, message] of cases) {
    const { fake, src, record } = await setup(t)
    alter(fake)
    await rejectsWith(fetchMissing(src, [[0, 1000]], record()), 'SOURCE_CHANGED', message)
    assert.deepEqual(src.held, [], what)
    // Not retried: another request would meet the same new version.
    assert.equal(fake.requests.length, 1, what)
  }
})

test('each range carries the conditions that tie it to the version its directories came from', async (t) => {
  const { fake, src, record } = await setup(t)
  await fetchMissing(src, [[0, 10]], record())
  assert.deepEqual(fake.requests[0], { range: 'bytes=0-9', 'if-match': '"v1"', 'if-range': '"v1"' })
})

test('--max-bytes: a window over it is refused before any request; under it, every byte received is counted once', async (t) => {
  const { fake, src, record } = await setup(t, { maxBytes: 100_000 })
  const transfer = counter()
  await fetchMissing(src, [[0, 60_000]], record(transfer))
  assert.equal(transfer.bytes, 60_000)
  await rejectsWith(fetchMissing(src, [[200_000, 250_000]], record(transfer)), 'TOO_LARGE', /the window needs 50000 more bytes, over maxBytes 100000 with the 60000 this record has moved/)
  assert.equal(fake.requests.length, 1)
  assert.equal(transfer.bytes, 60_000)
})

test('a range cut short is fetched again (its bytes counted as they came), and held only once whole', async (t) => {
  const { fake, src, record, local } = await setup(t)
  const transfer = counter()
  fake.cuts.push(20_000)
  await fetchMissing(src, [[0, 50_000]], record(transfer))
  assert.deepEqual(fake.ranges(), ['bytes=0-49999', 'bytes=0-49999'])
  assert.equal(transfer.bytes, 70_000)
  assert.equal(transfer.attempts, 2)
  assert.deepEqual(await local(0, 50_000), fake.bytes.subarray(0, 50_000))
})

/** A RemoteFile of the fake file with nothing known yet, and a local file for its whole download: its
 * path, and the handle the download writes with (as the fetch stage opens one per record). */
async function wholeSetup (t: { after: (fn: () => Promise<void>) => void }, o: FakeOptions = {}) {
  const fake = new FakeTransport(content(), o)
  const dir = await mkdtemp(join(tmpdir(), 'remote-file-'))
  const path = join(dir, 'whole')
  const file = await open(path, 'w+')
  t.after(async () => {
    await file.close()
    await rm(dir, { recursive: true, force: true })
  })
  const transfer = counter()
  return { fake, transfer, remote: new RemoteFile(fake, transfer), path, file }
}

test('whole(): a body cut short resumes after what arrived, under If-Range; the file is whole and each byte counted once', async (t) => {
  const { fake, transfer, remote, path, file } = await wholeSetup(t)
  fake.cuts.push(300_000)
  await remote.whole(file)
  assert.deepEqual(fake.ranges(), [undefined, 'bytes=300000-'])
  assert.equal(fake.requests[1]['if-range'], '"v1"')
  assert.deepEqual(await readFile(path), fake.bytes)
  assert.equal(transfer.bytes, SIZE)
})

test('whole(): a resume that meets another version starts again from the first byte, never splicing two', async (t) => {
  const { fake, remote, path, file } = await wholeSetup(t)
  fake.cuts.push(300_000)
  // The server changes and ignores If-Range: the 206 names another ETag.
  const retrying = fake.retrying.bind(fake)
  let tries = 0
  fake.retrying = async (transfer, attempt) => await retrying(transfer, async () => {
    if (tries++ === 1) { fake.honoursConditions = false; fake.change(content(SIZE, 9), '"v2"') }
    return await attempt()
  })
  await remote.whole(file)
  assert.deepEqual(fake.ranges(), [undefined, 'bytes=300000-', undefined])
  assert.deepEqual(await readFile(path), content(SIZE, 9))
})

test('whole(): a file whose Content-Length is over --max-bytes is refused before its body', async (t) => {
  const { fake, transfer, remote, file } = await wholeSetup(t, { maxBytes: SIZE - 1 })
  await rejectsWith(remote.whole(file), 'TOO_LARGE', /body of 1048576 bytes is over maxBytes 1048575/)
  assert.equal(transfer.bytes, 0)
  assert.equal(fake.requests.length, 1)
})

test('head(): the first bytes into the file (only the first `keep` in memory) with the size and validator; a server that ignores Range gives the whole file in that one request', async (t) => {
  const ranged = await wholeSetup(t)
  const first = await ranged.remote.head(4096, 1024, ranged.file, () => undefined)
  assert.equal(first?.length, 4096)
  assert.deepEqual(first?.prefix, ranged.fake.bytes.subarray(0, 1024))
  assert.deepEqual(await readFile(ranged.path), ranged.fake.bytes.subarray(0, 4096))
  assert.equal(ranged.remote.size, SIZE)
  assert.equal(ranged.remote.validator, '"v1"')

  const whole = await wholeSetup(t)
  whole.fake.ignoresRange = true
  assert.equal(await whole.remote.head(4096, 1024, whole.file, () => undefined), null)
  assert.deepEqual(await readFile(whole.path), whole.fake.bytes)
  assert.equal(whole.fake.requests.length, 1)

  // Refused (as under --fetch range) before its body.
  const refused = await wholeSetup(t)
  refused.fake.ignoresRange = true
  await rejectsWith(refused.remote.head(4096, 1024, refused.file, () => new RecordError('fetch', 'RANGE_UNSUPPORTED', 'no')), 'RANGE_UNSUPPORTED')
  assert.equal(refused.transfer.bytes, 0)
})

test('a weak ETag is no validator: a whole download without one does not resume, it starts again', async (t) => {
  const { fake, remote, path, file } = await wholeSetup(t, { etag: 'W/"weak"' })
  fake.cuts.push(300_000)
  await remote.whole(file)
  assert.equal(remote.validator, undefined)
  assert.deepEqual(fake.ranges(), [undefined, undefined])
  assert.deepEqual(await readFile(path), fake.bytes)
})

test('bytes(): a small document whole into memory; one over the cap refused by its Content-Length, before its body', async () => {
  const fake = new FakeTransport(content(50_000))
  const transfer = counter()
  assert.deepEqual(await new RemoteFile(fake, transfer).bytes(50_000, () => new RecordError('fetch', 'TOO_LARGE', 'too big')), fake.bytes)
  assert.equal(transfer.bytes, 50_000)
  const refused = counter()
  await rejectsWith(new RemoteFile(fake, refused).bytes(49_999, () => new RecordError('fetch', 'TOO_LARGE', 'too big')), 'TOO_LARGE')
  assert.equal(refused.bytes, 0)
  assert.deepEqual(fake.ranges(), [undefined, undefined])
})
