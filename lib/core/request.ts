// What one record asks for (window or bbox, bands, size), validated the same way whether it comes from a
// command-line option or from a field of an input record. Validators throw InvalidValue with a message
// that names the value; callers turn it into a usage error or an error record.
import { option, words, WordsError, type Message } from './words.js'

export interface PixelWindow { col: number, row: number, width: number, height: number }
export type Bbox = [number, number, number, number]

export interface WindowRequest {
  window: PixelWindow
  bbox?: Bbox
  bboxCrs?: string
  bands?: number[]
  boundless: boolean
  outSize?: [number, number]
  /** Target CRS of a warp (EPSG, WKT, PROJ, or `utm`: the UTM zone of the window's centre). */
  dstCrs?: string
  /** Target resolution [x, y] in the target CRS's units. */
  res?: [number, number]
  /** gdalwarp's resampling method (`nearest` is gdalwarp's `near`). */
  resampling?: string
  /** Target-aligned pixels, as gdalwarp -tap (needs res). */
  tap?: boolean
}

/** gdalwarp's methods in GDAL 3.6 (rms since 3.3, sum since 3.1); `nearest` stands for its `near`. */
export const RESAMPLING = ['nearest', 'bilinear', 'cubic', 'cubicspline', 'lanczos', 'average', 'rms', 'mode', 'min', 'max', 'med', 'q1', 'q3', 'sum']

/** Whether a request is a warp onto a target grid rather than a plain window (gdal_translate's path). */
export function isWarp (r: WindowRequest): boolean {
  return r.dstCrs !== undefined || r.res !== undefined || r.resampling !== undefined || r.tap === true
}

export class InvalidValue extends WordsError {
  override name = 'InvalidValue'
}

type Raw = unknown

function numbers (value: Raw, name: Message, count: number): number[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value
  if (!Array.isArray(list) || list.length !== count) {
    throw new InvalidValue(words`${name} needs ${count} numbers, got ${JSON.stringify(value)}`)
  }
  return list.map((v: Raw, i: number) => {
    const n = typeof v === 'string' && v !== '' ? Number(v) : v
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      // Shown as given: JSON reads 1e400 as Infinity, which JSON.stringify would print as null.
      const shown = typeof v === 'number' ? String(v) : v === undefined ? 'missing' : JSON.stringify(v)
      throw new InvalidValue(words`${name}: value ${i + 1} (${shown}) is not a finite number`)
    }
    return n
  })
}

function integers (value: Raw, name: Message, count: number): number[] {
  const list = numbers(value, name, count)
  for (const n of list) if (!Number.isInteger(n)) throw new InvalidValue(words`${name}: ${n} is not a whole number`)
  return list
}

export function parseWindow (value: Raw, name: Message = 'window'): PixelWindow {
  // The object form is the one result records print, so a record's window can be fed back as it is.
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>
    const extra = Object.keys(o).filter((k) => !['col', 'row', 'width', 'height'].includes(k))
    if (extra.length > 0) throw new InvalidValue(words`${name}: unknown key "${extra[0]}" (an object window has col, row, width, height)`)
    value = [o.col, o.row, o.width, o.height]
  }
  const [col, row, width, height] = integers(value, words`${name} (COL,ROW,WIDTH,HEIGHT)`, 4)
  if (width <= 0 || height <= 0) throw new InvalidValue(words`${name}: width and height must be more than 0, got ${width},${height}`)
  return { col, row, width, height }
}

export function parseBbox (value: Raw, name: Message = 'bbox'): Bbox {
  const [minx, miny, maxx, maxy] = numbers(value, words`${name} (MINX,MINY,MAXX,MAXY)`, 4)
  if (!(minx < maxx) || !(miny < maxy)) {
    throw new InvalidValue(words`${name}: needs MINX < MAXX and MINY < MAXY, got ${minx},${miny},${maxx},${maxy}`)
  }
  return [minx, miny, maxx, maxy]
}

export function parseBands (value: Raw, name: Message = 'bands'): number[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value
  if (!Array.isArray(list) || list.length === 0) throw new InvalidValue(words`${name} needs a list of band numbers, e.g. 3,2,1`)
  return list.map((v: Raw) => {
    const n = typeof v === 'string' && v !== '' ? Number(v) : v
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
      throw new InvalidValue(words`${name}: ${JSON.stringify(v)} is not a band number (bands count from 1)`)
    }
    return n
  })
}

