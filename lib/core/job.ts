// The unit that flows through the chain: one input record, what the stages learnt about it, and the
// resources it holds (a local copy, open datasets) until the last stage lets them go.
import type { RecordError } from './errors.js'
import type { Dataset } from 'gdal-async'
import type { PixelWindow, WindowRequest } from './request.js'
import type { CacheUse, ChipStats, FetchKind, Grid, SourceInfo, StackSource, StacRecord, Status, Timings } from './records.js'
import type { SparseSource } from './fetched.js'


/** A local file a record reads from; `release` is called exactly once when the record is done. */
export interface LocalSource {
  path: string
  /** Downloaded (and so opened with the raster allow-list only), or a user's own local file. */
  downloaded: boolean
  /** In range mode: the sparse file's remote source and what it holds. */
  sparse?: SparseSource
  release: () => Promise<void>
}

export interface Job {
  line: number
  input?: string
  id?: string
  url: string
  request: WindowRequest
  /** Extra request headers (--header, then the record's own): for the URL's own origin only. */
  headers: Record<string, string>
  /** Output path as the user will see it (out-dir joined with the name). */
  output?: string
  /** The record's own `out` field, as given: part of what identifies it (its shard, its retry record). */
  out?: string
  /** Absolute output path. */
  outputPath?: string
  status?: Status
  error?: RecordError
  fetch?: FetchKind
  bytes: number
  attempts: number
  local?: LocalSource
  dataset?: Dataset
  pixels?: Dataset
  source?: SourceInfo
  georeferenced?: boolean
  window?: PixelWindow
  /** The overview level a resampled read is pinned to (index into GDAL's list, and its size); none: full resolution. */
  overview?: { index: number, width: number, height: number }
  /** A warp's output grid (CRS, geotransform, size), known once open. */
  grid?: Grid
  /** --chip-stats: the written output's statistics per band. */
  stats?: ChipStats[]
  /** GDAL's warnings during the record's own synchronous GDAL steps (lib/raster/gdal.ts checkedStep). */
  warnings?: string[]
  /** Not kept although read: --min-valid found too few valid pixels (the fraction, 0–1). */
  skipped?: { reason: 'min-valid', valid: number }
  /**
   * A warp's source footprint in full-resolution pixels, widened by the kernel: the blocks range mode
   * fetches. `uncertain` says why it could not be computed surely (then the whole file, or an error).
   */
  footprint?: { window: PixelWindow } | { uncertain: string }
  /** The band-selecting VRT a warp reads from (closed after the warped VRT, before the source). */
  warpSource?: Dataset
  /** A warp's gdalwarp arguments (without -of), with which the write stage warps its pixels. */
  warpArgs?: string[]
  /** A `{"stac": …}` record whose document could not be read: its `record` to run again (no job was made of it). */
  retryInput?: StacRecord
  ms: Timings
  started: number
  /** The window's pixel bytes, known once open; held in the memory budget from read until written. */
  memoryBytes?: number
  /** Gives the bytes back to the budget; set while they are held. */
  releaseMemory?: () => void
  /** With a header cache: whether the source's head came from it, was probed, or was read again after a change. */
  cache?: CacheUse
  /**
   * A multi-source record: one job per source (each fetched, opened and read as a record of its own
   * would be), whose bands are stacked in order into this job's one output.
   */
  parts?: Job[]
  /** On a part: which source of its record it is (0-based), and its entry's name and band metadata. */
  stackSource?: StackSource & { index: number }
  /** On a part: read as a plain window (exact pixels), its grid being the output's; else warped onto it. */
  plain?: boolean
  /** A plain part's -a_nodata: its entry's nodata, where the file has none, to fill past the file's edge. */
  plainNodata?: string
  /** Milliseconds the record has spent fetching (its fetch and blocks stages), against --max-time. */
  fetchMs: number
  /** The source changed on the server under this record (or this source of a stack): it is read afresh. */
  sourceChanged?: boolean
}
