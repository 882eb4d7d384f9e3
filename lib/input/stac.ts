// STAC Items to records. An Item (a GeoJSON Feature with `stac_version` and `assets`) becomes one
// multi-source record: one source per asset picked, named by its key, with `raster:bands`' nodata, scale
// and offset for the sources that lack them. Pure: no I/O; lib/input/expand.ts reads the documents.
import { dirname, isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { RecordError } from '../core/errors.js'
import { classifyUrl, isRemote, localPath, schemeOf } from '../core/url.js'
import type { BandMetadata, SourceEntry } from '../core/records.js'
import { itemExtent } from './stac-extent.js'
import { option, words } from '../core/words.js'
import { isObject } from '../core/request.js'

/** What kind of STAC value a line or document holds; null for anything else (a plain record). */
export type StacKind = 'item' | 'collection' | 'reference'

/** The fields a `{"stac": …}` record may have besides those of a plain record. */
export const STAC_FIELDS = ['stac', 'assets', 'mosaic', 'group_by']

/** Fields of a `{"stac": …}` record that name one record, and so cannot go with an ItemCollection. */
const ONE_RECORD_FIELDS = ['id', 'out']

/**
 * Whether a parsed line is STAC: an Item or ItemCollection (anything claiming to be a GeoJSON Feature or
 * FeatureCollection, or carrying `stac_version`, is judged as STAC, so that a broken item gets an error
 * saying what it lacks), or a `{"stac": …}` record.
 */
export function stacKind (value: unknown): StacKind | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null
  const v = value as Record<string, unknown>
  if ('stac' in v) return 'reference'
  if (v.type === 'FeatureCollection') return 'collection'
  if (v.type === 'Feature' || 'stac_version' in v) return 'item'
  return null
}

/**
 * The items of a document: itself when it is an Item, its features when an ItemCollection. Throws an
 * input error for anything else (a STAC Catalog or Collection, plain GeoJSON). Features are checked one
 * by one later, so that one bad feature fails only its own record.
 */
export function itemsOf (doc: unknown, where: string): unknown[] {
  const kind = stacKind(doc)
  const v = doc as Record<string, unknown>
  if (kind === 'collection') {
    if (!Array.isArray(v.features)) throw notStac(`${where}: a FeatureCollection without a "features" array`)
    return v.features
  }
  if (kind === 'item' && (v.type === 'Feature' || v.type === undefined)) return [doc]
  const type = describe(doc)
  const hint = v.type === 'Collection' || v.type === 'Catalog' ? ' (give its items, or an ItemCollection of them)' : ''
  throw notStac(`${where}: ${type} is not a STAC Item or ItemCollection${hint}`)
}

export interface ItemContext {
  /** Where the document was read from (a URL, or an absolute path); undefined for an item on an input line. */
  location?: string
  /** Asset keys (or eo:bands common names) to pick; undefined: every GeoTIFF data asset. */
  assets?: string[]
  /** The record's other fields (window, bbox, dst_crs…), passed to each item's record. */
  fields: Record<string, unknown>
  /**
   * The `{"stac": …}` record's own headers, for the sources on the document's origin only (`origin`): a
   * token for a STAC API is not sent to the blob store its assets live on.
   */
  headers?: Record<string, string>
  origin?: string
  /** True when neither the record nor the run's options give a window or bbox: the item's bbox is used. */
  wholeItem: boolean
  /** The document holds several items: fields that name one record (`id`, `out`) are refused. */
  many: boolean
  /** --expr is given (else only a record's own `expr` asks): sources carry their common names for band math. */
  expr?: boolean
}

/**
 * The multi-source record of one item. Throws a RecordError (stage `input`) naming the item: not an
 * Item, a missing asset, an href that cannot be resolved.
 */
