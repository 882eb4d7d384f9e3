// A sparse source: a local file the size of the remote one that holds only the byte ranges fetched so far
// (the head, the directories, the blocks of windows read). It owns what it knows of its URL (size and
// validator), which ranges it holds and which are in flight, so a block already being fetched by one
// record is awaited by another, not fetched twice (as geotiff.js's BlockedSource does).
import type { FileHandle } from 'node:fs/promises'
import { mergeRanges, missingRanges, totalBytes, type Range } from './ranges.js'
import type { SparseSource } from '../core/fetched.js'
import type { RemoteFile } from './remote-file.js'
import { BatchedWrites } from './batched-writes.js'

/** Ranges closer than this are fetched as one request. */
export const MERGE_GAP = 64 * 1024

export type { SparseSource }

/**
 * Fetches [start, end) into the open file at the same offset (RemoteFile.read checks the answer is that
 * range of the source's version). A range is only marked held by the caller once whole, so a truncated
 * one is fetched again.
 */
async function fetchRange (src: SparseSource, file: FileHandle, [start, end]: Range, remote: RemoteFile): Promise<void> {
  const writes = new BatchedWrites(file, start)
  await remote.read([start, end], async (chunk, offset) => await writes.add(chunk, start + offset))
  await writes.flush()
  src.unverified = false
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
export async function fetchMissing (src: SparseSource, wanted: Range[], remote: RemoteFile): Promise<void> {
  const first = stillMissing(src, wanted)
  if (first.length === 0) {
    // Bytes from an earlier run's cache, and no request to tie them to this run's version: ask for one byte, conditionally.
    if (src.unverified) await (src.verifying ??= fetchRanges(src, [[0, 1]], remote).finally(() => { src.verifying = undefined }))
    return
  }
  remote.reserve(totalBytes(first))
  for (let missing = first; missing.length > 0; missing = stillMissing(src, wanted)) {
    const others = src.inFlight.filter(({ range: [a, b] }) => missing.some(([c, d]) => a < d && c < b))
    const mine = missingRanges(missing, mergeRanges(src.inFlight.map((f) => [...f.range] as Range)))
    if (mine.length > 0) await fetchRanges(src, mine, remote)
    // Another record's fetch that failed leaves its ranges missing: the loop fetches them itself.
    await Promise.allSettled(others.map((f) => f.done))
  }
}

/**
 * Fetches ranges in parallel into the sparse file. Each is registered as in flight before the first
 * await, so that a record planning the same blocks a moment later finds them and waits.
 */
async function fetchRanges (src: SparseSource, ranges: Range[], remote: RemoteFile): Promise<void> {
  // In parallel: the ranges of one window are one round trip, not one each.
  const results = await Promise.allSettled(ranges.map((range) => {
    const entry = { range, done: fetchRange(src, src.file, range, remote) }
    src.inFlight.push(entry)
    return entry.done
      .then(() => { src.held = mergeRanges([...src.held, range]) })
      .finally(() => { src.inFlight.splice(src.inFlight.indexOf(entry), 1) })
  }))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}
