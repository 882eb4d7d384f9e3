// The report's parts without a run: escaping of hostile record text, the seeded sample, records cut to
// the page's budget, the page of 10,000 records within 5 MB, the stretch and the thumbnail's alpha
// (GDAL in this process), where relative outputs are found, and the subcommand's arguments and help.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { esc, scriptJson } from '../lib/cli/report/escape.js'
import { Collector } from '../lib/cli/report/collect.js'
import { cutRecord, pageRecordTexts, reportHtml, RECORDS_BUDGET, type ReportModel } from '../lib/cli/report/page.js'
import { stretch, thumbnail } from '../lib/cli/report/rasters.js'
import { tilesFor } from '../lib/cli/report/map.js'
import { locateOutput } from '../lib/cli/report/outputs.js'
import { buildReport, INLINE_THUMBNAILS_BUDGET, parseReportArgs, reportHelp, thumbnailPicks, type ReportArgs } from '../lib/cli/report/command.js'
import type { CliIo } from '../lib/cli/io.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { tiffGrid } from '../lib/cli/report/geotiff.js'
import { ROOT } from './support/run.js'
import type { ResultRecord } from '../lib/core/records.js'

const HOSTILE = '</script><script>alert(1)</script><!-- \u2028 " \' &amp;'

function record (i: number, extra: Partial<ResultRecord> = {}): ResultRecord {
  const status = i % 10 === 0 ? 'error' : i % 17 === 0 ? 'skipped' : 'ok'
  return {
    line: i + 1,
    input: 'inputs.ndjson',
    url: `https://example.com/scenes/S2B_${String(i).padStart(6, '0')}/B04.tif`,
    status,
    ...(status !== 'error' ? { output: `chips/B04-${i.toString(16).padStart(12, '0')}.tif` } : {}),
    fetch: 'range',
    bytes: 1_000_000 + i,
    attempts: 3,
    window: { col: i % 20 * 512, row: Math.floor(i / 20) * 512, width: 512, height: 512 },
    source: { driver: 'GTiff', width: 10980, height: 10980, count: 1, dtype: 'UInt16', crs: 'EPSG:32633' },
    stats: [{ band: 1, min: 1, max: 4000, mean: 1234.5678 + i, std: 321.123456, valid: 0.99 }],
    ms: { fetch: 100 + i % 50, open: 20, blocks: 80, read: 5, write: 30, total: 240 + i % 90 },
    ...(status === 'error' ? { error: { stage: 'fetch', code: 'HTTP_503', message: `server answered HTTP 503 ${i}`, retryable: true } } : {}),
    ...extra
  } as ResultRecord
}

function model (records: ResultRecord[], over: Partial<ReportModel> = {}): ReportModel {
  return {
    title: 'test',
    generated: '2026-01-01T00:00:00Z',
    inputs: ['a.ndjson'],
    statsFiles: [],
    summary: { records: records.length, ok: 0, failed: 0, skipped: 0, bytes: 0, attempts: 0 },
    records: records.map((r, i) => ({ text: JSON.stringify(r), status: r.status, where: `a.ndjson:${i + 1}` })),
    footprints: records.map((r, i) => ({ i, bbox: [14 + (i % 100) * 0.05, 45 + Math.floor(i / 100) * 0.05, 14.05 + (i % 100) * 0.05, 45.05 + Math.floor(i / 100) * 0.05], status: r.status })),
    mapNotes: [],
    thumbnails: [],
    galleryNotes: [],
    errors: [],
    stageMs: { total: records.map((r) => r.ms.total ?? 0) },
    totalMs: records.map((r) => r.ms.total ?? 0),
    bytes: records.map((r) => r.bytes),
    hosts: [],
    chipMean: {},
    chipValid: {},
    ...over
  }
}

