// A STAC API search as input: a `{"stac_search": URL, …}` record checked into a search request (the STAC
// API Item Search spec: POST JSON, or GET with query parameters), and the items of its pages in order,
// following `next` links. Pages are fetched only as the consumer takes items: the one in hand, and at most
// one more on its way, never a whole result. No I/O of its own: pages come through the caller's fetcher.
import { createHash } from 'node:crypto'
import { RecordError } from '../core/errors.js'
import { InvalidValue, isObject, parseAssets, parseBbox } from '../core/request.js'
import { redactUrl } from '../http/redact.js'
import { messageOf, reword } from '../core/words.js'
import type { StacRecord } from '../core/records.js'
import { LineRecord } from './lines.js'
import { itemRecord, type ItemContext } from './stac.js'
import { groupedRecords, type Grouping } from './stac-group.js'

/** The fields of a search record that make the search (the rest are its items' records' fields). */
export const SEARCH_FIELDS = ['stac_search', 'collections', 'ids', 'bbox', 'intersects', 'datetime', 'filter', 'filter-lang',
  'query', 'sortby', 'limit', 'max_items', 'method', 'headers', 'assets']

export type SearchMethod = 'GET' | 'POST'

/** A checked search: what the first page asks, and what the records of its items take. */
export interface SearchRequest {
  /** The API's /search endpoint (http or https). */
  url: string
  method: SearchMethod
  /** The search's parameters, as the POST body has them (GET's query is made from them). */
  body: Record<string, unknown>
  /** Stop after this many items (the API's `limit` is a page's size, not this). */
  maxItems?: number
  /** The record's own headers: to the API's origin only. */
  headers?: Record<string, string>
  /** Asset keys or common names (the record's `assets`). */
  assets?: string[]
  /** The record's other fields: each item's record gets them. */
  fields: Record<string, unknown>
}

/** One page's request: the first, or a `next` link's. */
export interface PageRequest {
  url: string
  method: SearchMethod
  /** POST only: the JSON body. */
  body?: Record<string, unknown>
  /** The link's own headers (STAC API's `headers` on a link). */
  headers: Record<string, string>
}

/** Reads one page's bytes (the run's HTTP, retries and all); the page's number is for messages only. */
export type PageFetcher = (page: PageRequest, n: number) => Promise<Buffer>

/** Whether a parsed line is a search record. */
export function isSearchRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'stac_search' in value
}

