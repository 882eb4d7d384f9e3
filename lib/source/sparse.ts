// A sparse source: a local file the size of the remote one that holds only the byte ranges fetched so far
// (the head, the directories, the blocks of windows read). It owns what it knows of its URL (size and
// validator), which ranges it holds and which are in flight, so a block already being fetched by one
// record is awaited by another, not fetched twice (as geotiff.js's BlockedSource does).
import { open, type FileHandle } from 'node:fs/promises'
import { RecordError } from '../core/errors.js'
import { retrying } from '../http/retry.js'
import { checkPartial, discardBody, get, header, otherVersion, readBody, rejectStatus, type Headers, type RequestOptions, type Response, type Transfer } from '../http/response.js'
import { mergeRanges, missingRanges, totalBytes, type Range } from './ranges.js'
import type { SparseSource } from '../core/fetched.js'
import { option, words } from '../core/words.js'

/** Ranges closer than this are fetched as one request. */
export const MERGE_GAP = 64 * 1024

export type { SparseSource }

/**
 * Every range must come from the version of the file the probe saw: the same total size, and, when the
 * probe had a validator, the 206 must show that same one (ETag, or Last-Modified): a server that ignores
 * If-Match and If-Range, and drops the ETag on some answers, would otherwise mix two versions of one size,
 * silently (as a resumed download, lib/source/download.ts). Not retried as a request (it would meet the same
 * new version): the blocks stage restarts the record from a fresh probe.
 */
function checkVersion (src: SparseSource, total: number | undefined, h: Headers): void {
  if (total !== undefined && total !== src.size) {
    throw new RecordError('fetch', 'SOURCE_CHANGED', `${src.url}: the file changed on the server during the run (now ${total} bytes, was ${src.size})`)
  }
  if (src.validator === undefined) return
  const seen = header(h, src.validator.startsWith('"') ? 'etag' : 'last-modified')
  if (seen !== src.validator) {
    throw new RecordError('fetch', 'SOURCE_CHANGED', seen === undefined
      ? `${src.url}: a range came without the validator the file was opened with (${src.validator}); not known to be the same version`
      : `${src.url}: the file changed on the server during the run (validator ${seen}, was ${src.validator})`)
  }
}

/**
 * The headers that tie a range to the version whose directories were read: If-Match (an ETag) or
 * If-Unmodified-Since (a Last-Modified date) makes a server that honours them answer 412 rather than
 * bytes of another version; If-Range makes one that honours only that answer 200. Whatever the server
 * honours, the 206's own validator and size are checked too (checkVersion).
 */
function conditions (validator: string): Record<string, string> {
  const guard = validator.startsWith('"') ? 'if-match' : 'if-unmodified-since'
  return { [guard]: validator, 'if-range': validator }
}

/**
 * A refusal that says the file is another version now: 412 to the condition, or 416 (a range past the end)
 * naming another size, as a server that ignores the condition answers for a file that shrank.
 */
function changed (src: SparseSource, res: Response): boolean {
  if (res.statusCode === 412) return src.validator !== undefined
  if (res.statusCode !== 416) return false
  const total = /^bytes \*\/(\d+)$/.exec(header(res.headers as Headers, 'content-range') ?? '')
  return (total !== null && Number(total[1]) !== src.size) || otherVersion(res.headers as Headers, src.validator)
}

/**
 * Fetches [start, end) into the open file at the same offset; the response must be exactly that range of
 * the same version of the file. The body streams into the file: memory holds one chunk, whatever the
 * range's size. A range is only marked held by the caller once whole, so a truncated one is fetched again.
 */
async function fetchRange (src: SparseSource, file: FileHandle, [start, end]: Range, o: RequestOptions, transfer: Transfer): Promise<void> {
  const url = src.url
  await retrying(url, o, transfer, async () => {
    const headers: Record<string, string> = { range: `bytes=${start}-${end - 1}` }
    if (src.validator) Object.assign(headers, conditions(src.validator))
    const res = await get(url, o, headers)
    if (changed(src, res)) {
      await res.body.dump().catch(() => undefined)
      throw new RecordError('fetch', 'SOURCE_CHANGED', `${url}: the file changed on the server since its directories were read (${res.statusCode})`)
    }
    if (res.statusCode === 200) {
      discardBody(res.body)
      throw new RecordError('fetch', src.validator ? 'SOURCE_CHANGED' : 'RANGE_UNSUPPORTED',
        src.validator ? `${url}: the file changed on the server during the run` : `${url}: the server stopped honouring Range requests`)
    }
    if (res.statusCode !== 206) await rejectStatus(res, url, o)
    checkPartial(res, url, start, end - 1, (range, h) => checkVersion(src, range.total, h))
    const over = (): RecordError | undefined => transfer.bytes > o.maxBytes
      ? new RecordError('fetch', 'TOO_LARGE', words`${url}: this record has moved ${transfer.bytes} bytes, over ${option('maxBytes')} ${o.maxBytes}`)
      : undefined
    await readBody(res.body, url, transfer, { length: end - start, label: ` of range ${start}-${end - 1}`, over },
      (chunk, offset) => file.write(chunk, 0, chunk.length, start + offset))
    src.unverified = false
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
 * is fetching already are awaited instead; if that fetch fails, this record tries them itself.
 */
export async function fetchMissing (src: SparseSource, wanted: Range[], o: RequestOptions, transfer: Transfer): Promise<void> {
  const first = stillMissing(src, wanted)
  if (first.length === 0) {
    // Bytes from an earlier run's cache, and no request to tie them to this run's version: ask for one byte, conditionally.
    if (src.unverified) await (src.verifying ??= fetchRanges(src, [[0, 1]], o, transfer).finally(() => { src.verifying = undefined }))
    return
  }
  const needed = totalBytes(first)
  if (transfer.bytes + needed > o.maxBytes) {
    throw new RecordError('fetch', 'TOO_LARGE', words`${src.url}: the window needs ${needed} more bytes, over ${option('maxBytes')} ${o.maxBytes} with the ${transfer.bytes} this record has moved`)
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
async function fetchRanges (src: SparseSource, ranges: Range[], o: RequestOptions, transfer: Transfer): Promise<void> {
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
