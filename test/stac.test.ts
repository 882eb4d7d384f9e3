// STAC input end to end, over the loopback server: Items read by {"stac": URL}, an ItemCollection (by URL
// and inline), an inline Item with a self link; each item one record whose four bands equal GDAL's own
// result of the same request (gdalbuildvrt -separate + gdal_translate for the 10 m bands, gdalwarp -r near
// for the 20 m ones). And the errors: a missing asset, a line that is not JSON or not an Item, a document
// that cannot be fetched; the batch goes on.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { rmSync, statSync } from 'node:fs'
import { basename, join, relative } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { awsEnv, withS3 } from './support/s3.js'
import { runCli, scratch } from './support/run.js'
import { gdalTranslate } from './support/compare.js'
import { makeStacCatalogue, STAC_BANDS, SWIR_RASTER_BANDS, type StacCatalogue, type StacItemFixture } from './support/stac.js'
import { loadGdal } from '../lib/raster/gdal.js'
import type { PixelWindow } from '../lib/core/request.js'
import type { ResultRecord } from '../lib/core/records.js'

const gdal = loadGdal()
const KEYS = STAC_BANDS.map((b) => b.key)
const ASSETS = KEYS.join(',')
const ENV = { RASTERPIPE_RETRY_BASE_MS: '1' }

let cat: StacCatalogue
let server: RasterServer
let dir: string
before(async () => {
  cat = makeStacCatalogue()
  server = await startServer(cat.root)
  dir = scratch()
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
  rmSync(cat.root, { recursive: true, force: true })
})

function band (path: string, b: number): { pixels: number[], description: string, nodata: number | null, scale: number | null, offset: number | null, size: number[], transform: number[] | null } {
  const ds = gdal.open(path)
  try {
    const bd = ds.bands.get(b)
    const { x, y } = ds.rasterSize
    return {
      pixels: Array.from(bd.pixels.read(0, 0, x, y) as ArrayLike<number>),
      description: bd.description,
      nodata: bd.noDataValue,
      scale: bd.scale,
      offset: bd.offset,
      size: [x, y],
      transform: ds.geoTransform
    }
  } finally {
    ds.close()
  }
}

/**
 * The output of one item's record against GDAL's tools for the same pixel window of its first (10 m)
 * source: the 10 m bands by gdalbuildvrt -separate and gdal_translate -srcwin, the 20 m bands by gdalwarp
 * onto the window's extent at 10 m with -r near. Descriptions are the asset keys; the bands get the
 * nodata (all), scale and offset (20 m) of their raster:bands, which their files lack.
 */
function assertItemOutput (record: ResultRecord, item: StacItemFixture, w: PixelWindow, tag: string): void {
  const what = `${tag} ${item.id}`
  assert.equal(record.status, 'ok', `${what}: ${JSON.stringify(record.error)}`)
  const output = record.output as string
  if (record.id === item.id) assert.match(basename(output), new RegExp(`^${item.id}-[0-9a-f]{12}\\.tif$`), `${what}: named by the item's id`)
  const vrt = join(dir, `${tag}-${item.id}-10m.vrt`)
  execFileSync('gdalbuildvrt', ['-q', '-separate', vrt, item.files.B04, item.files.B03])
  const ten = gdalTranslate(vrt, ['-srcwin', String(w.col), String(w.row), String(w.width), String(w.height)], dir, `${tag}-${item.id}-10m.tif`)
  const [x0, , , y0] = item.transform
  const xmin = x0 + w.col * 10
  const ymax = y0 - w.row * 10
  const extent = [xmin, ymax - w.height * 10, xmin + w.width * 10, ymax].map(String)
  const references: Array<[string, number]> = [[ten, 1], [ten, 2]]
  for (const key of ['B11', 'B12']) {
    const out = join(dir, `${tag}-${item.id}-${key}.tif`)
    execFileSync('gdalwarp', ['-q', '-te', ...extent, '-tr', '10', '10', '-r', 'near', item.files[key], out])
    references.push([out, 1])
  }
  const ds = gdal.open(output)
  assert.equal(ds.bands.count(), 4, `${what}: bands`)
  ds.close()
  references.forEach(([ref, b], i) => {
    const ours = band(output, i + 1)
    const theirs = band(ref, b)
    assert.deepEqual(ours.size, theirs.size, `${what} band ${i + 1}: size`)
    ours.transform?.forEach((v, k) => assert.ok(Math.abs(v - (theirs.transform as number[])[k]) <= 1e-9, `${what}: geotransform[${k}]`))
    assert.ok(ours.pixels.every((v, k) => v === theirs.pixels[k]), `${what} band ${i + 1} (${KEYS[i]}): pixels differ from GDAL's`)
    assert.equal(ours.description, KEYS[i], `${what} band ${i + 1}: description`)
    const expected = i >= 2 ? [SWIR_RASTER_BANDS.nodata, SWIR_RASTER_BANDS.scale, SWIR_RASTER_BANDS.offset] : [0, null, null]
    assert.deepEqual([ours.nodata, ours.scale, ours.offset], expected, `${what} band ${i + 1}: raster:bands`)
  })
}