/** A search record checked (throws InvalidValue naming the field). */
export function searchRequest (v: Record<string, unknown>): SearchRequest {
  for (const key of ['url', 'urls', 'stac']) if (key in v) throw new InvalidValue(`"stac_search" and "${key}" cannot be used together`)
  const url = typeof v.stac_search === 'string' ? v.stac_search.trim() : ''
  if (!/^https?:\/\//i.test(url)) throw new InvalidValue(`"stac_search" must be the http(s) URL of a STAC API's /search, got ${JSON.stringify(redactUrl(String(v.stac_search)))}`)
  try {
    void new URL(url)
  } catch {
    throw new InvalidValue(`"stac_search": '${redactUrl(url)}' is not a URL`)
  }
  const body: Record<string, unknown> = {}
  if (v.collections !== undefined) body.collections = names(v.collections, 'collections')
  if (v.ids !== undefined) body.ids = names(v.ids, 'ids')
  if (v.bbox !== undefined && v.intersects !== undefined) throw new InvalidValue('"bbox" and "intersects" cannot be used together (STAC API Item Search)')
  if (v.bbox !== undefined) {
    if (v.bbox_crs !== undefined && !/^(EPSG:4326|OGC:CRS84)$/i.test(String(v.bbox_crs).trim())) {
      throw new InvalidValue('"bbox_crs": a search\'s "bbox" is longitude/latitude (EPSG:4326), as the STAC API takes it')
    }
    const [w, s, e, n] = parseBbox(v.bbox, '"bbox"')
    if (w < -180 || e > 180 || s < -90 || n > 90) throw new InvalidValue(`"bbox": longitude and latitude in degrees (west,south,east,north), got ${w},${s},${e},${n}`)
    body.bbox = [w, s, e, n]
  }
  if (v.intersects !== undefined) body.intersects = geometry(v.intersects)
  if (v.datetime !== undefined) body.datetime = datetime(v.datetime)
  if (v.filter !== undefined) {
    if (typeof v.filter !== 'string' && !isObject(v.filter)) throw new InvalidValue('"filter" must be a CQL2 JSON object or CQL2 text')
    body.filter = v.filter
    const lang = v['filter-lang'] ?? (typeof v.filter === 'string' ? 'cql2-text' : 'cql2-json')
    if (lang !== 'cql2-json' && lang !== 'cql2-text') throw new InvalidValue(`"filter-lang" must be cql2-json or cql2-text, got ${JSON.stringify(lang)}`)
    body['filter-lang'] = lang
  } else if (v['filter-lang'] !== undefined) {
    throw new InvalidValue('"filter-lang" needs "filter"')
  }
  if (v.query !== undefined) {
    if (!isObject(v.query)) throw new InvalidValue('"query" must be an object (the Query extension\'s)')
    body.query = v.query
  }
  if (v.sortby !== undefined) body.sortby = sortby(v.sortby)
  if (v.limit !== undefined) body.limit = whole(v.limit, 'limit', 10000)
  const req: SearchRequest = { url, method: 'POST', body, fields: {} }
  if (v.max_items !== undefined) req.maxItems = whole(v.max_items, 'max_items')
  if (v.method !== undefined) {
    const m = typeof v.method === 'string' ? v.method.toUpperCase() : v.method
    if (m !== 'GET' && m !== 'POST') throw new InvalidValue(`"method" must be GET or POST, got ${JSON.stringify(v.method)}`)
    req.method = m
  }
  if (v.assets !== undefined) {
    try {
      req.assets = parseAssets(v.assets)
    } catch (err) {
      throw new InvalidValue(`"assets": ${(err as Error).message}`)
    }
  }
  req.fields = Object.fromEntries(Object.entries(v).filter(([k]) => !SEARCH_FIELDS.includes(k) && k !== 'bbox_crs'))
  // Items are read within the searched box, unless the record gives a pixel window (README "STAC search").
  if (body.bbox !== undefined && v.window === undefined) Object.assign(req.fields, { bbox: body.bbox, bbox_crs: 'EPSG:4326' })
  return req
}

/** The first page's request. */
export function firstPage (req: SearchRequest): PageRequest {
  return req.method === 'POST'
    ? { url: req.url, method: 'POST', body: req.body, headers: {} }
    : { url: withQuery(req.url, req.body), method: 'GET', headers: {} }
}

/**
 * A search's parameters as GET's query (STAC API Item Search): lists comma-separated, `bbox` as numbers,
 * `intersects`, `query` and a JSON `filter` as JSON, `sortby` as `+field,-field`.
 */
export function withQuery (url: string, body: Record<string, unknown>): string {
  const u = new URL(url)
  for (const [key, value] of Object.entries(body)) {
    let text: string
    if (key === 'sortby') text = (value as Array<{ field: string, direction: string }>).map((s) => `${s.direction === 'desc' ? '-' : '+'}${s.field}`).join(',')
    else if (Array.isArray(value) && value.every((x) => typeof x !== 'object')) text = value.join(',')
    else if (typeof value === 'object' && value !== null) text = JSON.stringify(value)
    else text = String(value)
    u.searchParams.set(key, text)
  }
  return u.toString()
}

/**
 * The request of a page's `next` link, or undefined when it has none. A POST link's `body` replaces the
 * last request's, or with `merge: true` is merged into it; a link without `method` is a GET of its href
 * (resolved against the page's URL).
 */
export function nextPage (page: unknown, from: PageRequest): PageRequest | undefined {
  const links = isObject(page) && Array.isArray(page.links) ? page.links : []
  const link = links.find((l: unknown) => isObject(l) && l.rel === 'next') as Record<string, unknown> | undefined
  if (!link) return undefined
  if (typeof link.href !== 'string' || link.href.trim() === '') throw new InvalidValue('its "next" link has no "href"')
  const url = new URL(link.href.trim(), from.url).toString()
  const method = typeof link.method === 'string' ? link.method.toUpperCase() : 'GET'
  if (method !== 'GET' && method !== 'POST') throw new InvalidValue(`its "next" link's method ${JSON.stringify(link.method)} is neither GET nor POST`)
  const headers: Record<string, string> = {}
  if (isObject(link.headers)) {
    for (const [k, v] of Object.entries(link.headers)) if (typeof v === 'string') headers[k] = v
  }
  if (method === 'GET') return { url, method, headers }
  const own = isObject(link.body) ? link.body : {}
  const body = link.merge === true ? { ...(from.body ?? {}), ...own } : own
  return { url, method, body, headers }
}

/** A page's key as a short digest: a search of a million items remembers ten thousand pages or so. */
function digest (p: PageRequest): string {
  return createHash('sha256').update(pageKey(p)).digest('base64')
}

/** What identifies a page's request: the same again is a loop. */
export function pageKey (p: PageRequest): string {
  return JSON.stringify([p.method, p.url, p.body === undefined ? null : sortedJson(p.body)])
}

/**
 * The items of a search, in the API's order: page after page, each fetched only when the consumer has
 * taken every item of the one before (so that at most one page is in hand, and the records made from it
 * downstream). Stops at `maxItems`. Throws a RecordError naming the page (its number and URL) when a
 * page cannot be read, is not JSON or not an ItemCollection, or repeats a request already made (a loop).
 * An API that refuses the first POST with 405 (GET-only) is asked again by GET, with the same parameters.
 */
export async function * searchItems (req: SearchRequest, fetchPage: PageFetcher): AsyncGenerator<unknown, number> {
  let page: PageRequest | undefined = firstPage(req)
  const seen = new Map<string, number>()
  let given = 0
  for (let n = 1; page !== undefined; n++) {
    const at = (p: PageRequest): string => `STAC search page ${n} (${p.method} ${redactUrl(p.url)})`
    let where = at(page)
    const key = digest(page)
    const before = seen.get(key)
    if (before !== undefined) {
      throw new RecordError('input', 'SEARCH_LOOP', `${where}: its request is page ${before}'s again: a "next" loop, stopped after ${given} items`)
    }
    seen.set(key, n)
    let doc: unknown
    try {
      let bytes: Buffer
      try {
        bytes = await fetchPage(page, n)
      } catch (err) {
        if (!(n === 1 && page.method === 'POST' && err instanceof RecordError && err.code === 'HTTP_405')) throw err
        page = { url: withQuery(req.url, req.body), method: 'GET', headers: {} }
        seen.set(digest(page), n)
        where = at(page)
        bytes = await fetchPage(page, n)
      }
      try {
        doc = JSON.parse(bytes.toString('utf8'))
      } catch (err) {
        throw new RecordError('input', 'NOT_STAC', `not JSON (${(err as Error).message})`)
      }
      if (!isObject(doc) || doc.type !== 'FeatureCollection' || !Array.isArray(doc.features)) {
        throw new RecordError('input', 'NOT_STAC', `not an ItemCollection (a GeoJSON FeatureCollection with "features")`)
      }
    } catch (err) {
      throw named(err, where, given)
    }
    const features = doc.features as unknown[]
    let next: PageRequest | undefined
    try {
      next = nextPage(doc, page)
    } catch (err) {
      throw named(err, where, given)
    }
    // The page's document goes: only its features are held while they are taken.
    doc = undefined
    for (let i = 0; i < features.length; i++) {
      if (req.maxItems !== undefined && given >= req.maxItems) return given
      const item = features[i]
      features[i] = undefined
      given++
      yield item
    }
    if (req.maxItems !== undefined && given >= req.maxItems) return given
    page = next
  }
  return given
}

/** An error met on a page, its message starting with the page (and saying how far the search had come). */
function named (err: unknown, where: string, given: number): RecordError {
  const after = given > 0 ? ` (after ${given} items)` : ''
  if (err instanceof RecordError) {
    reword(err, (m) => `${where}: ${m}${after}`)
    return err
  }
  return new RecordError('input', 'NOT_STAC', `${where}: ${String(messageOf(err))}${after}`)
}

function names (value: unknown, field: string): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x.trim() !== '')) {
    throw new InvalidValue(`"${field}" must be a list of names, or one text of them separated by commas`)
  }
  return list.map((x: string) => x.trim())
}

