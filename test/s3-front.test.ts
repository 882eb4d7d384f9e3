// The S3 test fixture proven with GDAL's own S3 client (and aws4, a second signer): reads, windows and
// writes through /vsis3/ succeed and match local files, bad signatures fail with S3's errors, faults are
// retried, ranges and conditional GETs are answered as S3 does, and close leaves no port open.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import aws4 from 'aws4'
import { startS3, withS3, type S3Fixture } from './support/s3.js'
import { FIXTURES, scratch } from './support/run.js'
import { assertSameRaster, gdalTool, gdalTranslate } from './support/compare.js'

const BUCKET = 'rasters'
const KEY = 'cogs/rgb.tif'
const LOCAL = join(FIXTURES, 'rgb-byte-tiled.tif')

let s3: S3Fixture
let dir: string
let closed = false

before(async () => {
  s3 = await startS3({ buckets: [BUCKET] })
  await s3.putFile(BUCKET, KEY, LOCAL)
  dir = scratch()
})
after(async () => {
  if (!closed) await s3.close()
  rmSync(dir, { recursive: true, force: true })
})

const gdal = gdalTool

/** aws4's signed headers as fetch takes them: without Host, which fetch sets itself (the value aws4 signed). */
function fetchHeaders (signed: aws4.Request): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(signed.headers ?? {})) if (k.toLowerCase() !== 'host' && v != null) out[k] = String(v)
  return out
}

/** A request signed by aws4 (not by the front's code, nor by smithy) sent with fetch. */
async function signedFetch (method: string, path: string, headers: Record<string, string> = {}, body?: Buffer, redirect: RequestRedirect = 'follow'): Promise<Response> {
  const signed = aws4.sign({ host: s3.host, path, method, service: 's3', region: s3.region, headers: { ...headers }, ...(body ? { body } : {}) }, s3.credentials)
  return await fetch(s3.endpoint + path, { method, headers: fetchHeaders(signed), redirect, ...(body ? { body: new Uint8Array(body) } : {}) })
}

const xmlCode = (text: string): string | undefined => /<Code>([^<]+)<\/Code>/.exec(text)?.[1]

test('gdalinfo opens an object through the front with the fixture credentials', async () => {
  s3.reset()
  const run = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], s3.gdalEnv())
  assert.equal(run.code, 0, run.stderr)
  assert.match(run.stdout, /Size is 1024, 1024/)
  const st = s3.stats(`${BUCKET}/${KEY}`)
  assert.ok((st.methods.GET ?? 0) >= 1, JSON.stringify(st))
  assert.match(String(st.lastHeaders?.authorization), /^AWS4-HMAC-SHA256 Credential=/)
  assert.deepEqual(s3.errors(), [])
})

test('gdal_translate -srcwin from /vsis3/ equals the same translate of the local file, read by ranges', async () => {
  s3.reset()
  const srcwin = ['-srcwin', '300', '200', '256', '300']
  const out = join(dir, 'window-s3.tif')
  const run = await gdal('gdal_translate', ['-q', '--config', 'GDAL_TIFF_INTERNAL_MASK', 'YES', ...srcwin, `/vsis3/${BUCKET}/${KEY}`, out], s3.gdalEnv())
  assert.equal(run.code, 0, run.stderr)
  assertSameRaster(out, gdalTranslate(LOCAL, srcwin, dir, 'window-local.tif'), 'window through S3')
  const st = s3.stats(`${BUCKET}/${KEY}`)
  assert.ok(st.ranges.length >= 1, 'GDAL read by Range requests')
  assert.ok(st.statuses.every((s) => s === 206), `statuses ${st.statuses.join(',')}`)
  assert.ok(st.bytes < readFileSync(LOCAL).length, `read ${st.bytes} bytes, less than the whole file`)
})

test('a wrong secret fails in GDAL and the front answered 403 SignatureDoesNotMatch', async () => {
  s3.reset()
  const run = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], s3.gdalEnv({ AWS_SECRET_ACCESS_KEY: 'not-the-secret' }))
  assert.notEqual(run.code, 0)
  assert.match(run.stderr, /signature we calculated does not match/)
  const st = s3.stats(`${BUCKET}/${KEY}`)
  assert.ok(st.errors.includes('SignatureDoesNotMatch'), JSON.stringify(st))
  assert.ok(st.statuses.includes(403))
})

test('an unknown access key id gets 403 InvalidAccessKeyId', async () => {
  s3.reset()
  const run = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], s3.gdalEnv({ AWS_ACCESS_KEY_ID: 'AKIAUNKNOWN000000000' }))
  assert.notEqual(run.code, 0)
  assert.deepEqual([...new Set(s3.stats(`${BUCKET}/${KEY}`).errors)], ['InvalidAccessKeyId'])
})

