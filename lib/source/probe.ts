// Range mode's source: the first request both probes the server and brings the file's head; a TIFF laid
// out like a COG then becomes a sparse local file that holds only the header and the blocks a window
// needs, fetched by undici with merged byte ranges. GDAL opens and decodes that local file, so network
// waits never hold a libuv pool thread. The ranges held are tracked, and GDAL is only asked for windows
// whose blocks are all held.
import { open, truncate, writeFile, type FileHandle } from 'node:fs/promises'
import { RecordError } from '../errors.js'
import { acceptFull, checkIdentity, contentRange, download, otherVersion, get, header, receiveBody, retrying, strongValidator, tooLarge, type DownloadOptions, type Headers, type Progress, type Transfer } from './download.js'
import { statusError } from '../http/errors.js'
import { mergeRanges, missingRanges, totalBytes, type Range } from './ranges.js'
import { looksLikeTiff, NotTiff, readTiff, type TiffInfo } from './tiff.js'
import type { FetchMode } from '../run/options.js'
import { afterDirectories, afterProbe } from './decision.js'

/** Bytes asked for by the first request: enough for a COG's header and directories. */
export const PROBE_BYTES = 64 * 1024
/** Ranges closer than this are fetched as one request. */
export const MERGE_GAP = 64 * 1024

export interface SparseSource {
  url: string
  path: string
  size: number
  validator?: string
  info: TiffInfo
  held: Range[]
  /** Ranges being fetched now, by any record: a block in flight is awaited, never fetched twice. */
  inFlight: { range: Range, done: Promise<void> }[]
}

export type Probed = { kind: 'download', path: string } | { kind: 'range', source: SparseSource }

/**
 * The first `want` bytes of a body, in memory, counted. A server may send more than was asked (a 206 of
 * 1.5 GB to a 64 KiB probe): reading stops at `want`, so memory is bounded by what was asked, not by what
 * was sent. Fewer bytes than `want` is a retryable TRUNCATED.
 */
async function readHead (body: AsyncIterable<Buffer> & { destroy: () => void }, want: number, url: string, transfer: Transfer): Promise<Buffer> {
  const chunks: Buffer[] = []
  let got = 0
  for await (const chunk of body) {
    const piece = chunk.subarray(0, want - got)
    transfer.bytes += chunk.length
    got += piece.length
    chunks.push(piece)
    if (got >= want) { body.destroy(); break }
  }
  if (got < want) throw new RecordError('fetch', 'TRUNCATED', `${url}: received ${got} of ${want} bytes`, true)
  return Buffer.concat(chunks, got)
}

/**
 * Every range must come from the version of the file the probe saw: the same total size, and the same
 * validator when the server sends one. A server that ignores If-Range (or sends none) would otherwise mix
 * two versions of a file, silently. Not retried as a request (it would meet the same new version): the
 * blocks stage restarts the record from a fresh probe.
 */
function checkVersion (src: SparseSource, total: number | undefined, h: Headers): void {
  if (total !== undefined && total !== src.size) {
    throw new RecordError('fetch', 'SOURCE_CHANGED', `${src.url}: the file changed on the server during the run (now ${total} bytes, was ${src.size})`)
  }
  if (otherVersion(h, src.validator)) {
    throw new RecordError('fetch', 'SOURCE_CHANGED', `${src.url}: the file changed on the server during the run (validator ${strongValidator(h) ?? '?'}, was ${src.validator})`)
  }
}

/**
 * Fetches [start, end) into the open file at the same offset; the response must be exactly that range of
 * the same version of the file. The body streams into the file: memory holds one chunk, whatever the
 * range's size. A range is only marked held by the caller once whole, so a truncated one is fetched again.
 */
