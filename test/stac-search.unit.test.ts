// A STAC API search on its own (lib/input/stac-search.ts): the record checked into a request (POST body,
// GET query), `next` links followed (GET href, POST body replaced or merged, their headers), pages fetched
// only as items are taken, max_items, a loop, a page not JSON, 405 to GET; and Expand's records of a search
// line (lib/input/expand.ts): its line number on each, the lines after it in order, no items said.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RecordError } from '../lib/core/errors.js'
import { InvalidValue } from '../lib/core/request.js'
import { firstPage, nextPage, pageKey, searchItems, searchRequest, withQuery, type PageRequest } from '../lib/input/stac-search.js'
import { Expand } from '../lib/input/expand.js'
import { LineRecord, type RawLine } from '../lib/input/lines.js'
import { deferred } from './support/unit.js'

const API = 'https://api.example/v1/search'

test('searchRequest: the record\'s search fields make the POST body; the rest are the items\' records\' fields', () => {
  const req = searchRequest({
    stac_search: API, collections: 'a, b', bbox: [10, 40, 11, 41], datetime: '2024-01-01/..', filter: "eo:cloud_cover < 10",
    sortby: '-properties.datetime,+id', limit: 50, max_items: 120, assets: 'red,nir', res: 10, dst_crs: 'EPSG:3857'
  })
  assert.deepEqual(req.body, {
    collections: ['a', 'b'], bbox: [10, 40, 11, 41], datetime: '2024-01-01/..', filter: 'eo:cloud_cover < 10', 'filter-lang': 'cql2-text',
    sortby: [{ field: 'properties.datetime', direction: 'desc' }, { field: 'id', direction: 'asc' }], limit: 50
  })
  assert.equal(req.method, 'POST')
  assert.equal(req.maxItems, 120)
  assert.deepEqual(req.assets, ['red', 'nir'])
  // The searched box is the read window too, in longitude/latitude.
  assert.deepEqual(req.fields, { res: 10, dst_crs: 'EPSG:3857', bbox: [10, 40, 11, 41], bbox_crs: 'EPSG:4326' })
  assert.deepEqual(firstPage(req), { url: API, method: 'POST', body: req.body, headers: {} })
  // A pixel window of the record's own: the box is the search's only.
  assert.deepEqual(searchRequest({ stac_search: API, bbox: [10, 40, 11, 41], window: [0, 0, 8, 8] }).fields, { window: [0, 0, 8, 8] })
  const json = searchRequest({ stac_search: API, filter: { op: '<', args: [{ property: 'eo:cloud_cover' }, 10] }, intersects: { type: 'Point', coordinates: [1, 2] }, method: 'get' })
  assert.equal(json.body['filter-lang'], 'cql2-json')
  assert.equal(json.method, 'GET')
  assert.deepEqual(json.fields, {})
})

test('searchRequest: refuses what the spec or a read cannot take, naming the field', () => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ stac_search: 'file:///x' }, /"stac_search" must be the http\(s\) URL/],
    [{ stac_search: API, stac: 'http://h/x.json' }, /"stac_search" and "stac"/],
    [{ stac_search: API, url: 'http://h/x.tif' }, /"stac_search" and "url"/],
    [{ stac_search: API, bbox: [0, 0, 1, 1], intersects: { type: 'Point', coordinates: [0, 0] } }, /"bbox" and "intersects"/],
    [{ stac_search: API, bbox: [500000, 0, 600000, 10] }, /"bbox": longitude and latitude/],
    [{ stac_search: API, bbox: [0, 0, 1, 1], bbox_crs: 'EPSG:32633' }, /"bbox_crs": a search's "bbox" is longitude\/latitude/],
    [{ stac_search: API, intersects: { type: 'Circle' } }, /"intersects" must be a GeoJSON geometry/],
    [{ stac_search: API, datetime: 'yesterday' }, /"datetime" must be an RFC 3339/],
    [{ stac_search: API, datetime: '../..' }, /"datetime"/],
    [{ stac_search: API, limit: 0 }, /"limit" must be a whole number from 1 to 10000/],
    [{ stac_search: API, max_items: 1.5 }, /"max_items" must be a whole number/],
    [{ stac_search: API, method: 'PUT' }, /"method" must be GET or POST/],
    [{ stac_search: API, collections: [] }, /"collections" must be a list/],
    [{ stac_search: API, 'filter-lang': 'cql2-text' }, /"filter-lang" needs "filter"/],
    [{ stac_search: API, sortby: [{ field: 'id', direction: 'up' }] }, /"sortby"/]
  ]
  for (const [record, message] of bad) assert.throws(() => searchRequest(record), (err: Error) => err instanceof InvalidValue && message.test(err.message), JSON.stringify(record))
})

