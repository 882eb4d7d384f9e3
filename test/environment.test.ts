// GDAL's variables in real runs: GDAL_HTTP_HEADERS reaching a loopback server, GDAL_HTTP_MAX_RETRY and
// GDAL_HTTP_RETRY_DELAY changing what a failing server sees, GDAL_HTTP_TIMEOUT giving up on a silent
// one, AWS_S3_ENDPOINT + AWS_HTTPS=NO + AWS_VIRTUAL_HOSTING=FALSE reaching the S3 fixture as GDAL's
// /vsis3/ does, and --config KEY=VALUE taking effect in GDAL. The library runs with the environment's
// options beneath the test's own, as the CLI puts them beneath its flags.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { once } from 'node:events'
import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { rasterPipeline, UsageError, type PipelineInput, type ResultRecord } from '../lib/index.js'
import { beneath, optionsFromEnvironment } from '../lib/run/environment.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { startS3, type S3Fixture } from './support/s3.js'
import { assertSameRaster, gdalTranslateAsync } from './support/compare.js'

const SOURCE = join(FIXTURES, 'int16-small.tif')
const BYTES = readFileSync(SOURCE)
const WINDOW = { col: 0, row: 0, width: 16, height: 16 }

const dir = scratch('rp-environment-')
after(() => rmSync(dir, { recursive: true, force: true }))

interface Seen { headers: IncomingHttpHeaders, at: number }