test('an unsigned request is AccessDenied on a private bucket and served on a public one', async () => {
  s3.reset()
  const denied = await fetch(s3.url(BUCKET, KEY))
  assert.equal(denied.status, 403)
  assert.equal(denied.headers.get('content-type'), 'application/xml')
  assert.equal(xmlCode(await denied.text()), 'AccessDenied')
  s3.setPublic(BUCKET)
  try {
    const run = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], s3.gdalEnv({ AWS_NO_SIGN_REQUEST: 'YES' }))
    assert.equal(run.code, 0, run.stderr)
    assert.equal(s3.stats(`${BUCKET}/${KEY}`).lastHeaders?.authorization, undefined)
  } finally {
    s3.setPublic(BUCKET, false)
  }
})

test('gdal_translate writes to /vsis3/ with one PUT, and the object reads back equal', async () => {
  s3.reset()
  const src = join(FIXTURES, 'int16-small.tif')
  const run = await gdal('gdal_translate', ['-q', src, `/vsis3/${BUCKET}/out/written.tif`], s3.gdalEnv())
  assert.equal(run.code, 0, run.stderr)
  const st = s3.stats(`${BUCKET}/out/written.tif`)
  assert.equal(st.methods.PUT, 1, JSON.stringify(st))
  assert.deepEqual(st.multipart, { initiated: 0, parts: 0, completed: 0 })
  assert.match(String(st.lastHeaders?.['x-amz-content-sha256']), /^[0-9a-f]{64}$/, 'GDAL signs the payload hash, which the front checked')
  assert.ok((await s3.list(BUCKET, 'out/')).includes('out/written.tif'))
  const back = join(dir, 'written-back.tif')
  writeFileSync(back, await s3.getObject(BUCKET, 'out/written.tif'))
  assertSameRaster(back, gdalTranslate(src, [], dir, 'written-local.tif'), 'written through S3')
  const info = await gdal('gdalinfo', ['-checksum', `/vsis3/${BUCKET}/out/written.tif`], s3.gdalEnv())
  assert.equal(info.code, 0, info.stderr)
})

test('a write larger than VSIS3_CHUNK_SIZE goes up as a multipart upload that s3rver assembles', async () => {
  s3.reset()
  // About 12 MB uncompressed: three parts of 5 MB.
  const run = await gdal('gdal_translate', ['-q', '-outsize', '2048', '2048', '-co', 'COMPRESS=NONE', LOCAL, `/vsis3/${BUCKET}/out/big.tif`],
    s3.gdalEnv({ VSIS3_CHUNK_SIZE: '5' }))
  assert.equal(run.code, 0, run.stderr)
  const st = s3.stats(`${BUCKET}/out/big.tif`)
  assert.equal(st.multipart.initiated, 1, JSON.stringify(st))
  assert.ok(st.multipart.parts >= 2, `parts ${st.multipart.parts}`)
  assert.equal(st.multipart.completed, 1)
  const back = join(dir, 'big-back.tif')
  writeFileSync(back, await s3.getObject(BUCKET, 'out/big.tif'))
  assertSameRaster(back, gdalTranslate(LOCAL, ['-outsize', '2048', '2048', '-co', 'COMPRESS=NONE'], dir, 'big-local.tif'), 'multipart write')
})

test('SlowDown (503) is retried by GDAL, which then succeeds', async () => {
  s3.reset()
  s3.fault(`${BUCKET}/${KEY}`, { kind: 'slowdown' })
  const run = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], s3.gdalEnv({ GDAL_HTTP_MAX_RETRY: '2', GDAL_HTTP_RETRY_DELAY: '0.1' }))
  assert.equal(run.code, 0, run.stderr)
  const st = s3.stats(`${BUCKET}/${KEY}`)
  assert.equal(st.errors[0], 'SlowDown')
  assert.deepEqual(st.statuses.slice(0, 2), [503, 206])
})

test('requester pays: refused without x-amz-request-payer, served with it', async () => {
  s3.reset()
  s3.setRequesterPays(BUCKET)
  try {
    const refused = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], s3.gdalEnv())
    assert.notEqual(refused.code, 0)
    assert.ok(s3.stats(`${BUCKET}/${KEY}`).errors.includes('AccessDenied'))
    s3.reset()
    const paid = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], s3.gdalEnv({ AWS_REQUEST_PAYER: 'requester' }))
    assert.equal(paid.code, 0, paid.stderr)
    assert.equal(s3.stats(`${BUCKET}/${KEY}`).lastHeaders?.['x-amz-request-payer'], 'requester')
  } finally {
    s3.setRequesterPays(BUCKET, false)
  }
})

