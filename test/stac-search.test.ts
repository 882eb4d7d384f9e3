// STAC API search input end to end, against the test STAC API (test/support/stac-api.ts) whose items'
// assets are fixture rasters on the loopback raster server: a search's items become one record each, in
// order, pages fetched only as records drain (the server's log of page requests against records read);
// GET and POST paging with `next` bodies merged or whole; the record's headers to the API's origin only;
// max_items; and the errors: 500 then 200 (retried), a page that is not JSON, a `next` loop, no results.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import { startServer, type RasterServer } from './support/server.js'
import { startStacApi, type SearchLog, type StacApi } from './support/stac-api.js'
import { FIXTURES, runCli, scratch, type RunResult } from './support/run.js'
import { gdalTranslate } from './support/compare.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { rasterPipeline, type ResultRecord } from '../lib/index.js'

const RASTER = 'float64-small.tif'
const ENV = { RASTERPIPE_RETRY_BASE_MS: '1' }

let rasters: RasterServer
let dir: string
before(async () => {
  rasters = await startServer(FIXTURES)
  dir = scratch()
})
after(async () => {
  await rasters.close()
  rmSync(dir, { recursive: true, force: true })
})

function pixels (path: string): number[] {
  const ds = loadGdal().open(path)
  try {
    const { x, y } = ds.rasterSize
    return [x, y, ...Array.from(ds.bands.get(1).pixels.read(0, 0, x, y) as ArrayLike<number>)]
  } finally {
    ds.close()
  }
}

/** Item i of a generated catalogue: one data asset, the fixture raster on the loopback raster server. */
function item (i: number): Record<string, unknown> {
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    id: `item-${String(i).padStart(5, '0')}`,
    collection: 'fixtures',
    // The raster's own extent (float64-small.tif: EPSG:4326, 0.01° pixels).
    bbox: [10, 47.44, 12.56, 50],
    geometry: { type: 'Polygon', coordinates: [[[10, 47.44], [12.56, 47.44], [12.56, 50], [10, 50], [10, 47.44]]] },
    properties: { datetime: new Date(Date.UTC(2024, 0, 1) + i * 3600_000).toISOString() },
    links: [],
    assets: { data: { href: rasters.url(`/${RASTER}?item=${i}`), type: 'image/tiff; application=geotiff', roles: ['data'] } }
  }
}

async function withApi<T> (count: number, work: (api: StacApi) => Promise<T>, paging?: 'post-merge' | 'post-body'): Promise<T> {
  const api = await startStacApi({ count, item, ...(paging ? { paging } : {}) })
  try {
    return await work(api)
  } finally {
    await api.close()
  }
}

const WINDOW: [number, number, number, number] = [0, 0, 4, 4]

test('stac search: 2,500 items at limit 100 give 2,500 records, each item once, pages fetched only as records drain', async () => {
  await withApi(2500, async (api) => {
    // One fetch and one GDAL call at a time: the pipeline's buffers (Expand's, parse's, the stages' and
    // finalize's) hold fewer than SLACK records whatever the machine's speed: 84 when the reader stops.
    const SLACK = 100
    const pipeline = rasterPipeline({ outDir: join(dir, 'paging'), concurrency: 1, gdalConcurrency: 1, fetch: 'download', retryBaseMs: 1 })
    let printed = 0
    const atRequest: Array<{ offset: number, printed: number }> = []
    api.on('request', (e: { offset: number }) => atRequest.push({ offset: e.offset, printed }))
    pipeline.end({ stac_search: api.search, collections: ['fixtures'], limit: 100, window: WINDOW })
    const ids = new Set<string>()
    for await (const r of pipeline as AsyncIterable<ResultRecord>) {
      assert.equal(r.status, 'ok', JSON.stringify(r.error))
      assert.equal(r.line, 1)
      assert.ok(!ids.has(r.id as string), `${r.id} twice`)
      ids.add(r.id as string)
      printed++
      // A slow reader: the pipeline fills its buffers between records, as far as they go.
      for (let k = 0; k < 3; k++) await turn()
    }
    assert.equal(printed, 2500)
    assert.equal(ids.size, 2500)
    assert.deepEqual(atRequest.map((a) => a.offset), Array.from({ length: 25 }, (_, k) => k * 100), 'pages in order, each once')
    // Page k+2 is asked for only once the items of page k+1 are all taken: by then every record but those
    // in the pipeline's buffers has been read, every one of page k among them: two pages at most are held.
    for (const [i, a] of atRequest.entries()) {
      assert.ok(a.printed >= i * 100 - SLACK, `page ${i + 1} requested after ${a.printed} records were read`)
    }
  })
})

