// The step before parse: a STAC line (an Item, an ItemCollection, or `{"stac": URL, …}`) becomes one
// record per item, each keeping its line's number and file; every other line goes on as it is, numbered.
// Records leave in input order and only as fast as parse takes them: a collection of thousands of items is
// held as its parsed document, never as thousands of records waiting in a buffer. `{"stac": …}` documents
// are read a few lines ahead, so that their round trips overlap.
import { Duplex } from 'node:stream'
import { RecordError } from '../core/errors.js'
import type { DocumentReader } from '../source/document.js'
import { redactAbout, redactUrl } from '../http/redact.js'
import type { StacRecord } from '../core/records.js'
import { isRawLine, LineRecord, type RawLine } from './lines.js'
import { InvalidValue, parseAssets, parseHeaders } from '../core/request.js'
import { ALLOWED_SCHEMES } from './url.js'
import { schemeOf } from '../core/url.js'
import { itemRecord, itemsOf, originOf, stacKind, STAC_FIELDS, type ItemContext } from './stac.js'
import { reword, words } from '../core/words.js'
import { groupedRecords, groupingOf } from './stac-group.js'
import { asInputError, isSearchRecord, recordsOf, searchItems, searchRequest, type PageFetcher } from './stac-search.js'

export interface ExpandOptions {
  /** --assets: asset keys (or common names) for items whose record gives none. */
  assets?: string[]
  /** --expr is given: every item's sources carry their common names, which band math may use. */
  expr?: boolean
  /** The run gives a window or bbox of its own (--window, --bbox): else items are read whole, by their bbox. */
  extentGiven: boolean
  /** --header: sent with every document request (and a record's own `headers` on top). */
  headers: Record<string, string>
  readDocument: DocumentReader
  /** Header values met in records: secrets, never to be printed. */
  onSecrets?: (values: string[]) => void
  /** Input lines whose records (and documents) may be in hand at once. */
  ahead?: number
  /** --mosaic, --group-by: items grouped into one record per group (lib/input/stac-group.ts). */
  mosaic?: string
  groupBy?: string
}

type Output = RawLine | LineRecord

/** Only these lines are parsed here to be looked at; the rest (most of them, in a plain run) go by untouched. */
const MAYBE_STAC = /"(stac|stac_version|type|stac_search)"\s*:/

export class Expand extends Duplex {
  private count = 0
  private readonly o: ExpandOptions
  private readonly ahead: number
  /** Each input item's records, in input order; a document being read is a promise of them, a search's are made as taken. */
  private readonly queue: Array<Promise<Iterable<Output> | AsyncIterable<Output>>> = []
  private heldWrite: (() => void) | undefined
  private wantMore: (() => void) | undefined
  private ended: (() => void) | undefined
  private pumping = false
  private readonly stopped = new AbortController()

  constructor (options: ExpandOptions) {
    super({ objectMode: true, highWaterMark: 16 })
    this.o = options
    this.ahead = options.ahead ?? 4
  }

  override _write (item: unknown, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    this.queue.push(this.expand(item))
    if (this.queue.length < this.ahead) done()
    else this.heldWrite = done
    void this.pump()
  }

  override _final (done: (error?: Error | null) => void): void {
    this.ended = done
    void this.pump()
  }

  override _read (): void {
    const more = this.wantMore
    this.wantMore = undefined
    more?.()
  }

  override _destroy (err: Error | null, done: (error?: Error | null) => void): void {
    this.stopped.abort()
    this._read()
    done(err)
  }

