// Every option of the command, once: its spellings, value, option key, default, help and section. The
// parser's spec, --help, the flags messages name (flags.ts), the man page and the shell completion are all
// made from this table, so that none of them can name an option the others do not know.
import { defaults } from '../core/options.js'
import { formatBytes } from '../core/sizes.js'
import { RESAMPLING } from '../core/request.js'
import { OUTPUT_DRIVERS } from '../raster/formats.js'
import { DEFAULT_ZONAL_STATS } from '../core/zones.js'

export interface OptionSpec {
  /** The canonical long name, without its dashes: `out-dir`. */
  long: string
  /** Its one-letter name, if any: `o`. */
  short?: string
  /** Other long names meaning the same (GDAL 3.11's `gdal raster` names): `resolution`. */
  aliases?: string[]
  type: 'string' | 'boolean'
  /** What gdal_translate and gdalwarp call it (`-srcwin`), named in the answer to a user who types that. */
  gdal?: string[]
  /** Given several times, the values add up (`--co`, `-H`, `--config`). */
  multiple?: boolean
  /** The value's name in help: `DIR`. */
  value?: string
  /** The option's key in messages (a PipelineOptions key, or the CLI's own: `shards`). */
  key?: string
  /** The default as help says it. */
  default?: string
  help: string
  section: Section
  /** What the shell completes the value with: files, directories, or these words. */
  complete?: 'file' | 'dir' | readonly string[]
  /** Left out of --help's option list (said within another option's text). */
  hidden?: boolean
}

export type Section = 'Output' | 'Window' | 'Target grid' | 'Fetching' | 'Network and credentials' | 'Records and summary' |
  'Many machines' | 'Messages'

export const SECTIONS: readonly Section[] = ['Output', 'Window', 'Target grid', 'Fetching', 'Network and credentials',
  'Records and summary', 'Many machines', 'Messages']

const d = defaults

