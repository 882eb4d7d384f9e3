// Pipeline options: defaults, and validation at the edge so that stages can trust what they get. The
// library and the CLI share this one validator; its messages name the command-line option (`--co`), which
// for the library's key (`creationOptions`) is listed in the README side by side.
import { accessSync, constants, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, resolve } from 'node:path'
import type { Dispatcher } from 'undici'
import { UsageError } from '../errors.js'
import { parseSize } from './sizes.js'
import { gdalShare } from './slots.js'
import { parseShard, type Shard } from '../input/shard.js'
import { isStoreUri } from '../input/output-name.js'
import { checkWarp, InvalidValue, parseAssets, parseBands, parseHeaders, parseBbox, parseCrs, parseOutSize, parseRes, parseResampling, type PixelWindow, type WindowRequest } from '../input/request.js'

export type FetchMode = 'auto' | 'download' | 'range'

/** The window fields are every record's defaults; a record's own fields override them. */
export interface PipelineOptions extends WindowRequest {
  /** Where outputs go; `out` of a record is relative to it and may not leave it. */
  outDir: string
  /** Fetches in flight, and connections per origin: the most requests in flight to one host. */
  concurrency: number
  /**
   * Keep each host's limit at `concurrency` (--fixed-concurrency). By default a host that throttles (429,
   * 503) has its limit halved, raised again by one per answer, and a Retry-After holds its new requests.
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
  /**
   * Whether `window` was given (else it is the default): STAC items without a window or bbox of their
   * own are read whole, unless the run gives one. Set by resolveOptions.
   */
  readonly windowGiven: boolean
}

/** What rasterPipeline() and resolveOptions() take: any option left out has its default; sizes may be text. */
export type PipelineInput = Partial<Omit<PipelineOptions, 'maxBytes' | 'maxMemory' | 'cacheMax' | 'headers' | 'shard' | 'assets' | 'windowGiven'>> & {
  /** Asset keys as a list, or as --assets takes them ('red,green,blue'). */
  assets?: string[] | string
  /** `{index, count}` or 'K/N' as --shard takes it. */
  shard?: Shard | string
  maxBytes?: number | string
  maxMemory?: number | string
  cacheMax?: number | string
  headers?: Record<string, string> | string[]
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

/** The command-line spelling of each option, for messages; library-only options keep their key. */
const FLAGS: Record<string, string> = {
  outDir: '--out-dir',
  concurrency: '--concurrency',
  fixedConcurrency: '--fixed-concurrency',
  window: '--window',
  bbox: '--bbox',
  bboxCrs: '--bbox-crs',
  bands: '--bands',
  boundless: '--boundless',
  outSize: '--out-size',
  maxPixels: '--max-pixels',
  fetch: '--fetch',
  retries: '--retries',
  timeout: '--timeout',
  maxTime: '--max-time',
  maxBytes: '--max-bytes',
  maxMemory: '--max-memory',
  headers: '--header',
  requesterPays: '--requester-pays',
  noSign: '--no-sign',
  format: '--format',
  creationOptions: '--co',
  skipExisting: '--skip-existing',
  chipStats: '--chip-stats',
  minValid: '--min-valid',
  shard: '--shard',
  dstCrs: '--dst-crs',
  res: '--res',
  resampling: '--resampling',
  tap: '--tap',
  cacheDir: '--cache-dir',
  cacheMax: '--cache-max',
  assets: '--assets'
}

const KNOWN = new Set([...Object.keys(defaults), 'bbox', 'bboxCrs', 'bands', 'outSize', 'dispatcher', 'maxTime', 'shard', 'minValid',
  'dstCrs', 'res', 'resampling', 'tap', 'cacheDir', 'assets'])

export function flagOf (key: string): string {
  return FLAGS[key] ?? key
}

function fail (key: string, message: string): never {
  throw new UsageError(`${flagOf(key)}: ${message}`)
}

/**
 * A local --out-dir must be a directory that can be written, or be creatable: its nearest existing part is
 * asked (access(2) says EROFS for a read-only mount even to root, which mode bits do not stop), so that an
 * unwritable -o is one usage error before the first record, not one failed record per input, each fetched
 * first. Nothing is created here.
 */
function checkOutDir (outDir: string): void {
  let at = resolve(outDir)
  for (;;) {
    let isDir: boolean
    try {
      isDir = statSync(at).isDirectory()
    } catch (err) {
      const parent = dirname(at)
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && parent !== at) {
        at = parent
        continue
      }
      fail('outDir', `cannot use '${outDir}': ${(err as Error).message}`)
    }
    if (!isDir) fail('outDir', `'${at}' is not a directory`)
    try {
      accessSync(at, constants.W_OK | constants.X_OK)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      fail('outDir', `cannot write in '${at}'${at === resolve(outDir) ? '' : ` (to make '${outDir}')`}: ${code === 'EROFS' ? 'read-only file system' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`)
    }
    return
  }
}