test('a Range GET signed by aws4 gets 206 with the right bytes, Content-Range and the MD5 ETag', async () => {
  s3.reset()
  const file = readFileSync(LOCAL)
  const res = await signedFetch('GET', `/${BUCKET}/${KEY}`, { range: 'bytes=1000-1999' })
  assert.equal(res.status, 206)
  assert.equal(res.headers.get('content-range'), `bytes 1000-1999/${file.length}`)
  assert.equal(res.headers.get('etag'), `"${createHash('md5').update(file).digest('hex')}"`)
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), file.subarray(1000, 2000))
  assert.deepEqual(s3.stats(`${BUCKET}/${KEY}`).ranges, ['bytes=1000-1999'])
  assert.equal(s3.stats(`${BUCKET}/${KEY}`).bytes, 1000)
})

test('ranges s3rver gets wrong are answered as S3 does: suffix, bytes=0-0, If-Range, If-Match, past the end', async () => {
  const file = readFileSync(LOCAL)
  const path = `/${BUCKET}/${KEY}`
  const etag = `"${createHash('md5').update(file).digest('hex')}"`
  const suffix = await signedFetch('GET', path, { range: 'bytes=-100' })
  assert.equal(suffix.status, 206)
  assert.equal(suffix.headers.get('content-range'), `bytes ${file.length - 100}-${file.length - 1}/${file.length}`)
  assert.deepEqual(Buffer.from(await suffix.arrayBuffer()), file.subarray(file.length - 100))
  const first = await signedFetch('GET', path, { range: 'bytes=0-0' })
  assert.equal(first.status, 206)
  assert.deepEqual(Buffer.from(await first.arrayBuffer()), file.subarray(0, 1))
  const sameVersion = await signedFetch('GET', path, { range: 'bytes=10-19', 'if-range': etag })
  assert.equal(sameVersion.status, 206)
  assert.deepEqual(Buffer.from(await sameVersion.arrayBuffer()), file.subarray(10, 20))
  const otherVersion = await signedFetch('GET', path, { range: 'bytes=10-19', 'if-range': '"0123"' })
  assert.equal(otherVersion.status, 200, 'a stale If-Range gets the whole object')
  assert.equal(Buffer.from(await otherVersion.arrayBuffer()).length, file.length)
  const mismatch = await signedFetch('GET', path, { 'if-match': '"0123"' })
  assert.equal(mismatch.status, 412)
  assert.equal(xmlCode(await mismatch.text()), 'PreconditionFailed')
  const past = await signedFetch('GET', path, { range: `bytes=${file.length}-` })
  assert.equal(past.status, 416)
  assert.equal(xmlCode(await past.text()), 'InvalidRange')
  const head = await signedFetch('HEAD', path)
  assert.equal(head.status, 200)
  assert.equal(head.headers.get('content-length'), String(file.length))
})

test('the checker refuses a changed signed header, a wrong payload hash and an unsigned x-amz header', async () => {
  const path = `/${BUCKET}/${KEY}`
  // Signed, then the date changed on the way.
  const signed = aws4.sign({ host: s3.host, path, method: 'GET', service: 's3', region: s3.region }, s3.credentials)
  const headers = fetchHeaders(signed)
  headers['X-Amz-Date'] = headers['X-Amz-Date'].replace(/\d\dZ$/, (s) => String((Number(s.slice(0, 2)) + 1) % 60).padStart(2, '0') + 'Z')
  const changed = await fetch(s3.endpoint + path, { headers })
  assert.equal(changed.status, 403)
  assert.equal(xmlCode(await changed.text()), 'SignatureDoesNotMatch')
  // A PUT whose body is not the one hashed.
  const body = Buffer.from('the body that was signed')
  const put = aws4.sign({ host: s3.host, path: `/${BUCKET}/tmp/x`, method: 'PUT', service: 's3', region: s3.region, body, headers: { 'content-type': 'text/plain' } }, s3.credentials)
  const putHeaders = fetchHeaders(put)
  const swapped = await fetch(`${s3.endpoint}/${BUCKET}/tmp/x`, { method: 'PUT', headers: putHeaders, body: new Uint8Array(Buffer.from('the body that was sent!!')) })
  assert.equal(swapped.status, 400)
  assert.equal(xmlCode(await swapped.text()), 'XAmzContentSHA256Mismatch')
  const honest = await fetch(`${s3.endpoint}/${BUCKET}/tmp/x`, { method: 'PUT', headers: putHeaders, body: new Uint8Array(body) })
  assert.equal(honest.status, 200, await honest.text())
  assert.deepEqual(await s3.getObject(BUCKET, 'tmp/x'), body)
  // An x-amz-* header added after signing.
  const extra = await fetch(s3.endpoint + path, { headers: { ...headers, 'X-Amz-Date': String(signed.headers?.['X-Amz-Date']), 'x-amz-request-payer': 'requester' } })
  assert.equal(extra.status, 403)
  assert.equal(xmlCode(await extra.text()), 'AccessDenied')
})

