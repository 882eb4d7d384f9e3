// STAC items to records, on their own: the pure mapping (lib/input/stac.ts), and the Expand step that turns
// one line into many records (lib/input/expand.ts): line numbers, errors, order and backpressure.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RecordError } from '../lib/core/errors.js'
import { itemRecord, itemsOf, type ItemContext } from '../lib/input/stac.js'
import { parseAssets } from '../lib/core/request.js'
import { Expand, type ExpandOptions } from '../lib/input/expand.js'
import { LineRecord, type RawLine } from '../lib/input/lines.js'
import { parseItem } from '../lib/input/parse.js'
import { resolveOptions } from '../lib/run/options.js'
import { readLocalDocument } from '../lib/source/document.js'
import { Arrivals, deferred } from './support/unit.js'

const TIFF = 'image/tiff; application=geotiff; profile=cloud-optimized'

function item (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    id,
    bbox: [-75, 37, -74.9, 37.1],
    geometry: null,
    properties: {},
    links: [],
    assets: {
      B04: { href: './B04.tif', type: TIFF, roles: ['data'], 'eo:bands': [{ name: 'B04', common_name: 'red' }], 'raster:bands': [{ nodata: 0, scale: 0.0001, offset: -0.1 }] },
      B03: { href: 'B03.tif', type: TIFF, roles: ['data'], 'eo:bands': [{ name: 'B03', common_name: 'green' }] },
      B11: { href: 'sub/B11.tif', type: TIFF, roles: ['data'], 'eo:bands': [{ name: 'B11', common_name: 'swir16' }], 'raster:bands': [{ nodata: 'nan' }] },
      B11jp2: { href: 'B11.jp2', type: 'image/jp2', roles: ['data'], 'eo:bands': [{ name: 'B11', common_name: 'swir16' }] },
      visual: { href: 'TCI.tif', type: TIFF, roles: ['visual'], 'eo:bands': [{ common_name: 'red' }, { common_name: 'green' }, { common_name: 'blue' }] },
      thumbnail: { href: 'thumb.png', type: 'image/png', roles: ['thumbnail'] },
      metadata: { href: 'meta.xml', type: 'application/xml', roles: ['metadata'] }
    },
    ...extra
  }
}

function ctx (extra: Partial<ItemContext> = {}): ItemContext {
  return { location: 'http://h/c/items/i1.json', fields: {}, wholeItem: true, many: false, ...extra }
}

function inputError (fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RecordError, String(err))
    assert.equal(err.stage, 'input')
    assert.equal(err.code, code)
    assert.match(err.message, pattern)
    return true
  })
}

test('stac: assets by key, named by key, relative hrefs against the item\'s URL, raster:bands per source', () => {
  const r = itemRecord(item('i1'), ctx({ assets: ['B04', 'B03', 'B11'] }))
  assert.deepEqual(r, {
    id: 'i1',
    urls: [
      { url: 'http://h/c/items/B04.tif', name: 'B04', bands: [{ nodata: 0, scale: 0.0001, offset: -0.1 }] },
      { url: 'http://h/c/items/B03.tif', name: 'B03' },
      // As STAC writes a NaN nodata.
      { url: 'http://h/c/items/sub/B11.tif', name: 'B11', bands: [{ nodata: 'nan' }] }
    ],
    bbox: [-75, 37, -74.9, 37.1],
    bbox_crs: 'EPSG:4326'
  })
})

test('stac: a key that is no asset is looked up by eo:bands common name (one-band assets; GeoTIFFs first)', () => {
  const r = itemRecord(item('i1'), ctx({ assets: ['red', 'swir16', 'B03'] }))
  assert.deepEqual((r.urls as Array<{ name: string }>).map((u) => u.name), ['B04', 'B11', 'B03'])
})

