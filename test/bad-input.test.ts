// A corpus of bad and hostile input lines among good ones: each bad line gives one error record naming its
// line and the reason, nothing is written outside --out-dir, and the process exits 1 (not by a crash).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { FIXTURES, byLine, runCli, scratch } from './support/run.js'
import { loadGdal } from '../lib/raster/gdal.js'

const gdal = loadGdal()

const ctx = useServer()

test('bad-input corpus: one error record per bad line, good lines fine, nothing outside --out-dir', async () => {
  const small = ctx.server.url('int16-small.tif')
  // A VRT that points at a local file, disguised as a GeoTIFF: must not be opened.
  const vrt = `<VRTDataset rasterXSize="300" rasterYSize="200"><VRTRasterBand dataType="Int16" band="1"><SimpleSource>
<SourceFilename relativeToVRT="0">${join(FIXTURES, 'int16-small.tif')}</SourceFilename><SourceBand>1</SourceBand>
</SimpleSource></VRTRasterBand></VRTDataset>`
  ctx.server.always('evil.tif', { kind: 'body', body: vrt, contentType: 'image/tiff' })
  // The same bytes do open in GDAL without the allow-list: it is the allow-list that refuses them.
  writeFileSync(join(ctx.dir, 'evil.tif'), vrt)
  const plain = gdal.open(join(ctx.dir, 'evil.tif'))
  assert.equal(plain.driver.description, 'VRT')
  plain.close()
  const rec = (o: object): string => JSON.stringify({ url: small, window: [0, 0, 50, 50], ...o })
  const corpus: [string | Buffer, RegExp, string?][] = [
    [rec({ out: '../../escaped.tif' }), /may not leave --out-dir/],
    [rec({ out: '/tmp/absolute.tif' }), /absolute/],
    ['javascript:alert(1)', /scheme 'javascript:'/],
    ['ftp://example.org/a.tif', /scheme 'ftp:'/],
    ['data:image/tiff;base64,SUkqAA==', /scheme 'data:'/],
    [rec({ window: [-5, 0, 10, 10] }), /offsets must be 0 or more/],
    [rec({ window: [0, 0, 0, 10] }), /more than 0/],
    [rec({ window: [0, 0, 10.5, 10] }), /whole number/],
    [rec({ window: [0, 0, 200, 200] }), /over --max-pixels 10000/],
    [rec({ bands: [0] }), /not a band number/],
    [rec({ bands: [2] }), /band 2 requested, but the source has 1 band/, 'open'],
    [rec({ bbox: [400500, 5599000, 400000, 5599500] }), /MINX < MAXX/],
    // JSON.parse reads 1e400 as Infinity (and JSON.stringify would print it as null).
    [`{"url": "${small}", "bbox": [400000, 1e400, 400500, 5599500]}`, /^bbox \(MINX,MINY,MAXX,MAXY\): value 2 \(Infinity\) is not a finite number/],
    [rec({ bbox: [400000, 5599000, 400500, 5599500], bbox_crs: 'EPSG:99999999' }), /unknown CRS/],
    ['{"url": "' + 'x'.repeat(10 * 1024 * 1024) + '"}', /longer than the maximum/],
    [Buffer.from([0x68, 0x74, 0x74, 0x70, 0xc3, 0x28, 0xff]), /not valid UTF-8/],
    [rec({ url: ctx.server.url('evil.tif') }), /not a raster GDAL can read with the allowed drivers/, 'open']
  ]
  const parts: Buffer[] = [Buffer.from(rec({ window: [0, 0, 64, 64] }) + '\n')]
  for (const [line] of corpus) parts.push(Buffer.isBuffer(line) ? line : Buffer.from(line), Buffer.from('\n'))
  parts.push(Buffer.from(rec({ window: [10, 10, 32, 32] }) + '\n'))

  const parent = scratch()
  const out = join(parent, 'out')
  const run = await runCli(['-o', out, '--max-pixels', '10000'], { stdin: Buffer.concat(parts) })
  assert.equal(run.code, 1, run.stderr)
  assert.equal(run.signal, null)
  assert.equal(run.records.length, corpus.length + 2)
  const records = byLine(run.records)
  assert.equal(records.get(1)?.status, 'ok')
  assert.equal(records.get(corpus.length + 2)?.status, 'ok')
  corpus.forEach(([, reason, stage], i) => {
    const line = i + 2
    const r = records.get(line)
    assert.equal(r?.status, 'error', `line ${line}: ${JSON.stringify(r)}`)
    assert.equal(r?.error?.stage, stage ?? 'input', `line ${line}: ${JSON.stringify(r?.error)}`)
    assert.match(r?.error?.message ?? '', reason, `line ${line}`)
    assert.ok(run.stderr.includes(`line ${line}: `), `stderr names line ${line}`)
  })
  assert.deepEqual(readdirSync(parent), ['out'], 'nothing written beside --out-dir')
  assert.equal(readdirSync(out).length, 2, 'only the two good outputs')
  rmSync(parent, { recursive: true, force: true })
})

test('a source with absurd dimensions is refused at open, before any pixel is read', async () => {
  const path = join(ctx.dir, 'absurd.tif')
  execFileSync('gdal_create', ['-q', '-of', 'GTiff', '-outsize', '20000000', '2', '-bands', '1', '-ot', 'Byte',
    '-co', 'SPARSE_OK=YES', '-co', 'TILED=YES', '-co', 'BIGTIFF=YES', path])
  ctx.server.file('absurd.tif', readFileSync(path))
  const run = await runCli(['-o', join(ctx.dir, 'absurd-out'), '-w', '0,0,2,2'], { stdin: ctx.server.url('absurd.tif') + '\n' })
  assert.equal(run.code, 1)
  assert.equal(run.records[0].error?.stage, 'open')
  assert.equal(run.records[0].error?.code, 'BAD_SIZE')
  assert.match(run.records[0].error?.message ?? '', /20000000×2 pixels is refused/)
})