/** A CLI run of one search line over `count` items of the generated catalogue, its records and the API's log. */
async function search (count: number, record: Record<string, unknown>, setup: (api: StacApi) => void = () => undefined,
  paging?: 'post-merge' | 'post-body', args: string[] = []): Promise<{ run: RunResult, log: SearchLog[], api: string }> {
  return await withApi(count, async (api) => {
    setup(api)
    const line = JSON.stringify({ stac_search: api.search, window: WINDOW, ...record })
    const run = await runCli(['--no-progress', '-o', join(dir, `run-${++runs}`), '--fetch', 'download', ...args], { stdin: line + '\n', env: ENV })
    return { run, log: [...api.log], api: api.search }
  }, paging)
}
let runs = 0

// Records are printed as they finish: compared by id, sorted (the ids sort as the catalogue's order).
const ids = (records: ResultRecord[]): string[] => records.filter((r) => r.status === 'ok').map((r) => r.id as string).sort()
const first = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => item(from + i).id as string)

test('stac search: POST paging with next bodies merged, or given whole, and GET paging by href: every item once', async () => {
  for (const [paging, method] of [['post-merge', 'POST'], ['post-body', 'POST'], [undefined, 'GET']] as const) {
    const { run, log } = await search(25, { limit: 10, collections: 'fixtures', method }, undefined, paging)
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(ids(run.records), first(25), `${paging ?? method}`)
    assert.deepEqual(log.map((e) => [e.method, e.offset]), [[method, 0], [method, 10], [method, 20]])
    // Each page asks the same search: the merged body, the whole body, or the href's query keep its parameters.
    for (const e of log) assert.deepEqual([e.params.collections, e.params.limit], [['fixtures'], 10], `${paging ?? method}: ${e.url}`)
    if (method === 'GET') assert.match(log[1].url, /[?&]token=o10(&|$)/)
    else assert.equal(log[1].params.token, 'o10')
    assert.ok(run.records.every((r) => r.line === 1))
  }
})

test('stac search: max_items stops the items and the pages; a GET-only API (405 to POST) is asked by GET', async () => {
  const capped = await search(25, { limit: 10, max_items: 15 })
  assert.equal(capped.run.code, 0, capped.run.stderr)
  assert.deepEqual(ids(capped.run.records), first(15))
  assert.deepEqual(capped.log.map((e) => e.offset), [0, 10], 'no third page')
  const getOnly = await search(12, { limit: 10, collections: ['fixtures'] }, (api) => { api.getOnly = true })
  assert.equal(getOnly.run.code, 0, getOnly.run.stderr)
  assert.deepEqual(ids(getOnly.run.records), first(12))
  assert.deepEqual(getOnly.log.map((e) => [e.method, e.status]), [['POST', 405], ['GET', 200], ['GET', 200]])
})

test('stac search: the record\'s headers go to the API\'s origin only, -H to every request', async () => {
  const { run, log } = await search(12, { limit: 10, headers: { Authorization: 'Bearer api-secret' } }, undefined, undefined, ['-H', 'X-Run: everywhere'])
  assert.equal(run.code, 0, run.stderr)
  assert.equal(ids(run.records).length, 12)
  assert.deepEqual(log.map((e) => e.headers.authorization), ['Bearer api-secret', 'Bearer api-secret'])
  assert.deepEqual(log.map((e) => e.headers['x-run']), ['everywhere', 'everywhere'])
  const assets = rasters.stats(`/${RASTER}`)
  assert.ok(assets.requests >= 12)
  assert.ok(assets.authorization.every((a) => a === undefined), 'no API token to the asset host')
  assert.ok(!run.stdout.includes('api-secret') && !run.stderr.includes('api-secret'))
})