test('stac: without assets, every GeoTIFF asset whose roles include data, in the item\'s order', () => {
  const r = itemRecord(item('i1'), ctx())
  assert.deepEqual((r.urls as Array<{ name: string }>).map((u) => u.name), ['B04', 'B03', 'B11'])
  // No type: the href's extension says GeoTIFF; no roles: taken.
  const bare = itemRecord(item('i2', { assets: { a: { href: 'a.TIF' }, b: { href: 'b.png' } } }), ctx())
  assert.deepEqual(bare.urls, [{ url: 'http://h/c/items/a.TIF', name: 'a' }])
  inputError(() => itemRecord(item('i3', { assets: { t: { href: 't.png', type: 'image/png' } } }), ctx()), 'MISSING_ASSET', /item 'i3': no GeoTIFF data asset .*; pick assets with assets or "assets"$/)
})

test('stac: a missing asset is an input error naming the key and the item; two of one common name too', () => {
  inputError(() => itemRecord(item('S2A_1'), ctx({ assets: ['B04', 'nir'] })), 'MISSING_ASSET', /item 'S2A_1': no asset 'nir' .*assets: B04, B03, B11/)
  const twins = item('i4', { assets: { x: { href: 'x.tif', 'eo:bands': [{ common_name: 'red' }] }, y: { href: 'y.tif', 'eo:bands': [{ common_name: 'red' }] } } })
  inputError(() => itemRecord(twins, ctx({ assets: ['red'] })), 'AMBIGUOUS_ASSET', /'red' .*2 assets \(x, y\)/)
})

test('stac: hrefs resolve against a local path, a file:// URL, an s3:// URI, or the self link of an inline item', () => {
  const first = (c: Partial<ItemContext>, it = item('i1')): string => (itemRecord(it, ctx({ assets: ['B11'], ...c })).urls as Array<{ url: string }>)[0].url
  assert.equal(first({ location: '/data/cat/i1.json' }), '/data/cat/sub/B11.tif')
  assert.equal(first({ location: 'file:///data/cat/i1.json' }), 'file:///data/cat/sub/B11.tif')
  assert.equal(first({ location: 's3://bucket/cat/i1.json' }), 's3://bucket/cat/sub/B11.tif')
  const selfed = item('i1', { links: [{ rel: 'root', href: '../catalog.json' }, { rel: 'self', href: 'https://h/x/i1.json' }] })
  assert.equal(first({ location: undefined }, selfed), 'https://h/x/sub/B11.tif')
  // Absolute hrefs are kept as they are.
  const absolute = item('i1', { assets: { B11: { href: 's3://other/B11.tif' } } })
  assert.equal(first({ location: 'https://h/x/i1.json' }, absolute), 's3://other/B11.tif')
})

test('stac: relative hrefs with nowhere to resolve them, and local files named by a remote document, are errors', () => {
  inputError(() => itemRecord(item('i5'), ctx({ location: undefined })), 'BAD_HREF', /item 'i5': asset 'B04' has the relative href '.\/B04.tif'.*no "self" link/)
  const local = item('i6', { assets: { B04: { href: '/etc/passwd.tif' } } })
  // A root-relative href of a remote document stays on its server.
  assert.equal((itemRecord(local, ctx({ assets: ['B04'] })).urls as Array<{ url: string }>)[0].url, 'http://h/etc/passwd.tif')
  const file = item('i7', { assets: { B04: { href: 'file:///etc/passwd.tif' } } })
  inputError(() => itemRecord(file, ctx({ assets: ['B04'] })), 'BAD_HREF', /item 'i7': asset 'B04' names the local file/)
})