const WINDOW: PixelWindow = { col: 64, row: 32, width: 200, height: 150 }
const W = `${WINDOW.col},${WINDOW.row},${WINDOW.width},${WINDOW.height}`

test('stac: {"stac": item URL} lines with --assets of four keys: one ok record per item, its bands GDAL\'s (auto and range)', async () => {
  const input = cat.items.map((it) => JSON.stringify({ stac: server.url(`/${it.path}`) })).join('\n') + '\n'
  for (const mode of ['auto', 'range']) {
    // The first document answers 503 once: documents are retried as any request.
    server.fault(`/${cat.items[0].path}`, { kind: 'status', status: 503 })
    const run = await runCli(['--no-progress', '-o', join(dir, `by-url-${mode}`), '--fetch', mode, '--assets', ASSETS, '-w', W], { stdin: input, env: ENV })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.records.length, 3)
    for (const it of cat.items) {
      const r = run.records.find((x) => x.id === it.id) as ResultRecord
      assert.equal(r.line, cat.items.indexOf(it) + 1)
      assertItemOutput(r, it, WINDOW, `url-${mode}`)
      // Range mode reads each source's blocks under the window, not the files.
      if (mode === 'range') {
        const whole = KEYS.reduce((n, k) => n + statSync(it.files[k]).size, 0)
        assert.ok(r.bytes < whole, `${it.id}: ${r.bytes} bytes of ${whole}`)
        assert.deepEqual(r.sources?.map((s) => s.fetch), ['range', 'range', 'range', 'range'])
      }
    }
  }
})

test('stac: an ItemCollection, by URL and inline, and an inline Item with a self link: one record per item', async () => {
  // Inline, as a STAC API answers: absolute hrefs; the lone item's relative hrefs resolve against its self link.
  const inline = structuredClone(cat.items.map((it) => it.json)) as Array<{ assets: Record<string, { href: string }> }>
  inline.forEach((it, i) => { for (const a of Object.values(it.assets)) a.href = server.url(`/items/${cat.items[i].id}/${a.href.slice(2)}`) })
  const selfed = { ...cat.items[1].json, links: [{ rel: 'self', href: server.url(`/${cat.items[1].path}`) }] }
  const lines = [
    JSON.stringify({ stac: server.url(`/${cat.collection}`) }),
    JSON.stringify({ type: 'FeatureCollection', features: inline }),
    JSON.stringify(selfed)
  ]
  for (const [i, line] of lines.entries()) {
    const run = await runCli(['--no-progress', '-o', join(dir, `collection-${i}`), '--assets', ASSETS, '-w', W], { stdin: line + '\n', env: ENV })
    assert.equal(run.code, 0, run.stderr)
    const expected = i === 2 ? [cat.items[1]] : cat.items
    assert.deepEqual(run.records.map((r) => r.line), expected.map(() => 1))
    assert.deepEqual(run.records.map((r) => r.id).sort(), expected.map((it) => it.id).sort())
    for (const it of expected) assertItemOutput(run.records.find((r) => r.id === it.id) as ResultRecord, it, WINDOW, `line${i}`)
  }
})

test('stac: without a window or bbox an item is read whole (by its proj:transform and proj:shape); assets by common name', async () => {
  const line = JSON.stringify({ stac: server.url(`/${cat.items[2].path}`), assets: ['red', 'green', 'swir16', 'swir22'] })
  // The names of the output's bands are the asset keys, whatever the assets were asked by.
  const run = await runCli(['--no-progress', '-o', join(dir, 'whole')], { stdin: line + '\n', env: ENV })
  assert.equal(run.code, 0, run.stderr)
  const [r] = run.records
  assert.equal(r.status, 'ok')
  assert.equal(r.id, cat.items[2].id)
  assertItemOutput(r, cat.items[2], { col: 0, row: 0, width: 512, height: 512 }, 'whole')
})