export function itemRecord (item: unknown, ctx: ItemContext): Record<string, unknown> {
  if (stacKind(item) !== 'item') throw notStac(`${describe(item)} is not a STAC Item`)
  const v = item as Record<string, unknown>
  const label = typeof v.id === 'string' || typeof v.id === 'number' ? `item '${String(v.id)}'` : 'an item without an id'
  if (v.type !== 'Feature') throw notStac(`${label}: "type" is ${JSON.stringify(v.type)}, not "Feature"`)
  if (typeof v.stac_version !== 'string') throw notStac(`${label}: no "stac_version": not a STAC Item`)
  if (v.assets === null || typeof v.assets !== 'object' || Array.isArray(v.assets)) throw notStac(`${label}: no "assets" object`)
  const assets = v.assets as Record<string, unknown>
  if (ctx.many) {
    const named = ONE_RECORD_FIELDS.filter((f) => ctx.fields[f] !== undefined)
    if (named.length > 0) {
      throw new RecordError('input', 'BAD_RECORD', `"${named.join('" and "')}" name${named.length === 1 ? 's' : ''} one record, but an ItemCollection gives one record per item (each is named by its item's id)`)
    }
  }
  const base = ctx.location ?? selfLink(v)
  const picked = ctx.assets ? ctx.assets.map((key) => byKey(assets, key, label)) : dataAssets(assets, label)
  const urls: SourceEntry[] = picked.map(([key, asset]) => {
    const entry: SourceEntry = { url: resolveHref(asset, key, label, base), name: key }
    if (ctx.headers && ctx.origin !== undefined && originOf(entry.url) === ctx.origin) entry.headers = ctx.headers
    const bands = rasterBands(asset)
    if (bands) entry.bands = bands
    // Band math may call a one-band asset by its common name as --assets may (`nir`, not only `B08`).
    const common = ctx.expr || ctx.fields.expr !== undefined ? commonNames(asset) : []
    if (common.length === 1 && typeof common[0] === 'string' && common[0] !== '' && common[0] !== key) entry.common_name = common[0]
    return entry
  })
  const record: Record<string, unknown> = { ...ctx.fields }
  if (record.id === undefined && v.id !== undefined) record.id = v.id
  record.urls = urls
  if (ctx.wholeItem) {
    if (record.bbox_crs !== undefined) throw new RecordError('input', 'BAD_RECORD', '"bbox_crs" needs "bbox" (without either, the whole item is read)')
    const extent = itemExtent(v, picked[0][1], label)
    record.bbox = extent.bbox
    record.bbox_crs = extent.crs
  }
  return record
}

/**
 * An asset by its key, else by the common name of its one band (eo:bands, or STAC 1.1's bands with
 * eo:common_name). Several assets of that common name: GeoTIFFs are preferred (a JPEG 2000 copy of the
 * same band is common); still several is an error naming them, as is none.
 */
function byKey (assets: Record<string, unknown>, key: string, label: string): [string, Record<string, unknown>] {
  const own = assets[key]
  if (isObject(own)) return [key, own]
  const named = Object.entries(assets).filter((e): e is [string, Record<string, unknown>] => isObject(e[1]) && commonNames(e[1]).length === 1 && commonNames(e[1])[0] === key)
  const tiffs = named.filter(([, a]) => isGeoTiff(a))
  const found = tiffs.length > 0 ? tiffs : named
  if (found.length === 1) return found[0]
  if (found.length > 1) {
    throw new RecordError('input', 'AMBIGUOUS_ASSET', `${label}: asset '${key}' is no key, and the common name of ${found.length} assets (${found.map(([k]) => k).join(', ')}): name one by its key`)
  }
  throw new RecordError('input', 'MISSING_ASSET', `${label}: no asset '${key}' (by key or eo:bands common name; its assets: ${Object.keys(assets).join(', ') || 'none'})`)
}

/** Without --assets: every GeoTIFF asset whose roles, when given, include "data", in the item's order. */
function dataAssets (assets: Record<string, unknown>, label: string): Array<[string, Record<string, unknown>]> {
  const picked = Object.entries(assets).filter((e): e is [string, Record<string, unknown>] => {
    const a = e[1]
    if (!isObject(a) || !isGeoTiff(a)) return false
    return !Array.isArray(a.roles) || a.roles.includes('data')
  })
  if (picked.length === 0) {
    throw new RecordError('input', 'MISSING_ASSET', words`${label}: no GeoTIFF data asset (of ${Object.keys(assets).join(', ') || 'none'}); pick assets with ${option('assets')} or "assets"`)
  }
  return picked
}