function whole (value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new InvalidValue(`"${field}" must be a whole number from 1${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got ${JSON.stringify(value)}`)
  }
  return value
}

const GEOMETRIES = new Set(['Point', 'MultiPoint', 'LineString', 'MultiLineString', 'Polygon', 'MultiPolygon', 'GeometryCollection'])

/** A GeoJSON geometry (a Feature gives its geometry). */
export function geometry (value: unknown): Record<string, unknown> {
  const g = isObject(value) && value.type === 'Feature' ? value.geometry : value
  if (!isObject(g) || typeof g.type !== 'string' || !GEOMETRIES.has(g.type) ||
    (g.type === 'GeometryCollection' ? !Array.isArray(g.geometries) : !Array.isArray(g.coordinates))) {
    throw new InvalidValue('"intersects" must be a GeoJSON geometry (Polygon, MultiPolygon, Point…)')
  }
  return g
}

/** An RFC 3339 date-time, or an interval of two with `..` (or nothing) for an open end. */
function datetime (value: unknown): string {
  const bad = (): never => { throw new InvalidValue(`"datetime" must be an RFC 3339 date-time or an interval START/END (".." for an open end), got ${JSON.stringify(value)}`) }
  if (typeof value !== 'string' || value.trim() === '') return bad()
  const parts = value.trim().split('/')
  if (parts.length > 2 || parts.every((p) => p === '' || p === '..')) bad()
  for (const p of parts) {
    if (p === '' || p === '..') continue
    if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?$/i.test(p) || Number.isNaN(Date.parse(p))) bad()
  }
  return value.trim()
}