test('stac search: 500 then 200 is retried; a page that is not JSON fails the search\'s record naming the page, after the items before it', async () => {
  const retried = await search(15, { limit: 10 }, (api) => { api.failNext.push(500) })
  assert.equal(retried.run.code, 0, retried.run.stderr)
  assert.deepEqual(ids(retried.run.records), first(15))
  assert.deepEqual(retried.log.map((e) => [e.offset, e.status]), [[0, 500], [0, 200], [10, 200]])

  // Still failing after --retries: the page's fetch error, after the items before it, with the search to run again.
  const down = await search(35, { limit: 10, headers: { 'X-Key': 'k' } }, (api) => { api.failAt.set(10, [502, 502]) }, undefined, ['--retries', '1'])
  assert.deepEqual(ids(down.run.records), first(10))
  const lost = down.run.records.filter((r) => r.status === 'error')
  assert.equal(lost.length, 1)
  assert.deepEqual([lost[0].line, lost[0].error?.stage, lost[0].error?.code], [1, 'fetch', 'HTTP_502'])
  assert.match(lost[0].error?.message ?? '', /^STAC search page 2 \(POST http:.*\/search\): .*502.*\(after 10 items\)$/)
  assert.deepEqual(lost[0].record, { stac_search: down.api, window: WINDOW, limit: 10 })
  assert.deepEqual(down.log.map((e) => [e.offset, e.status]), [[0, 200], [10, 502], [10, 502]])

  const broken = await search(35, { limit: 10 }, (api) => { api.notJson.add(10) })
  assert.notEqual(broken.run.code, 0)
  assert.deepEqual(ids(broken.run.records), first(10), 'the first page\'s items stay')
  const failed = broken.run.records.filter((r) => r.status === 'error')
  assert.equal(failed.length, 1)
  assert.equal(failed[0].line, 1)
  assert.equal(failed[0].error?.code, 'NOT_STAC')
  assert.match(failed[0].error?.message ?? '', new RegExp(`^STAC search page 2 \\(POST ${broken.api}\\): not JSON .*\\(after 10 items\\)$`))
  assert.match(broken.run.stderr, /line 1: input NOT_STAC: STAC search page 2/)
  assert.equal(broken.log.length, 2, 'no page after the broken one')
})

