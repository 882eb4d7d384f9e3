// s3:// and gs:// sources read from a real S3-protocol server (s3rver behind a front that checks every
// SigV4 signature, test/support/s3.ts): outputs equal gdal_translate over GDAL's own /vsis3/ and /vsigs/,
// range reads move what they move over plain HTTP, and credentials fail clearly without being printed.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { awsEnv, startS3, withS3, type S3Fixture } from './support/s3.js'
import { FIXTURES, runCli, scratch, type RunResult } from './support/run.js'
import { startServer, type RasterServer } from './support/server.js'
import { assertSameRaster, gdalTranslateAsync } from './support/compare.js'

const BUCKET = 'rasters'
const KEY = 'scenes/rgb tiled.tif' // a space: keys are encoded as S3's canonical URI wants them
const LOCAL = join(FIXTURES, 'rgb-byte-tiled.tif')
const WINDOWS = [[0, 0, 256, 256], [300, 200, 300, 180], [768, 768, 256, 256], [10, 900, 500, 100]]

let s3: S3Fixture
let http: RasterServer
let dir: string

before(async () => {
  s3 = await startS3({ buckets: [BUCKET, 'payers', 'open'] })
  await s3.putFile(BUCKET, KEY, LOCAL)
  await s3.putFile('payers', 'rgb.tif', LOCAL)
  s3.setRequesterPays('payers')
  http = await startServer(FIXTURES)
  dir = scratch('rp-s3-')
})
after(async () => {
  await s3.close()
  await http.close()
  rmSync(dir, { recursive: true, force: true })
})

function records (url: string): string {
  return WINDOWS.map((w, i) => JSON.stringify({ url, id: `w${i}`, window: w })).join('\n') + '\n'
}

async function read (name: string, url: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return await runCli(['-o', join(dir, name), '--no-progress', '--retries', '2', ...args], { stdin: records(url), env: { RASTERPIPE_RETRY_BASE_MS: '5', ...env } })
}

test('s3:// windows, by ranges and by download, equal gdal_translate over /vsis3/', async () => {
  const refs = await Promise.all(WINDOWS.map((w, i) => gdalTranslateAsync(`/vsis3/${BUCKET}/${KEY}`, ['-srcwin', ...w.map(String)], dir, `ref-${i}.tif`, s3.gdalEnv())))
  for (const mode of ['range', 'download']) {
    const run = await read(`out-${mode}`, `s3://${BUCKET}/${KEY}`, ['--fetch', mode], awsEnv(s3))
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.records.length, WINDOWS.length)
    for (const r of run.records) {
      assert.equal(r.status, 'ok', JSON.stringify(r))
      assert.equal(r.fetch, mode)
      assert.equal(r.url, `s3://${BUCKET}/${KEY}`)
      assertSameRaster(r.output as string, refs[Number(r.id?.slice(1))], `${mode} ${r.id}`)
    }
  }
})

test('a range read from S3 moves the same bytes as over plain HTTP, and the store counts what the records say', async (t) => {
  s3.reset()
  http.reset()
  const viaS3 = await read('bytes-s3', `s3://${BUCKET}/${KEY}`, ['--fetch', 'range'], awsEnv(s3))
  const viaHttp = await read('bytes-http', http.url('rgb-byte-tiled.tif'), ['--fetch', 'range'], {})
  const sum = (run: RunResult): number => run.records.reduce((n, r) => n + r.bytes, 0)
  assert.ok(viaS3.records.every((r) => r.status === 'ok' && r.fetch === 'range'), viaS3.stderr)
  t.diagnostic(`records' bytes: ${sum(viaS3)} from S3, ${sum(viaHttp)} over HTTP; the store sent ${s3.stats(`${BUCKET}/${KEY}`).bytes}`)
  assert.equal(sum(viaS3), sum(viaHttp), 'same bytes as over HTTP')
  assert.equal(sum(viaS3), s3.stats(`${BUCKET}/${KEY}`).bytes, 'the records count what the store sent')
})

test('a wrong secret: one AUTH error per input, not retried, naming where the credentials came from and never the secret', async () => {
  s3.reset()
  const wrong = 'wrong/Secret+Key0123456789abcdefghijkLMNOP'
  const run = await read('auth', `s3://${BUCKET}/${KEY}`, ['--fetch', 'range'], awsEnv(s3, { AWS_SECRET_ACCESS_KEY: wrong }))
  assert.equal(run.code, 1)
  assert.equal(run.records.length, WINDOWS.length)
  for (const r of run.records) {
    assert.equal(r.error?.stage, 'fetch')
    assert.equal(r.error?.code, 'AUTH')
    assert.equal(r.error?.retryable, false)
    assert.match(r.error?.message ?? '', /refused the request with credentials from the environment \(AWS_ACCESS_KEY_ID\): HTTP 403 SignatureDoesNotMatch/)
  }
  assert.equal(s3.stats(`${BUCKET}/${KEY}`).requests, 1, 'one request: the records waited on one probe, and its refusal was not retried')
  for (const secret of [wrong, s3.credentials.secretAccessKey]) {
    assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), 'no secret in stdout or stderr')
  }
})