function wholeNumber (o: Record<string, unknown>, key: string, min = 1): void {
  const value = o[key]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(key, `must be a whole number of at least ${min}, got ${JSON.stringify(value)}`)
  }
}

/** Runs a request validator for an option, turning its complaint into a usage error naming the option. */
export function optionValue<T> (key: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    if (err instanceof InvalidValue) fail(key, err.message)
    throw err
  }
}

function checkWindow (value: unknown): PixelWindow {
  // Options take the window in the shape result records print it: {col, row, width, height}.
  if (Array.isArray(value) || value === null || typeof value !== 'object') {
    fail('window', `must be {col, row, width, height}, got ${JSON.stringify(value)}`)
  }
  const w = value as Record<string, unknown>
  const extra = Object.keys(w).filter((k) => !['col', 'row', 'width', 'height'].includes(k))
  if (extra.length > 0) fail('window', `unknown key ${extra.map((k) => `"${k}"`).join(', ')} (known: col, row, width, height)`)
  for (const k of ['col', 'row', 'width', 'height']) {
    if (typeof w[k] !== 'number' || !Number.isSafeInteger(w[k])) fail('window', `${k} must be a whole number, got ${JSON.stringify(w[k])}`)
  }
  const window = w as unknown as PixelWindow
  if (window.width <= 0 || window.height <= 0) fail('window', `width and height must be more than 0, got ${window.width},${window.height}`)
  return { col: window.col, row: window.row, width: window.width, height: window.height }
}

/**
 * Defaults filled in and every value checked, with the same messages for the library and the CLI.
 * Unknown keys are refused, so that a misspelt option is not silently ignored (in JS as well as TS).
 */
