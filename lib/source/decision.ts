// How a record's source is fetched, decided in one place from facts alone: what the user asked
// (--fetch), what the URL looks like, and what the first response said. No I/O here, so every case is a
// row of a table test (test/fetch-decision.test.ts).
import type { FetchMode } from '../run/options.js'

/** Files smaller than this are downloaded whole under `auto`: ranges would not pay. */
export const RANGE_MIN_SIZE = 1024 * 1024

/** Before any request: download at once, or probe with a first Range request. */
export function firstStep (mode: FetchMode, imageTile: boolean): 'download' | 'probe' {
  // Image tiles (PNG, JPEG, …) cannot be read in parts: under auto they are plain downloads, in one
  // request, as small tiles should be.
  return mode === 'download' || (mode === 'auto' && imageTile) ? 'download' : 'probe'
}

/** What the probe's answer showed. */
export interface ProbeFacts {
  mode: FetchMode
  /** The server answered 206 to the Range request (200 means it ignores Range). */
  ranges: boolean
  /** The file's size, when the server said it (Content-Range total, or Content-Length of a 200). */
  size?: number
  /** Bytes the probe brought. */
  head: number
  /** An ETag or Last-Modified that ties ranges to one version of the file. */
  validator: boolean
  /** The head starts like a TIFF or BigTIFF. */
  tiff: boolean
}

/**
 * After the probe: `done` (the probe brought the whole file), `download` (the rest, resuming after the
 * head), or `range` (read the TIFF's directories and then only the blocks a window needs).
 */
export function afterProbe (f: ProbeFacts): 'done' | 'download' | 'range' {
  if (!f.ranges) return 'done' // a 200 is the download itself, in that one request
  if (f.size !== undefined && f.head >= f.size) return 'done'
  // An unknown total can only be downloaded to its end; a non-TIFF has no blocks to plan.
  if (f.size === undefined || !f.tiff) return 'download'
  if (f.mode === 'range') return 'range'
  // Under auto: ranges need a validator (to tie every range to one version) and a file large enough.
  return f.validator && f.size >= RANGE_MIN_SIZE ? 'range' : 'download'
}

/** Once the directories are read: range reads, or (under auto) a download when they cannot pay or cannot be sure. */
export function afterDirectories (mode: FetchMode, layout: 'ok' | 'unreadable', structureBytes: number, size: number): 'range' | 'download' | 'error' {
  if (layout === 'unreadable') return mode === 'auto' ? 'download' : 'error'
  // Not worth it when the structure alone is most of the file.
  if (mode === 'auto' && structureBytes > size / 2) return 'download'
  return 'range'
}