export function parseOutSize (value: Raw, name: Message = option('outSize')): [number, number] {
  const [w, h] = integers(value, words`${name} (WIDTH,HEIGHT)`, 2)
  if (w <= 0 || h <= 0) throw new InvalidValue(words`${name}: width and height must be more than 0, got ${w},${h}`)
  return [w, h]
}

export function parseRes (value: Raw, name: Message = 'res'): [number, number] {
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : [value]
  const [x, y] = numbers(list.length === 1 ? [list[0], list[0]] : list, words`${name} (X[,Y])`, 2)
  if (!(x > 0) || !(y > 0)) throw new InvalidValue(words`${name}: resolutions must be more than 0, got ${x},${y}`)
  return [x, y]
}

export function parseResampling (value: Raw, name: Message = 'resampling'): string {
  const method = typeof value === 'string' ? value.trim().toLowerCase() : value
  if (method === 'near') return 'nearest'
  if (typeof method !== 'string' || !RESAMPLING.includes(method)) {
    throw new InvalidValue(words`${name}: must be one of ${RESAMPLING.join(', ')}, got ${JSON.stringify(value)}`)
  }
  return method
}

/** The warp options that only make sense together: messages name the option (or field) as given. */
export function checkWarp (r: WindowRequest, names: { res: Message, outSize: Message, tap: Message }): void {
  if (r.res && r.outSize) throw new InvalidValue(words`${names.res} and ${names.outSize} cannot be used together (gdalwarp takes -tr or -ts, not both)`)
  if (r.tap && !r.res) throw new InvalidValue(words`${names.tap} needs ${names.res} (the grid it aligns to, as gdalwarp -tap needs -tr)`)
}

export function parseCrs (value: Raw, name: Message = option('bboxCrs')): string {
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidValue(words`${name} needs a CRS such as EPSG:4326`)
  return value.trim()
}

/** Headers rasterpipe sets itself: a request's range, encoding and framing are not the user's to change. */
const RESERVED_HEADERS = new Set(['host', 'range', 'if-range', 'accept-encoding', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive'])
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Extra request headers: an object of names to values, or a list of 'Name: value' strings (as curl's -H).
 * Names are lower-cased; a value may not hold a line break. Never echoes a value in a message: it may be
 * a secret.
 */
export function parseHeaders (value: Raw): Record<string, string> {
  let pairs: [string, unknown][]
  if (Array.isArray(value)) {
    pairs = value.map((item: Raw) => {
      if (typeof item !== 'string') throw new InvalidValue('each must be a \'Name: value\' string')
      const colon = item.indexOf(':')
      // No colon: the whole string may be a secret value given without its name, so it is not echoed.
      if (colon <= 0) throw new InvalidValue('each must be \'Name: value\'; one has no name before a colon')
      return [item.slice(0, colon).trim(), item.slice(colon + 1).trim()]
    })
  } else if (value !== null && typeof value === 'object') {
    pairs = Object.entries(value)
  } else {
    throw new InvalidValue('must be an object of header names to values')
  }
  const headers: Record<string, string> = {}
  for (const [key, v] of pairs) {
    if (!TOKEN.test(key)) throw new InvalidValue(`'${key.slice(0, 40)}' is not a header name`)
    const lower = key.toLowerCase()
    if (RESERVED_HEADERS.has(lower)) throw new InvalidValue(`'${key}' is set by rasterpipe itself`)
    if (typeof v !== 'string') throw new InvalidValue(`the value of '${key}' must be a string`)
    if (/[\r\n\0]/.test(v)) throw new InvalidValue(`the value of '${key}' holds a line break`)
    headers[lower] = v
  }
  return headers
}

/** `--assets red,green` or a record's `assets` (a list, or the same comma-separated text). */
export function parseAssets (value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value
  if (!Array.isArray(list) || list.length === 0) throw new InvalidValue('assets needs a list of asset keys, e.g. red,green,blue,nir')
  return list.map((key: unknown) => {
    if (typeof key !== 'string' || key.trim() === '') throw new InvalidValue(`assets: ${JSON.stringify(key)} is not an asset key`)
    return key.trim()
  })
}

/** A request's headers in one order (by name): part of what identifies the request. */
export function sortedHeaders (h: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.entries(h).sort(([a], [b]) => a.localeCompare(b))
}

/** A JSON object (not null, not an array): what a record, an item or a field of them must be. */
export function isObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
