// Outputs to object storage: --out-dir s3://bucket/prefix writes each output whole, then uploads it (one
// PUT, or a multipart upload above 16 MiB); the objects open with GDAL through /vsis3/; --skip-existing
// asks the store; a failed upload is retried, then an error at stage write, and leaves no object.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { awsEnv as storeEnv, startS3, type S3Fixture } from './support/s3.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { startServer, type RasterServer } from './support/server.js'
import { assertSameRaster, gdalTranslate, gdalTranslateAsync } from './support/compare.js'
import { makeFloat64Gradient } from '../bench/data.js'

let s3: S3Fixture
let http: RasterServer
let dir: string

before(async () => {
  s3 = await startS3({ buckets: ['results'] })
  http = await startServer(FIXTURES)
  dir = scratch('rp-s3out-')
})
after(async () => {
  await s3.close()
  await http.close()
  rmSync(dir, { recursive: true, force: true })
})

const env = (): Record<string, string> => storeEnv(s3, { RASTERPIPE_RETRY_BASE_MS: '5' })

/** PUT requests over the objects of the last listing. */
function puts (keys: string[]): number {
  return keys.reduce((n, key) => n + (s3.stats(`results/${key}`).methods.PUT ?? 0), 0)
}

test('200 windows to --out-dir s3://… at -c 16, then again with --skip-existing: 200 skipped, nothing fetched, nothing rewritten', async (t) => {
  const input = Array.from({ length: 200 }, (_, i) => JSON.stringify({ url: http.url('rgb-byte-tiled.tif'), window: [(i % 20) * 48, Math.floor(i / 20) * 90, 64, 64] })).join('\n') + '\n'
  const first = await runCli(['-o', 's3://results/chips/run1', '-c', '16', '--no-progress'], { stdin: input, env: env() })
  assert.equal(first.code, 0, first.stderr)
  assert.equal(first.records.filter((r) => r.status === 'ok').length, 200)
  for (const r of first.records) assert.match(r.output ?? '', /^s3:\/\/results\/chips\/run1\/rgb-byte-tiled-[0-9a-f]{12}\.tif$/)
  const keys = await s3.list('results', 'chips/run1/')
  assert.equal(keys.length, 200, 'one object per record')
  const written = puts(keys)
  assert.equal(written, 200, 'one PUT each (small outputs)')

  // The objects are rasters GDAL reads through /vsis3/, equal to gdal_translate's window.
  const sample = first.records[37]
  const ref = gdalTranslate(join(FIXTURES, 'rgb-byte-tiled.tif'), ['-srcwin', ...Object.values(sample.window ?? {}).map(String)], dir, 'ref-37.tif')
  const back = await gdalTranslateAsync(`/vsis3/${(sample.output as string).slice('s3://'.length)}`, [], dir, 'back-37.tif', s3.gdalEnv())
  assertSameRaster(back, ref, 'object read back through /vsis3/')

  http.reset()
  const again = await runCli(['-o', 's3://results/chips/run1', '-c', '16', '--skip-existing', '--no-progress'], { stdin: input, env: env() })
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.records.filter((r) => r.status === 'skipped').length, 200)
  assert.equal(again.records.reduce((n, r) => n + r.bytes, 0), 0, 'no byte fetched')
  assert.equal(http.totalRequests(), 0, 'the source was not asked')
  t.diagnostic(`first run: ${first.records.length} ok, ${keys.length} objects, ${written} PUTs; rerun: ${again.records.filter((r) => r.status === 'skipped').length} skipped, ${again.records.reduce((n, r) => n + r.bytes, 0)} bytes, ${puts(keys)} PUTs`)
  assert.equal(puts(keys), written, 'no object rewritten')
})

test('an output over 16 MiB goes up in parts and reads back equal; a failed part aborts the upload and leaves no object', async () => {
  const source = makeFloat64Gradient(join(dir, 'float64.tif'), 1600)
  const args = ['--fetch', 'download', '-w', '0,0,1600,1600', '--co', 'COMPRESS=NONE', '--co', 'TILED=YES', '--no-progress']
  const big = await runCli(['-o', 's3://results/big', ...args], { stdin: source + '\n', env: env() })
  assert.equal(big.code, 0, big.stderr)
  const uri = big.records[0].output as string
  const stats = s3.stats(uri.slice('s3://'.length))
  assert.equal(stats.multipart.initiated, 1)
  assert.ok(stats.multipart.parts >= 3, `${stats.multipart.parts} parts`)
  assert.equal(stats.multipart.completed, 1)
  const ref = gdalTranslate(source, ['-srcwin', '0', '0', '1600', '1600'], dir, 'ref-big.tif')
  assertSameRaster(await gdalTranslateAsync(`/vsis3/${uri.slice('s3://'.length)}`, [], dir, 'back-big.tif', s3.gdalEnv()), ref, 'multipart object')

  // The same output under another prefix, its parts failing every time.
  const failing = uri.replace('/big/', '/broken/').slice('s3://'.length)
  s3.always(failing, { kind: 'status', status: 500, code: 'InternalError', on: 'PUT' })
  const broken = await runCli(['-o', 's3://results/broken', '--retries', '1', ...args], { stdin: source + '\n', env: env() })
  assert.equal(broken.code, 1)
  assert.equal(broken.records[0].error?.stage, 'write')
  assert.equal(broken.records[0].error?.code, 'HTTP_500')
  assert.deepEqual(await s3.list('results', 'broken/'), [], 'no object, partial or whole')
  const failed = s3.stats(failing)
  assert.deepEqual([failed.multipart.initiated, failed.multipart.completed, failed.methods.DELETE], [1, 0, 1], 'the upload was aborted')
})
