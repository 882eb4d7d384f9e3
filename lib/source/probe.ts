// Range mode's first request: it both probes the server and brings the file's head. Its answer (and then
// the TIFF's directories) decide, through decideFetch, whether the record downloads the file or reads it
// by ranges from a sparse local file (lib/source/sparse.ts).
import type { FileHandle } from 'node:fs/promises'
import { RecordError } from '../core/errors.js'
import { header, validatorWeakness } from '../http/response.js'
import type { RemoteFile } from './remote-file.js'
import { decideFetch, PROBE_BYTES, type FetchFacts } from './decision.js'
import type { ProbeSizes } from './probe-sizes.js'
import { mergeRanges, missingRanges, totalBytes, type Range } from './ranges.js'
import { fetchMissing, type SparseSource } from './sparse.js'
import { looksLikeTiff, NotTiff, readTiff } from './tiff.js'
import { option, words } from '../core/words.js'

export { PROBE_BYTES }

/** A source read by ranges carries, beside its sparse file, what a header cache keeps of it: the facts its
 * decision was made on, and the ranges it needs on open (`keep`: the head as far as its directories reach,
 * and the structure). */
export type Probed = { kind: 'download', path: string } | { kind: 'range', source: SparseSource, layout: SparseLayout, keep: Range[] }

/** What the decision to read by ranges was made on, beside the source's size and validator: what a
 * header cache keeps so that a later run decides the same without a request. */
export interface SparseLayout {
  /** Bytes the probe brought. */
  head: number
  /** The header, directories and out-of-line tags as the decision weighed them. */
  structureBytes: number
}

/** What a header cache gives back (lib/source/header-cache.ts): the source's facts and the ranges it held. */
export interface CachedHead extends SparseLayout {
  size: number
  validator: string
  ranges: Range[]
  bytes: Buffer
}

/**
 * The first request: `Range: bytes=0-…`, of the size `sizes` gives for its host (and mode). A whole small
 * file or a server that ignores Range is a download done in that one request (under `--fetch range`,
 * refused before its body); a large TIFF whose directories sit at its head, with a strong validator,
 * becomes a sparse source; anything else downloads the rest, resuming after the bytes already here where
 * a strong validator guards the resume. The head streams to `path`; only its first PROBE_BYTES are held
 * in memory, for the directories.
 */
export async function probe (remote: RemoteFile, local: TempFile, facts: FetchFacts, sizes: ProbeSizes): Promise<Probed> {
  const { path, file } = local
  const url = remote.url
  const first = await remote.head(sizes.size(url, facts.mode), PROBE_BYTES, file, (h) => {
    if (decideFetch({ ...facts, probe: { ranges: false, head: 0, validator: false, tiff: false } }) !== 'RANGE_UNSUPPORTED') return undefined
    const length = header(h, 'content-length')
    // Not retried: another request would meet the same server.
    const answered = `${url}: the server answered a Range request with the whole file (HTTP 200${length !== undefined ? `, ${length} bytes` : ''})`
    return new RecordError('fetch', 'RANGE_UNSUPPORTED',
      words`${answered}: ${option('fetch', 'range')} reads only ranges, and this body was not read (${option('fetch', 'auto')} downloads it)`)
  })
  if (first === null) return { kind: 'download', path }
  const { prefix, length: head, headers } = first
  const seen = { ...(remote.size !== undefined ? { size: remote.size } : {}), head }
  const probed = { ...facts, probe: { ranges: true, size: remote.size, head, validator: remote.validator !== undefined, tiff: looksLikeTiff(prefix) } }
  const next = decideFetch(probed)
  if (next === 'WEAK_VALIDATOR') {
    const weak = `${url}: ${validatorWeakness(headers)}: without a strong validator (RFC 9110 8.8) ranges cannot be tied to one version of the file`
    throw new RecordError('fetch', 'WEAK_VALIDATOR', words`${weak}, so ${option('fetch', 'range')} refuses it (${option('fetch', 'auto')} downloads it whole)`)
  }
  if (next === 'directories') {
    const opened = await openSparse(local, { prefix, length: head }, probed, remote)
    if (opened) {
      sizes.learn(url, { ...seen, headNeeded: opened.reach })
      // A header cache keeps the head only as far as the directories were read in it.
      const kept = Math.min(head, Math.max(PROBE_BYTES, opened.reach))
      const keep = mergeRanges([[0, kept], ...opened.source.info.structure.map(([a, b]): Range => [a, Math.min(b, opened.source.size)])])
      return { kind: 'range', source: opened.source, layout: { head: kept, structureBytes: opened.structureBytes }, keep }
    }
    await file.truncate(head)
  }
  sizes.learn(url, seen)
  if (next !== 'done') await remote.whole(file, head)
  return { kind: 'download', path }
}