/** `sortby` as the spec's list of {field, direction}, from that list or `+field,-field` text. */
function sortby (value: unknown): Array<{ field: string, direction: 'asc' | 'desc' }> {
  const bad = (): never => { throw new InvalidValue('"sortby" must be [{"field": …, "direction": "asc"|"desc"}…] or text such as "-properties.datetime,+id"') }
  if (typeof value === 'string') {
    return value.split(',').map((s) => s.trim()).map((s) => {
      const field = s.replace(/^[+-]/, '')
      if (field === '') bad()
      return { field, direction: s.startsWith('-') ? 'desc' : 'asc' }
    })
  }
  if (!Array.isArray(value) || value.length === 0) return bad()
  return value.map((s: unknown) => {
    if (!isObject(s) || typeof s.field !== 'string' || s.field === '') return bad()
    const direction = s.direction ?? 'asc'
    if (direction !== 'asc' && direction !== 'desc') return bad()
    return { field: s.field, direction }
  })
}

function sortedJson (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedJson)
  if (!isObject(v)) return v
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortedJson(v[k])]))
}


/** The records a search's line gives: one per item, a failure (naming the page) after those given, or NO_ITEMS. */
export interface SearchLine {
  line: number
  input: string | undefined
  /** The search's URL: relative hrefs of items without a `self` link resolve against it. */
  location: string
  /** The same as it may be printed (redacted), for messages. */
  url: string
  /** The search record to run again after a failure past input (without its headers). */
  retry?: Record<string, unknown>
}

