// The options of a run: their types and defaults, which every floor may read. Checking what a caller
// gives (resolveOptions) is lib/run/options.ts.
import { tmpdir } from 'node:os'
import type { Dispatcher } from 'undici'
import { gdalShare } from './slots.js'
import type { WindowRequest } from './request.js'
import type { OptionNames } from './words.js'
import type { Point } from './points.js'
import type { Zone } from './zones.js'

/** Shard `index` of `count`, 1-based: 1/4 … 4/4. */
export interface Shard { index: number, count: number }

export type FetchMode = 'auto' | 'download' | 'range'

/** The window fields are every record's defaults; a record's own fields override them. */
export interface PipelineOptions extends WindowRequest {
  /** Where outputs go; `out` of a record is relative to it and may not leave it. */
  outDir: string
  /** Fetches in flight, and connections per origin: the most requests in flight to one host. */
  concurrency: number
  /**
   * Keep each host's limit at `concurrency` (--fixed-concurrency). By default each host's limit is learnt
   * (http/host-limit.ts): cut on 429/503 once per round trip, climbing back as CUBIC does; a Retry-After holds its new requests.
   */
  fixedConcurrency: boolean
  /** Largest window, in pixels per band, read for one record. */
  maxPixels: number
  fetch: FetchMode
  retries: number
  /** Seconds of inactivity (connect, headers, or a stalled body) before a request fails. */
  timeout: number
  /** Seconds one record's fetching may take in all, retries included (like curl's --max-time); default 10 × timeout. */
  maxTime?: number
  /** Most bytes one record moves over the network (a number, or a size such as '500MB' or '2GiB'). */
  maxBytes: number
  /** Pixel bytes of the windows in flight, from read until written: the memory bound in bytes (or a size). */
  maxMemory: number
  /**
   * Extra headers for every request, sent to each URL's own origin only (dropped when a redirect leaves
   * it): an object, or 'Name: value' strings as --header takes them. A record's `headers` add to them.
   */
  headers: Record<string, string>
  /** s3:// requests say the requester pays (--requester-pays; also AWS_REQUEST_PAYER=requester). */
  requesterPays: boolean
  /** s3://, gs:// and az:// requests go unsigned, for public buckets and containers (--no-sign; also AWS_NO_SIGN_REQUEST=YES, AZURE_NO_SIGN_REQUEST=YES for az://). */
  noSign: boolean
  format: string
  creationOptions: string[]
  skipExisting: boolean
  /** Per band min, max, mean, std and valid fraction of each output, in its record (--chip-stats). */
  chipStats: boolean
  /** Outputs with a smaller valid fraction (0–1) are not kept; their records say skipped (--min-valid). */
  minValid?: number
  /** Points sampled by every record that has none of its own (--points FILE): its result's `values`, no output file. */
  points?: Point[]
  /** CRS of the points (records' `points_crs` win); the raster's own when absent. */
  pointsCrs?: string
  /** A zone for every record without "geometry" of its own (--geometry FILE): its result's `zonal`, no output file. */
  geometry?: Zone['geometry']
  /** CRS of the geometry (records' `geometry_crs` win); EPSG:4326 when absent, as GeoJSON says. */
  geometryCrs?: string
  /** Zones take every pixel they touch, not only those whose centre they hold (records' `all_touched` win). */
  allTouched?: boolean
  /** The zonal statistics given, in order (--zonal-stats): default count, nodata_count, min, max, mean, std, sum, median. */
  zonalStats?: string[]
  /** Points and zones write their window as an output too (records' `out` asks the same). */
  write?: boolean
  /** Longest input line, in bytes. */
  maxLineLength: number
  /** Parent of the run's private temp directory. */
  tempRoot: string
  /**
   * GDAL calls at once, across open, read and write (each stage also takes this many records at once).
   * Default: libuv's pool (UV_THREADPOOL_SIZE, 4 unless set) less one thread kept for `fs`.
   */
  gdalConcurrency: number
  /** Base delay of the retry backoff, in ms (tests shorten it). */
  retryBaseMs: number
  /**
   * Makes the run's undici dispatcher, e.g. `() => new ProxyAgent(url)`. Called again to replace it after
   * a fault inside the HTTP client. Default: an Agent with `concurrency` connections per origin.
   */
  dispatcher?: () => Dispatcher
  /**
   * The proxy for every request (--proxy), an http:// or https:// URL (credentials in it are never printed).
   * Unset: HTTP_PROXY, HTTPS_PROXY and NO_PROXY from the environment, either case, as curl reads them.
   */
  proxy?: string
  /** Hosts reached directly, not through a proxy (--noproxy, as curl's): names, domain suffixes, IPs, or '*'. Unset: NO_PROXY. */
  noProxy?: string
  /** Credentials per host from a netrc file (--netrc: $NETRC or ~/.netrc), sent as Basic to that host's origin only. */
  netrc: boolean
  /** The netrc file to read (--netrc-file); implies `netrc`. */
  netrcFile?: string
  /** PEM file of the certificate authorities https servers are checked against (--cacert, as curl's); default Node's. */
  caBundle?: string
  /** GDAL configuration options for the run (--config KEY=VALUE, as GDAL's tools take them). */
  gdalConfig: Record<string, string>
  /** Keep only the records whose hash falls in this shard (1-based); the rest are other workers'. */
  shard?: Shard
  /**
   * The header cache across runs: per source, its validator, size and the bytes range mode reads on
   * open, so that a later run reads a chip with one request (lib/source/header-cache.ts). Off when unset.
   */
  cacheDir?: string
  /** The header cache's bound, in bytes (or a size): least recently used entries go past it. */
  cacheMax: number
  /** STAC items: the assets to read, by key or eo:bands common name (--assets); default every GeoTIFF data asset. */
  assets?: string[]
  /** A STAC API search as the run's input (--stac-search): its /search URL; the pipeline writes its record and ends its input. */
  stacSearch?: string
  /** --stac-search's collections (--collections). */
  collections?: string[]
  /** --stac-search's datetime (--datetime): RFC 3339, or an interval START/END. */
  datetime?: string
  /** --stac-search's GeoJSON geometry (--intersects FILE). */
  intersects?: Record<string, unknown>
  /** --stac-search's most items (--max-items). */
  maxItems?: number
  /** Band math (--expr): `;`-separated expressions over the bands, written as the output's bands (lib/core/expr.ts). */
  expr?: string
  /** The type band math is evaluated into and written as (--expr-type), a GDAL data type name; default Float32. */
  exprType?: string
  /** STAC documents: items combined per pixel into one output per group (--mosaic; README "Mosaics and time series"). */
  mosaic?: string
  /** STAC documents: how items are grouped (--group-by): none, solar_day, day, month or a property's name. */
  groupBy?: string
  /**
   * Whether `window` was given (else it is the default): STAC items without a window or bbox of their
   * own are read whole, unless the run gives one. Set by resolveOptions.
   */
  readonly windowGiven: boolean
  /**
   * How messages (records' errors, warnings) name an option; default: by its key (`maxBytes`). The CLI
   * names them by flag (`--max-bytes`).
   */
  optionNames?: OptionNames
}