test('a presigned URL (query form) works, and fails once its signature is changed', async () => {
  const path = `/${BUCKET}/${KEY}`
  const signed = aws4.sign({ host: s3.host, path, method: 'GET', service: 's3', region: s3.region, signQuery: true }, s3.credentials)
  const ok = await fetch(s3.endpoint + String(signed.path))
  assert.equal(ok.status, 200, await ok.clone().text())
  assert.equal(Buffer.from(await ok.arrayBuffer()).length, readFileSync(LOCAL).length)
  const bad = await fetch(s3.endpoint + String(signed.path).replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`))
  assert.equal(bad.status, 403)
  assert.equal(xmlCode(await bad.text()), 'SignatureDoesNotMatch')
})

test('redirect faults: 301 PermanentRedirect with x-amz-bucket-region; 307 to another origin, which sees no Authorization', async () => {
  s3.reset()
  const path = `/${BUCKET}/${KEY}`
  // The other origin: a second fixture whose bucket is public, so that it serves unsigned requests.
  await withS3({ buckets: ['mirror'] }, async (other) => {
    other.setPublic('mirror')
    await other.putFile('mirror', KEY, LOCAL)
    s3.fault(`${BUCKET}/${KEY}`, { kind: 'wrong-region', region: 'eu-west-1' }, { kind: 'redirect', to: other.url('mirror', KEY) }, { kind: 'redirect', to: other.url('mirror', KEY) })
    const moved = await signedFetch('GET', path)
    assert.equal(moved.status, 301)
    assert.equal(moved.headers.get('x-amz-bucket-region'), 'eu-west-1')
    assert.equal(xmlCode(await moved.text()), 'PermanentRedirect')
    const manual = await signedFetch('GET', path, {}, undefined, 'manual')
    assert.equal(manual.status, 307)
    assert.equal(manual.headers.get('location'), other.url('mirror', KEY))
    await manual.arrayBuffer()
    // fetch drops Authorization on a cross-origin redirect, as an S3 client must.
    const followed = await signedFetch('GET', path, { range: 'bytes=0-99' })
    assert.equal(followed.status, 206)
    assert.deepEqual(Buffer.from(await followed.arrayBuffer()), readFileSync(LOCAL).subarray(0, 100))
    const seen = other.stats(`mirror/${KEY}`)
    assert.equal(seen.requests, 1)
    assert.equal(seen.lastHeaders?.authorization, undefined)
    assert.equal(seen.lastHeaders?.range, 'bytes=0-99')
  })
})

test('GDAL /vsigs/ with HMAC keys (GOOG1 signatures) reads through the same front; a wrong secret is refused', async () => {
  s3.reset()
  const run = await gdal('gdalinfo', [`/vsigs/${BUCKET}/${KEY}`], s3.gdalGsEnv())
  assert.equal(run.code, 0, run.stderr)
  assert.match(String(s3.stats(`${BUCKET}/${KEY}`).lastHeaders?.authorization), /^GOOG1 /)
  s3.reset()
  const bad = await gdal('gdalinfo', [`/vsigs/${BUCKET}/${KEY}`], s3.gdalGsEnv({ GS_SECRET_ACCESS_KEY: 'wrong' }))
  assert.notEqual(bad.code, 0)
  assert.ok(s3.stats(`${BUCKET}/${KEY}`).errors.includes('SignatureDoesNotMatch'))
})

test('temporary credentials: the session token must come with the signature', async () => {
  await withS3({ buckets: [BUCKET], accessKeyId: 'ASIARASTERPIPETEST01', sessionToken: 'session-token/for+tests=' }, async (temp) => {
    await temp.putFile(BUCKET, KEY, LOCAL)
    const ok = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], temp.gdalEnv())
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(temp.stats(`${BUCKET}/${KEY}`).lastHeaders?.['x-amz-security-token'], 'session-token/for+tests=')
    temp.reset()
    const without = await gdal('gdalinfo', [`/vsis3/${BUCKET}/${KEY}`], temp.gdalEnv({ AWS_SESSION_TOKEN: '' }))
    assert.notEqual(without.code, 0)
    assert.ok(temp.stats(`${BUCKET}/${KEY}`).errors.includes('InvalidToken'), JSON.stringify(temp.errors()))
  })
})

test('close stops the front and s3rver, removes the data directory, and leaves no port open', async () => {
  const ports = [s3.port, Number(new URL(s3.backendEndpoint).port)]
  await s3.close()
  closed = true
  assert.equal(existsSync(s3.directory), false)
  for (const port of ports) {
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.on('connect', () => { socket.destroy(); resolve(null) })
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e))
    })
    assert.equal(err?.code, 'ECONNREFUSED', `port ${port} still accepts connections`)
  }
})
