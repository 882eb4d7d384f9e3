// The records on the wire: what goes in (a line of NDJSON, or an object written to the pipeline) and
// what comes out (one result record per input). Fields are snake_case on the wire (`bbox_crs`,
// `out_size`), as in the options' camelCase (`bboxCrs`, `outSize`); windows have one shape,
// {col, row, width, height}, in options, input records and result records alike.
import type { Bbox, PixelWindow } from './request.js'

/** The fields an input record shares whether it reads one source (`url`) or several (`urls`). */
/** A numbered line of input (lib/input/lines.ts splits them), as the library may write them too. */
export interface RawLine {
  line: number
  /** The input it came from, when it is a named file. */
  input?: string
  text?: string
  /** Why the line could not be read as text. */
  problem?: string
}

export interface RecordFields {
  /** Joins the result record to its input; printed as given. */
  id?: string | number
  /** Pixel window; `[col, row, width, height]` is accepted as a short form. */
  window?: PixelWindow | [number, number, number, number]
  /** Window by bounds, as gdal_translate -projwin: [minx, miny, maxx, maxy]. */
  bbox?: Bbox
  /** CRS of `bbox` (EPSG:4326, WKT, PROJ); the raster's own when absent. */
  bbox_crs?: string
  /** 1-based bands in output order. */
  bands?: number[]
  boundless?: boolean
  /** [width, height] to resample the window to. */
  out_size?: [number, number]
  /** Output path relative to the output directory. */
  out?: string
  /** Warp onto this CRS (EPSG, WKT, PROJ, or `utm`). */
  dst_crs?: string
  /** Target resolution, [x, y] or one number, in the target CRS's units. */
  res?: number | [number, number]
  /** gdalwarp's resampling method. */
  resampling?: string
  /** Target-aligned pixels (needs res). */
  tap?: boolean
  /** Sample these [x, y] points: the result's `values`, and no output file. */
  points?: Array<[number, number]>
  /** CRS of `points` (EPSG:4326, WKT, PROJ); the raster's own when absent. */
  points_crs?: string
  /** Statistics of the pixels inside this GeoJSON Polygon or MultiPolygon: the result's `zonal`, and no output file. */
  geometry?: object
  /** CRS of `geometry`; EPSG:4326 (GeoJSON's) when absent. */
  geometry_crs?: string
  /** Every pixel the geometry touches, not only those whose centre it holds. */
  all_touched?: boolean
  /** Band math written as the output, one band per `;`-separated expression (see README "Band math"). */
  expr?: string
  /** `urls`, or a STAC document's items, combined per pixel (`none`: stacked as a time series); README "Mosaics and time series". */
  mosaic?: 'first' | 'last' | 'min' | 'max' | 'mean' | 'median' | 'count' | 'none'
  /** A mosaic's items' ids: each gives an equal share of `urls`, in turn (STAC grouping writes it). */
  items?: string[]
  /** The group's key (STAC grouping writes it). */
  group?: string
  /** A time series' items' datetimes, one per item (STAC grouping writes it). */
  dates?: string[]
}

/** One date of a time series' points or zone: the item, its datetime, and its bands' values or statistics (bands numbered across its assets). */
export interface SeriesEntry {
  item: string
  datetime?: string
  values?: Array<Array<number | null> | null>
  zonal?: ZonalStats[]
}

/** One band's zonal statistics: `band`, then those asked (null where no pixel was valid). */
export interface ZonalStats {
  band: number
  count?: number
  nodata_count?: number
  [stat: string]: number | null | undefined
}

/** What a multi-source record says of one source band its file lacks (STAC `raster:bands`). */
export interface BandMetadata {
  /** A number, or `"nan"`, `"inf"`, `"-inf"` as STAC writes them. */
  nodata?: number | 'nan' | 'inf' | '-inf'
  scale?: number
  offset?: number
}

