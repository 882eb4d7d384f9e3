// az:// sources and Azure blob URLs read from Azurite (Microsoft's emulator, which checks shared-key and
// SAS signatures itself, test/support/azurite.ts): outputs equal gdal_translate over GDAL's own /vsiaz/,
// range reads move what they move over plain HTTP, and credentials fail clearly without being printed.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { assertRefused, AZURITE_FLAGS, startAzurite, type AzuriteFixture } from './support/azurite.js'
import { FIXTURES, runCli, scratch, type RunResult } from './support/run.js'
import { startServer, type RasterServer } from './support/server.js'
import { assertSameRaster, gdalTranslate, gdalTranslateAsync } from './support/compare.js'
import { makeFloat64Gradient } from '../bench/data.js'
import { Stores } from '../lib/store/stores.js'
import { Secrets } from '../lib/http/redact.js'
import { RecordError } from '../lib/core/errors.js'

const CONTAINER = 'rasters'
const BLOB = 'scenes/rgb tiled.tif' // a space: blob names are encoded in the URL and in what is signed
const LOCAL = join(FIXTURES, 'rgb-byte-tiled.tif')
const WINDOWS = [[0, 0, 256, 256], [300, 200, 300, 180], [768, 768, 256, 256], [10, 900, 500, 100]]
const URI = `az://${CONTAINER}/${BLOB}`
/** A well-formed account key that is not the account's. */
const WRONG_KEY = Buffer.from('not the devstoreaccount1 key, but 64 bytes long as theirs are....').toString('base64')

let az: AzuriteFixture
let http: RasterServer
let dir: string
let refs: string[]