/**
 * The item→record step of a search: each item of `items` (a search's, or a stream made of them) becomes
 * its record (lib/input/stac.ts's itemRecord), made only when the consumer takes it; an item that cannot be
 * read fails its own record. With a `grouping` (mosaic, group_by) the items become one record per group
 * instead, given once the search has ended (lib/input/stac-group.ts). A failure of the stream ends it with
 * one more record for the search's line; a stream that gave nothing is one NO_ITEMS record, never silence.
 */
export async function * recordsOf (items: AsyncIterable<unknown>, context: ItemContext, at: SearchLine, grouping?: Grouping): AsyncGenerator<LineRecord> {
  let count = 0
  try {
    for await (const record of grouping ? groupRecords(items, context, grouping, at) : itemRecords(items, context, at)) {
      count++
      yield record
    }
  } catch (err) {
    const e = asInputError(err)
    // A page that could not be fetched (after its retries) may be asked again: the search from its start.
    yield new LineRecord(at.line, at.input, undefined, e, undefined, e.stage !== 'input' && at.retry ? at.retry as unknown as StacRecord : undefined)
    return
  }
  if (count === 0) yield new LineRecord(at.line, at.input, undefined, new RecordError('input', 'NO_ITEMS', `STAC search ${at.url}: no items matched`))
}

async function * itemRecords (items: AsyncIterable<unknown>, context: ItemContext, at: SearchLine): AsyncGenerator<LineRecord> {
  for await (const item of items) {
    try {
      yield new LineRecord(at.line, at.input, itemRecord(item, { ...context, location: itemLocation(item, at.location) }))
    } catch (err) {
      const id = (item as { id?: unknown } | null)?.id
      yield new LineRecord(at.line, at.input, undefined, asInputError(err), typeof id === 'string' || typeof id === 'number' ? String(id) : undefined)
    }
  }
}

async function * groupRecords (items: AsyncIterable<unknown>, context: ItemContext, grouping: Grouping, at: SearchLine): AsyncGenerator<LineRecord> {
  for await (const g of groupedRecords(items, context, grouping, (item) => itemLocation(item, at.location))) {
    yield 'record' in g ? new LineRecord(at.line, at.input, g.record) : new LineRecord(at.line, at.input, undefined, g.error, g.id)
  }
}

/** Where an item's relative hrefs resolve: its own absolute `self` link, else the search's URL (remote: no local files). */
function itemLocation (item: unknown, search: string): string {
  const links = isObject(item) && Array.isArray(item.links) ? item.links : []
  const self = links.find((l: unknown) => isObject(l) && l.rel === 'self') as Record<string, unknown> | undefined
  return typeof self?.href === 'string' && /^https?:\/\//i.test(self.href) ? self.href : search
}

/** An error as an input record's: a RecordError as it is, anything else BAD_RECORD. */
export function asInputError (err: unknown): RecordError {
  return err instanceof RecordError ? err : new RecordError('input', 'BAD_RECORD', messageOf(err))
}

/** The record of the run's own search (--stac-search and its options); --bbox is its box. */
export function searchRecordOf (o: { stacSearch?: string, collections?: unknown, datetime?: unknown, intersects?: unknown, maxItems?: unknown, bbox?: unknown }): Record<string, unknown> {
  const record: Record<string, unknown> = { stac_search: o.stacSearch }
  if (o.collections !== undefined) record.collections = o.collections
  if (o.datetime !== undefined) record.datetime = o.datetime
  if (o.intersects !== undefined) record.intersects = o.intersects
  if (o.maxItems !== undefined) record.max_items = o.maxItems
  if (o.bbox !== undefined) record.bbox = o.bbox
  return record
}