/** A GeoTIFF by its media type (image/tiff…), or by its href's extension when it has no type. */
function isGeoTiff (asset: Record<string, unknown>): boolean {
  if (typeof asset.type === 'string') return /^image\/tiff\b/i.test(asset.type.trim())
  return typeof asset.href === 'string' && /\.tiff?([?#].*)?$/i.test(asset.href)
}

function commonNames (asset: Record<string, unknown>): unknown[] {
  const eo = asset['eo:bands']
  if (Array.isArray(eo)) return eo.map((b: unknown) => isObject(b) ? b.common_name : undefined)
  const bands = asset.bands
  if (Array.isArray(bands)) return bands.map((b: unknown) => isObject(b) ? b['eo:common_name'] : undefined)
  return []
}

/**
 * nodata, scale and offset per band, from `raster:bands` (STAC 1.0's raster extension) or STAC 1.1's
 * `bands` (nodata, raster:scale, raster:offset). nodata as a number, or "nan", "inf", "-inf" as STAC
 * writes those (JSON has no such numbers).
 */
function rasterBands (asset: Record<string, unknown>): BandMetadata[] | undefined {
  const raster = asset['raster:bands']
  const list = Array.isArray(raster) ? raster : Array.isArray(asset.bands) ? asset.bands : undefined
  if (!list) return undefined
  const oneOne = Array.isArray(raster)
  const out = list.map((b: unknown) => {
    const entry: BandMetadata = {}
    if (!isObject(b)) return entry
    const nodata = b.nodata
    const scale = oneOne ? b.scale : b['raster:scale']
    const offset = oneOne ? b.offset : b['raster:offset']
    if (typeof nodata === 'number' && Number.isFinite(nodata)) entry.nodata = nodata
    else if (typeof nodata === 'string' && NON_FINITE.has(nodata.toLowerCase())) entry.nodata = nodata.toLowerCase() as 'nan' | 'inf' | '-inf'
    if (typeof scale === 'number' && Number.isFinite(scale)) entry.scale = scale
    if (typeof offset === 'number' && Number.isFinite(offset)) entry.offset = offset
    return entry
  })
  return out.some((e) => Object.keys(e).length > 0) ? out : undefined
}

const NON_FINITE = new Set(['nan', 'inf', '-inf'])

/** A URL's origin (scheme, host and port; the bucket for s3://, gs://, az://); undefined for a local path. */
export function originOf (location: string): string | undefined {
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]+:\/\//.test(location)) return undefined
  try {
    const u = new URL(location)
    return u.host === '' ? undefined : `${u.protocol.toLowerCase()}//${u.host.toLowerCase()}`
  } catch {
    return undefined
  }
}

/** The item's `self` link, the base of its relative hrefs when it came on an input line. */
function selfLink (item: Record<string, unknown>): string | undefined {
  if (!Array.isArray(item.links)) return undefined
  const self = item.links.find((l: unknown) => isObject(l) && l.rel === 'self') as Record<string, unknown> | undefined
  const href = self?.href
  if (typeof href !== 'string' || href.trim() === '') return undefined
  return hasScheme(href) || isAbsolute(href) ? href.trim() : undefined
}

/**
 * An asset's href as a source: absolute as it is; relative against the item's location. A document read
 * from the network may name only remote sources: a local path (or file://) from it is refused, so that a
 * catalogue on someone else's server cannot make rasterpipe open the user's own files.
 */
function resolveHref (asset: Record<string, unknown>, key: string, label: string, base: string | undefined): string {
  const href = typeof asset.href === 'string' ? asset.href.trim() : ''
  if (href === '') throw new RecordError('input', 'BAD_HREF', `${label}: asset '${key}' has no "href"`)
  let url: string
  if (hasScheme(href)) {
    url = href
  } else if (base === undefined) {
    if (!isAbsolute(href)) {
      throw new RecordError('input', 'BAD_HREF', `${label}: asset '${key}' has the relative href '${href}', and the item has no location to resolve it against (no "self" link; read it with {"stac": URL} instead)`)
    }
    url = href
  } else if (hasScheme(base) && classifyUrl(base).kind !== 'file') {
    url = new URL(href, base).toString()
  } else {
    const dir = dirname(localPath(base))
    url = classifyUrl(base).kind === 'file' ? pathToFileURL(resolve(dir, href)).toString() : resolve(dir, href)
  }
  if (base !== undefined && isRemote(base) && !isRemote(url)) {
    throw new RecordError('input', 'BAD_HREF', `${label}: asset '${key}' names the local file '${href}', which a document from ${base} may not`)
  }
  return url
}

function hasScheme (text: string): boolean {
  return schemeOf(text) !== undefined
}


function describe (v: unknown): string {
  if (Array.isArray(v)) return 'an array'
  if (v === null) return 'null'
  if (typeof v !== 'object') return `a ${typeof v}`
  const type = (v as Record<string, unknown>).type
  return type !== undefined ? `a ${JSON.stringify(type)} object` : 'an object'
}

function notStac (message: string): RecordError {
  return new RecordError('input', 'NOT_STAC', message)
}
