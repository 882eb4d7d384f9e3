// Pipeline options: defaults, and validation at the edge so that stages can trust what they get. The
// library and the CLI share this one validator; its messages name the option by its key (`creationOptions`),
// which the CLI says as its flag (`--co`, lib/cli/flags.ts).
import { accessSync, constants, readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { UsageError } from '../core/errors.js'
import { messageOf, option, unreadable, words, type Message } from '../core/words.js'
import { parseSize } from '../core/sizes.js'
import { gdalShare } from '../core/slots.js'
import { defaults, type PipelineInput, type PipelineOptions } from '../core/options.js'
import { parseShard } from '../input/shard.js'
import { parsePoints, pointsFromText } from '../core/points.js'
import { geometryFromText, parseGeometry, parseZonalStats } from '../core/zones.js'
import { EXPR_TYPES, parseExpr } from '../core/expr.js'
import { isMosaicMethod, MOSAIC_METHODS } from '../core/mosaic.js'
import { isStoreUri } from '../core/url.js'
import { searchRecordOf, searchRequest } from '../input/stac-search.js'
import { checkWarp, InvalidValue, parseAssets, parseBands, parseHeaders, parseBbox, parseCrs, parseOutSize, parseRes, parseResampling, type PixelWindow } from '../core/request.js'

const KNOWN = new Set([...Object.keys(defaults), 'bbox', 'bboxCrs', 'bands', 'outSize', 'dispatcher', 'maxTime', 'shard', 'minValid',
  'dstCrs', 'res', 'resampling', 'tap', 'cacheDir', 'assets', 'optionNames', 'proxy', 'noProxy', 'netrcFile', 'caBundle', 'points', 'pointsCrs', 'geometry', 'geometryCrs', 'allTouched', 'zonalStats', 'expr', 'exprType', 'write',
  'mosaic', 'groupBy', 'stacSearch', 'collections', 'datetime', 'intersects', 'maxItems'])

function fail (key: string, message: Message): never {
  throw new UsageError(words`${option(key)}: ${message}`, { option: key })
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
    if (err instanceof InvalidValue) fail(key, err)
    throw err
  }
}

/**
 * Runs a request parser given the option's name, which its complaints then start with: a usage error
 * as it is, not prefixed again (`outSize (WIDTH,HEIGHT) needs 2 numbers`, not `outSize: outSize …`).
 */