test('stac: the whole item by its bbox only when nothing else gives the extent; record fields pass through', () => {
  const fields = { window: [0, 0, 64, 64], headers: { 'x-api-key': 'k' }, dst_crs: 'utm', res: 10, resampling: 'bilinear' }
  const r = itemRecord(item('i1'), ctx({ assets: ['B04'], fields, wholeItem: false }))
  assert.deepEqual(r, { ...fields, id: 'i1', urls: [{ url: 'http://h/c/items/B04.tif', name: 'B04', bands: [{ nodata: 0, scale: 0.0001, offset: -0.1 }] }] })
  assert.equal(itemRecord(item('i1'), ctx({ assets: ['B04'], fields: { id: 'mine' } })).id, 'mine')
  // Headers given for the document's origin go to the entries on it, not elsewhere.
  const own = itemRecord(item('i1'), ctx({ assets: ['B04'], headers: { authorization: 'Bearer t' }, origin: 'http://h' }))
  assert.deepEqual((own.urls as Array<{ headers?: unknown }>)[0].headers, { authorization: 'Bearer t' })
  const elsewhere = itemRecord(item('i1'), ctx({ assets: ['B04'], headers: { authorization: 'Bearer t' }, origin: 'http://other:81' }))
  assert.equal((elsewhere.urls as Array<{ headers?: unknown }>)[0].headers, undefined)
  const threeD = itemRecord(item('i1', { bbox: [1, 2, -5, 3, 4, 50] }), ctx({ assets: ['B04'] }))
  assert.deepEqual(threeD.bbox, [1, 2, 3, 4])
  inputError(() => itemRecord(item('i8', { bbox: undefined }), ctx({ assets: ['B04'] })), 'BAD_RECORD', /item 'i8': no "bbox"/)
  inputError(() => itemRecord(item('i1'), ctx({ assets: ['B04'], many: true, fields: { out: 'a.tif' } })), 'BAD_RECORD', /"out" names one record/)
})

test('stac: an item read whole goes by its projection extension, in its own CRS, else by its bbox in EPSG:4326', () => {
  const extent = (it: Record<string, unknown>): unknown[] => {
    const r = itemRecord(it, ctx({ assets: ['B04'] }))
    return [r.bbox, r.bbox_crs]
  }
  const b04 = (extra: Record<string, unknown>): Record<string, unknown> => ({ B04: { href: 'B04.tif', ...extra } })
  // The asset's own grid: proj:transform over proj:shape, with the item's proj:epsg.
  assert.deepEqual(extent(item('p1', { properties: { 'proj:epsg': 32618 }, assets: b04({ 'proj:shape': [100, 200], 'proj:transform': [10, 0, 500000, 0, -10, 4200000] }) })),
    [[500000, 4199000, 502000, 4200000], 'EPSG:32618'])
  // proj:bbox and proj:code (projection extension 2.0) on the item.
  assert.deepEqual(extent(item('p2', { properties: { 'proj:code': 'EPSG:32633', 'proj:bbox': [1, 2, 3, 4] }, assets: b04({}) })), [[1, 2, 3, 4], 'EPSG:32633'])
  // A rotated grid, or no CRS: the lon/lat bbox.
  assert.deepEqual(extent(item('p3', { properties: { 'proj:epsg': 32618 }, assets: b04({ 'proj:shape': [1, 1], 'proj:transform': [10, 1, 0, 0, -10, 0] }) })),
    [[-75, 37, -74.9, 37.1], 'EPSG:4326'])
  assert.deepEqual(extent(item('p4', { assets: b04({ 'proj:bbox': [1, 2, 3, 4] }) })), [[-75, 37, -74.9, 37.1], 'EPSG:4326'])
})