test('503 SlowDown twice, then the read: ok, signed afresh for each try', async () => {
  s3.reset()
  s3.fault(`${BUCKET}/${KEY}`, { kind: 'slowdown' }, { kind: 'slowdown' })
  const run = await runCli(['-o', join(dir, 'slow'), '--no-progress', '--fetch', 'range', '-w', '0,0,64,64'], {
    stdin: `s3://${BUCKET}/${KEY}\n`, env: { ...awsEnv(s3), RASTERPIPE_RETRY_BASE_MS: '5' }
  })
  assert.equal(run.code, 0, run.stderr)
  assert.equal(run.records[0].status, 'ok')
  assert.ok(run.records[0].attempts >= 3, `attempts ${run.records[0].attempts}`)
  assert.deepEqual(s3.stats(`${BUCKET}/${KEY}`).statuses.slice(0, 3), [503, 503, 206])
})

test('requester pays: refused without --requester-pays (saying so), ok with it; the header is sent only when asked', async () => {
  s3.reset()
  const without = await runCli(['-o', join(dir, 'payers'), '--no-progress', '-w', '0,0,64,64'], { stdin: 's3://payers/rgb.tif\n', env: awsEnv(s3) })
  assert.equal(without.records[0].error?.code, 'AUTH')
  assert.match(without.records[0].error?.message ?? '', /AccessDenied; a requester-pays bucket needs --requester-pays/)
  assert.equal(s3.stats('payers/rgb.tif').lastHeaders?.['x-amz-request-payer'], undefined)
  const pays = await runCli(['-o', join(dir, 'payers'), '--no-progress', '-w', '0,0,64,64', '--requester-pays'], { stdin: 's3://payers/rgb.tif\n', env: awsEnv(s3) })
  assert.equal(pays.records[0].status, 'ok', pays.stderr)
  assert.equal(s3.stats('payers/rgb.tif').lastHeaders?.['x-amz-request-payer'], 'requester')
  const viaEnv = await runCli(['-o', join(dir, 'payers-env'), '--no-progress', '-w', '0,0,64,64'], { stdin: 's3://payers/rgb.tif\n', env: awsEnv(s3, { AWS_REQUEST_PAYER: 'requester' }) })
  assert.equal(viaEnv.records[0].status, 'ok', 'AWS_REQUEST_PAYER=requester does the same')
})

test('--no-sign reads a public bucket with no Authorization; a private one is refused, saying it was unsigned', async () => {
  await s3.putFile('open', 'rgb.tif', LOCAL)
  s3.setPublic('open')
  s3.reset()
  const run = await runCli(['-o', join(dir, 'open'), '--no-progress', '-w', '0,0,64,64', '--no-sign'], { stdin: 's3://open/rgb.tif\n', env: awsEnv(s3) })
  assert.equal(run.records[0].status, 'ok', run.stderr)
  assert.equal(s3.stats('open/rgb.tif').lastHeaders?.authorization, undefined)
  const refused = await runCli(['-o', join(dir, 'open'), '--no-progress', '-w', '0,0,64,64'], { stdin: `s3://${BUCKET}/${KEY}\n`, env: awsEnv(s3, { AWS_NO_SIGN_REQUEST: 'YES' }) })
  assert.equal(refused.records[0].error?.code, 'AUTH')
  assert.match(refused.records[0].error?.message ?? '', /unsigned \(--no-sign\)/)
})

test('a redirect to another origin is followed without Authorization or any credential', async () => {
  await withS3({ buckets: ['mirror'] }, async (other) => {
    await other.putFile('mirror', 'rgb.tif', LOCAL)
    other.setPublic('mirror')
    s3.reset()
    s3.fault(`${BUCKET}/${KEY}`, { kind: 'redirect', to: other.url('mirror', 'rgb.tif') })
    const run = await runCli(['-o', join(dir, 'moved'), '--no-progress', '--fetch', 'download', '-w', '0,0,64,64', '-H', 'X-Team-Key: team-k3y-abcdef'], {
      stdin: `s3://${BUCKET}/${KEY}\n`, env: awsEnv(s3)
    })
    assert.equal(run.records[0].status, 'ok', run.stderr)
    const seen = other.stats('mirror/rgb.tif').lastHeaders
    assert.ok(seen, 'the other origin was asked')
    for (const name of ['authorization', 'x-amz-security-token', 'x-amz-date', 'x-amz-content-sha256', 'x-team-key']) {
      assert.equal(seen[name], undefined, `${name} did not follow the redirect`)
    }
  })
})