test('stac search: a next loop is stopped and named; a search with no results gives one record saying so', async () => {
  const loop = await search(50, { limit: 10 }, (api) => { api.loopAt = 20 })
  assert.deepEqual(ids(loop.run.records), first(30))
  const failed = loop.run.records.filter((r) => r.status === 'error')
  assert.equal(failed.length, 1)
  assert.equal(failed[0].error?.code, 'SEARCH_LOOP')
  assert.match(failed[0].error?.message ?? '', /^STAC search page 4 \(POST .*\): its request is page 2's again: a "next" loop, stopped after 30 items$/)
  assert.deepEqual(loop.log.map((e) => e.offset), [0, 10, 20], 'the repeated page is not asked')

  const none = await search(5, { limit: 10, collections: ['elsewhere'] })
  assert.equal(none.run.records.length, 1)
  assert.equal(none.run.records[0].status, 'error')
  assert.equal(none.run.records[0].line, 1)
  assert.equal(none.run.records[0].error?.code, 'NO_ITEMS')
  assert.match(none.run.records[0].error?.message ?? '', /^STAC search http:\/\/127\.0\.0\.1:\d+\/search: no items matched$/)
})

test('stac search: --stac-search with --collections, --datetime, --max-items and --bbox is the run\'s input (stdin not read); its options without it are refused', async () => {
  await withApi(40, async (api) => {
    // Items 5 to 12 fall in the hours asked; --bbox is the search's box and the read window, in longitude/latitude.
    const args = ['--no-progress', '-o', join(dir, 'cli-search'), '--fetch', 'download', '--stac-search', api.search, '--collections', 'fixtures',
      '--datetime', '2024-01-01T05:00:00Z/2024-01-01T12:00:00Z', '--max-items', '6', '--bbox', '10.5,48,10.6,48.1']
    // stdin stays open: a run that read it would never end.
    const run = await runCli(args, { stdin: '', stdinOpen: true, env: ENV })
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(ids(run.records), first(6, 5))
    assert.deepEqual(api.log.map((e) => e.params), [{ collections: ['fixtures'], datetime: '2024-01-01T05:00:00Z/2024-01-01T12:00:00Z', bbox: [10.5, 48, 10.6, 48.1] }])
    // Each item read within the box: its 10×10 pixels of 0.01°, as gdal_translate -projwin would cut them.
    const reference = gdalTranslate(join(FIXTURES, RASTER), ['-projwin', '10.5', '48.1', '10.6', '48'], dir, 'projwin.tif')
    for (const r of run.records) {
      assert.deepEqual(r.window, { col: 50, row: 190, width: 10, height: 10 }, JSON.stringify(r))
      // The pixels GDAL's tool cuts (the band is named by its asset key, which the reference lacks).
      assert.deepEqual(pixels(r.output as string), pixels(reference), r.id as string)
    }

    const intersects = join(dir, 'area.geojson')
    writeFileSync(intersects, JSON.stringify({ type: 'Polygon', coordinates: [[[10.5, 48], [10.6, 48], [10.6, 48.1], [10.5, 48]]] }))
    const geo = await runCli(['--no-progress', '-o', join(dir, 'cli-intersects'), '--stac-search', api.search, '--intersects', intersects, '--max-items', '2', '-w', '0,0,4,4'], { env: ENV })
    assert.equal(geo.code, 0, geo.stderr)
    assert.equal(geo.records.length, 2)
    assert.equal((api.log.at(-1)?.params.intersects as { type: string }).type, 'Polygon')
  })
  for (const [args, message] of [
    [['--collections', 'a'], /--collections: needs --stac-search/],
    [['--stac-search', 'ftp://h/search'], /--stac-search: "stac_search" must be the http\(s\) URL/],
    [['--stac-search', 'http://127.0.0.1:9/search', '--datetime', 'soon'], /--datetime: "datetime" must be an RFC 3339/],
    [['--stac-search', 'http://127.0.0.1:9/search', 'input.ndjson'], /--stac-search is the run's input: give no input files/],
    [['--stac-search', 'http://127.0.0.1:9/search', '--bbox', '1,2,3,4', '--bbox-crs', 'EPSG:32633'], /--bbox-crs: with --stac-search, --bbox is the search's longitude\/latitude box/],
    [['--stac-search', 'http://127.0.0.1:9/search', '--intersects', join(dir, 'missing.geojson')], /--intersects: cannot read/],
    [['--stac-search', 'http://127.0.0.1:9/search', '--bbox', '500000,0,600000,10'], /--bbox: "bbox": longitude and latitude in degrees/]
  ] as const) {
    const run = await runCli(['--no-progress', '-o', join(dir, 'refused'), ...args], { env: ENV })
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, message)
  }
})

test('stac search: mosaic and group_by group the search\'s items across its pages: one record per UTC day, naming its items; max equals GDAL\'s read', async () => {
  // 60 items an hour apart from 2024-01-01T00:00Z: days of 24, 24 and 12 items, over 9 pages of 7.
  const { run, log } = await search(60, { limit: 7, mosaic: 'max', group_by: 'day' })
  assert.equal(run.code, 0, run.stderr)
  assert.equal(log.length, 9)
  const byGroup = new Map(run.records.map((r) => [r.group as string, r]))
  assert.deepEqual([...byGroup.keys()].sort(), ['2024-01-01', '2024-01-02', '2024-01-03'])
  const expected = { '2024-01-01': [0, 24], '2024-01-02': [24, 48], '2024-01-03': [48, 60] } as const
  // Every item is the same raster: the maximum of a group is the raster's window, as gdal_translate reads it.
  const truth = pixels(gdalTranslate(join(FIXTURES, RASTER), ['-srcwin', ...WINDOW.map(String)], dir, 'search-mosaic-truth.tif'))
  for (const [key, [from, to]] of Object.entries(expected)) {
    const r = byGroup.get(key) as ResultRecord & { items: string[] }
    assert.equal(r.status, 'ok', JSON.stringify(r.error))
    assert.equal(r.line, 1)
    assert.deepEqual(r.items, Array.from({ length: to - from }, (_, k) => `item-${String(from + k).padStart(5, '0')}`))
    assert.deepEqual(pixels(r.output as string), truth, key)
  }
})