async function fetchRange (src: SparseSource, file: FileHandle, [start, end]: Range, o: DownloadOptions, transfer: Transfer): Promise<void> {
  const url = src.url
  await retrying(url, o, transfer, async () => {
    const headers: Record<string, string> = { range: `bytes=${start}-${end - 1}` }
    if (src.validator) headers['if-range'] = src.validator
    const res = await get(url, o, headers)
    const h = res.headers as Headers
    if (res.statusCode === 200) {
      res.body.destroy()
      throw new RecordError('fetch', src.validator ? 'SOURCE_CHANGED' : 'NO_RANGES',
        src.validator ? `${url}: the file changed on the server during the run` : `${url}: the server stopped honouring Range requests`)
    }
    if (res.statusCode !== 206) {
      await res.body.dump().catch(() => undefined)
      throw statusError(res.statusCode, h, url)
    }
    try {
      checkIdentity(url, h)
      const range = contentRange(h)
      if (range) checkVersion(src, range.total, h)
      if (!range || range.start !== start || range.end !== end - 1) {
        throw new RecordError('fetch', 'BAD_RANGE', `${url}: asked for bytes ${start}-${end - 1}, got ${header(h, 'content-range') ?? 'no Content-Range'}`, true)
      }
    } catch (err) {
      res.body.destroy()
      throw err
    }
    let at = start
    for await (const chunk of res.body) {
      transfer.bytes += chunk.length
      if (transfer.bytes > o.maxBytes) {
        res.body.destroy()
        throw new RecordError('fetch', 'TOO_LARGE', `${url}: this record has moved ${transfer.bytes} bytes, over --max-bytes ${o.maxBytes}`)
      }
      if (at + chunk.length > end) {
        res.body.destroy()
        throw new RecordError('fetch', 'BAD_RANGE', `${url}: sent more than the ${end - start} bytes of range ${start}-${end - 1}`, true)
      }
      await file.write(chunk, 0, chunk.length, at)
      at += chunk.length
    }
    if (at !== end) throw new RecordError('fetch', 'TRUNCATED', `${url}: received ${at - start} of ${end - start} bytes of range ${start}-${end - 1}`, true)
  })
}

/** The ranges of `wanted` not held, merged when close, clamped to the file; never an empty one. */
function stillMissing (src: SparseSource, wanted: Range[]): Range[] {
  return mergeRanges(missingRanges(mergeRanges(wanted), src.held), MERGE_GAP)
    .map(([a, b]): Range => [a, Math.min(b, src.size)])
    // Block padding past the last byte of the file clamps to nothing: never ask for an empty range
    // (`bytes=N-(N-1)` is invalid, and servers answer it with 416 or the whole file).
    .filter(([a, b]) => b > a)
}

/**
 * Fetches every range not yet held, merging close ones, and records them as held. Ranges another record
 * is fetching already are awaited instead (as geotiff.js's BlockedSource does); if that fetch fails,
 * this record tries them itself.
 */
export async function fetchMissing (src: SparseSource, wanted: Range[], o: DownloadOptions, transfer: Transfer): Promise<void> {
  const first = stillMissing(src, wanted)
  if (first.length === 0) return
  const needed = totalBytes(first)
  if (transfer.bytes + needed > o.maxBytes) {
    throw new RecordError('fetch', 'TOO_LARGE', `${src.url}: the window needs ${needed} more bytes, over --max-bytes ${o.maxBytes} with the ${transfer.bytes} this record has moved`)
  }
  for (let missing = first; missing.length > 0; missing = stillMissing(src, wanted)) {
    const others = src.inFlight.filter(({ range: [a, b] }) => missing.some(([c, d]) => a < d && c < b))
    const mine = missingRanges(missing, mergeRanges(src.inFlight.map((f) => [...f.range] as Range)))
    if (mine.length > 0) await fetchRanges(src, mine, o, transfer)
    // Another record's fetch that failed leaves its ranges missing: the loop fetches them itself.
    await Promise.allSettled(others.map((f) => f.done))
  }
}

/**
 * Fetches ranges in parallel into the sparse file. Each is registered as in flight before the first
 * await, so that a record planning the same blocks a moment later finds them and waits.
 */
async function fetchRanges (src: SparseSource, ranges: Range[], o: DownloadOptions, transfer: Transfer): Promise<void> {
  const file = open(src.path, 'r+')
  // In parallel: the ranges of one window are one round trip, not one each. All settle before the file
  // closes, so no late write meets a closed handle.
  const results = await Promise.allSettled(ranges.map((range) => {
    const entry = { range, done: file.then((f) => fetchRange(src, f, range, o, transfer)) }
    src.inFlight.push(entry)
    return entry.done
      .then(() => { src.held = mergeRanges([...src.held, range]) })
      .finally(() => { src.inFlight.splice(src.inFlight.indexOf(entry), 1) })
  }))
  await (await file.catch(() => null))?.close()
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}

/**
 * The first request: `Range: bytes=0-…`. Its answer decides the mode (unless --fetch download): a whole
 * small file or a server that ignores Range is a download done in that one request; a large TIFF whose
 * directories sit at its head becomes a sparse source; anything else downloads the rest, resuming after
 * the bytes already here.
 */