/** A loopback origin that records each request (headers, arrival time) and answers as `answer` says. */
async function origin (answer: 'file' | 'unavailable' | 'silent'): Promise<{ url: string, seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    seen.push({ headers: req.headers, at: performance.now() })
    if (answer === 'silent') return
    if (answer === 'unavailable') { res.writeHead(503, { 'content-type': 'text/plain' }).end('try later'); return }
    res.writeHead(200, { 'content-length': BYTES.length, 'content-type': 'image/tiff' }).end(BYTES)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  after(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/int16-small.tif`, seen }
}

/** One library run: the environment's options beneath the test's, as the CLI layers them. */
async function run (env: Record<string, string>, own: PipelineInput, urls: string[]): Promise<ResultRecord[]> {
  const pipeline = rasterPipeline(beneath(optionsFromEnvironment(env).options, { window: WINDOW, ...own }))
  for (const url of urls) pipeline.write({ url })
  pipeline.end()
  const records: ResultRecord[] = []
  for await (const record of pipeline) records.push(record as ResultRecord)
  return records
}

test('GDAL_HTTP_HEADERS (comma-separated, a quoted value with a comma), GDAL_HTTP_USERAGENT and GDAL_HTTP_USERPWD reach the server', async () => {
  const server = await origin('file')
  const records = await run({
    GDAL_HTTP_HEADERS: 'X-Api-Key: k3y-from-gdal,"X-Tags: a, b"',
    GDAL_HTTP_USERAGENT: 'titiler-user/1.0',
    GDAL_HTTP_USERPWD: 'ann:s3cret'
  }, { outDir: join(dir, 'headers') }, [server.url])
  assert.equal(records[0].status, 'ok', JSON.stringify(records[0]))
  assert.ok(server.seen.length > 0)
  for (const { headers } of server.seen) {
    assert.equal(headers['x-api-key'], 'k3y-from-gdal')
    assert.equal(headers['x-tags'], 'a, b')
    assert.equal(headers['user-agent'], 'titiler-user/1.0')
    assert.equal(headers.authorization, `Basic ${Buffer.from('ann:s3cret').toString('base64')}`)
  }
  // Header values are never printed: not in the record.
  assert.ok(!JSON.stringify(records).includes('k3y-from-gdal'))
})

test('the test\'s own options win over the environment\'s (as the command line\'s do)', async () => {
  const server = await origin('unavailable')
  const records = await run({ GDAL_HTTP_MAX_RETRY: '3', GDAL_HTTP_RETRY_DELAY: '0' }, { outDir: join(dir, 'own'), retries: 0 }, [server.url])
  assert.equal(records[0].status, 'error')
  assert.equal(server.seen.length, 1, 'retries: 0 over GDAL_HTTP_MAX_RETRY=3')
})

test('GDAL_HTTP_MAX_RETRY sets how many times a failing server is asked; GDAL_HTTP_RETRY_DELAY the wait between', async () => {
  for (const retries of [0, 2]) {
    const server = await origin('unavailable')
    const records = await run({ GDAL_HTTP_MAX_RETRY: String(retries), GDAL_HTTP_RETRY_DELAY: '0.01' }, { outDir: join(dir, `retries-${retries}`) }, [server.url])
    assert.equal(records[0].status, 'error')
    assert.equal(records[0].error?.code, 'HTTP_503', JSON.stringify(records[0].error))
    assert.equal(server.seen.length, retries + 1, `GDAL_HTTP_MAX_RETRY=${retries}`)
  }
  // The backoff waits at least half its base before each retry: 0.6 s here, so each gap is 300 ms or
  // more (rasterpipe's own base, 250 ms, would allow 125 ms).
  const server = await origin('unavailable')
  const records = await run({ GDAL_HTTP_MAX_RETRY: '2', GDAL_HTTP_RETRY_DELAY: '0.6' }, { outDir: join(dir, 'delay') }, [server.url])
  assert.equal(records[0].status, 'error')
  assert.equal(server.seen.length, 3)
  for (let i = 1; i < server.seen.length; i++) {
    const gap = server.seen[i].at - server.seen[i - 1].at
    assert.ok(gap >= 300 - 5, `retry ${i} came ${gap.toFixed(0)} ms after the one before`)
  }
})

test('GDAL_HTTP_TIMEOUT: a server that never answers is given up on after that many seconds, not rasterpipe\'s 60', { timeout: 45_000 }, async () => {
  const server = await origin('silent')
  const started = performance.now()
  const records = await run({ GDAL_HTTP_TIMEOUT: '1', GDAL_HTTP_MAX_RETRY: '0' }, { outDir: join(dir, 'timeout') }, [server.url])
  assert.equal(records[0].status, 'error')
  assert.equal(records[0].error?.code, 'TIMEOUT', JSON.stringify(records[0].error))
  // Not before the second of silence it was given (a lower bound holds on any machine).
  assert.ok(performance.now() - started >= 1000 - 5)
  assert.equal(server.seen.length, 1)
})

let s3: S3Fixture
before(async () => {
  s3 = await startS3({ buckets: ['rasters'] })
  await s3.putFile('rasters', 'scenes/rgb.tif', join(FIXTURES, 'rgb-byte-tiled.tif'))
})
after(async () => { await s3.close() })

test('AWS_S3_ENDPOINT, AWS_HTTPS=NO and AWS_VIRTUAL_HOSTING=FALSE: the variables that take GDAL\'s /vsis3/ to the store take rasterpipe there, path-style', async () => {
  // Exactly the environment GDAL is given (no AWS_ENDPOINT_URL*): a run of the real executable, which
  // reads the S3 variables when the first s3:// URL comes.
  const env = { ...s3.gdalEnv(), AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true', RASTERPIPE_RETRY_BASE_MS: '5' }
  assert.equal((env as Record<string, string>).AWS_ENDPOINT_URL_S3, undefined)
  const reference = await gdalTranslateAsync('/vsis3/rasters/scenes/rgb.tif', ['-srcwin', '100', '50', '200', '120'], dir, 'ref-s3.tif', s3.gdalEnv())
  s3.reset()
  const out = join(dir, 's3')
  const result = await runCli(['-o', out, '--no-progress', '--retries', '1', '-w', '100,50,200,120', '--fetch', 'range'],
    { stdin: 's3://rasters/scenes/rgb.tif\n', env })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(result.records[0].status, 'ok', JSON.stringify(result.records[0]))
  // Path-style over http reached the front (which checked each SigV4 signature).
  assert.ok(s3.stats('rasters/scenes/rgb.tif').requests > 0)
  assertSameRaster(result.records[0].output as string, reference, 'AWS_S3_ENDPOINT')
})

test('--config KEY=VALUE (gdalConfig) takes effect in GDAL: GDAL_TIFF_ENDIANNESS=BIG writes big-endian TIFFs; GDAL_CACHEMAX is set', async () => {
  const gdal = loadGdal()
  const firstBytes = (records: ResultRecord[]): string => {
    const fd = openSync(records[0].output as string, 'r')
    const head = Buffer.alloc(2)
    readSync(fd, head, 0, 2, 0)
    closeSync(fd)
    return head.toString('latin1')
  }
  try {
    const plain = await run({}, { outDir: join(dir, 'config-none') }, [SOURCE])
    assert.equal(firstBytes(plain), 'II', 'little-endian, GDAL\'s default here')
    const big = await run({}, { outDir: join(dir, 'config-big'), gdalConfig: ['GDAL_TIFF_ENDIANNESS=BIG', 'GDAL_CACHEMAX=48'] }, [SOURCE])
    assert.equal(big[0].status, 'ok', JSON.stringify(big[0]))
    assert.equal(firstBytes(big), 'MM', 'big-endian, as --config asked')
    assert.equal(gdal.config.get('GDAL_CACHEMAX'), '48')
  } finally {
    // Process-wide: put back what the rest of this process expects.
    gdal.config.set('GDAL_TIFF_ENDIANNESS', 'NATIVE')
    gdal.config.set('GDAL_CACHEMAX', '16')
  }
})

test('--config refuses the settings rasterpipe depends on, naming the key and why, before any work', () => {
  for (const key of ['GDAL_PAM_ENABLED', 'GDAL_TIFF_INTERNAL_MASK', 'GDAL_DISABLE_READDIR_ON_OPEN', 'OSR_DEFAULT_AXIS_MAPPING_STRATEGY', 'GDAL_VALIDATE_CREATION_OPTIONS', 'gdal_pam_enabled']) {
    assert.throws(() => rasterPipeline({ outDir: join(dir, 'refused'), gdalConfig: { [key]: 'NO' } }), (err: Error) =>
      err instanceof UsageError && new RegExp(`^gdalConfig: ${key} is rasterpipe's own \\([A-Z_]+\\): .{20,}`).test(err.message), key)
  }
  const gdal = loadGdal()
  assert.equal(gdal.config.get('GDAL_PAM_ENABLED'), 'NO')
  assert.equal(gdal.config.get('OSR_DEFAULT_AXIS_MAPPING_STRATEGY'), 'TRADITIONAL_GIS_ORDER')
  assert.deepEqual(readdirSync(dir).filter((n) => n === 'refused'), [], 'nothing made')
})