before(async () => {
  // Azurite is started with --disableTelemetry (and --skipApiVersionCheck): no test may reach an outside host.
  assert.ok(AZURITE_FLAGS.includes('--disableTelemetry') && AZURITE_FLAGS.includes('--skipApiVersionCheck'))
  az = await startAzurite({ containers: [CONTAINER] })
  await az.putFile(CONTAINER, BLOB, LOCAL)
  http = await startServer(FIXTURES)
  dir = scratch('rp-az-')
  refs = await Promise.all(WINDOWS.map((w, i) => gdalTranslateAsync(`/vsiaz/${CONTAINER}/${BLOB}`, ['-srcwin', ...w.map(String)], dir, `ref-${i}.tif`, az.gdalEnv())))
})
after(async () => {
  const port = az.port
  await az.close()
  // Nothing is left listening where Azurite was.
  await assertRefused(port)
  await http.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Every Azure variable rasterpipe reads, blank unless given: nothing of the user's own setup takes part. */
function azureEnv (extra: Record<string, string>): Record<string, string> {
  return {
    AZURE_STORAGE_CONNECTION_STRING: '',
    AZURE_STORAGE_ACCOUNT: '',
    AZURE_STORAGE_KEY: '',
    AZURE_STORAGE_ACCESS_KEY: '',
    AZURE_STORAGE_SAS_TOKEN: '',
    AZURE_STORAGE_BLOB_ENDPOINT: '',
    AZURE_NO_SIGN_REQUEST: '',
    RASTERPIPE_RETRY_BASE_MS: '5',
    ...extra
  }
}

function records (url: string): string {
  return WINDOWS.map((w, i) => JSON.stringify({ url, id: `w${i}`, window: w })).join('\n') + '\n'
}

async function read (name: string, url: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return await runCli(['-o', join(dir, name), '--no-progress', '--retries', '2', ...args], { stdin: records(url), env: azureEnv(env) })
}

function assertSameAsVsiaz (run: RunResult, mode: string, url: string, what: string): void {
  assert.equal(run.code, 0, run.stderr)
  assert.equal(run.records.length, WINDOWS.length)
  for (const r of run.records) {
    assert.equal(r.status, 'ok', JSON.stringify(r))
    assert.equal(r.fetch, mode)
    assert.equal(r.url, url)
    assertSameRaster(r.output as string, refs[Number(r.id?.slice(1))], `${what} ${mode} ${r.id}`)
  }
}

function assertNotPrinted (run: RunResult, secrets: string[]): void {
  for (const secret of secrets) {
    assert.ok(!run.stdout.includes(secret), `a secret in stdout: ${secret.slice(0, 4)}…`)
    assert.ok(!run.stderr.includes(secret), `a secret in stderr: ${secret.slice(0, 4)}…`)
  }
}

/** A SAS's signature, as it is in the query and decoded. */
function sigOf (sas: string): string[] {
  const sig = new URLSearchParams(sas).get('sig') ?? ''
  assert.ok(sig.length > 20, 'the SAS has a signature')
  return [sig, encodeURIComponent(sig)]
}

test('az:// with AZURE_STORAGE_CONNECTION_STRING, by ranges and by download, equals gdal_translate over /vsiaz/', async () => {
  for (const mode of ['range', 'download']) {
    const run = await read(`cs-${mode}`, URI, ['--fetch', mode], { AZURE_STORAGE_CONNECTION_STRING: az.connectionString })
    assertSameAsVsiaz(run, mode, URI, 'connection string')
    assertNotPrinted(run, [az.key])
  }
})

test('az:// with AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY and AZURE_STORAGE_BLOB_ENDPOINT equals gdal_translate over /vsiaz/', async () => {
  const env = { AZURE_STORAGE_ACCOUNT: az.account, AZURE_STORAGE_KEY: az.key, AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint }
  for (const mode of ['range', 'download']) {
    assertSameAsVsiaz(await read(`key-${mode}`, URI, ['--fetch', mode], env), mode, URI, 'account key')
  }
})

test('a SAS: from AZURE_STORAGE_SAS_TOKEN for az://, or in the URL itself; records show sig=REDACTED and never the signature', async () => {
  const sas = az.sas(CONTAINER, BLOB)
  const token = await read('sas-env', URI, ['--fetch', 'range'], { AZURE_STORAGE_SAS_TOKEN: `?${sas}`, AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint })
  assertSameAsVsiaz(token, 'range', URI, 'SAS token')
  assertNotPrinted(token, sigOf(sas))

  const signedUrl = `${az.url(CONTAINER, BLOB)}?${sas}`
  const shown = new URL(signedUrl)
  shown.searchParams.set('sig', 'REDACTED')
  for (const mode of ['range', 'download']) {
    // The URL's own SAS is enough: no Azure variable is set.
    const run = await read(`sas-url-${mode}`, signedUrl, ['--fetch', mode], {})
    assertSameAsVsiaz(run, mode, shown.toString(), 'URL with a SAS')
    assert.match(run.records[0].url ?? '', /[?&]sig=REDACTED(&|$)/)
    assertNotPrinted(run, sigOf(sas))
  }
})

test('a wrong account key: one AUTH error per input, not retried, naming AZURE_STORAGE_KEY and never the key', async () => {
  az.reset()
  const env = { AZURE_STORAGE_ACCOUNT: az.account, AZURE_STORAGE_KEY: WRONG_KEY, AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint }
  const run = await read('wrong-key', URI, ['--fetch', 'range'], env)
  assert.equal(run.code, 1)
  assert.equal(run.records.length, WINDOWS.length)
  for (const r of run.records) {
    assert.equal(r.status, 'error')
    assert.equal(r.error?.stage, 'fetch')
    assert.equal(r.error?.code, 'AUTH')
    assert.equal(r.error?.retryable, false)
    assert.match(r.error?.message ?? '', /^az:\/\/rasters\/scenes\/rgb tiled\.tif: the store refused the request with credentials from the environment \(AZURE_STORAGE_KEY\): HTTP 403 (AuthenticationFailed|AuthorizationFailure)$/)
  }
  await az.settled()
  assert.deepEqual(az.requests(`/${CONTAINER}/${BLOB}`).map((r) => r.status), [403], 'one request: the records waited on one probe, and its refusal was not retried')
  assertNotPrinted(run, [WRONG_KEY, az.key])
})

test('a SAS signed with another key, in AZURE_STORAGE_SAS_TOKEN: AUTH naming the SAS token, not retried, its signature never printed', async () => {
  az.reset()
  const good = new URLSearchParams(az.sas(CONTAINER, BLOB))
  // The same SAS with another signature: Azurite recomputes it and refuses.
  good.set('sig', Buffer.from('a signature of thirty-two bytes.').toString('base64'))
  const forged = good.toString()
  const run = await read('wrong-sas', URI, ['--fetch', 'download'], { AZURE_STORAGE_SAS_TOKEN: forged, AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint })
  assert.equal(run.code, 1)
  for (const r of run.records) {
    assert.equal(r.error?.code, 'AUTH', JSON.stringify(r))
    assert.equal(r.error?.retryable, false)
    assert.match(r.error?.message ?? '', /refused the request with credentials from the SAS token \(AZURE_STORAGE_SAS_TOKEN\): HTTP 403 (AuthenticationFailed|AuthorizationFailure)$/)
  }
  await az.settled()
  assert.equal(az.requests(`/${CONTAINER}/${BLOB}`).length, 1, 'not retried')
  assertNotPrinted(run, sigOf(forged))
})

test('a range read from az:// moves the same bytes as over plain HTTP', async () => {
  const viaAz = await read('bytes-az', URI, ['--fetch', 'range'], { AZURE_STORAGE_CONNECTION_STRING: az.connectionString })
  const viaHttp = await read('bytes-http', http.url('rgb-byte-tiled.tif'), ['--fetch', 'range'], {})
  const sum = (run: RunResult): number => run.records.reduce((n, r) => n + r.bytes, 0)
  assert.ok(viaAz.records.every((r) => r.status === 'ok' && r.fetch === 'range'), viaAz.stderr)
  assert.equal(sum(viaAz), sum(viaHttp), 'same bytes as over HTTP')
})

test('az:// without an account, or without credentials: AUTH saying what to set; a malformed connection string is not printed', async () => {
  const none = await runCli(['-o', join(dir, 'none'), '--no-progress', '-w', '0,0,8,8'], { stdin: `${URI}\n`, env: azureEnv({}) })
  assert.equal(none.records[0].error?.code, 'AUTH')
  assert.match(none.records[0].error?.message ?? '', /no storage account: set AZURE_STORAGE_ACCOUNT/)
  const keyless = await runCli(['-o', join(dir, 'none'), '--no-progress', '-w', '0,0,8,8'], { stdin: `${URI}\n`, env: azureEnv({ AZURE_STORAGE_ACCOUNT: az.account }) })
  assert.match(keyless.records[0].error?.message ?? '', /no credentials: set AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING; use --no-sign/)
  const bad = 'AccountName;AccountKey=c2VjcmV0LXZhbHVlLTEyMzQ1'
  const malformed = await runCli(['-o', join(dir, 'none'), '--no-progress', '-w', '0,0,8,8'], { stdin: `${URI}\n`, env: azureEnv({ AZURE_STORAGE_CONNECTION_STRING: bad }) })
  assert.match(malformed.records[0].error?.message ?? '', /AZURE_STORAGE_CONNECTION_STRING is not a connection string/)
  assertNotPrinted(malformed, [bad, 'c2VjcmV0LXZhbHVlLTEyMzQ1'])
})

test('https://ACCOUNT.blob.core.windows.net URLs get the run\'s Azure credentials only for that account and only without a SAS of their own', async () => {
  const blobUrl = 'https://acct.blob.core.windows.net/c/a%20b.tif'
  const secrets = new Secrets()
  const keyed = new Stores({ requesterPays: false, noSign: false }, secrets, { AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: az.key })
  const auth = keyed.authFor(blobUrl)
  assert.ok(auth, 'signed with the key')
  assert.equal(auth.target(), blobUrl)
  const signed = await auth.sign('GET', auth.target(), { range: 'bytes=0-15' })
  assert.match(signed.authorization, /^SharedKey acct:[A-Za-z0-9+/]{43}=$/)
  assert.ok(signed['x-ms-date'] && signed['x-ms-version'])
  assert.ok([...secrets].includes(az.key), 'the key is a secret of the run')
  assert.equal(keyed.authFor('https://other.blob.core.windows.net/c/a.tif'), undefined, 'another account: as given')
  assert.equal(keyed.authFor(`${blobUrl}?sv=2021-08-06&sig=c2lnbmF0dXJl`), undefined, 'its own SAS: as given')
  assert.ok([...secrets].includes('c2lnbmF0dXJl'), "the URL's own signature is a secret of the run")
  assert.equal(keyed.authFor('http://acct.blob.core.windows.net/c/a.tif'), undefined, 'never over plain http')
  assert.equal(keyed.authFor('https://example.com/a.tif'), undefined)
  assert.equal(keyed.authFor('az://c/a b.tif')?.target(), blobUrl, 'az:// names the same blob')

  const sas = 'sv=2021-08-06&sr=b&sp=r&sig=c2lnbmF0dXJlLTI%3D'
  const withSas = new Stores({ requesterPays: false, noSign: false }, new Secrets(), { AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_SAS_TOKEN: `?${sas}` })
  assert.equal(withSas.authFor(blobUrl)?.target(), `${blobUrl}?${sas}`)
  const none = new Stores({ requesterPays: false, noSign: false }, new Secrets(), {})
  assert.equal(none.authFor(blobUrl), undefined, 'no Azure credentials: as given')
  assert.throws(() => none.authFor('az://c/a.tif'), (err: unknown) => err instanceof RecordError && err.code === 'AUTH')
  const cs = new Stores({ requesterPays: false, noSign: false }, new Secrets(), { AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${az.key};EndpointSuffix=core.chinacloudapi.cn` })
  assert.equal(cs.authFor('az://c/a b.tif')?.target(), 'https://acct.blob.core.chinacloudapi.cn/c/a%20b.tif', "the connection string's suffix")
})

test('--out-dir az://…: outputs uploaded (one Put Blob, or blocks and a block list above 16 MiB), read back equal through /vsiaz/; --skip-existing asks the store', async () => {
  const env = azureEnv({ AZURE_STORAGE_CONNECTION_STRING: az.connectionString })
  const small = await runCli(['-o', `az://${CONTAINER}/out`, '--no-progress', '-w', '300,200,300,180'], { stdin: `${URI}\n`, env })
  assert.equal(small.code, 0, small.stderr)
  const smallUri = small.records[0].output as string
  assert.match(smallUri, /^az:\/\/rasters\/out\/rgb_tiled-[0-9a-f]{12}\.tif$/)
  const smallBack = await gdalTranslateAsync(`/vsiaz/${smallUri.slice('az://'.length)}`, [], dir, 'back-small.tif', az.gdalEnv())
  assertSameRaster(smallBack, refs[1], 'a Put Blob object')

  const source = makeFloat64Gradient(join(dir, 'float64.tif'), 1600)
  const args = ['--fetch', 'download', '-w', '0,0,1600,1600', '--co', 'COMPRESS=NONE', '--co', 'TILED=YES', '--no-progress']
  const big = await runCli(['-o', `az://${CONTAINER}/big`, ...args], { stdin: source + '\n', env })
  assert.equal(big.code, 0, big.stderr)
  const bigUri = big.records[0].output as string
  await az.settled()
  const puts = az.requests(`/${CONTAINER}/${bigUri.slice(`az://${CONTAINER}/`.length)}`).filter((r) => r.method === 'PUT')
  assert.ok(puts.length >= 4, `${puts.length} PUTs: blocks and the block list`)
  const bigBack = await gdalTranslateAsync(`/vsiaz/${bigUri.slice('az://'.length)}`, [], dir, 'back-big.tif', az.gdalEnv())
  assertSameRaster(bigBack, gdalTranslate(source, ['-srcwin', '0', '0', '1600', '1600'], dir, 'ref-big.tif'), 'a block-list object')

  az.reset()
  const again = await runCli(['-o', `az://${CONTAINER}/out`, '--no-progress', '-w', '300,200,300,180', '--skip-existing'], { stdin: `${URI}\n`, env })
  assert.equal(again.records[0].status, 'skipped', again.stderr)
  assert.equal(again.records[0].bytes, 0)
  await az.settled()
  assert.deepEqual(az.requests().map((r) => r.method), ['HEAD'], 'one HEAD: nothing fetched, nothing written')
})
