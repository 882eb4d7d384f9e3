// How a record's source is fetched, decided in one place from facts alone: what the user asked
// (--fetch), what the URL looks like, and what the first response said. No I/O here, so every case is a
// row of a table test (test/fetch-decision.unit.test.ts).
import type { FetchMode } from '../core/options.js'

/** Files smaller than this are downloaded whole under `auto`: ranges would not pay. It is also the first
 * request's size under `auto` on a host not yet known to serve large tiled files: such a file comes whole
 * in that one request. */
export const RANGE_MIN_SIZE = 1024 * 1024

/** The first request's size under `range`, and the least under `auto`: enough for a COG's header and directories. */
export const PROBE_BYTES = 64 * 1024

/** What is known of a record's source so far; each step of the fetch adds its facts and asks again. */
export interface FetchFacts {
  /** --fetch */
  mode: FetchMode
  /** The URL's path ends like an image tile (PNG, JPEG, WebP, …): a format that cannot be read in parts. */
  imageTile: boolean
  /** What the first (Range) request's answer showed; absent before it is made. */
  probe?: ProbeFacts
  /** What reading the TIFF's directories showed; absent before they are read. */
  directories?: DirectoryFacts
  /** Ranges of this source met another version of it, and again after a fresh probe: a file that keeps
   * changing, or a server whose ETag changes between answers (several nodes, each tagging the file its own way). */
  changedTwice?: boolean
}

export interface ProbeFacts {
  /** The server answered 206 to the Range request (200 means it ignores Range). */
  ranges: boolean
  /** The file's size, when the server said it (Content-Range total, or Content-Length of a 200). */
  size?: number
  /** Bytes the probe brought. */
  head: number
  /** A strong validator (RFC 9110 8.8: a strong ETag, or a Last-Modified a second or more before the answer's
   * Date) that ties ranges to one version of the file. Without one, ranges of two versions could be mixed. */
  validator: boolean
  /** The head starts like a TIFF or BigTIFF. */
  tiff: boolean
}

export interface DirectoryFacts {
  /** `outside-head`: a directory or tag lies past the probe's bytes (a TIFF written front to back), and
   * following it costs a request; `unreadable`: not laid out as we can be sure libtiff reads it. */
  layout: 'ok' | 'outside-head' | 'unreadable'
  /** Bytes of the header, directories and out-of-line tags together. */
  structureBytes: number
}

/** Why `--fetch range` refuses a source, as the record's error code. */
export type Refusal = 'BAD_TIFF' | 'WEAK_VALIDATOR' | 'RANGE_UNSUPPORTED' | 'SOURCE_CHANGED'

/**
 * The next step: `download` the file whole (or the rest, after the probe's head), `probe` with a first
 * Range request, `done` (the probe brought the whole file), `directories` (read, or go on reading, the
 * TIFF's directories by ranges), `range` (fetch only the blocks each window needs), or a refusal (ranges
 * were asked for and cannot be sure; auto downloads instead).
 */
export function decideFetch (f: FetchFacts): 'download' | 'probe' | 'done' | 'directories' | 'range' | Refusal {
  // A source that changed under ranges twice: one whole download is the sure read of one version.
  if (f.changedTwice === true) return f.mode === 'range' ? 'SOURCE_CHANGED' : 'download'
  // Image tiles cannot be read in parts: under auto they are plain downloads, in one request.
  if (f.probe === undefined) return f.mode === 'download' || (f.mode === 'auto' && f.imageTile) ? 'download' : 'probe'
  const p = f.probe
  // A 200 is the download itself, in that one request; asked for ranges, it is refused (its body unread).
  if (!p.ranges) return f.mode === 'range' ? 'RANGE_UNSUPPORTED' : 'done'
  if (p.size !== undefined && p.head >= p.size) return 'done'
  // An unknown total can only be downloaded to its end; a non-TIFF has no blocks to plan.
  if (p.size === undefined || !p.tiff) return 'download'
  // Ranges need a strong validator, to tie every range to one version: without one, two versions of one
  // size could be mixed unseen. Under auto, a file large enough for ranges to pay, too.
  if (!p.validator) return f.mode === 'range' ? 'WEAK_VALIDATOR' : 'download'
  if (f.mode === 'auto' && p.size < RANGE_MIN_SIZE) return 'download'
  const d = f.directories
  if (d === undefined) return 'directories'
  if (d.layout !== 'ok') {
    // Asked for ranges: directories past the head are fetched; an unreadable layout is an error.
    if (f.mode === 'range') return d.layout === 'outside-head' ? 'directories' : 'BAD_TIFF'
    return 'download'
  }
  // Not worth it when the structure alone is most of the file.
  return f.mode === 'auto' && d.structureBytes > p.size / 2 ? 'download' : 'range'
}

/** What one host's sources have shown so far, for the size of the next first request to it. */
export interface HostFacts {
  /** The bytes from the start that the header and directories of its files read by ranges reached (the most
   * of any since the last small file that did not come whole in its first request). */
  headNeeded?: number
}

/** What one first request to a host showed. */
export interface ProbeOutcome {
  /** The file's size, when known. */
  size?: number
  /** Bytes the first request brought. */
  head: number
  /** Read by ranges: the bytes from the start its header and directories reached. */
  headNeeded?: number
}

/**
 * The first request's size. Under `range`, PROBE_BYTES: only what a COG's header needs, as ranges were
 * asked for. Under `auto`, RANGE_MIN_SIZE until the host's files have shown themselves large and read by
 * ranges (every file under it then costs one request), then twice what their headers reached, no less than
 * PROBE_BYTES: a COG's first request does not bring a MiB of blocks it may not need.
 */
export function probeSize (mode: FetchMode, host: HostFacts): number {
  if (mode !== 'auto') return PROBE_BYTES
  if (host.headNeeded === undefined) return RANGE_MIN_SIZE
  return Math.min(RANGE_MIN_SIZE, Math.max(PROBE_BYTES, 2 * host.headNeeded))
}

/** A host's facts after one more first request to it. */
export function learnHost (host: HostFacts, seen: ProbeOutcome): HostFacts {
  // A small file that needed a second request: small files come whole in the first again.
  if (seen.size !== undefined && seen.size < RANGE_MIN_SIZE && seen.head < seen.size) return {}
  if (seen.headNeeded === undefined) return host
  return { headNeeded: Math.max(host.headNeeded ?? 0, seen.headNeeded) }
}