test('CLI: GDAL_HTTP_HEADERS reaches the server, -H wins for the same name, and the ignored variables are named once', async () => {
  const server = await origin('file')
  const result = await runCli(['-o', join(dir, 'cli'), '--no-progress', '-w', '0,0,16,16', '-H', 'X-Both: flag'], {
    stdin: `${server.url}\n`,
    env: { GDAL_HTTP_HEADERS: 'X-Api-Key: cli-k3y,X-Both: variable', GDAL_HTTP_UNSAFESSL: 'YES', CPL_VSIL_CURL_ALLOWED_EXTENSIONS: '.tif' }
  })
  assert.equal(result.code, 0, result.stderr)
  assert.equal(server.seen[0].headers['x-api-key'], 'cli-k3y')
  assert.equal(server.seen[0].headers['x-both'], 'flag')
  assert.equal(result.stderr.split('GDAL_HTTP_UNSAFESSL').length - 1, 1, result.stderr)
  assert.ok(result.stderr.includes('CPL_VSIL_CURL_ALLOWED_EXTENSIONS'), result.stderr)
  assert.ok(!result.stderr.includes('cli-k3y') && !result.stdout.includes('cli-k3y'))
})

test('--config (gdalConfig) gives the store variables as GDAL\'s --config does (AWS_S3_ENDPOINT, AWS_HTTPS, keys); an IP endpoint goes path-style without AWS_VIRTUAL_HOSTING=FALSE', async () => {
  s3.reset()
  const config: Record<string, string> = { ...s3.gdalEnv(), AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true' }
  delete config.AWS_VIRTUAL_HOSTING
  try {
    const records = await run({}, { outDir: join(dir, 's3-config'), fetch: 'range', retries: 1, retryBaseMs: 5, gdalConfig: config }, ['s3://rasters/scenes/rgb.tif'])
    assert.equal(records[0].status, 'ok', JSON.stringify(records[0]))
    assert.ok(s3.stats('rasters/scenes/rgb.tif').requests > 0)
    assert.ok(!JSON.stringify(records).includes(s3.credentials.secretAccessKey))
  } finally {
    // Process-wide in GDAL: unset what the rest of this process should not see.
    const gdal = loadGdal()
    for (const key of Object.keys(config)) gdal.config.set(key, null)
  }
})