test('a bucket in another region: S3 names it, and the request is signed for that region and asked again', async () => {
  await withS3({ buckets: ['faraway'], region: 'eu-west-1' }, async (far) => {
    await far.putFile('faraway', 'rgb.tif', LOCAL)
    const run = await runCli(['-o', join(dir, 'far'), '--no-progress', '--fetch', 'range', '-w', '0,0,64,64'], {
      stdin: 's3://faraway/rgb.tif\n', env: awsEnv(far, { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1' })
    })
    assert.equal(run.records[0].status, 'ok', run.stderr)
    const statuses = far.stats('faraway/rgb.tif').statuses
    assert.deepEqual(statuses.slice(0, 2), [400, 206], 'refused once for the region, then answered')
    assert.equal(statuses.filter((s) => s === 400).length, 1, 'the region learnt is kept for the bucket')
  })
})

test('gs:// through the S3-compatible API with GS_ACCESS_KEY_ID/GS_SECRET_ACCESS_KEY equals gdal_translate over /vsigs/', async () => {
  // Cloud Storage's interoperable API takes SigV4 with the region 'auto'.
  await withS3({ buckets: ['gbucket'], region: 'auto' }, async (gs) => {
    await gs.putFile('gbucket', 'rgb.tif', LOCAL)
    const ref = await gdalTranslateAsync('/vsigs/gbucket/rgb.tif', ['-srcwin', '300', '200', '300', '180'], dir, 'ref-gs.tif', gs.gdalGsEnv())
    const env = { GS_ACCESS_KEY_ID: gs.credentials.accessKeyId, GS_SECRET_ACCESS_KEY: gs.credentials.secretAccessKey, CPL_GS_ENDPOINT: gs.endpoint }
    for (const mode of ['range', 'download']) {
      const run = await runCli(['-o', join(dir, `gs-${mode}`), '--no-progress', '--fetch', mode, '-w', '300,200,300,180'], { stdin: 'gs://gbucket/rgb.tif\n', env })
      assert.equal(run.records[0].status, 'ok', run.stderr)
      assert.equal(run.records[0].fetch, mode)
      assertSameRaster(run.records[0].output as string, ref, `gs:// ${mode}`)
    }
    // Outputs to gs:// go up the same way, and GDAL's /vsigs/ reads them back.
    const up = await runCli(['-o', 'gs://gbucket/out', '--no-progress', '-w', '300,200,300,180'], { stdin: 'gs://gbucket/rgb.tif\n', env })
    const uri = up.records[0].output as string
    assert.match(uri, /^gs:\/\/gbucket\/out\//, up.stderr)
    assertSameRaster(await gdalTranslateAsync(`/vsigs/${uri.slice('gs://'.length)}`, [], dir, 'back-gs.tif', gs.gdalGsEnv()), ref, 'gs:// output')
    const wrong = await runCli(['-o', join(dir, 'gs'), '--no-progress', '-w', '0,0,8,8'], { stdin: 'gs://gbucket/rgb.tif\n', env: { ...env, GS_SECRET_ACCESS_KEY: 'not-the-secret-0123456789' } })
    assert.equal(wrong.records[0].error?.code, 'AUTH')
    assert.match(wrong.records[0].error?.message ?? '', /GS_ACCESS_KEY_ID/)
    assert.ok(!wrong.stderr.includes('not-the-secret-0123456789') && !wrong.stdout.includes('not-the-secret-0123456789'))
  })
})

test('a user Authorization (-H, GDAL_HTTP_BEARER) does not go to the store: the SigV4 signature is the request\'s, and the read equals gdal_translate over /vsis3/', async () => {
  const ref = await gdalTranslateAsync(`/vsis3/${BUCKET}/${KEY}`, ['-srcwin', '0', '0', '64', '64'], dir, 'ref-user-auth.tif', s3.gdalEnv())
  for (const [name, args, env] of [
    ['flag', ['-H', 'Authorization: Bearer not-for-the-store'], {}],
    ['gdal', [], { GDAL_HTTP_BEARER: 'not-for-the-store' }]
  ] as Array<[string, string[], Record<string, string>]>) {
    const run = await runCli(['-o', join(dir, `user-auth-${name}`), '--no-progress', '-w', '0,0,64,64', ...args], { stdin: `s3://${BUCKET}/${KEY}\n`, env: { ...awsEnv(s3), ...env, RASTERPIPE_RETRY_BASE_MS: '5' } })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.records[0].status, 'ok', JSON.stringify(run.records[0]))
    assertSameRaster(run.records[0].output as string, ref, name)
  }
})