export function namedValue<T> (key: string, parse: (name: Message) => T): T {
  try {
    return parse(option(key))
  } catch (err) {
    if (err instanceof InvalidValue) throw new UsageError(err, { option: key })
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
  for (const key of ['maxBytes', 'maxMemory', 'cacheMax']) if (typeof r[key] === 'string') r[key] = parseSize(r[key], key)
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
  for (const key of ['proxy', 'noProxy', 'netrcFile', 'caBundle'] as const) {
    if (o[key] !== undefined && (typeof o[key] !== 'string' || o[key] === '')) fail(key, `must be text, got ${JSON.stringify(o[key])}`)
  }
  o.gdalConfig = optionValue('gdalConfig', () => parseConfig(o.gdalConfig))
  for (const key of ['skipExisting', 'requesterPays', 'noSign', 'chipStats', 'fixedConcurrency', 'netrc'] as const) {
    if (typeof o[key] !== 'boolean') fail(key, `must be true or false, got ${JSON.stringify(o[key])}`)
  }
  if (!Array.isArray(o.creationOptions)) fail('creationOptions', 'must be a list of NAME=VALUE strings')
  for (const co of o.creationOptions) {
    if (typeof co !== 'string' || !/^[A-Za-z0-9_]+=/.test(co)) fail('creationOptions', `'${String(co)}' is not NAME=VALUE`)
  }
  if (o.dispatcher !== undefined && typeof o.dispatcher !== 'function') fail('dispatcher', 'must be a function that returns an undici Dispatcher')
  if (o.optionNames !== undefined && typeof o.optionNames !== 'function') fail('optionNames', 'must be a function from an option\'s key to its name in messages')
  o.window = checkWindow(o.window)
  if (o.bbox !== undefined) o.bbox = namedValue('bbox', (name) => parseBbox(o.bbox, name))
  if (o.bboxCrs !== undefined) {
    if (o.bbox === undefined) fail('bboxCrs', words`needs ${option('bbox')}`)
    o.bboxCrs = namedValue('bboxCrs', (name) => parseCrs(o.bboxCrs, name))
  }
  if (o.bands !== undefined) o.bands = namedValue('bands', (name) => parseBands(o.bands, name))
  o.headers = optionValue('headers', () => parseHeaders(o.headers))
  if (o.outSize !== undefined) o.outSize = namedValue('outSize', (name) => parseOutSize(o.outSize, name))
  if (o.shard !== undefined) o.shard = optionValue('shard', () => parseShard(o.shard))
  if (o.dstCrs !== undefined) o.dstCrs = namedValue('dstCrs', (name) => parseCrs(o.dstCrs, name))
  if (o.res !== undefined) o.res = namedValue('res', (name) => parseRes(o.res, name))
  if (o.resampling !== undefined) o.resampling = namedValue('resampling', (name) => parseResampling(o.resampling, name))
  if (o.tap !== undefined && typeof o.tap !== 'boolean') fail('tap', `must be true or false, got ${JSON.stringify(o.tap)}`)
  if (o.tap === false) delete o.tap
  if (o.assets !== undefined) o.assets = optionValue('assets', () => parseAssets(o.assets))
  if (o.mosaic !== undefined && !isMosaicMethod(o.mosaic)) fail('mosaic', `must be one of ${MOSAIC_METHODS.join(', ')}, got ${JSON.stringify(o.mosaic)}`)
  if (o.groupBy !== undefined && (typeof o.groupBy !== 'string' || o.groupBy.trim() === '')) fail('groupBy', `must be none, solar_day, day, month or a property's name, got ${JSON.stringify(o.groupBy)}`)
  if (o.points !== undefined) o.points = namedValue('points', (name) => typeof o.points === 'string' ? pointsFromText(readOptionFile('points', o.points), name) : parsePoints(o.points, name))
  if (o.pointsCrs !== undefined) o.pointsCrs = namedValue('pointsCrs', (name) => parseCrs(o.pointsCrs, name))
  if (o.geometry !== undefined) o.geometry = namedValue('geometry', (name) => typeof o.geometry === 'string' ? geometryFromText(readOptionFile('geometry', o.geometry), name) : parseGeometry(o.geometry, name))
  if (o.geometryCrs !== undefined) o.geometryCrs = namedValue('geometryCrs', (name) => parseCrs(o.geometryCrs, name))
  if (o.allTouched !== undefined && typeof o.allTouched !== 'boolean') fail('allTouched', `must be true or false, got ${JSON.stringify(o.allTouched)}`)
  if (o.write !== undefined && typeof o.write !== 'boolean') fail('write', `must be true or false, got ${JSON.stringify(o.write)}`)
  if (o.zonalStats !== undefined) o.zonalStats = namedValue('zonalStats', (name) => parseZonalStats(o.zonalStats, name))
  checkExprOptions(o)
  checkSearchOptions(o)
  try {
    checkWarp(o, { res: option('res'), outSize: option('outSize'), tap: option('tap') })
  } catch (err) {
    throw new UsageError(messageOf(err))
  }
  if (o.bbox === undefined && !o.boundless && (o.window.col < 0 || o.window.row < 0)) {
    fail('window', words`negative offsets reach outside the raster and need ${option('boundless', true)}`)
  }
  return o
}

/** A --points or --geometry file's text; one that cannot be read is a usage error naming it. */
function readOptionFile (key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    fail(key, `cannot read '${path}': ${unreadable(err)}`)
  }
}

/**
 * --stac-search and the options of its search, checked as its record would be (lib/input/stac-search.ts);
 * --intersects read from its file. The search's options without --stac-search are refused, not ignored.
 */