/** One source of a multi-source record: its URL, the name its output bands take, and band metadata. */
export interface SourceEntry {
  url: string
  /** Output band description: `name` for a one-band source, `name_<band>` for each band of several. */
  name?: string
  /** One entry per source band, used where the source itself has no such value. */
  bands?: BandMetadata[]
  /** Request headers for this source alone, on top of the record's (never printed). */
  headers?: Record<string, string> | string[]
  /** Another name band math may call a one-band source by (a STAC asset's eo:bands common name); not part of the output's name. */
  common_name?: string
}

/**
 * One input record as an object: `url` (one source), or `urls` (several, whose bands are stacked into one
 * output in order). The other fields override the options.
 */
export type InputRecord =
  | (RecordFields & { url: string, urls?: undefined })
  | (RecordFields & { urls: (string | SourceEntry)[], url?: undefined })


/** A record naming a STAC Item or ItemCollection to read: one record per item, with these fields. */
export interface StacRecord extends RecordFields {
  /** URL (http(s), s3, gs, az, file) or local path of the Item or ItemCollection. */
  stac: string
  /** Asset keys, or eo:bands common names: a list or 'red,green,blue' (default: --assets, else every GeoTIFF data asset). */
  assets?: string[] | string
  /** Request headers for the document and for the item's sources, each to its own origin only. */
  headers?: Record<string, string>
  /** Items grouped (`none`, `solar_day`, `day`, `month`, or a property's name): one record per group. */
  group_by?: string
}

/**
 * A STAC API search (lib/input/stac-search.ts): one record per item it finds, with the other fields. `bbox`
 * is longitude/latitude, searched and read within; `limit` is the API's page size, `max_items` the most items.
 */
export interface StacSearchRecord extends Omit<RecordFields, 'bbox'> {
  /** The API's /search URL (http or https). */
  stac_search: string
  collections?: string[] | string
  ids?: string[] | string
  bbox?: [number, number, number, number] | string
  /** A GeoJSON geometry. */
  intersects?: object
  /** RFC 3339, or an interval START/END with `..` for an open end. */
  datetime?: string
  filter?: object | string
  'filter-lang'?: 'cql2-json' | 'cql2-text'
  query?: object
  sortby?: Array<{ field: string, direction?: 'asc' | 'desc' }> | string
  limit?: number
  max_items?: number
  /** POST (default) or GET. */
  method?: 'GET' | 'POST'
  assets?: string[] | string
  /** Sent to the API's origin only (its pages, and the items' sources there). */
  headers?: Record<string, string>
}

/** One asset of a STAC Item: its href, and what rasterpipe reads of it (other fields are kept as they are). */
export interface StacAsset {
  href: string
  type?: string
  roles?: string[]
  'eo:bands'?: Array<{ name?: string, common_name?: string }>
  'raster:bands'?: Array<{ nodata?: number | string, scale?: number, offset?: number }>
  [key: string]: unknown
}

/**
 * A STAC Item: a GeoJSON Feature with `stac_version` and `assets`. Its top-level fields are listed (no
 * index signature), so that a misspelt field of a plain record is still a type error.
 */
export interface StacItem {
  type: 'Feature'
  stac_version: string
  stac_extensions?: string[]
  id: string
  collection?: string
  bbox?: number[]
  geometry?: unknown
  properties?: Record<string, unknown>
  links?: Array<{ rel: string, href: string, [key: string]: unknown }>
  assets: Record<string, StacAsset>
}

/** A STAC ItemCollection: a GeoJSON FeatureCollection of Items (a STAC API's search answer). */
export interface StacItemCollection {
  type: 'FeatureCollection'
  features: StacItem[]
  stac_version?: string
  stac_extensions?: string[]
  links?: Array<{ rel: string, href: string, [key: string]: unknown }>
  context?: Record<string, unknown>
  numberMatched?: number
  numberReturned?: number
}

/**
 * What the pipeline takes: a line of text (a URL, a path or a JSON record), a line from LineSplitter, a
 * record, or STAC: a record naming a document, an Item or an ItemCollection (one record per item).
 */
export type InputItem = string | RawLine | InputRecord | StacRecord | StacItem | StacItemCollection | StacSearchRecord

