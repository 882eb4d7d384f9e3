// The unit that flows through the chain: one input record's request (what it asked, fixed at parse), the
// results each stage attaches (fetched, opened, plan, lease, pixels, written), and its outcome. A restart
// (the source changed under the record) lets the results go with one call, dropResults.
import type { RecordError } from './errors.js'
import type { Dataset } from 'gdal-async'
import type { PixelWindow, WindowRequest } from './request.js'
import type { CacheUse, ChipStats, ZonalStats, FetchKind, Grid, SeriesEntry, SourceInfo, StackSource, StacRecord, Status, Timings } from './records.js'
import type { SparseSource } from './fetched.js'
import type { PointSet, PointValue } from './points.js'
import type { Zone } from './zones.js'
import type { MosaicAsk } from './mosaic.js'

/** A local file a record reads from; `release` is called exactly once when the record is done. */
export interface LocalSource {
  path: string
  /** Downloaded (and so opened with the raster allow-list only), or a user's own local file. */
  downloaded: boolean
  /** In range mode: the sparse file's remote source and what it holds. */
  sparse?: SparseSource
  release: () => Promise<void>
}

/** A record's band math as asked: the expressions' text (parsed again where the bands are known) and the type. */
export interface ExprAsk { text: string, type: string }

/** What the input asked, normalised once at parse; no stage changes it. */
export interface Asked {
  readonly line: number
  readonly input?: string
  readonly id?: string
  readonly url: string
  readonly request: Readonly<WindowRequest>
  /** Extra request headers (--header, then the record's own): for the URL's own origin only. */
  readonly headers: Readonly<Record<string, string>>
  /** Output path as the user will see it (out-dir joined with the name). */
  readonly output?: string
  /** The record's own `out` field, as given: part of what identifies it (its shard, its retry record). */
  readonly out?: string
  /** Absolute output path. */
  readonly outputPath?: string
  /**
   * A multi-source record: one job per source (each fetched, opened and read as a record of its own
   * would be), whose bands are stacked in order into this job's one output.
   */
  readonly parts?: readonly Job[]
  /** On a part: which source of its record it is (0-based), and its entry's name and band metadata. */
  readonly stackSource?: StackSource & { index: number }
  /** Band math (record `expr`, else --expr): its text and output type, written as the output's bands. */
  readonly expr?: ExprAsk
  /** A `{"stac": …}` record whose document could not be read: its `record` to run again (no job was made of it). */
  readonly retryInput?: StacRecord
  /** `points` (or --points): sample these; no output file is written (lib/raster/points.ts). */
  readonly points?: PointSet
  /** `geometry` (or --geometry): statistics of the pixels inside it; no output file (lib/raster/zonal.ts). */
  readonly zone?: Zone
  /** `mosaic`: the sources (items) combined per pixel into one output, or stacked as a time series (lib/raster/mosaic.ts). */
  readonly mosaic?: MosaicAsk
}

/** The fetch stage's result: how the source came, and the local file once there is one. */
export interface Fetched {
  kind: FetchKind
  local?: LocalSource
  /** With a header cache: whether the source's head came from it, was probed, or was read again after a change. */
  cache?: CacheUse
}

/** The open stage's first result: the source's dataset and shape, and the record's window resolved on it. */
export interface Opened {
  /** The open source; a stack's record has none of its own (its parts hold theirs). */
  dataset?: Dataset
  source: SourceInfo
  georeferenced: boolean
  /** The request's window resolved against the source, as the result record prints it. */
  window?: PixelWindow
}

/** An overview level a resampled read is pinned to: its index into GDAL's list, and its size. */
export interface Overview { index: number, width: number, height: number }

/** A plain window, as gdal_translate -srcwin cuts it (at the pinned level under out_size). */
export interface WindowPlan {
  kind: 'window'
  window: PixelWindow
  bands?: readonly number[]
  outSize?: readonly [number, number]
  /** The level chosen for out_size; none: full resolution. */
  overview?: Overview
  /** A stack part's -a_nodata: its entry's nodata where the file has none, to fill past the file's edge. */
  nodata?: string
  /** The bands whose blocks are read, when not `bands` alone: a values record's, with the alpha band that masks them. */
  blockBands?: readonly number[]
  /** The output's pixel bytes, for the memory budget. */
  bytes: number
}

/** A warp onto a target grid, as gdalwarp -te -tr warps it. */
export interface WarpPlan {
  kind: 'warp'
  /** The source pixels the region covers (clipped): what range mode fetches should the footprint be unsure. */
  window: PixelWindow
  grid: Grid
  bands?: readonly number[]
  /** The level the warper is pinned to (-ovr); none: full resolution. */
  overview?: Overview
  /**
   * The source footprint of the grid in full-resolution pixels, widened by the kernel: the blocks range
   * mode fetches. `uncertain` says why it could not be computed surely (then the whole file, or an error).
   */
  footprint: { window: PixelWindow } | { uncertain: string }
  /** gdalwarp's arguments (without -of), with which the pixels are warped. */
  args: string[]
  /** The band-selecting VRT the warp reads from (closed after the warped VRT, before the source). */
  source?: Dataset
  /** The warped VRT open made for the grid; none on a stack's part (each warps into a file of its own). */
  vrt?: Dataset
  bytes: number
}