function checkSearchOptions (o: PipelineOptions): void {
  if (o.stacSearch === undefined) {
    for (const key of ['collections', 'datetime', 'intersects', 'maxItems'] as const) if (o[key] !== undefined) fail(key, words`needs ${option('stacSearch')}`)
    return
  }
  if (typeof o.intersects === 'string') {
    const path = o.intersects
    o.intersects = optionValue('intersects', () => jsonOf(readOptionFile('intersects', path), path)) as Record<string, unknown>
  }
  const checked = (key: string, field: string, value: unknown): void => {
    if (value !== undefined) optionValue(key, () => searchRequest({ stac_search: 'http://checked/', [field]: value }))
  }
  if (typeof o.stacSearch !== 'string') fail('stacSearch', 'must be a URL')
  optionValue('stacSearch', () => searchRequest({ stac_search: o.stacSearch }))
  checked('collections', 'collections', o.collections)
  checked('datetime', 'datetime', o.datetime)
  checked('intersects', 'intersects', o.intersects)
  checked('maxItems', 'max_items', o.maxItems)
  if (o.intersects !== undefined && o.bbox !== undefined) fail('intersects', words`cannot go with ${option('bbox')} (a search has one or the other)`)
  if (o.bbox !== undefined && o.bboxCrs !== undefined && !/^(EPSG:4326|OGC:CRS84)$/i.test(o.bboxCrs)) {
    fail('bboxCrs', words`with ${option('stacSearch')}, ${option('bbox')} is the search's longitude/latitude box (EPSG:4326)`)
  }
  // --bbox is the search's box: in longitude/latitude.
  const record = optionValue('bbox', () => searchRequest(searchRecordOf(o)))
  if (record.body.collections !== undefined) o.collections = record.body.collections as string[]
  if (record.body.intersects !== undefined) o.intersects = record.body.intersects as Record<string, unknown>
}

function jsonOf (text: string, path: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new InvalidValue(`'${path}' is not JSON (${(err as Error).message})`)
  }
}

/** --expr parses (names are checked per record, against its bands); --expr-type (for records' `expr` too) is a type it writes. */
function checkExprOptions (o: { expr?: unknown, exprType?: unknown }): void {
  if (o.exprType !== undefined && (typeof o.exprType !== 'string' || !EXPR_TYPES.has(o.exprType))) {
    fail('exprType', `must be one of ${[...EXPR_TYPES.keys()].join(', ')}, got ${JSON.stringify(o.exprType)}`)
  }
  if (o.expr === undefined) return
  if (typeof o.expr !== 'string') fail('expr', `must be text, got ${typeof o.expr}`)
  try {
    parseExpr(o.expr)
  } catch (err) {
    // ExprError's message starts with `expr: `; the option is named as the CLI or the library says it.
    fail('expr', (err as Error).message.replace(/^expr: /, ''))
  }
}

/** 'KEY=VALUE' split at its first '=' (as --config takes it); undefined with no key before one. */
export function keyValue (text: string): [string, string] | undefined {
  const at = text.indexOf('=')
  return at > 0 ? [text.slice(0, at), text.slice(at + 1)] : undefined
}

/** GDAL configuration options: an object of text values, or 'KEY=VALUE' strings. */
function parseConfig (value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object') throw new InvalidValue('must be KEY=VALUE strings or an object')
  const entries: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((item) => {
      const pair = keyValue(String(item))
      if (!pair) throw new InvalidValue(`'${String(item)}' is not KEY=VALUE`)
      return pair
    })
    : Object.entries(value)
  for (const [key, v] of entries) {
    if (!/^[A-Za-z0-9_]+$/.test(key)) throw new InvalidValue(`'${key}' is not a GDAL configuration option's name`)
    if (typeof v !== 'string') throw new InvalidValue(`${key} must be text, got ${JSON.stringify(v)}`)
  }
  return Object.fromEntries(entries) as Record<string, string>
}

function stripUndefined<T extends object> (obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>
}
