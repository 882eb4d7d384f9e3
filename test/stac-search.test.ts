// STAC API search input end to end, against the test STAC API (test/support/stac-api.ts) whose items'
// assets are fixture rasters on the loopback raster server: a search's items become one record each, in
// order, pages fetched only as records drain (the server's log of page requests against records read);
// GET and POST paging with `next` bodies merged or whole; the record's headers to the API's origin only;
// max_items; and the errors: 500 then 200 (retried), a page that is not JSON, a `next` loop, no results.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import { startServer, type RasterServer } from './support/server.js'
import { startStacApi, type StacApi } from './support/stac-api.js'
import { FIXTURES, scratch } from './support/run.js'
import { rasterPipeline, type ResultRecord } from '../lib/index.js'

const RASTER = 'float64-small.tif'

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

/** Item i of a generated catalogue: one data asset, the fixture raster on the loopback raster server. */
function item (i: number): Record<string, unknown> {
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    id: `item-${String(i).padStart(5, '0')}`,
    collection: 'fixtures',
    bbox: [15, 0, 15.01, 0.01],
    geometry: { type: 'Polygon', coordinates: [[[15, 0], [15.01, 0], [15.01, 0.01], [15, 0.01], [15, 0]]] },
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
    // One fetch and one GDAL call at a time: the pipeline's buffers hold at most SLACK records whatever the
    // machine's speed (Expand's 16, parse's 2×16, 3 in each of the five stages, finalize's 2×16: 95).
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