export type Status = 'ok' | 'error' | 'skipped'
export type FetchKind = 'download' | 'range' | 'local'
/**
 * `hit`: the head and directories came from the header cache (no probe); `miss`: probed (and cached when
 * read by ranges); `renewed`: the source had changed since, so the record was read again from a fresh probe.
 */
export type CacheUse = 'hit' | 'miss' | 'renewed'

export interface SourceInfo {
  driver: string
  width: number
  height: number
  count: number
  dtype: string
  crs: string | null
}

export interface Timings {
  fetch?: number
  open?: number
  blocks?: number
  read?: number
  write?: number
  total?: number
}

/** One band's statistics of an output: null min/max/mean/std when no pixel is valid. */
export interface ChipStats {
  band: number
  min: number | null
  max: number | null
  mean: number | null
  std: number | null
  valid: number
}

/** A warp's output grid: its CRS (`AUTHORITY:CODE` or WKT), geotransform and size. */
export interface Grid {
  crs: string | null
  transform: number[]
  width: number
  height: number
}

export interface RecordErrorJson {
  stage: 'input' | 'fetch' | 'open' | 'blocks' | 'read' | 'write'
  code: string
  message: string
  retryable: boolean
}

/** One source of a multi-source record's result: what was fetched for it. */
export interface SourceResult {
  url: string
  fetch?: FetchKind
  cache?: CacheUse
  bytes: number
  attempts: number
  /** A mosaic's or time series' source: the id of the item it is an asset of. */
  item?: string
}

/** The NDJSON record printed for every input record (README, "Result records"). */
export interface ResultRecord {
  line: number
  /** The input file, when records came from named files. */
  input?: string
  id?: string
  url?: string
  status: Status
  /** The output written (`ok`), or found already there (`skipped`). */
  output?: string
  fetch?: FetchKind
  /** With --cache-dir: the header cache's part in this record's fetch. */
  cache?: CacheUse
  bytes: number
  attempts: number
  /** A multi-source record's sources, in order; `bytes` and `attempts` above are their sums. */
  sources?: SourceResult[]
  /** A mosaic's (or time series') items' ids, in the group's order; `group`: its group's key (with group_by). */
  items?: string[]
  group?: string
  window?: PixelWindow
  source?: SourceInfo
  georeferenced?: boolean
  /** A warp's output grid. */
  grid?: Grid
  /** --chip-stats: per band min, max, mean, std (population) and the valid fraction, of the written output. */
  stats?: ChipStats[]
  /** `points`: per point in order, each band's value (null: nodata or masked), or null outside the raster. */
  values?: Array<Array<number | null> | null>
  /** `geometry`: per band, the statistics of the pixels inside it (`--zonal-stats`). */
  zonal?: ZonalStats[]
  /** A time series' `points` or `geometry`: one entry per item (date), in order, with its `values` or `zonal`. */
  series?: SeriesEntry[]
  /** GDAL's warnings while writing this record's output (only when it gave some). */
  warnings?: string[]
  /** Why a record is `skipped` although it was read: `min-valid` (its valid fraction in `valid`). */
  reason?: 'min-valid'
  valid?: number
  ms: Timings
  error?: RecordErrorJson
  /**
   * On a failure past input: the input record to run again, rebuilt from what was asked (the window or
   * bbox asked, not the one read; `out` when given). Without headers, and with the URL as printed.
   */
  record?: InputRecord | StacRecord
}

/** A source entry's band metadata as numbers (nodata may be NaN or infinite). */
export interface BandValues { nodata?: number, scale?: number, offset?: number }

export interface StackSource {
  url: string
  name?: string
  /** The entry's `common_name`: band math's other name for it. */
  commonName?: string
  bands: BandValues[]
  /** Request headers for this source only, on top of the record's. Secrets: never printed. */
  headers?: Record<string, string>
  /** The entry as given (URL trimmed), for the retry record and the output's name. */
  entry: string | SourceEntry
}
