// `rasterpipe report` end to end: a real run over loopback (ok, failed and skipped records, a warp, a
// stack, a STAC item, and an error message carrying `</script>`), then the report of its records and
// --stats, opened in headless Chromium (Debian's package, driven over the DevTools protocol): no console
// error, as many footprints and thumbnails as the run made, a click on a footprint shows its record; a
// screenshot is kept in test/artifacts/. Footprints are checked against gdalinfo's wgs84Extent.
// Chromium missing: a skip that says so, but a failure under CI=true.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { FIXTURES, ROOT, runCli, scratch } from './support/run.js'
import { makeStacCatalogue, type StacCatalogue } from './support/stac.js'
import { Chromium, CHROMIUM } from './support/chromium.js'
import { awsEnv, withS3 } from './support/s3.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { Footprints } from '../lib/cli/report/rasters.js'
import { tiffGrid } from '../lib/cli/report/geotiff.js'
import type { ResultRecord } from '../lib/core/records.js'

const ENV = { RASTERPIPE_RETRY_BASE_MS: '1' }
const HOSTILE = '</script><script>window.pwned=1</script>'
// Missing in CI is a failure; on a developer's machine, a skip that says why.
const MISSING = CHROMIUM === undefined
  ? (process.env.CI === 'true' ? undefined : 'chromium is not installed (apt-get install chromium; .ci/run installs it)')
  : undefined

let dir: string
let cat: StacCatalogue
let rasters: RasterServer
let stac: RasterServer
let browser: Chromium | undefined

before(async () => {
  dir = scratch('rp-report-')
  cat = makeStacCatalogue()
  rasters = await startServer(FIXTURES)
  stac = await startServer(cat.root)
})
after(async () => {
  await browser?.close()
  await rasters?.close()
  await stac?.close()
  rmSync(dir, { recursive: true, force: true })
  rmSync(cat.root, { recursive: true, force: true })
})