test('stac: documents that are not Items or ItemCollections are input errors saying what they are', () => {
  assert.equal(itemsOf({ type: 'FeatureCollection', features: [1, 2] }, 'line 1').length, 2)
  inputError(() => itemsOf({ type: 'Collection', stac_version: '1.0.0', id: 'c' }, 'line 3'), 'NOT_STAC', /line 3: .*"Collection".* not a STAC Item or ItemCollection \(give its items/)
  inputError(() => itemsOf({ type: 'FeatureCollection' }, 'line 4'), 'NOT_STAC', /without a "features" array/)
  inputError(() => itemRecord({ type: 'Feature', id: 'g', geometry: null }, ctx()), 'NOT_STAC', /item 'g': no "stac_version"/)
  inputError(() => itemRecord({ type: 'Feature', stac_version: '1.0.0', id: 'g' }, ctx()), 'NOT_STAC', /item 'g': no "assets"/)
  inputError(() => itemRecord(42, ctx()), 'NOT_STAC', /a number is not a STAC Item/)
})

test('stac: assets as a list or comma text', () => {
  assert.deepEqual(parseAssets('red, green,nir'), ['red', 'green', 'nir'])
  assert.deepEqual(parseAssets(['B04']), ['B04'])
  assert.throws(() => parseAssets(''), /not an asset key/)
  assert.throws(() => parseAssets([]), /needs a list/)
})

function expander (extra: Partial<ExpandOptions> = {}): Expand {
  return new Expand({ extentGiven: false, headers: {}, readDocument: async (location) => await readLocalDocument(location), ...extra })
}

async function all (expand: Expand, items: unknown[]): Promise<Array<RawLine | LineRecord>> {
  const out: Array<RawLine | LineRecord> = []
  const reading = (async () => { for await (const o of expand) out.push(o as RawLine | LineRecord) })()
  for (const i of items) if (!expand.write(i)) await new Promise((resolve) => expand.once('drain', resolve))
  expand.end()
  await reading
  return out
}

const line = (n: number, value: unknown, input?: string): RawLine => ({ line: n, text: JSON.stringify(value), ...(input ? { input } : {}) })

test('expand: an ItemCollection line gives one record per item, each naming the line; lines after keep their numbers', async () => {
  const collection = { type: 'FeatureCollection', features: [item('a', { links: [{ rel: 'self', href: 'http://h/a.json' }] }), item('b'), item('c', { links: [{ rel: 'self', href: 'http://h/c.json' }] })] }
  const out = await all(expander({ assets: ['B04'] }), [
    { line: 1, text: 'http://h/x.tif', input: 'in.ndjson' },
    line(2, collection, 'in.ndjson'),
    { line: 3, text: '{"url": "http://h/y.tif", "note": "type \\"stac\\": no"}', input: 'in.ndjson' }
  ])
  assert.equal(out.length, 5)
  assert.deepEqual(out[0], { line: 1, text: 'http://h/x.tif', input: 'in.ndjson' })
  const records = out.slice(1, 4) as LineRecord[]
  assert.deepEqual(records.map((r) => [r.line, r.input, (r.value as { id?: string } | undefined)?.id ?? r.id, r.error?.code]), [
    [2, 'in.ndjson', 'a', undefined], [2, 'in.ndjson', 'b', 'BAD_HREF'], [2, 'in.ndjson', 'c', undefined]
  ])
  assert.equal((out[4] as RawLine).line, 3)
  // Parse keeps the line, the file and the item's id, the error too.
  const o = resolveOptions({ outDir: 'out' })
  const failed = parseItem(records[1], 99, o, '.tif')
  assert.deepEqual([failed?.line, failed?.input, failed?.id, failed?.error?.code], [2, 'in.ndjson', 'b', 'BAD_HREF'])
})

test('expand: objects and strings written by a library are numbered in the order written, however many records a STAC one gives', async () => {
  const collection = { type: 'FeatureCollection', features: [item('a'), item('b')] }
  const out = await all(expander({ assets: ['B04'] }), ['http://h/x.tif', collection, { url: 'http://h/y.tif' }, 'http://h/z.tif'])
  assert.deepEqual(out.map((o) => o.line), [1, 2, 2, 3, 4])
  const o = resolveOptions({ outDir: 'out' })
  assert.equal(parseItem(out[3], 99, o, '.tif')?.url, 'http://h/y.tif')
  assert.equal(parseItem(out[3], 99, o, '.tif')?.line, 3)
})

test('expand: a huge ItemCollection is expanded only as fast as it is read', async () => {
  const features = Array.from({ length: 2000 }, (_, i) => item(`i${i}`, { links: [{ rel: 'self', href: `http://h/${i}.json` }] }))
  const expand = expander({ assets: ['B04'] })
  expand.write(line(1, { type: 'FeatureCollection', features }))
  expand.end()
  let seen = 0
  let most = 0
  for await (const record of expand) {
    // What waits in the buffer never passes its high-water mark: items become records as they are taken.
    most = Math.max(most, expand.readableLength)
    assert.equal((record as LineRecord).line, 1)
    assert.equal(((record as LineRecord).value as { id: string }).id, `i${seen}`)
    seen++
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  assert.equal(seen, 2000)
  assert.ok(most <= 16, `at most 16 records buffered, saw ${most}`)
})

test('expand: {"stac": path} reads the document, its fields go to each record, its failures name it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rp-stac-unit-'))
  try {
    writeFileSync(join(dir, 'i1.json'), JSON.stringify(item('i1')))
    writeFileSync(join(dir, 'bad.json'), '{"type": "Feature", ')
    const secrets: string[] = []
    const sent: Array<Record<string, string>> = []
    const readDocument = async (location: string, headers: Record<string, string>): Promise<Buffer> => {
      sent.push(headers)
      return await readLocalDocument(location)
    }
    const out = await all(expander({ onSecrets: (v) => secrets.push(...v), headers: { authorization: 'Bearer t' }, readDocument }), [
      line(1, { stac: join(dir, 'i1.json'), assets: 'red,B03', window: [0, 0, 32, 32], headers: { 'X-Key': 's3cret' } }),
      line(2, { stac: join(dir, 'missing.json') }),
      line(3, { stac: join(dir, 'bad.json') }),
      line(4, { stac: join(dir, 'i1.json'), url: 'http://h/a.tif' }),
      line(5, { stac: 'ftp://h/i1.json' })
    ]) as LineRecord[]
    // The record's headers are not copied to the item's record: they go to assets on the document's origin
    // only, and a local document has none.
    assert.deepEqual(out[0].value, {
      window: [0, 0, 32, 32],
      id: 'i1',
      urls: [{ url: join(dir, 'B04.tif'), name: 'B04', bands: [{ nodata: 0, scale: 0.0001, offset: -0.1 }] }, { url: join(dir, 'B03.tif'), name: 'B03' }]
    })
    assert.deepEqual(secrets, ['s3cret'])
    // The document is asked for with the run's headers and the record's own.
    assert.deepEqual(sent[0], { authorization: 'Bearer t', 'x-key': 's3cret' })
    assert.deepEqual(out.slice(1).map((r) => [r.line, r.error?.stage, r.error?.code]), [
      [2, 'fetch', 'NOT_FOUND'], [3, 'input', 'BAD_RECORD'], [4, 'input', 'BAD_RECORD'], [5, 'input', 'BAD_RECORD']
    ])
    assert.match(out[1].error?.message ?? '', /^STAC document .*missing\.json: no such file/)
    assert.match(out[2].error?.message ?? '', /STAC document .*bad\.json: invalid JSON/)
    assert.match(out[3].error?.message ?? '', /"stac" and "url" cannot be used together/)
    assert.match(out[4].error?.message ?? '', /unsupported URL scheme/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('expand: documents are read a few lines ahead, and their records still leave in input order', async () => {
  const waits = new Map<string, ReturnType<typeof deferred<Buffer>>>()
  const asked = new Arrivals<string>()
  const expand = expander({
    assets: ['B04'],
    readDocument: async (location) => {
      asked.push(location)
      const d = deferred<Buffer>()
      waits.set(location, d)
      return await d.promise
    }
  })
  const out: LineRecord[] = []
  const reading = (async () => { for await (const o of expand) out.push(o as LineRecord) })()
  for (let i = 1; i <= 3; i++) expand.write(line(i, { stac: `http://h/${i}.json` }))
  expand.end()
  // All three are asked for before the first answers.
  for (let i = 1; i <= 3; i++) assert.equal(await asked.next(), `http://h/${i}.json`)
  waits.get('http://h/3.json')?.resolve(Buffer.from(JSON.stringify(item('three'))))
  waits.get('http://h/2.json')?.resolve(Buffer.from(JSON.stringify(item('two'))))
  waits.get('http://h/1.json')?.resolve(Buffer.from(JSON.stringify(item('one'))))
  await reading
  assert.deepEqual(out.map((r) => [r.line, (r.value as { id: string }).id]), [[1, 'one'], [2, 'two'], [3, 'three']])
})

test('options: --assets, and whether a window was given', () => {
  assert.deepEqual(resolveOptions({ assets: 'red,nir' }).assets, ['red', 'nir'])
  assert.equal(resolveOptions({}).windowGiven, false)
  assert.equal(resolveOptions({ window: { col: 0, row: 0, width: 512, height: 512 } }).windowGiven, true)
  assert.equal(resolveOptions(resolveOptions({})).windowGiven, false)
  assert.throws(() => resolveOptions({ assets: '' }), /^UsageError: assets: .*not an asset key/)
})