test('stac: a missing asset, a line not JSON or not an Item, a document not found: error records; the batch goes on', async () => {
  const item = cat.items[0]
  const lines = [
    JSON.stringify({ stac: server.url(`/${item.path}`), assets: ['B04', 'nir'] }),
    '{"type": "Feature", "stac_version": "1.0.0", "id": "cut-short", ',
    JSON.stringify({ type: 'Feature', id: 'plain-geojson', geometry: null, properties: {} }),
    JSON.stringify({ type: 'Collection', stac_version: '1.0.0', id: 'a-collection', links: [] }),
    JSON.stringify({ stac: server.url('/items/missing.json') }),
    JSON.stringify({ url: server.url(`/items/${item.id}/B04.tif`), window: [0, 0, 64, 64] }),
    JSON.stringify({ stac: server.url(`/${cat.collection}`), assets: 'B04,nir' })
  ]
  const run = await runCli(['--no-progress', '-o', join(dir, 'errors'), '--retries', '0'], { stdin: lines.join('\n') + '\n', env: ENV })
  assert.equal(run.code, 1)
  assert.equal(run.records.length, 9)
  const at = (line: number): ResultRecord[] => run.records.filter((r) => r.line === line)
  const [missing] = at(1)
  assert.deepEqual([missing.status, missing.id, missing.error?.stage, missing.error?.code], ['error', item.id, 'input', 'MISSING_ASSET'])
  assert.match(missing.error?.message ?? '', new RegExp(`item '${item.id}': no asset 'nir'`))
  assert.deepEqual([at(2)[0].error?.stage, at(2)[0].error?.code], ['input', 'BAD_RECORD'])
  assert.match(at(2)[0].error?.message ?? '', /invalid JSON/)
  assert.deepEqual([at(3)[0].error?.stage, at(3)[0].error?.code], ['input', 'NOT_STAC'])
  assert.match(at(3)[0].error?.message ?? '', /item 'plain-geojson': no "stac_version"/)
  assert.deepEqual([at(4)[0].error?.stage, at(4)[0].error?.code], ['input', 'NOT_STAC'])
  assert.match(at(4)[0].error?.message ?? '', /"Collection".*not a STAC Item or ItemCollection/)
  assert.deepEqual([at(5)[0].error?.stage, at(5)[0].error?.code], ['fetch', 'HTTP_404'])
  assert.ok(at(5)[0].error?.message.includes(server.url('/items/missing.json')), at(5)[0].error?.message)
  // A document that could not be read can be run again from the results (summarize --retry-list).
  assert.deepEqual(at(5)[0].record, { stac: server.url('/items/missing.json') })
  assert.equal(at(6)[0].status, 'ok')
  const collection = at(7)
  assert.deepEqual(collection.map((r) => r.id), cat.items.map((it) => it.id))
  for (const r of collection) {
    assert.equal(r.error?.code, 'MISSING_ASSET')
    assert.match(r.error?.message ?? '', new RegExp(`item '${r.id}': no asset 'nir'`))
  }
  // stderr names each line.
  for (const line of [1, 2, 3, 4, 5, 7]) assert.match(run.stderr, new RegExp(`line ${line}: `))
})

test('stac: {"stac": "s3://…"} is read with the stores\' credentials, and so are its relative hrefs (s3:// too)', async () => {
  await withS3({ buckets: ['catalogue'] }, async (s3) => {
    const item = cat.items[0]
    const prefix = `items/${item.id}`
    await s3.putFile('catalogue', item.path, join(cat.root, item.path))
    for (const key of KEYS) await s3.putFile('catalogue', `${prefix}/${key}.tif`, item.files[key])
    const line = JSON.stringify({ stac: `s3://catalogue/${item.path}` }) + '\n'
    const args = ['--no-progress', '-o', join(dir, 's3'), '--assets', ASSETS, '-w', W, '--retries', '0']
    // Refused credentials: the document's fetch error names it, and no secret.
    const wrong = await runCli(args, { stdin: line, env: { ...awsEnv(s3, { AWS_SECRET_ACCESS_KEY: 'not-the-secret-0123456789' }), ...ENV } })
    assert.equal(wrong.code, 1)
    assert.deepEqual([wrong.records[0].error?.stage, wrong.records[0].error?.code], ['fetch', 'AUTH'])
    assert.match(wrong.records[0].error?.message ?? '', new RegExp(`STAC document s3://catalogue/${item.path}: `))
    assert.ok(!wrong.stdout.includes('not-the-secret') && !wrong.stderr.includes('not-the-secret'))
    const run = await runCli(args, { stdin: line, env: { ...awsEnv(s3), ...ENV } })
    assert.equal(s3.stats(`catalogue/${item.path}`).statuses.at(-1), 200)
    assert.equal(run.code, 0, run.stderr)
    // Every band came from the store, by its s3:// href.
    for (const key of KEYS) assert.ok(s3.stats(`catalogue/${prefix}/${key}.tif`).requests > 0, key)
    assertItemOutput(run.records[0], item, WINDOW, 's3')
  })
})