export const OPTIONS: readonly OptionSpec[] = [
  // Output
  { long: 'out-dir', short: 'o', type: 'string', value: 'DIR', key: 'outDir', default: d.outDir, section: 'Output', complete: 'dir',
    help: 'where outputs go: a directory, or s3://, gs://, az:// (a record\'s "out" is relative to it)' },
  { long: 'format', short: 'f', aliases: ['of', 'output-format'], type: 'string', value: 'NAME', key: 'format', default: d.format,
    section: 'Output', complete: OUTPUT_DRIVERS,
    help: `output GDAL driver, one self-contained file: ${OUTPUT_DRIVERS.join(', ')}` },
  { long: 'co', aliases: ['creation-option'], type: 'string', multiple: true, value: 'NAME=VALUE', key: 'creationOptions',
    default: 'COMPRESS=DEFLATE, TILED=YES', section: 'Output',
    help: 'creation option, repeatable, as gdal_translate -co; DEFLATE is at level 1 unless ZLEVEL (LEVEL for COG) is given' },
  { long: 'skip-existing', type: 'boolean', key: 'skipExisting', default: 'off', section: 'Output',
    help: 'leave outputs already there; their records say "skipped"' },
  { long: 'overwrite', type: 'boolean', key: 'overwrite', section: 'Output',
    help: 'replace outputs already there: what a run does anyway, accepted for GDAL\'s tools\' sake' },
  // Window
  { long: 'window', short: 'w', gdal: ['-srcwin'], type: 'string', value: 'C,R,W,H', key: 'window', section: 'Window',
    default: `${d.window.col},${d.window.row},${d.window.width},${d.window.height}`,
    help: 'pixel window: column, row, width, height' },
  { long: 'bbox', short: 'b', gdal: ['-projwin'], type: 'string', value: 'MINX,MINY,MAXX,MAXY', key: 'bbox', section: 'Window',
    help: 'window by bounds instead, as gdal_translate -projwin (-b is not a band here: that is --bands)' },
  { long: 'bbox-crs', gdal: ['-projwin_srs'], type: 'string', value: 'CRS', key: 'bboxCrs', default: 'the raster\'s own', section: 'Window',
    help: 'CRS of --bbox: EPSG:4326, WKT or PROJ' },
  { long: 'bands', type: 'string', value: 'LIST', key: 'bands', default: 'all', section: 'Window',
    help: '1-based bands, in output order, e.g. 3,2,1' },
  { long: 'boundless', type: 'boolean', key: 'boundless', default: 'off', section: 'Window',
    help: 'fill the part of the window outside the raster with nodata (else the window is clipped)' },
  { long: 'out-size', aliases: ['size'], gdal: ['-outsize', '-ts'], type: 'string', value: 'W,H', key: 'outSize', default: 'the window\'s size', section: 'Window',
    help: 'resample the window to this size' },
  { long: 'max-pixels', type: 'string', value: 'N', key: 'maxPixels', default: String(d.maxPixels), section: 'Window',
    help: 'refuse a window larger than N pixels, before reading any' },
  { long: 'assets', type: 'string', value: 'LIST', key: 'assets', default: 'every GeoTIFF data asset', section: 'Window',
    help: 'STAC items: the assets to read, in band order, by key or eo:bands common name, e.g. red,green,blue,nir' },
  { long: 'stac-search', type: 'string', value: 'URL', key: 'stacSearch', section: 'Window',
    help: 'the input is this STAC API search (its /search URL), one record per item found; stdin is not read. ' +
      '--bbox is its longitude/latitude box (searched, and read within)' },
  { long: 'collections', type: 'string', value: 'LIST', key: 'collections', section: 'Window',
    help: 'with --stac-search: the collections searched, e.g. sentinel-2-l2a' },
  { long: 'datetime', type: 'string', value: 'RANGE', key: 'datetime', section: 'Window',
    help: 'with --stac-search: an RFC 3339 time or START/END (.. for an open end)' },
  { long: 'intersects', type: 'string', value: 'FILE', key: 'intersects', section: 'Window', complete: 'file',
    help: 'with --stac-search: items intersecting this GeoJSON geometry (not with --bbox)' },
  { long: 'max-items', type: 'string', value: 'N', key: 'maxItems', section: 'Window',
    help: 'with --stac-search: at most N items (pages are fetched only as records drain)' },
  { long: 'mosaic', type: 'string', value: 'METHOD', key: 'mosaic', section: 'Window',
    help: 'STAC documents: one output per group of items, combined per pixel: first, last, min, max, mean, median, count; none (with --group-by): their bands stacked' },
  { long: 'group-by', type: 'string', value: 'KEY', key: 'groupBy', default: 'none', section: 'Window',
    help: 'STAC documents: group items by solar_day, day, month or a property\'s name (one output per group)' },
  { long: 'points', type: 'string', value: 'FILE', key: 'points', section: 'Window', complete: 'file',
    help: 'sample these points in every record without "points" of its own: a GeoJSON FeatureCollection of Points, or CSV x,y; the records get "values" and write no file' },
  { long: 'points-crs', type: 'string', value: 'CRS', key: 'pointsCrs', default: 'the raster\'s CRS', section: 'Window',
    help: 'CRS of the points (--points, and records\' "points" without "points_crs"): EPSG:4326, WKT or PROJ' },
  { long: 'geometry', type: 'string', value: 'FILE', key: 'geometry', section: 'Window', complete: 'file',
    help: 'zonal statistics inside this GeoJSON Polygon or MultiPolygon (a FeatureCollection: all its polygons) for every record without "geometry"; the records get "zonal" and write no file' },
  { long: 'geometry-crs', type: 'string', value: 'CRS', key: 'geometryCrs', default: 'EPSG:4326', section: 'Window',
    help: 'CRS of the geometry (--geometry, and records\' "geometry" without "geometry_crs")' },
  { long: 'all-touched', type: 'boolean', key: 'allTouched', default: 'off', section: 'Window', help: 'zones take every pixel they touch, not only those whose centre lies inside (gdal_rasterize -at)' },
  { long: 'write', type: 'boolean', key: 'write', default: 'off', section: 'Window',
    help: 'points and zones also write their window (the points\' bounding box on the grid, the zone\'s window) as an output, as "out" asks' },
  { long: 'zonal-stats', type: 'string', value: 'LIST', key: 'zonalStats', section: 'Window',
    help: `the zonal statistics, in order: ${DEFAULT_ZONAL_STATS.join(', ')} (the default), p0…p100, majority, unique` },
  { long: 'expr', type: 'string', value: 'EXPR', key: 'expr', section: 'Output',
    help: 'band math written as the output: b1, b2… or (stacks, STAC items) band names, + - * / < <= > >= == !=, where min max abs sqrt log clip; ";" between bands, e.g. "(nir - red) / (nir + red)"' },
  { long: 'expr-type', type: 'string', value: 'TYPE', key: 'exprType', default: 'Float32', section: 'Output',
    help: 'the data type --expr computes and writes: Float32, Float64, Byte, UInt16, Int16, UInt32, Int32',
    complete: ['Float32', 'Float64', 'Byte', 'UInt16', 'Int16', 'UInt32', 'Int32'] },
  // Target grid
  { long: 'dst-crs', gdal: ['-t_srs'], type: 'string', value: 'CRS', key: 'dstCrs', section: 'Target grid',
    help: 'warp onto this CRS: EPSG:32633, WKT, PROJ, or utm (the UTM zone of the window\'s centre); ' +
      'the output covers the bbox, or the window\'s footprint' },
  { long: 'res', aliases: ['resolution'], gdal: ['-tr'], type: 'string', value: 'X[,Y]', key: 'res', section: 'Target grid',
    help: 'target resolution, in the target CRS\'s units (as gdalwarp -tr)' },
  { long: 'resampling', short: 'r', type: 'string', value: 'METHOD', key: 'resampling', default: 'nearest', section: 'Target grid',
    complete: RESAMPLING,
    help: `${RESAMPLING.join(', ')} (as gdalwarp -r); any option of this section warps` },
  { long: 'tap', aliases: ['target-aligned-pixels'], type: 'boolean', key: 'tap', section: 'Target grid',
    help: 'target-aligned pixels, as gdalwarp -tap (needs --res)' },
  // Fetching
  { long: 'concurrency', short: 'c', type: 'string', value: 'N', key: 'concurrency', default: String(d.concurrency), section: 'Fetching',
    help: 'fetches in flight (and connections per host)' },
  { long: 'fixed-concurrency', type: 'boolean', key: 'fixedConcurrency', default: 'adaptive', section: 'Fetching',
    help: 'keep each host at -c requests in flight. Without it each host starts at 16 (or -c), doubles per ' +
      'round trip while busy, is cut to 0.7 on 429 or 503 and climbs back slowly, up to -c; a Retry-After holds its new requests' },
  { long: 'fetch', type: 'string', value: 'MODE', key: 'fetch', default: d.fetch, section: 'Fetching', complete: ['auto', 'download', 'range'],
    help: 'auto, download (whole files) or range (the blocks a window needs)' },
  { long: 'retries', type: 'string', value: 'N', key: 'retries', default: String(d.retries), section: 'Fetching',
    help: 'retries per request, with jittered exponential backoff' },
  { long: 'timeout', type: 'string', value: 'SECONDS', key: 'timeout', default: String(d.timeout), section: 'Fetching',
    help: 'inactivity limit per request: connect, headers, or a stalled body' },
  { long: 'max-time', type: 'string', value: 'SECONDS', key: 'maxTime', default: '10 × --timeout', section: 'Fetching',
    help: 'limit on one record\'s fetching in all, retries included (as curl\'s)' },
  { long: 'max-bytes', type: 'string', value: 'SIZE', key: 'maxBytes', default: formatBytes(d.maxBytes), section: 'Fetching',
    help: 'most bytes one record moves (500MB, 2GiB); range reads count their blocks, not the file' },
  { long: 'max-memory', type: 'string', value: 'SIZE', key: 'maxMemory', default: formatBytes(d.maxMemory), section: 'Fetching',
    help: 'pixel bytes of the windows in flight, read to written; a larger window is an error record' },
  { long: 'cache-dir', type: 'string', value: 'DIR', key: 'cacheDir', section: 'Fetching', complete: 'dir',
    help: 'keep each COG\'s header here across runs: a later run reads a chip with one request, checked by If-Match' },
  { long: 'cache-max', type: 'string', value: 'SIZE', key: 'cacheMax', default: formatBytes(d.cacheMax), section: 'Fetching',
    help: 'bound of --cache-dir; least recently used entries go first' },
  { long: 'config', type: 'string', multiple: true, value: 'KEY=VALUE', key: 'gdalConfig', section: 'Fetching',
    help: 'a GDAL configuration option for the run, repeatable (as GDAL\'s tools); GDAL_HTTP_* ones act as their ' +
      'variables do (see ENVIRONMENT)' },
  // Network and credentials
  { long: 'header', short: 'H', type: 'string', multiple: true, value: '\'NAME: VALUE\'', key: 'headers', section: 'Network and credentials',
    help: 'request header, repeatable (as curl\'s -H), sent to the URL\'s own origin only; never printed' },
  { long: 'proxy', type: 'string', value: 'URL', key: 'proxy', default: '$HTTPS_PROXY, $HTTP_PROXY', section: 'Network and credentials',
    help: 'send every request through this http:// or https:// proxy (as curl\'s -x); its credentials are never printed' },
  { long: 'noproxy', type: 'string', value: 'LIST', key: 'noProxy', default: '$NO_PROXY', section: 'Network and credentials',
    help: 'hosts reached directly: names, domain suffixes, IPs, or * (as curl\'s)' },
  { long: 'netrc', type: 'boolean', key: 'netrc', default: 'off', section: 'Network and credentials',
    help: 'Basic credentials per host from $NETRC or ~/.netrc, sent to that host\'s origin only' },
  { long: 'netrc-file', type: 'string', value: 'FILE', key: 'netrcFile', section: 'Network and credentials', complete: 'file',
    help: 'the same from this file' },
  { long: 'cacert', type: 'string', value: 'FILE', key: 'caBundle', default: 'Node\'s', section: 'Network and credentials', complete: 'file',
    help: 'PEM file of the certificate authorities to check https servers against (as curl\'s)' },
  { long: 'requester-pays', type: 'boolean', key: 'requesterPays', default: 'off', section: 'Network and credentials',
    help: 's3:// requests say the requester pays' },
  { long: 'no-sign', type: 'boolean', key: 'noSign', default: 'off', section: 'Network and credentials',
    help: 's3://, gs:// and az:// requests unsigned, for public buckets and containers' },
  // Records and summary
  { long: 'chip-stats', type: 'boolean', key: 'chipStats', default: 'off', section: 'Records and summary',
    help: 'per band min, max, mean, std and valid fraction of each output, in its record' },
  { long: 'min-valid', type: 'string', value: 'F', key: 'minValid', section: 'Records and summary',
    help: 'keep no output whose valid fraction (0-1; its least valid band\'s) is under F: its record says "skipped", ' +
      'with "reason" and "valid"' },
  { long: 'stats', type: 'string', value: 'FILE', key: 'stats', section: 'Records and summary', complete: 'file',
    help: 'write the run\'s summary as JSON, with each host\'s limit and throttling and the versions of --version' },
  // Many machines
  { long: 'shard', type: 'string', value: 'K/N', key: 'shard', section: 'Many machines',
    help: 'keep only shard K of N (1-based) of the input records, by a hash of what each asks (url, window or bbox, ' +
      'out), not its line; the others are skipped unfetched and unprinted. Give every worker the same input' },
  { long: 'shards', type: 'string', value: 'N', key: 'shards', section: 'Many machines',
    help: 'the same, K from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX (0-based: 2 is 3/N)' },
  // Messages
  { long: 'quiet', short: 'q', type: 'boolean', key: 'quiet', section: 'Messages',
    help: 'nothing on stderr unless the run itself fails (a usage or setup error, unreadable input): no per-record ' +
      'errors, warnings, summary or progress. Records and exit status are unchanged' },
  { long: 'progress', type: 'boolean', key: 'progress', default: 'on when stderr is a terminal', section: 'Messages',
    help: 'progress bar on stderr (--no-progress: none)' },
  { long: 'no-progress', type: 'boolean', key: 'progress', section: 'Messages', hidden: true, help: 'no progress bar' },
  { long: 'help', short: 'h', type: 'boolean', section: 'Messages', help: 'this help' },
  { long: 'version', short: 'V', type: 'boolean', section: 'Messages',
    help: 'versions of rasterpipe, Node, undici, GDAL, PROJ and libtiff (loading GDAL: a broken install shows)' },
  { long: 'json', type: 'boolean', section: 'Messages', help: 'with --version: one JSON object' }
]