export function resolveOptions (given: PipelineInput = {}): PipelineOptions {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new UsageError('options must be an object')
  const unknown = Object.keys(given).filter((k) => !KNOWN.has(k))
  if (unknown.length > 0) {
    throw new UsageError(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${[...KNOWN].join(', ')})`)
  }
  // The pool as it is now: a library host may have set UV_THREADPOOL_SIZE after this module loaded.
  const r: Record<string, unknown> = { ...defaults, gdalConcurrency: gdalShare(), ...stripUndefined(given) }
  // Options resolved before (passed again) say it themselves.
  const again = (given as { windowGiven?: unknown }).windowGiven
  r.windowGiven = typeof again === 'boolean' ? again : given.window !== undefined
  // Sizes may be given as text, as on the command line.
  for (const key of ['maxBytes', 'maxMemory', 'cacheMax']) if (typeof r[key] === 'string') r[key] = parseSize(r[key], flagOf(key))
  const o = r as unknown as PipelineOptions
  wholeNumber(r, 'concurrency')
  wholeNumber(r, 'gdalConcurrency')
  wholeNumber(r, 'maxPixels')
  wholeNumber(r, 'retries', 0)
  wholeNumber(r, 'maxBytes')
  wholeNumber(r, 'maxMemory')
  wholeNumber(r, 'maxLineLength')
  wholeNumber(r, 'cacheMax')
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir === '')) fail('cacheDir', 'must be a directory path')
  if (typeof o.retryBaseMs !== 'number' || !(o.retryBaseMs >= 0)) fail('retryBaseMs', `must be 0 or more, got ${JSON.stringify(o.retryBaseMs)}`)
  if (typeof o.timeout !== 'number' || !(o.timeout > 0) || !Number.isFinite(o.timeout)) fail('timeout', `must be a number of seconds above 0, got ${JSON.stringify(o.timeout)}`)
  o.maxTime ??= 10 * o.timeout
  if (typeof o.maxTime !== 'number' || !(o.maxTime > 0) || !Number.isFinite(o.maxTime)) fail('maxTime', `must be a number of seconds above 0, got ${JSON.stringify(o.maxTime)}`)
  if (!['auto', 'download', 'range'].includes(o.fetch)) fail('fetch', `must be one of auto, download, range, got ${JSON.stringify(o.fetch)}`)
  if (typeof o.outDir !== 'string' || o.outDir === '') fail('outDir', 'must be a directory path')
  if (!isStoreUri(o.outDir)) checkOutDir(o.outDir)
  if (typeof o.tempRoot !== 'string' || o.tempRoot === '') fail('tempRoot', 'must be a directory path')
  if (typeof o.format !== 'string' || o.format === '') fail('format', 'must be a GDAL driver name')
  if (typeof o.boundless !== 'boolean') fail('boundless', `must be true or false, got ${JSON.stringify(o.boundless)}`)
  if (o.minValid !== undefined && (typeof o.minValid !== 'number' || !(o.minValid >= 0 && o.minValid <= 1))) {
    fail('minValid', `must be a fraction from 0 to 1, got ${JSON.stringify(o.minValid)}`)
  }
  for (const key of ['skipExisting', 'requesterPays', 'noSign', 'chipStats', 'fixedConcurrency'] as const) {
    if (typeof o[key] !== 'boolean') fail(key, `must be true or false, got ${JSON.stringify(o[key])}`)
  }
  if (!Array.isArray(o.creationOptions)) fail('creationOptions', 'must be a list of NAME=VALUE strings')
  for (const co of o.creationOptions) {
    if (typeof co !== 'string' || !/^[A-Za-z0-9_]+=/.test(co)) fail('creationOptions', `'${String(co)}' is not NAME=VALUE`)
  }
  if (o.dispatcher !== undefined && typeof o.dispatcher !== 'function') fail('dispatcher', 'must be a function that returns an undici Dispatcher')
  o.window = checkWindow(o.window)
  if (o.bbox !== undefined) o.bbox = optionValue('bbox', () => parseBbox(o.bbox))
  if (o.bboxCrs !== undefined) {
    if (o.bbox === undefined) fail('bboxCrs', 'needs --bbox')
    o.bboxCrs = optionValue('bboxCrs', () => parseCrs(o.bboxCrs))
  }
  if (o.bands !== undefined) o.bands = optionValue('bands', () => parseBands(o.bands))
  o.headers = optionValue('headers', () => parseHeaders(o.headers))
  if (o.outSize !== undefined) o.outSize = optionValue('outSize', () => parseOutSize(o.outSize))
  if (o.shard !== undefined) o.shard = optionValue('shard', () => parseShard(o.shard))
  if (o.dstCrs !== undefined) o.dstCrs = optionValue('dstCrs', () => parseCrs(o.dstCrs, 'dst-crs'))
  if (o.res !== undefined) o.res = optionValue('res', () => parseRes(o.res))
  if (o.resampling !== undefined) o.resampling = optionValue('resampling', () => parseResampling(o.resampling))
  if (o.tap !== undefined && typeof o.tap !== 'boolean') fail('tap', `must be true or false, got ${JSON.stringify(o.tap)}`)
  if (o.tap === false) delete o.tap
  if (o.assets !== undefined) o.assets = optionValue('assets', () => parseAssets(o.assets))
  try {
    checkWarp(o, { res: '--res', outSize: '--out-size', tap: '--tap' })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (o.bbox === undefined && !o.boundless && (o.window.col < 0 || o.window.row < 0)) {
    fail('window', 'negative offsets reach outside the raster and need --boundless')
  }
  return o
}

function stripUndefined<T extends object> (obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>
}