/**
 * A source opened from a header cache's entry instead of a probe: no request, and the same decisions,
 * replayed on the facts the probe found (size, validator, head, structure). Null when they do not choose
 * ranges under this run's --fetch: the caller probes as usual.
 */
export async function openCached (remote: RemoteFile, local: TempFile, entry: CachedHead, facts: FetchFacts): Promise<Probed | null> {
  const head = entry.bytes.subarray(0, entry.head)
  const probed = { ...facts, probe: { ranges: true, size: entry.size, head: head.length, validator: true, tiff: looksLikeTiff(head) } }
  if (decideFetch(probed) !== 'directories') return null
  await local.file.write(head, 0, head.length, 0)
  const opened = await openSparse(local, { prefix: head, length: head.length }, probed, remote, entry)
  // Nothing of this run has tied the cached bytes to the file's current version yet.
  if (opened) opened.source.unverified = true
  return opened ? { kind: 'range', source: opened.source, layout: { head: entry.head, structureBytes: entry.structureBytes }, keep: entry.ranges } : null
}

/** The record's temp file: its path (for GDAL) and the one handle rasterpipe writes and reads it with. */
export interface TempFile {
  path: string
  file: FileHandle
}

/** Stops a directory walk that would need a request decideFetch does not allow. */
class OutsideHead extends Error {}

/**
 * Reads the TIFF's directories (from the head, or by ranges where decideFetch allows) into a sparse local
 * file holding the head and every directory; null when the file is to be downloaded instead. `reach`: the
 * bytes from the start the directories were read in (within the head).
 */
async function openSparse ({ path, file }: TempFile, head: { prefix: Buffer, length: number }, facts: FetchFacts, remote: RemoteFile,
  cached?: CachedHead): Promise<{ source: SparseSource, structureBytes: number, reach: number } | null> {
  const { url, validator } = remote
  const size = remote.size as number
  const src: SparseSource = { url, path, file, size, info: { ifds: [], structure: [] }, held: [[0, head.length]], inFlight: [] }
  if (validator !== undefined) src.validator = validator
  let reach = 0
  let layout: 'ok' | 'outside-head' | 'unreadable' = 'ok'
  let why = ''
  await file.truncate(size)
  if (cached) {
    // The file then holds what it held when the entry was written: the head and every directory.
    let at = 0
    for (const [a, b] of cached.ranges) {
      await file.write(cached.bytes, at, b - a, a)
      at += b - a
    }
    src.held = mergeRanges([...src.held, ...cached.ranges])
  }
  // Directories outside the head cost a request each; a COG has none, a TIFF written front to back
  // has its directory at the end. Asked whether they may be followed even when a cache holds them, so
  // that a cached source is read by ranges exactly when a probe would have chosen to.
  const read = async (offset: number, length: number): Promise<Buffer> => {
    const range: Range = [offset, Math.min(offset + length, size)]
    if (range[1] <= head.prefix.length) {
      reach = Math.max(reach, range[1])
      return head.prefix.subarray(range[0], range[1])
    }
    if (range[1] <= head.length) reach = Math.max(reach, range[1])
    else {
      if (decideFetch({ ...facts, directories: { layout: 'outside-head', structureBytes: 0 } }) !== 'directories') throw new OutsideHead()
      if (missingRanges([range], src.held).length > 0) await fetchMissing(src, [range], remote)
    }
    const buf = Buffer.alloc(range[1] - range[0])
    await file.read(buf, 0, buf.length, range[0])
    return buf
  }
  try {
    src.info = await readTiff(read, size)
  } catch (err) {
    if (err instanceof RecordError) throw err
    // Not laid out for ranges, or not as we can be sure libtiff reads it.
    layout = err instanceof OutsideHead ? 'outside-head' : 'unreadable'
    why = err instanceof NotTiff ? err.message : 'its directories could not be followed'
  }
  // The structure is judged before it is fetched, with the first PROBE_BYTES (however much the first
  // request brought); from a cache, as it was judged then (the cache holds more than was held at that moment).
  const structureBytes = cached?.structureBytes ?? totalBytes(mergeRanges([[0, Math.min(head.length, PROBE_BYTES)], ...src.info.structure]))
  const next = decideFetch({ ...facts, directories: { layout, structureBytes } })
  if (next === 'BAD_TIFF') throw new RecordError('fetch', 'BAD_TIFF', `${url}: cannot be read by ranges: ${why}`)
  if (next !== 'range') return null
  await fetchMissing(src, src.info.structure, remote)
  for (const [a, b] of src.info.structure) if (a < head.length) reach = Math.max(reach, Math.min(b, head.length))
  return { source: src, structureBytes, reach }
}