/** What rasterPipeline() and resolveOptions() take: any option left out has its default; sizes may be text. */
export type PipelineInput = Partial<Omit<PipelineOptions, 'maxBytes' | 'maxMemory' | 'cacheMax' | 'headers' | 'gdalConfig' | 'shard' | 'assets' | 'windowGiven' | 'points' | 'geometry' | 'zonalStats' | 'collections' | 'intersects'>> & {
  /** A list, or 'a,b' as --collections takes it. */
  collections?: string[] | string
  /** A GeoJSON geometry, or a file's path as --intersects takes it. */
  intersects?: object | string
  /** A GeoJSON Polygon or MultiPolygon, or a file's path as --geometry takes it. */
  geometry?: object | string
  /** A list, or as --zonal-stats takes it ('count,mean,p90'). */
  zonalStats?: string[] | string
  /** [x, y] pairs, or a file's path (GeoJSON points, or CSV x,y) as --points takes it. */
  points?: Array<readonly [number, number]> | string
  /** Asset keys as a list, or as --assets takes them ('red,green,blue'). */
  assets?: string[] | string
  /** `{index, count}` or 'K/N' as --shard takes it. */
  shard?: Shard | string
  maxBytes?: number | string
  maxMemory?: number | string
  cacheMax?: number | string
  headers?: Record<string, string> | string[]
  /** An object, or 'KEY=VALUE' strings as --config takes them. */
  gdalConfig?: Record<string, string> | string[]
}

export const defaults: PipelineOptions = {
  outDir: 'output',
  concurrency: 16,
  fixedConcurrency: false,
  window: { col: 0, row: 0, width: 512, height: 512 },
  boundless: false,
  maxPixels: 4096 * 4096,
  fetch: 'auto',
  retries: 4,
  timeout: 60,
  maxBytes: 2 * 1024 ** 3,
  maxMemory: 1024 ** 3,
  headers: {},
  requesterPays: false,
  noSign: false,
  netrc: false,
  gdalConfig: {},
  format: 'GTiff',
  creationOptions: [],
  skipExisting: false,
  chipStats: false,
  maxLineLength: 1024 * 1024,
  tempRoot: tmpdir(),
  gdalConcurrency: gdalShare(),
  retryBaseMs: 250,
  // About 8,000 sources at some 64 KiB each (the probe's head and the directories): a large batch's worth,
  // and little beside the outputs such a batch writes.
  cacheMax: 512 * 1024 ** 2,
  windowGiven: false
}