/** A multi-source record: its parts' plans (each a window or a warp) onto one grid. */
export interface StackPlan {
  kind: 'stack'
  grid: Grid
  /** Every part's pixel bytes on the grid, summed. */
  bytes: number
}

/**
 * Point samples: each point's pixel (null: outside the raster), at full resolution, read in clusters of
 * one block each (`reads`, each a window within one block), so that range mode fetches those blocks only.
 */
export interface PointsPlan {
  kind: 'points'
  /** Each point's pixel and the read (an index into `reads`) that holds it; null outside the raster. */
  pixels: ReadonlyArray<{ col: number, row: number, read: number } | null>
  reads: readonly PixelWindow[]
  bands?: readonly number[]
  /** The bands whose blocks are read, when not all: `bands`, and the alpha band that masks them. */
  blockBands?: readonly number[]
  /** The largest read's pixel bytes (all bands, and the mask): what is held at once. */
  bytes: number
  /** A stack's warped part: the level its warp is pinned to (the reads are its footprints at full resolution). */
  overview?: Overview
}

/** Zonal statistics: the window the geometry's bounds cover (null: none of the raster), read whole. */
export interface ZonalPlan {
  kind: 'zonal'
  window: PixelWindow | null
  /** The geometry in the raster's CRS, as GeoJSON text: what GDAL's rasterize burns. */
  geometry: string
  bands?: readonly number[]
  blockBands?: readonly number[]
  /** One band's pixel bytes of the window, its mask's and the zone's. */
  bytes: number
  /** A stack's warped part: the level its warp is pinned to (the window is its footprint at full resolution). */
  overview?: Overview
}

/** What open decided: how GDAL will make the record's pixels (lib/raster/plan.ts gives the arguments). */
export type Plan = WindowPlan | WarpPlan | StackPlan | PointsPlan | ZonalPlan

/** The record's pixel bytes held in the memory budget from read until written. */
export interface Lease {
  bytes: number
  release: () => void
}

/** The write stage's results. */
export interface Written {
  /** GDAL's warnings during the record's own synchronous GDAL steps (lib/raster/gdal.ts checkedStep). */
  warnings: string[]
  /** --chip-stats: the written output's statistics per band. */
  stats?: ChipStats[]
  /** Not kept although read: --min-valid found too few valid pixels (the fraction, 0–1). */
  skipped?: { reason: 'min-valid', valid: number }
  /** Point samples, one per point in order (lib/raster/points.ts). */
  values?: PointValue[]
  /** Zonal statistics per band (lib/raster/zonal.ts). */
  zonal?: ZonalStats[]
  /** A time series' points or zone: one entry per item (lib/raster/series.ts). */
  series?: SeriesEntry[]
}

export interface Job extends Asked {
  // The outcome: kept whatever happens, a restart included.
  status?: Status
  error?: RecordError
  ms: Timings
  started: number
  /** Bytes moved and requests made for the record, over every try (a restart's included). */
  bytes: number
  attempts: number
  /** Milliseconds the record has spent fetching (its fetch and blocks stages), against --max-time. */
  fetchMs: number
  /** The source changed on the server under this record (or this source of a stack): it is read afresh. */
  sourceChanged?: boolean

  // The results, attached by the stages in turn and let go together by dropResults.
  fetched?: Fetched
  opened?: Opened
  plan?: Plan
  lease?: Lease
  /** The read stage's window: a VRT over the source that the write stage copies. */
  pixels?: Dataset
  written?: Written
}

/** A job as parse makes it: its request, no result yet. */
export function makeJob (asked: Asked, error?: RecordError): Job {
  return { ...asked, ...(error ? { error } : {}), bytes: 0, attempts: 0, ms: {}, fetchMs: 0, started: performance.now() }
}

/** Forgets every stage's result (a stack's parts' too), so the record starts again from its request. Its resources must be let go first (lib/run/finalize.ts releaseJob). */
export function dropResults (job: Job): void {
  for (const part of job.parts ?? []) dropResults(part)
  delete job.fetched
  delete job.opened
  delete job.plan
  delete job.lease
  delete job.pixels
  delete job.written
}

/** Gives the record's pixel bytes back to the budget, once. */
export function releaseLease (job: Job): void {
  const lease = job.lease
  job.lease = undefined
  lease?.release()
}

/** The plan's grid, where it has one (a warp's or a stack's). */
export function gridOf (plan: Plan | undefined): Grid | undefined {
  return plan && (plan.kind === 'warp' || plan.kind === 'stack') ? plan.grid : undefined
}