test('withQuery: GET\'s query as the spec has it: lists by commas, JSON for geometries and filters, sortby as +/-', () => {
  const url = new URL(withQuery(`${API}?key=1`, {
    collections: ['a', 'b'], bbox: [1, 2, 3, 4], intersects: { type: 'Point', coordinates: [1, 2] }, datetime: '2024-01-01T00:00:00Z',
    sortby: [{ field: 'id', direction: 'desc' }], limit: 10
  }))
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    key: '1', collections: 'a,b', bbox: '1,2,3,4', intersects: '{"type":"Point","coordinates":[1,2]}', datetime: '2024-01-01T00:00:00Z', sortby: '-id', limit: '10'
  })
})

test('nextPage: a GET href (relative to the page), a POST body merged or replacing, the link\'s headers; none without a next link', () => {
  const from: PageRequest = { url: API, method: 'POST', body: { collections: ['a'], limit: 2 }, headers: {} }
  assert.equal(nextPage({ links: [{ rel: 'self', href: API }] }, from), undefined)
  assert.deepEqual(nextPage({ links: [{ rel: 'next', href: '?token=x' }] }, from), { url: `${API}?token=x`, method: 'GET', headers: {} })
  assert.deepEqual(nextPage({ links: [{ rel: 'next', href: API, method: 'POST', body: { token: 'x' }, merge: true, headers: { 'X-Page': '2' } }] }, from),
    { url: API, method: 'POST', body: { collections: ['a'], limit: 2, token: 'x' }, headers: { 'X-Page': '2' } })
  assert.deepEqual(nextPage({ links: [{ rel: 'next', href: API, method: 'POST', body: { token: 'x' } }] }, from), { url: API, method: 'POST', body: { token: 'x' }, headers: {} })
  assert.throws(() => nextPage({ links: [{ rel: 'next', href: API, method: 'DELETE' }] }, from), /neither GET nor POST/)
  assert.throws(() => nextPage({ links: [{ rel: 'next' }] }, from), /no "href"/)
  // The same body in another key order is the same request.
  assert.equal(pageKey({ ...from, body: { limit: 2, collections: ['a'] } }), pageKey(from))
})

/** A fake API: pages of `size` items over `count`, linked by POST + merge; every request logged. */
function fakeApi (count: number, size: number, faults: { notJson?: number, loopAt?: number, status405?: boolean } = {}): { asked: PageRequest[], fetch: (p: PageRequest) => Promise<Buffer> } {
  const asked: PageRequest[] = []
  return {
    asked,
    fetch: async (p) => {
      asked.push(p)
      if (faults.status405 === true && p.method === 'POST') throw new RecordError('fetch', 'HTTP_405', `${p.url}: HTTP 405`)
      const offset = p.method === 'GET' ? Number(new URL(p.url).searchParams.get('token') ?? 0) : Number(p.body?.token ?? 0)
      if (offset === faults.notJson) return Buffer.from('<html>')
      const features = Array.from({ length: Math.max(0, Math.min(size, count - offset)) }, (_, i) => ({ id: offset + i }))
      const next = offset === faults.loopAt ? offset - size : offset + size
      const links = next < count ? [{ rel: 'next', href: API, method: 'POST', body: { token: next }, merge: true }] : []
      return Buffer.from(JSON.stringify({ type: 'FeatureCollection', features, links }))
    }
  }
}

