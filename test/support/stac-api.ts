// A small STAC API for the tests, on 127.0.0.1 at a random port: /search by POST (JSON) and GET (query),
// over a catalogue of `count` items made on demand by `item(i)` (so that thousands cost nothing until
// served). Filters by collections, ids, bbox and datetime; pages of `limit` items (default 10) linked by
// `next`: a GET href with a token, or for a POST a link with `method: POST` and a `body` holding the token,
// `merge: true` (the client merges it into its last body) or the whole body (`paging: 'post-body'`). Logs
// every request in order (`log`, and a 'request' event), and injects faults: a status before the real
// answer, a page that is not JSON, a `next` that loops back, no results, a GET-only API (405 to POST).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from './server.js'

export interface SearchLog {
  /** 1-based, in the order requests arrived. */
  seq: number
  method: string
  /** Path and query as asked. */
  url: string
  /** The parsed POST body, or the query as an object. */
  params: Record<string, unknown>
  /** The offset of the first item the page holds (its token). */
  offset: number
  headers: IncomingMessage['headers']
  /** performance.now() when it arrived. */
  at: number
  /** What it was answered: a status. */
  status: number
}

export interface StacApiOptions {
  count: number
  /** The item at 0-based index i (its id should be unique). */
  item: (i: number) => Record<string, unknown>
  /** Page size when the request gives no limit. */
  limit?: number
  /** How a POST's next page is linked: a POST with the token merged into the body (default), or with the whole body. */
  paging?: 'post-merge' | 'post-body'
  /** Default: any free port. */
  port?: number
}

export interface StacApi extends EventEmitter {
  /** The /search URL. */
  search: string
  base: string
  log: SearchLog[]
  /** The next page requests answer these statuses first, one each (e.g. 500 once). */
  failNext: number[]
  /** The page at an offset answers these statuses first, one a request. */
  failAt: Map<number, number[]>
  /** Pages at these offsets answer text that is not JSON. */
  notJson: Set<number>
  /** The page at this offset links back to the page before it (a loop). */
  loopAt?: number
  /** Every search matches nothing. */
  empty: boolean
  /** POST is refused with 405: a GET-only API. */
  getOnly: boolean
  close: () => Promise<void>
}

/** The item fields a search filters on. */
interface Indexed { collection?: unknown, bbox?: unknown, properties?: { datetime?: unknown } }

export async function startStacApi (o: StacApiOptions): Promise<StacApi> {
  const api = Object.assign(new EventEmitter(), {
    search: '', base: '', log: [] as SearchLog[], failNext: [] as number[], failAt: new Map<number, number[]>(), notJson: new Set<number>(), empty: false, getOnly: false,
    close: async () => undefined
  }) as StacApi
  let seq = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => { answer(req, res, Buffer.concat(chunks).toString('utf8')) })
  })
  const answer = (req: IncomingMessage, res: ServerResponse, text: string): void => {
    const u = new URL(req.url ?? '/', api.base)
    const entry: SearchLog = { seq: ++seq, method: req.method ?? '', url: req.url ?? '', params: {}, offset: 0, headers: req.headers, at: performance.now(), status: 200 }
    const send = (status: number, body: string, type = 'application/geo+json'): void => {
      entry.status = status
      api.log.push(entry)
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
      res.end(body)
      api.emit('request', entry)
    }
    if (u.pathname !== '/search') return send(404, '{"code":"NotFound"}', 'application/json')
    let params: Record<string, unknown>
    if (req.method === 'POST' && !api.getOnly) {
      try {
        params = JSON.parse(text) as Record<string, unknown>
      } catch {
        return send(400, '{"code":"BadRequest","description":"body is not JSON"}', 'application/json')
      }
    } else if (req.method === 'GET') {
      params = fromQuery(u.searchParams)
    } else {
      return send(405, '', 'text/plain')
    }
    entry.params = params
    const offset = typeof params.token === 'string' ? Number(params.token.replace(/^o/, '')) : 0
    entry.offset = offset
    const status = api.failNext.shift() ?? api.failAt.get(offset)?.shift()
    if (status !== undefined) return send(status, '{"code":"ServerError"}', 'application/json')
    if (api.notJson.has(offset)) return send(200, '<html>Bad gateway</html>', 'text/html')
    const limit = typeof params.limit === 'number' ? params.limit : o.limit ?? 10
    const matched = api.empty ? [] : matching(o, params)
    const features = matched.slice(offset, offset + limit).map((i) => o.item(i))
    const links: Array<Record<string, unknown>> = [{ rel: 'root', href: `${api.base}/` }]
    const nextOffset = api.loopAt === offset ? Math.max(0, offset - limit) : offset + limit
    if (nextOffset < matched.length && (api.loopAt === offset || offset + limit < matched.length)) {
      const token = `o${nextOffset}`
      if (req.method === 'GET') {
        const q = new URLSearchParams(u.searchParams)
        q.set('token', token)
        links.push({ rel: 'next', href: `${api.search}?${q.toString()}`, type: 'application/geo+json' })
      } else {
        const body = o.paging === 'post-body' ? { ...params, token } : { token }
        links.push({ rel: 'next', href: api.search, method: 'POST', body, ...(o.paging === 'post-body' ? {} : { merge: true }), type: 'application/geo+json' })
      }
    }
    send(200, JSON.stringify({ type: 'FeatureCollection', features, links, numberMatched: matched.length, numberReturned: features.length }))
  }
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, '127.0.0.1', resolve))
  api.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  api.search = `${api.base}/search`
  api.close = async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return api
}