export async function probe (url: string, path: string, mode: FetchMode, o: DownloadOptions, transfer: Transfer): Promise<Probed> {
  const state: Progress = { written: 0, rangesOk: false }
  const head = await retrying(url, o, transfer, async () => {
    const res = await get(url, o, { range: `bytes=0-${PROBE_BYTES - 1}` })
    const h = res.headers as Headers
    if (res.statusCode === 200) {
      // Range ignored: this is the download, in this one request.
      acceptFull(state, h)
      if (state.total !== undefined && state.total > o.maxBytes) { res.body.destroy(); throw tooLarge(url, state.total, o.maxBytes) }
      await receiveBody(res.body, url, path, false, state, o, transfer)
      return null
    }
    if (res.statusCode !== 206) {
      await res.body.dump().catch(() => undefined)
      throw statusError(res.statusCode, h, url)
    }
    const range = contentRange(h)
    try {
      checkIdentity(url, h)
      if (!range || range.start !== 0) throw new RecordError('fetch', 'BAD_RANGE', `${url}: unusable Content-Range '${header(h, 'content-range') ?? ''}'`, true)
    } catch (err) {
      res.body.destroy()
      throw err
    }
    // A total of '*' (unknown length) can only be downloaded to its end.
    state.total = range.total
    state.validator = strongValidator(h)
    state.rangesOk = true
    // No size check here: --max-bytes limits what a record moves, and a range read of a file over it
    // may move far less. Should this become a download, download() refuses it before its body.
    return readHead(res.body, Math.min(range.end + 1, PROBE_BYTES), url, transfer)
  })
  if (head === null) return { kind: 'download', path }
  await writeFile(path, head)
  state.written = head.length
  const next = afterProbe({ mode, ranges: true, size: state.total, head: head.length, validator: state.validator !== undefined, tiff: looksLikeTiff(head) })
  if (next === 'done') return { kind: 'download', path }
  if (next === 'range') {
    const source = await asSparse(url, path, head, state.total as number, state.validator, mode, o, transfer)
    if (source) return { kind: 'range', source }
    await truncate(path, head.length)
  }
  await download(url, path, o, transfer, state)
  return { kind: 'download', path }
}

/** A sparse local file holding the head and every directory; null when the TIFF is not laid out for it. */
async function asSparse (url: string, path: string, head: Buffer, size: number, validator: string | undefined, mode: FetchMode,
  o: DownloadOptions, transfer: Transfer): Promise<SparseSource | null> {
  const src: SparseSource = { url, path, size, info: { ifds: [], structure: [] }, held: [[0, head.length]], inFlight: [] }
  if (validator !== undefined) src.validator = validator
  const file = await open(path, 'r+')
  try {
    await file.truncate(size)
  } finally {
    await file.close()
  }
  // Directories outside the head cost a request each; a COG has none, a TIFF written front to back
  // has its directory at the end. Under `auto`, needing one means: download instead.
  const read = async (offset: number, length: number): Promise<Buffer> => {
    const range: Range = [offset, Math.min(offset + length, size)]
    if (range[1] <= head.length) return head.subarray(range[0], range[1])
    if (missingRanges([range], src.held).length > 0) {
      if (mode === 'auto') throw new NotCogLike()
      await fetchMissing(src, [range], o, transfer)
    }
    const f = await open(path, 'r')
    try {
      const buf = Buffer.alloc(range[1] - range[0])
      await f.read(buf, 0, buf.length, range[0])
      return buf
    } finally {
      await f.close()
    }
  }
  let why = ''
  try {
    src.info = await readTiff(read, size)
  } catch (err) {
    if (err instanceof RecordError) throw err
    // Not laid out for ranges, or not as we can be sure libtiff reads it.
    why = err instanceof NotTiff ? err.message : 'its directories could not be followed'
  }
  // The structure is judged before it is fetched.
  const next = afterDirectories(mode, why ? 'unreadable' : 'ok', totalBytes(mergeRanges([...src.held, ...src.info.structure])), size)
  if (next === 'error') throw new RecordError('fetch', 'BAD_TIFF', `${url}: cannot be read by ranges: ${why}`)
  if (next === 'download') return null
  await fetchMissing(src, src.info.structure, o, transfer)
  return src
}

class NotCogLike extends Error {}