test('searchItems: the next page is fetched only when the last item of the page in hand is taken; every item once, in order', async () => {
  const api = fakeApi(7, 3)
  const items = searchItems(searchRequest({ stac_search: API }), api.fetch)
  const got: unknown[] = []
  const expected = [1, 1, 1, 2, 2, 2, 3]
  for (let k = 0; k < 7; k++) {
    const r = await items.next()
    got.push((r.value as { id: number }).id)
    assert.equal(api.asked.length, expected[k], `after item ${k + 1}`)
  }
  assert.deepEqual(await items.next(), { done: true, value: 7 })
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6])
  assert.deepEqual(api.asked.map((p) => p.body), [{}, { token: 3 }, { token: 6 }])
})

test('searchItems: max_items stops before the page past it; a loop, a page not JSON, a FeatureCollection missing fail naming the page', async () => {
  const capped = fakeApi(100, 10)
  const got = []
  for await (const it of searchItems(searchRequest({ stac_search: API, max_items: 20 }), capped.fetch)) got.push(it)
  assert.equal(got.length, 20)
  assert.equal(capped.asked.length, 2)

  const drain = async (fetch: (p: PageRequest) => Promise<Buffer>): Promise<[number, unknown]> => {
    let n = 0
    try {
      for await (const it of searchItems(searchRequest({ stac_search: API }), fetch)) n += it === undefined ? 0 : 1
    } catch (err) {
      return [n, err]
    }
    return [n, undefined]
  }
  const [beforeLoop, loop] = await drain(fakeApi(100, 10, { loopAt: 30 }).fetch)
  assert.equal(beforeLoop, 40)
  assert.ok(loop instanceof RecordError && loop.code === 'SEARCH_LOOP', String(loop))
  assert.match(loop.message, /^STAC search page 5 \(POST https:\/\/api\.example\/v1\/search\): its request is page 3's again: a "next" loop, stopped after 40 items$/)

  const [beforeBad, bad] = await drain(fakeApi(100, 10, { notJson: 20 }).fetch)
  assert.equal(beforeBad, 20)
  assert.ok(bad instanceof RecordError && bad.code === 'NOT_STAC' && bad.stage === 'input', String(bad))
  assert.match(bad.message, /^STAC search page 3 \(POST https:\/\/api\.example\/v1\/search\): not JSON \(.*\) \(after 20 items\)$/)

  const [, notCollection] = await drain(async () => Buffer.from('{"type": "Feature"}'))
  assert.match(String((notCollection as Error).message), /^STAC search page 1 \(POST .*\): not an ItemCollection/)

  // A fetch error keeps its code and stage, its message led by the page.
  const [, failed] = await drain(async () => { throw new RecordError('fetch', 'HTTP_500', 'https://api.example/v1/search: HTTP 500', true) })
  assert.ok(failed instanceof RecordError && failed.code === 'HTTP_500' && failed.stage === 'fetch')
  assert.match(failed.message, /^STAC search page 1 \(POST .*\): https:\/\/api\.example\/v1\/search: HTTP 500$/)
})

test('searchItems: an API that refuses POST with 405 is asked the same search by GET', async () => {
  const api = fakeApi(3, 10, { status405: true })
  const got = []
  for await (const it of searchItems(searchRequest({ stac_search: API, collections: ['a'], limit: 10 }), api.fetch)) got.push(it)
  assert.equal(got.length, 3)
  assert.deepEqual(api.asked.map((p) => [p.method, p.url]), [['POST', API], ['GET', `${API}?collections=a&limit=10`]])
})

function item (id: number): Record<string, unknown> {
  return { type: 'Feature', stac_version: '1.0.0', id: `i${id}`, bbox: [0, 0, 1, 1], geometry: null, properties: {}, links: [], assets: { data: { href: `https://assets.example/${id}.tif`, type: 'image/tiff', roles: ['data'] } } }
}

test('expand: a search line gives its items\' records with its line number, made as they are read; the lines after follow; no items is one NO_ITEMS record', async () => {
  const asked: Array<{ url: string, post: string | undefined, headers: Record<string, string> }> = []
  const pages = [[item(1), item(2)], [item(3)]]
  const expand = new Expand({
    extentGiven: false,
    headers: { 'X-Run': 'r' },
    readDocument: async (url, headers, _signal, post) => {
      asked.push({ url, post, headers })
      const n = url.endsWith('?page=2') ? 1 : 0
      const links = url === API ? [{ rel: 'next', href: `${url}?page=2` }] : []
      return Buffer.from(JSON.stringify({ type: 'FeatureCollection', features: url.includes('empty') ? [] : pages[n], links }))
    }
  })
  const lines: RawLine[] = [
    { line: 1, text: JSON.stringify({ stac_search: API, limit: 2, window: [0, 0, 4, 4], headers: { Authorization: 'Bearer t' } }) },
    { line: 2, text: 'https://h/x.tif' },
    { line: 3, text: JSON.stringify({ stac_search: `${API}?empty` }) }
  ]
  const out: Array<RawLine | LineRecord> = []
  const reading = (async () => { for await (const o of expand) out.push(o as RawLine | LineRecord) })()
  for (const l of lines) expand.write(l)
  expand.end()
  await reading
  assert.deepEqual(out.map((o) => o instanceof LineRecord ? [o.line, (o.value as { id?: string } | undefined)?.id ?? o.error?.code] : [o.line, o.text]), [
    [1, 'i1'], [1, 'i2'], [1, 'i3'], [2, 'https://h/x.tif'], [3, 'NO_ITEMS']
  ])
  const first = (out[0] as LineRecord).value as Record<string, unknown>
  assert.deepEqual(first.window, [0, 0, 4, 4])
  // An asset on another origin than the API gets none of the record's headers.
  assert.deepEqual(first.urls, [{ url: 'https://assets.example/1.tif', name: 'data' }])
  // The third line's first page is asked while the first line's search drains (see the next test).
  const byUrl = new Map(asked.map((a) => [a.url, a]))
  assert.deepEqual([...byUrl.values()].map((a) => [a.url, a.post]).sort(), [[API, '{"limit":2}'], [`${API}?empty`, '{}'], [`${API}?page=2`, undefined]])
  assert.equal(asked.length, 3)
  const at = (url: string): Record<string, string> => byUrl.get(url)?.headers ?? {}
  assert.deepEqual([at(API).authorization, at(API)['X-Run'], at(`${API}?empty`).authorization], ['Bearer t', 'r', undefined])
})

test('expand: a search line behind a document still being read has its first page asked at once, its second only as its records are taken', async () => {
  const doc = deferred<Buffer>()
  const asked: string[] = []
  const expand = new Expand({
    extentGiven: false,
    headers: {},
    readDocument: async (url) => {
      asked.push(url)
      if (url === API) firstPageAsked.resolve()
      if (url.endsWith('.json')) return await doc.promise
      const page = asked.filter((u) => !u.endsWith('.json')).length
      const features = [item(page * 10 + 1), item(page * 10 + 2)]
      return Buffer.from(JSON.stringify({ type: 'FeatureCollection', features, links: page === 1 ? [{ rel: 'next', href: `${API}?page=2` }] : [] }))
    }
  })
  const firstPageAsked = deferred()
  expand.write({ line: 1, text: JSON.stringify({ stac: 'https://h/c.json' }) })
  expand.write({ line: 2, text: JSON.stringify({ stac_search: API }) })
  expand.end()
  await firstPageAsked.promise
  assert.deepEqual(asked, ['https://h/c.json', API], 'the search\'s first page while the document is still on its way; no second page')
  doc.resolve(Buffer.from(JSON.stringify(item(0))))
  const out: LineRecord[] = []
  for await (const o of expand) out.push(o as LineRecord)
  assert.deepEqual(out.map((o) => [o.line, (o.value as { id: string }).id]), [[1, 'i0'], [2, 'i11'], [2, 'i12'], [2, 'i21'], [2, 'i22']])
  assert.deepEqual(asked, ['https://h/c.json', API, `${API}?page=2`])
})