/** Every spelling on the command line, as `--name` or `-x`, to its option. */
export function spellings (): Map<string, OptionSpec> {
  const map = new Map<string, OptionSpec>()
  for (const o of OPTIONS) {
    for (const name of [o.long, ...(o.aliases ?? [])]) map.set(`--${name}`, o)
    if (o.short) map.set(`-${o.short}`, o)
  }
  return map
}

/** util.parseArgs's spec: each long spelling is its own entry, so that the parser knows every one's type. */
export function parseArgsSpec (): Record<string, { type: 'string' | 'boolean', short?: string, multiple?: boolean }> {
  const spec: Record<string, { type: 'string' | 'boolean', short?: string, multiple?: boolean }> = {}
  for (const o of OPTIONS) {
    const names = [o.long, ...(o.aliases ?? [])]
    names.forEach((name, i) => {
      spec[name] = { type: o.type, ...(o.multiple && { multiple: true }), ...(i === 0 && o.short && { short: o.short }) }
    })
  }
  return spec
}

/** All the spellings of an option, short first: `-f, --format, --of, --output-format`. */
export function namesOf (o: OptionSpec): string[] {
  return [...(o.short ? [`-${o.short}`] : []), `--${o.long}`, ...(o.aliases ?? []).map((a) => `--${a}`)]
}