  /** Pushes the records of the items in hand, in order, each only when the reader wants more. */
  private async pump (): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.queue.length > 0) {
        for await (const out of await this.queue[0]) {
          if (this.destroyed) return
          if (!this.push(out)) await new Promise<void>((resolve) => { this.wantMore = resolve })
        }
        if (this.destroyed) return
        this.queue.shift()
        const held = this.heldWrite
        this.heldWrite = undefined
        held?.()
      }
      if (this.ended) {
        this.push(null)
        this.ended()
      }
    } finally {
      this.pumping = false
    }
  }

  /** One input item's records. Never rejects: what goes wrong is an error record of its line. */
  private async expand (item: unknown): Promise<Iterable<Output> | AsyncIterable<Output>> {
    const n = ++this.count
    if (item instanceof LineRecord) return [item]
    if (typeof item === 'string') item = { line: n, text: item } satisfies RawLine
    else if (!isRawLine(item)) {
      if (isSearchRecord(item)) return this.search(item, n, undefined)
      return stacKind(item) ? await this.stac(item, n, undefined) : [new LineRecord(n, undefined, item)]
    }
    const raw = item as RawLine
    const text = raw.text?.trim()
    if (text === undefined || !text.startsWith('{') || !MAYBE_STAC.test(text)) return [raw]
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      // Parse says why, for STAC lines as for any other.
      return [raw]
    }
    if (isSearchRecord(value)) return this.search(value, raw.line, raw.input)
    return stacKind(value) ? await this.stac(value, raw.line, raw.input) : [raw]
  }

  /**
   * A `{"stac_search": …}` line: one record per item of the search, made as parse takes them, pages
   * fetched as they are needed (lib/input/stac-search.ts). The record's own headers go to the API's origin
   * only (its pages, and its sources there); -H to every request.
   */
  private search (v: Record<string, unknown>, line: number, input: string | undefined): Iterable<Output> | AsyncIterable<Output> {
    let req
    let grouping
    try {
      req = searchRequest(v)
      grouping = groupingOf(v, this.o)
      // Grouping's fields are the search's, not its items' records'.
      delete req.fields.mosaic
      delete req.fields.group_by
      if (v.headers !== undefined) {
        try {
          req.headers = parseHeaders(v.headers)
        } catch (err) {
          throw new InvalidValue(`headers: ${(err as Error).message}`)
        }
        this.o.onSecrets?.(Object.values(req.headers))
      }
    } catch (err) {
      return [new LineRecord(line, input, undefined, asInputError(err))]
    }
    const origin = originOf(req.url)
    const context: ItemContext = { fields: req.fields, wholeItem: !this.o.extentGiven && req.fields.window === undefined && req.fields.bbox === undefined, many: true }
    const assets = req.assets ?? this.o.assets
    if (assets) context.assets = assets
    if (this.o.expr) context.expr = true
    if (req.headers && origin !== undefined) {
      context.headers = req.headers
      context.origin = origin
    }
    const own = req.headers
    const fetchPage: PageFetcher = async (page) => {
      const headers = { accept: 'application/geo+json, application/json', ...this.o.headers, ...(own && originOf(page.url) === origin ? own : {}), ...page.headers }
      try {
        return await this.o.readDocument(page.url, headers, this.stopped.signal, page.method === 'POST' ? JSON.stringify(page.body) : undefined)
      } catch (err) {
        if (err instanceof Error) reword(err, (message) => redactAbout(message, [page.url]))
        throw err
      }
    }
    const retry = { ...Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'headers')), stac_search: redactUrl(req.url) }
    return primed(recordsOf(searchItems(req, fetchPage), context, { line, input, location: req.url, url: redactUrl(req.url), retry }, grouping))
  }

  private async stac (value: unknown, line: number, input: string | undefined): Promise<Iterable<Output>> {
    const fail = (err: unknown, id?: string): LineRecord => new LineRecord(line, input, undefined, asInputError(err), id)
    const v = value as Record<string, unknown>
    const context: ItemContext = { fields: {}, wholeItem: !this.o.extentGiven, many: false }
    if (this.o.assets) context.assets = this.o.assets
    if (this.o.expr) context.expr = true
    let doc: unknown = value
    let where = `line ${line}`
    if (stacKind(value) === 'reference') {
      let location: string
      let headers: Record<string, string>
      try {
        ({ location, headers } = this.reference(v, context))
      } catch (err) {
        return [fail(err)]
      }
      context.location = location
      where = `STAC document ${redactUrl(location)}`
      try {
        const body = await this.o.readDocument(location, headers, this.stopped.signal)
        doc = JSON.parse(body.toString('utf8'))
      } catch (err) {
        // The document's URL as it may be printed (as text, one with a space or quote is not found whole).
        if (err instanceof Error) reword(err, (message) => redactAbout(message, [location]))
        if (err instanceof SyntaxError) return [fail(new InvalidValue(`${where}: invalid JSON (${err.message})`))]
        if (err instanceof RecordError && err.stage !== 'input') {
          // Run again as it was written, without its headers (never printed) and with the URL as printed.
          const retry = Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'headers'))
          const again = new RecordError(err.stage, err.code, words`STAC document ${err}`, err.retryable)
          return [new LineRecord(line, input, undefined, again, undefined, { ...retry, stac: redactUrl(location) } as unknown as StacRecord)]
        }
        return [fail(err)]
      }
    }
    let items: unknown[]
    try {
      items = itemsOf(doc, where)
    } catch (err) {
      return [fail(err)]
    }
    context.many = stacKind(doc) === 'collection'
    // Grouped (a mosaic or a time series): one record per group, made once the document's items are all seen.
    let grouping
    try {
      grouping = groupingOf(v, this.o)
    } catch (err) {
      return [fail(err)]
    }
    if (grouping) {
      const out: Output[] = []
      for await (const g of groupedRecords(items, context, grouping)) out.push('record' in g ? new LineRecord(line, input, g.record) : fail(g.error, g.id))
      return out
    }
    return (function * () {
      for (const item of items) {
        try {
          yield new LineRecord(line, input, itemRecord(item, context))
        } catch (err) {
          const id = (item as { id?: unknown } | null)?.id
          yield fail(err, typeof id === 'string' || typeof id === 'number' ? String(id) : undefined)
        }
      }
    })()
  }

  /** A `{"stac": …}` record's document location and request headers, with its own fields put in the context. */
  private reference (v: Record<string, unknown>, context: ItemContext): { location: string, headers: Record<string, string> } {
    for (const key of ['url', 'urls']) if (key in v) throw new InvalidValue(`"stac" and "${key}" cannot be used together`)
    if (typeof v.stac !== 'string' || v.stac.trim() === '') throw new InvalidValue('"stac" must be the URL or path of a STAC Item or ItemCollection')
    const location = v.stac.trim()
    const scheme = schemeOf(location)
    if (scheme !== undefined && !ALLOWED_SCHEMES.has(scheme)) {
      throw new InvalidValue(`"stac": unsupported URL scheme in '${redactUrl(location)}' (use http, https, s3, gs, az, file or a local path)`)
    }
    if (v.assets !== undefined) {
      try {
        context.assets = parseAssets(v.assets)
      } catch (err) {
        throw new InvalidValue(`"assets": ${(err as Error).message}`)
      }
    }
    let headers = this.o.headers
    if (v.headers !== undefined) {
      try {
        const own = parseHeaders(v.headers)
        this.o.onSecrets?.(Object.values(own))
        headers = { ...headers, ...own }
        // The record's headers go with the document request, and to the sources on its origin only (as
        // entry headers): never to an asset's other host. -H goes to every request, as for any record.
        context.headers = own
        context.origin = originOf(location)
      } catch (err) {
        throw new InvalidValue(`headers: ${(err as Error).message}`)
      }
    }
    context.fields = Object.fromEntries(Object.entries(v).filter(([k]) => !STAC_FIELDS.includes(k) && k !== 'headers'))
    if (v.window !== undefined || v.bbox !== undefined) context.wholeItem = false
    return { location, headers }
  }
}

/**
 * A search's records with the first asked for at once: its first page is fetched while the lines before it
 * drain, as `{"stac": …}` documents are read ahead; the pages after it only as its records are taken.
 */
function primed<T> (records: AsyncGenerator<T>): AsyncIterable<T> {
  const first = records.next()
  return {
    async * [Symbol.asyncIterator] () {
      for (let r = await first; r.done !== true; r = await records.next()) yield r.value
    }
  }
}