test('report: a run\'s records and --stats as a page that Chromium draws: footprints, thumbnails, a click shows the record', { skip: MISSING }, async () => {
  assert.ok(CHROMIUM, 'chromium is not installed, and CI=true: .ci/run installs it (apt-get install chromium)')
  const out = join(dir, 'out')
  mkdirSync(out)
  // An output already there: its record is skipped (--skip-existing).
  copyFileSync(join(FIXTURES, 'int16-small.tif'), join(out, 'kept.tif'))
  const lines = [
    { url: rasters.url('/rgb-byte-tiled.tif'), window: [0, 0, 256, 256] },
    { url: rasters.url('/uint16-striped.tif'), window: [100, 100, 300, 200] },
    { url: rasters.url('/float32-band-interleaved.tif') },
    // A warp.
    { url: rasters.url('/rgb-byte-tiled.tif'), dst_crs: 'EPSG:4326', window: [512, 512, 256, 256] },
    // A stack of two sources.
    { urls: [{ url: rasters.url('/rgb-byte-tiled.tif'), name: 'a' }, { url: rasters.url('/rgb-byte-tiled.tif'), name: 'b' }], window: [256, 0, 256, 256], bands: [1] },
    // A STAC item.
    { stac: stac.url(`/${cat.items[0].path}`), assets: ['red', 'green', 'swir16'], window: [0, 0, 256, 256] },
    // Skipped.
    { url: rasters.url('/int16-small.tif'), out: 'kept.tif' },
    // Failed: not there, with a bbox (so it has a footprint), and one whose message quotes hostile text.
    { url: rasters.url('/missing.tif'), bbox: [-74.99, 39.9, -74.9, 39.99], bbox_crs: 'EPSG:4326' },
    { url: rasters.url('/uint16-striped.tif'), id: HOSTILE, bbox: [0, 0, 1, 1], bbox_crs: HOSTILE }
  ]
  const stdin = lines.map((l) => JSON.stringify(l)).join('\n') + '\n'
  const statsPath = join(dir, 'run.json')
  const run = await runCli(['--no-progress', '-o', out, '--chip-stats', '--skip-existing', '--retries', '0', '--stats', statsPath], { stdin, env: ENV })
  assert.equal(run.code, 1, run.stderr)
  const records = run.records
  const by = (s: string): ResultRecord[] => records.filter((r) => r.status === s)
  assert.equal(by('ok').length, 6, run.stdout)
  assert.equal(by('skipped').length, 1)
  assert.equal(by('error').length, 2)
  assert.ok(records.some((r) => r.grid), 'a warp record')
  const recordsPath = join(dir, 'records.ndjson')
  writeFileSync(recordsPath, run.stdout)

  // Footprints as the report computes them, against gdalinfo's own wgs84Extent of each output.
  const gdal = loadGdal()
  const fp = new Footprints(gdal)
  for (const r of [...by('ok'), ...by('skipped')]) {
    const ds = gdal.open(r.output as string)
    const opened = fp.fromDataset(ds)
    ds.close()
    // As the report draws it: from the GeoTIFF's tags (GDAL's open the fallback).
    const grid = tiffGrid(r.output as string)
    assert.ok(grid, `${r.output}: its grid from its tags`)
    const ours = fp.fromGrid(grid.transform, grid.width, grid.height, grid.crs)
    assert.deepEqual(ours, opened)
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', r.output as string], { encoding: 'utf8' })) as { wgs84Extent: { coordinates: number[][][] } }
    const ring = info.wgs84Extent.coordinates[0]
    const theirs = [Math.min(...ring.map((p) => p[0])), Math.min(...ring.map((p) => p[1])), Math.max(...ring.map((p) => p[0])), Math.max(...ring.map((p) => p[1]))]
    assert.ok(ours, `no footprint for ${r.output}`)
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(ours[i] - theirs[i]) < 1e-4, `${r.output}: footprint ${ours.join(',')} vs gdalinfo ${theirs.join(',')}`)
  }

  const page = join(dir, 'report.html')
  const rep = await runCli(['report', recordsPath, '--stats', statsPath, '-o', page], { env: ENV })
  assert.equal(rep.code, 0, rep.stderr)
  assert.match(rep.stderr, /rasterpipe report: .*report\.html \(.*\): 9 records, 8 footprints, 6 thumbnails\./)
  const html = readFileSync(page, 'utf8')
  assert.ok(!html.includes(HOSTILE), 'hostile text is escaped on the page')

  browser = await Chromium.start()
  const tab = await browser.page()
  const loaded = tab.next('Page.loadEventFired')
  await tab.send('Page.navigate', { url: `file://${page}` })
  await loaded
  const counts = await tab.evaluate<{ fp: number, img: number, loaded: number, body: Record<string, string>, pwned: unknown }>(`(async () => {
    const imgs = [...document.querySelectorAll('#gallery img')];
    await Promise.all(imgs.map((i) => i.decode()));
    return { fp: document.querySelectorAll('#map .fp').length, img: imgs.length, loaded: imgs.filter((i) => i.naturalWidth > 0).length,
      body: { ...document.body.dataset }, pwned: window.pwned };
  })()`)
  assert.equal(counts.fp, 8, 'footprints: 6 ok, 1 skipped, 1 failed with a bbox')
  assert.equal(counts.img, 6)
  assert.equal(counts.loaded, 6, 'every thumbnail decodes')
  assert.equal(counts.body.footprints, '8')
  assert.equal(counts.pwned, undefined)
  const errorsText = await tab.evaluate<string>("document.getElementById('errors').textContent")
  assert.ok(errorsText.includes('HTTP_404'), errorsText)
  assert.ok(errorsText.includes('</script>'), 'the hostile message is shown as text')

  // A real click (mouse events) at the centre of a footprint that is topmost there: the warp's, when
  // no other footprint lies over it at this scale.
  const warp = records.find((r) => r.grid) as ResultRecord
  const target = await tab.evaluate<{ x: number, y: number, i: string, line: number } | null>(`(() => {
    const records = JSON.parse(document.getElementById('records-json').textContent);
    const warp = records.findIndex((t) => JSON.parse(t).line === ${warp.line});
    const all = [...document.querySelectorAll('#map .fp')];
    all.sort((a, b) => (b.getAttribute('data-i') === String(warp)) - (a.getAttribute('data-i') === String(warp)));
    for (const el of all) {
      el.scrollIntoView({ block: 'center' });
      const b = el.getBoundingClientRect();
      const x = b.x + b.width / 2, y = b.y + b.height / 2;
      if (document.elementFromPoint(x, y) !== el) continue;
      const i = el.getAttribute('data-i');
      return { x, y, i, line: JSON.parse(records[Number(i)]).line };
    }
    return null;
  })()`)
  assert.ok(target, 'a footprint on top at its centre')
  for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
    await tab.send('Input.dispatchMouseEvent', { type, x: target.x, y: target.y, button: 'left', clickCount: 1 })
  }
  const shown = await tab.evaluate<{ text: string, i: string | null, selected: number }>("({ text: document.getElementById('record').textContent, i: document.getElementById('record').getAttribute('data-shown'), selected: document.querySelectorAll('.fp.sel').length })")
  assert.equal(shown.i, target.i)
  assert.equal(shown.selected, 1)
  const parsed = JSON.parse(shown.text) as ResultRecord
  const clicked = records.find((r) => r.line === target.line) as ResultRecord
  assert.equal(parsed.line, target.line)
  assert.equal(parsed.status, clicked.status)
  assert.equal(parsed.output, clicked.output)

  const shot = await tab.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }) as { data: string }
  const artifacts = join(ROOT, 'test', 'artifacts')
  mkdirSync(artifacts, { recursive: true })
  writeFileSync(join(artifacts, 'report.png'), Buffer.from(shot.data, 'base64'))
  assert.ok(statSync(join(artifacts, 'report.png')).size > 10_000)

  // The wheel zooms the map about the pointer.
  const before = await tab.evaluate<string>("document.getElementById('map-svg').getAttribute('viewBox')")
  await tab.send('Input.dispatchMouseEvent', { type: 'mouseWheel', x: target.x, y: target.y, deltaX: 0, deltaY: -100 })
  const zoomed = await tab.evaluate<string>("document.getElementById('map-svg').getAttribute('viewBox')")
  assert.ok(Number(zoomed.split(' ')[2]) < Number(before.split(' ')[2]), `${before} → ${zoomed}`)
  assert.deepEqual(tab.errors, [], 'no console error or exception')
})