test('stac: a {"stac": URL} record\'s headers go to the document and to assets on its origin, never to another host; never printed', async () => {
  // Two origins: the document and one asset on `server` (127.0.0.1:A), another asset on 127.0.0.1:B.
  const other = await startServer(cat.root)
  try {
    const it = cat.items[0]
    const assets = it.json.assets as Record<string, Record<string, unknown>>
    const item = {
      ...it.json,
      links: [],
      assets: {
        B04: { ...assets.B04, href: server.url(relative(cat.root, it.files.B04)) },
        B03: { ...assets.B03, href: other.url(relative(cat.root, it.files.B03)) }
      }
    }
    server.reset()
    server.file('/headers/item.json', Buffer.from(JSON.stringify(item)))
    const secret = 'Bearer sEcReT-token-4711'
    const input = JSON.stringify({ stac: server.url('/headers/item.json'), headers: { Authorization: secret }, window: [0, 0, 64, 64] }) + '\n'
    const run = await runCli(['--no-progress', '-o', join(dir, 'stac-headers')], { stdin: input, env: ENV })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.records[0].status, 'ok', JSON.stringify(run.records[0]))
    const sent = (s: RasterServer, path: string): Array<string | undefined> => s.stats(`/${relative(cat.root, path)}`).authorization
    assert.deepEqual(server.stats('/headers/item.json').authorization, [secret], 'the document request')
    assert.ok(sent(server, it.files.B04).length > 0 && sent(server, it.files.B04).every((a) => a === secret), 'the asset on the document\'s origin')
    const elsewhere = sent(other, it.files.B03)
    assert.ok(elsewhere.length > 0 && elsewhere.every((a) => a === undefined), `the asset on another origin got ${JSON.stringify(elsewhere)}`)
    assert.ok(!run.stdout.includes('sEcReT') && !run.stderr.includes('sEcReT'), 'the header value is never printed')
  } finally {
    await other.close()
  }
})

test('stac: a urls entry\'s own headers go to its source alone, on top of the record\'s; never printed, even on failure', async () => {
  const it = cat.items[0]
  const a = server.url(relative(cat.root, it.files.B04))
  const b = server.url(relative(cat.root, it.files.B03))
  server.reset()
  // The second source fails (404): the error record and its `record` echo carry no header value.
  server.fault(`/${relative(cat.root, it.files.B03)}`, { kind: 'status', status: 404 }, { kind: 'status', status: 404 })
  const input = [
    { urls: [a, { url: b, name: 'green', headers: { Authorization: 'Bearer eNtRy-one' } }], window: [0, 0, 32, 32], out: 'one.tif' },
    { urls: [a, { url: b, headers: ['Authorization: Bearer eNtRy-two'] }], window: [0, 0, 32, 32], out: 'fails.tif' },
    { urls: [a, { url: b, headers: { 'Bad Name': 'x' } }], window: [0, 0, 32, 32] }
  ].map((r) => JSON.stringify(r)).join('\n') + '\n'
  const run = await runCli(['--no-progress', '--retries', '0', '-o', join(dir, 'entry-headers')], { stdin: input, env: ENV })
  const byLine = new Map(run.records.map((r) => [r.line, r]))
  assert.equal(byLine.get(1)?.status, 'error', 'the first fetch of the second source met the 404')
  assert.equal(byLine.get(2)?.status, 'error')
  assert.equal(byLine.get(3)?.error?.code, 'BAD_RECORD')
  assert.match(byLine.get(3)?.error?.message ?? '', /urls\[1\]: headers: 'Bad Name' is not a header name/)
  const own = server.stats(`/${relative(cat.root, it.files.B03)}`).authorization
  assert.deepEqual([...new Set(own)].sort(), ['Bearer eNtRy-one', 'Bearer eNtRy-two'], 'each entry\'s header went to its source')
  assert.ok(server.stats(`/${relative(cat.root, it.files.B04)}`).authorization.every((x) => x === undefined), 'not to the other source')
  assert.ok(!run.stdout.includes('eNtRy') && !run.stderr.includes('eNtRy'), 'never printed')
  assert.deepEqual((byLine.get(2)?.record as { urls: unknown[] }).urls[1], { url: b })
})