/** GET's query as POST's body: lists split at commas, bbox as numbers, JSON for intersects, filter and query. */
function fromQuery (q: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of q) {
    if (k === 'collections' || k === 'ids') out[k] = v.split(',')
    else if (k === 'bbox') out[k] = v.split(',').map(Number)
    else if (k === 'limit') out[k] = Number(v)
    else if (k === 'intersects' || k === 'query' || (k === 'filter' && v.startsWith('{'))) out[k] = JSON.parse(v)
    else out[k] = v
  }
  return out
}

/** The indexes of the items a search matches, in catalogue order. */
function matching (o: StacApiOptions, p: Record<string, unknown>): number[] {
  const out: number[] = []
  const [start, end] = typeof p.datetime === 'string' ? p.datetime.split('/').map((s) => s === '..' || s === '' ? undefined : Date.parse(s)) : []
  for (let i = 0; i < o.count; i++) {
    const it = o.item(i) as Indexed
    if (Array.isArray(p.collections) && !p.collections.includes(it.collection)) continue
    if (Array.isArray(p.ids) && !p.ids.includes((it as { id?: unknown }).id)) continue
    if (Array.isArray(p.bbox) && Array.isArray(it.bbox)) {
      const [w, s, e, n] = p.bbox as number[]
      const [iw, is, ie, iN] = it.bbox as number[]
      if (iw > e || ie < w || is > n || iN < s) continue
    }
    if (typeof p.datetime === 'string') {
      const t = Date.parse(String(it.properties?.datetime))
      if ((start !== undefined && t < start) || (end !== undefined && t > (p.datetime.includes('/') ? end : start ?? t))) continue
      if (!p.datetime.includes('/') && t !== start) continue
    }
    out.push(i)
  }
  return out
}

// `node dist/test/support/stac-api.js [PORT]`: the shipped catalogue fixtures/stac/ as a STAC API (collection
// "fixtures"), its COGs on a loopback raster server, until interrupted (README "STAC search").
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('../../../fixtures/stac/', import.meta.url))
  const rasters = await startServer(root)
  const collection = JSON.parse(readFileSync(join(root, 'collection.json'), 'utf8')) as { features: Array<{ assets: Record<string, { href: string }> }> }
  const items = collection.features.map((f) => {
    for (const a of Object.values(f.assets)) a.href = rasters.url(`/${a.href}`)
    return { ...f, collection: 'fixtures' }
  })
  const api = await startStacApi({ count: items.length, item: (i) => items[i], port: Number(process.argv[2] ?? 0) })
  console.log(`STAC API on ${api.search} (${items.length} items of fixtures/stac, collection "fixtures")`)
}