test('report: outputs in s3:// are read with the environment\'s credentials for their thumbnails; without them, none', async () => {
  await withS3({ buckets: ['results'] }, async (s3) => {
    const env = awsEnv(s3, ENV)
    const input = [
      { url: rasters.url('/rgb-byte-tiled.tif'), window: [0, 0, 256, 256] },
      { url: rasters.url('/uint16-striped.tif'), window: [0, 0, 128, 128] },
      { url: rasters.url('/rgb-byte-tiled.tif'), window: [256, 256, 256, 256], dst_crs: 'EPSG:4326' }
    ].map((l) => JSON.stringify(l)).join('\n') + '\n'
    const run = await runCli(['--no-progress', '-o', 's3://results/chips'], { stdin: input, env })
    assert.equal(run.code, 0, run.stderr)
    for (const r of run.records) assert.match(r.output ?? '', /^s3:\/\/results\/chips\//)
    const recordsPath = join(dir, 's3-records.ndjson')
    writeFileSync(recordsPath, run.stdout)
    const page = join(dir, 's3-report.html')
    const signed = await runCli(['report', recordsPath, '-o', page], { env })
    assert.equal(signed.code, 0, signed.stderr)
    // Each object read once (a GET), for its thumbnail; its footprint from the same bytes.
    assert.match(signed.stderr, /3 records, 3 footprints, 3 thumbnails\./)
    for (const r of run.records) assert.equal(s3.stats(`results/${(r.output as string).slice('s3://results/'.length)}`).methods.GET, 1, r.output)
    const html = readFileSync(page, 'utf8')
    assert.equal(html.match(/<img src="data:image\/png;base64,/g)?.length, 3)
    assert.ok(!html.includes(s3.credentials.secretAccessKey) && !html.includes(s3.credentials.accessKeyId), 'no credential on the page')
    // Without credentials the store refuses: no thumbnail, the warp's footprint from its record alone.
    const unsigned = await runCli(['report', recordsPath, '-o', page], { env: { ...env, AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'wrong' } })
    assert.equal(unsigned.code, 0, unsigned.stderr)
    assert.match(unsigned.stderr, /3 records, 1 footprint, 0 thumbnails; 3 outputs not found or not readable \(the first: s3:\/\/results\/chips\/.*403.*\)\./)
    assert.ok(!unsigned.stderr.includes('wrong'), 'no secret in the message')
  })
})