test('escaping: HTML text and attributes, and JSON inside <script> whatever the record holds', () => {
  assert.equal(esc('<a href="x">\'&'), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;')
  const json = scriptJson([HOSTILE])
  assert.ok(!/[<>&\u2028]/.test(json), json)
  assert.deepEqual(JSON.parse(json), [HOSTILE])
})

test('a page of records with hostile text: no element of theirs, only the page\'s own two scripts', () => {
  const r = record(10, { id: HOSTILE, error: { stage: 'fetch', code: HOSTILE, message: HOSTILE, retryable: false } })
  const html = reportHtml(model([r], {
    title: HOSTILE,
    inputs: [HOSTILE],
    errors: [{ code: HOSTILE, count: 1, stages: { [HOSTILE]: 1 }, examples: [{ where: HOSTILE, message: HOSTILE }] }],
    hosts: [{ run: HOSTILE, origin: HOSTILE, limit_min: 1, limit_max: 16, limit_final: 8, throttled: 3, retry_after_holds: 1 }],
    thumbnails: [{ i: 0, src: 'report_files/"><script>x</script>.png', width: 10, height: 10, caption: HOSTILE }],
    mapNotes: [HOSTILE]
  }))
  assert.equal(html.match(/<script/g)?.length, 2)
  assert.equal(html.match(/<\/script/g)?.length, 2)
  assert.ok(!html.includes('<!--'))
  assert.ok(!html.includes('alert(1)</'))
  // Nothing loaded from the network: no http(s) address in a src or href without --basemap.
  assert.ok(!/(src|href)="https?:/i.test(html))
  assert.ok(!html.includes('<image'))
})

test('--basemap: tiles behind the footprints, at most 64, each a URL of the template', () => {
  const tiles = tilesFor([14, 45, 16, 46])
  assert.ok(tiles.length > 0 && tiles.length <= 64, String(tiles.length))
  for (const t of tiles) assert.ok(t.bbox[0] < 16 && t.bbox[2] > 14 && t.bbox[1] < 46 && t.bbox[3] > 45, JSON.stringify(t))
  const html = reportHtml(model([record(1)], { basemap: 'https://tiles.example/{z}/{x}/{y}.png' }))
  assert.equal(html.match(/<image /g)?.length, tilesFor([13.9975, 44.9975, 14.0525, 45.0525]).length)
  assert.match(html, /href="https:\/\/tiles\.example\/\d+\/\d+\/\d+\.png"/)
})

test('the sample: at most its size, every record as likely, the same from run to run', () => {
  const make = (): Collector => {
    const c = new Collector(100, 7)
    for (let i = 0; i < 5000; i++) c.add(record(i), 'a.ndjson', JSON.stringify(record(i)))
    return c
  }
  const a = make()
  const b = make()
  assert.equal(a.records, 5000)
  assert.equal(a.sample.length, 100)
  assert.deepEqual(a.sampled().map((k) => k.seq), b.sampled().map((k) => k.seq))
  const seqs = a.sampled().map((k) => k.seq)
  assert.equal(new Set(seqs).size, 100)
  // Spread over the whole input, not its first records: a quarter of them from each quarter, roughly.
  for (let q = 0; q < 4; q++) {
    const n = seqs.filter((s) => s >= q * 1250 && s < (q + 1) * 1250).length
    assert.ok(n >= 10 && n <= 40, `quarter ${q}: ${n}`)
  }
  assert.equal(a.tally.counts().records, 5000)
  assert.equal(a.errors.get('HTTP_503')?.count, 500)
  assert.equal(a.errors.get('HTTP_503')?.examples.length, 3)
  assert.equal(a.stageMs.get('blocks')?.length, 5000)
  assert.equal(a.chipMean.get(1)?.length, 5000)
})

test('records cut to their share of the budget keep their first fields and say where the whole is', () => {
  const text = JSON.stringify(record(3, { warnings: ['x'.repeat(2000)] }))
  const cut = cutRecord(text, 300, 'a.ndjson:4')
  assert.ok(cut.length <= 300, String(cut.length))
  const value = JSON.parse(cut) as Record<string, unknown>
  assert.equal(value.line, 4)
  assert.equal(value.status, 'ok')
  assert.ok(!('warnings' in value))
  assert.match(String(value.truncated), /a\.ndjson:4/)
  const short = JSON.stringify(record(4))
  assert.equal(cutRecord(short, 10_000, 'x'), short)
  const many = Array.from({ length: 10_000 }, (_, i) => ({ text: JSON.stringify(record(i)), status: 'ok', where: `a:${i}` }))
  const { texts, cut: n } = pageRecordTexts(many)
  assert.equal(n, 10_000)
  assert.ok(texts.reduce((s, t) => s + t.length, 0) <= RECORDS_BUDGET * 1.25)
})

test('a page of 10,000 records, their footprints and 100 thumbnails is under 5 MB', () => {
  const records = Array.from({ length: 10_000 }, (_, i) => record(i))
  // Thumbnails as the command places them: inlined up to the budget, the others beside the page.
  const png = 'A'.repeat(40_000)
  let inlined = 0
  const thumbnails = Array.from({ length: 100 }, (_, j) => {
    const inline = inlined + png.length <= INLINE_THUMBNAILS_BUDGET
    if (inline) inlined += png.length
    return { i: j * 100, src: inline ? `data:image/png;base64,${png}` : `report_files/${j}.png`, width: 256, height: 256, caption: `chip ${j}` }
  })
  const html = reportHtml(model(records, { thumbnails }))
  const size = Buffer.byteLength(html)
  assert.ok(size < 5 * 1024 * 1024, `${size} bytes`)
  assert.equal(html.match(/class="fp /g)?.length, 10_000)
})

test('stretch: each band between its 2nd and 98th percentiles of valid pixels; invalid ones ignored', () => {
  const values = Float64Array.from({ length: 101 }, (_, i) => i)
  values[100] = 1e9
  const valid = new Uint8Array(101).fill(1)
  valid[100] = 0
  const out = new Uint8Array(101)
  stretch(values, valid, out)
  // 100 valid values 0..99: the 2nd percentile is 2 (rank 2 of 0..99), the 98th is 97.
  assert.equal(out[2], 0)
  assert.equal(out[0], 0)
  assert.equal(out[97], 255)
  assert.equal(out[99], 255)
  assert.equal(out[50], Math.round((50 - 2) / 95 * 255))
  // Values with fractions (sorted, not counted): the same ranks.
  const fractions = values.map((v) => v + 0.25)
  const out2 = new Uint8Array(101)
  stretch(fractions, valid, out2)
  assert.deepEqual([...out2.subarray(0, 100)], [...out.subarray(0, 100)])
})

test('thumbnail: a PNG made by GDAL, nodata transparent, at most 256 px', async () => {
  const gdal = loadGdal()
  const dir = mkdtempSync(join(tmpdir(), 'rp-report-unit-'))
  try {
    const ds = gdal.drivers.get('GTiff').create(join(dir, 'a.tif'), 64, 32, 1, gdal.GDT_Float32)
    const band = ds.bands.get(1)
    band.noDataValue = -9999
    const px = Float32Array.from({ length: 64 * 32 }, (_, i) => (i % 64 < 8 ? -9999 : i % 64))
    band.pixels.write(0, 0, 64, 32, px)
    ds.flush()
    const t = await thumbnail(gdal, ds)
    ds.close()
    assert.deepEqual([t.width, t.height], [64, 32])
    gdal.vsimem.set(t.png, '/vsimem/report-unit.png')
    const png = gdal.open('/vsimem/report-unit.png')
    assert.equal(png.driver.description, 'PNG')
    const alpha = png.bands.get(4).pixels.read(0, 0, 64, 32) as Uint8Array
    const grey = png.bands.get(1).pixels.read(0, 0, 64, 32) as Uint8Array
    png.close()
    gdal.vsimem.release('/vsimem/report-unit.png')
    for (let i = 0; i < alpha.length; i++) assert.equal(alpha[i], i % 64 < 8 ? 0 : 255, `pixel ${i}`)
    assert.equal(grey[63], 255)
    assert.equal(grey[8], 0)
    const big = gdal.drivers.get('MEM').create('', 1000, 500, 3, gdal.GDT_Byte)
    const b = await thumbnail(gdal, big)
    assert.deepEqual([b.width, b.height], [256, 128])
    big.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a relative output is found from here, beside the records file, or under --base', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rp-report-unit-'))
  try {
    mkdirSync(join(dir, 'run', 'chips'), { recursive: true })
    writeFileSync(join(dir, 'run', 'chips', 'a.tif'), 'x')
    assert.deepEqual(locateOutput('chips/a.tif', join(dir, 'run', 'records.ndjson'), []), { path: join(dir, 'run', 'chips', 'a.tif'), remote: false })
    assert.deepEqual(locateOutput('chips/a.tif', '-', [join(dir, 'run')]), { path: join(dir, 'run', 'chips', 'a.tif'), remote: false })
    assert.equal(locateOutput('chips/b.tif', '-', [join(dir, 'run')]), undefined)
    assert.deepEqual(locateOutput('s3://bucket/a.tif', '-', []), { path: 's3://bucket/a.tif', remote: true })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('thumbnails spread over the sampled ok outputs', () => {
  const kept = Array.from({ length: 50 }, (_, i) => ({ record: record(i), from: 'a', seq: i, text: '' }))
  const picks = thumbnailPicks(kept, 10)
  assert.equal(picks.length, 10)
  for (const p of picks) assert.equal(kept[p].record.status, 'ok')
  assert.ok(picks[9] > 40, String(picks))
  assert.deepEqual(thumbnailPicks(kept, 0), [])
})

test('report\'s arguments and help', () => {
  const a = parseReportArgs(['r1.ndjson', 'r2.ndjson', '--stats', 's1.json', '--stats', 's2.json', '-o', 'x.html', '--thumbnails', '5'])
  assert.notEqual(a, 'help')
  if (a === 'help') return
  assert.deepEqual([a.inputs, a.stats, a.output, a.thumbnails], [['r1.ndjson', 'r2.ndjson'], ['s1.json', 's2.json'], 'x.html', 5])
  assert.deepEqual((parseReportArgs([]) as { inputs: string[] }).inputs, ['-'])
  assert.throws(() => parseReportArgs(['--thumbnails=-1']), /--thumbnails/)
  assert.throws(() => parseReportArgs(['--basemap', 'file:///x']), /--basemap/)
  assert.throws(() => parseReportArgs(['--thumbnail', '3']), /did you mean --thumbnails/)
  assert.equal(parseReportArgs(['-h']), 'help')
  for (const line of reportHelp().split('\n')) assert.ok(line.length <= 80, `over 80 columns: ${line}`)
})

test('an output\'s grid from its GeoTIFF tags is GDAL\'s: every fixture, and undefined where GDAL must read it', () => {
  const gdal = loadGdal()
  const dir = join(ROOT, 'fixtures', 'rasters')
  let read = 0
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    const ours = tiffGrid(path)
    const ds = gdal.open(path)
    const gt = ds.geoTransform
    const code = ds.srs?.getAuthorityCode(null)
    const size = ds.rasterSize
    ds.close()
    if (!name.endsWith('.tif')) { assert.equal(ours, undefined, name); continue }
    if (!ours) continue
    read++
    assert.deepEqual([ours.width, ours.height], [size.x, size.y], name)
    assert.equal(ours.crs, `EPSG:${code}`, name)
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(ours.transform[i] - (gt as number[])[i]) < 1e-9, `${name}: ${ours.transform.join(',')} vs ${(gt as number[]).join(',')}`)
  }
  assert.ok(read >= 5, `${read} fixtures read from their tags`)
})

test('report: -o in a missing folder is a usage error before any work; NAME_files keeps what is not the report\'s; --stats figures that are not numbers are not written into the page', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rp-report-'))
  try {
    const records = join(dir, 'records.ndjson')
    writeFileSync(records, JSON.stringify({ line: 1, id: 'a', status: 'error', error: { stage: 'fetch', code: 'HTTP_404', message: 'gone', retryable: false } }) + '\n')
    const stats = join(dir, 'run.json')
    const hostile = '<img src=x onerror=alert(1)>'
    writeFileSync(stats, JSON.stringify({ records: 1, errors: {}, wall_s: hostile, hosts: { 'http://h': { limit_min: hostile, limit_max: 2, limit_final: 1, throttled: 0, retry_after_holds: 0 } } }))
    const io = process as unknown as CliIo
    const args = (output: string): ReportArgs => {
      const a = parseReportArgs([records, '--stats', stats, '-o', output, '--thumbnails', '0'])
      assert.notEqual(a, 'help')
      return a as ReportArgs
    }
    await assert.rejects(buildReport(args(join(dir, 'no-such-folder', 'r.html')), io), (err: Error) => err.name === 'UsageError' && /no directory/.test(err.message))
    // A browser's saved page's folder of the same name: its files stay; only an earlier report's thumbnails go.
    mkdirSync(join(dir, 'r_files'))
    writeFileSync(join(dir, 'r_files', 'precious.txt'), 'mine')
    writeFileSync(join(dir, 'r_files', 'rasterpipe-thumb-00001.png'), 'stale')
    const made = await buildReport(args(join(dir, 'r.html')), io)
    assert.deepEqual(readdirSync(join(dir, 'r_files')), ['precious.txt'])
    const html = readFileSync(made.path, 'utf8')
    assert.ok(!html.includes(hostile) && !html.includes('<img src=x'), 'no text of the stats file as HTML')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
