// GDAL's variables as options (lib/run/environment.ts): each mapping, what a variable's syntax allows,
// errors that name the variable and never quote a secret, the names set without an equivalent, and the
// S3 address GDAL's AWS_S3_ENDPOINT, AWS_HTTPS and AWS_VIRTUAL_HOSTING make (lib/store/s3.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beneath, optionsFromEnvironment, splitGdalHeaders } from '../lib/run/environment.js'
import { resolveOptions } from '../lib/run/options.js'
import { UsageError } from '../lib/core/errors.js'
import { s3Address, s3Endpoint, s3Settings } from '../lib/store/s3.js'
import { Secrets } from '../lib/http/redact.js'

const dir = mkdtempSync(join(tmpdir(), 'rp-env-unit-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

test('nothing set: no options, nothing ignored', () => {
  assert.deepEqual(optionsFromEnvironment({ PATH: '/usr/bin', HOME: '/root' }), { options: {}, ignored: [] })
  // Empty values are unset, as GDAL's CPLGetConfigOption treats them.
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_MAX_RETRY: '', GDAL_HTTP_HEADERS: '' }), { options: {}, ignored: [] })
})

test('retries, retry delay (seconds to the backoff base in ms) and timeout', () => {
  const { options } = optionsFromEnvironment({ GDAL_HTTP_MAX_RETRY: '7', GDAL_HTTP_RETRY_DELAY: '0.25', GDAL_HTTP_TIMEOUT: '12.5' })
  assert.deepEqual(options, { retries: 7, retryBaseMs: 250, timeout: 12.5 })
  assert.equal(optionsFromEnvironment({ GDAL_HTTP_MAX_RETRY: '0' }).options.retries, 0)
  assert.equal(optionsFromEnvironment({ GDAL_HTTP_RETRY_DELAY: '0' }).options.retryBaseMs, 0)
  // What comes out passes the one validator.
  assert.equal(resolveOptions(options).retries, 7)
})

test('GDAL_HTTP_HEADERS as GDAL documents it: commas, quoted parts with \\" and \\\\, CRLF lines, one header with commas in its value', () => {
  assert.deepEqual(splitGdalHeaders('Foo: Bar,"Baz: escaped backslash \\\\, escaped double-quote \\", end of value",Another: Header'),
    ['Foo: Bar', 'Baz: escaped backslash \\, escaped double-quote ", end of value', 'Another: Header'])
  assert.deepEqual(splitGdalHeaders('A: 1\r\nB: 2, 3\r\n'), ['A: 1', 'B: 2, 3'])
  assert.deepEqual(splitGdalHeaders('A: 1\nB: 2'), ['A: 1', 'B: 2'])
  // No colon after the first comma: one header whose value holds commas.
  assert.deepEqual(splitGdalHeaders('Accept: text/plain, application/json'), ['Accept: text/plain, application/json'])
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_HEADERS: 'X-Api-Key: k1, X-Tenant: acme' }).options.headers, { 'x-api-key': 'k1', 'x-tenant': 'acme' })
})

test('headers: user agent, cookie and credentials beneath the header file, beneath GDAL_HTTP_HEADERS', () => {
  const file = join(dir, 'headers.txt')
  writeFileSync(file, 'X-From-File: f\r\nUser-Agent: file-agent\n\nX-Both: file\n')
  const { options } = optionsFromEnvironment({
    GDAL_HTTP_USERAGENT: 'my-agent/1.0',
    GDAL_HTTP_COOKIE: 'session=abc; theme=dark',
    GDAL_HTTP_HEADER_FILE: file,
    GDAL_HTTP_HEADERS: 'X-Both: variable'
  })
  assert.deepEqual(options.headers, { 'user-agent': 'file-agent', cookie: 'session=abc; theme=dark', 'x-from-file': 'f', 'x-both': 'variable' })
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_USERAGENT: 'my-agent/1.0' }).options.headers, { 'user-agent': 'my-agent/1.0' })
})

test('GDAL_HTTP_USERPWD as Basic (GDAL_HTTP_AUTH unset, BASIC or ANY), GDAL_HTTP_BEARER as Bearer; other methods ignored', () => {
  const basic = `Basic ${Buffer.from('ann:pa:ss').toString('base64')}`
  for (const auth of [undefined, 'BASIC', 'any']) {
    const env = { GDAL_HTTP_USERPWD: 'ann:pa:ss', ...(auth ? { GDAL_HTTP_AUTH: auth } : {}) }
    assert.deepEqual(optionsFromEnvironment(env), { options: { headers: { authorization: basic } }, ignored: [] }, String(auth))
  }
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_USERPWD: 'ann' }).options.headers, { authorization: `Basic ${Buffer.from('ann:').toString('base64')}` })
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_AUTH: 'BEARER', GDAL_HTTP_BEARER: 't0k' }).options.headers, { authorization: 'Bearer t0k' })
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_AUTH: 'NTLM', GDAL_HTTP_USERPWD: 'dom\\ann:pw' }), { options: {}, ignored: ['GDAL_HTTP_AUTH', 'GDAL_HTTP_USERPWD'] })
  // Bearer needs GDAL_HTTP_AUTH=BEARER when a user and password are there too, as in GDAL.
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_USERPWD: 'a:b', GDAL_HTTP_BEARER: 't' }).ignored, ['GDAL_HTTP_BEARER'])
})

test('proxies: host[:port] as libcurl takes it (port 1080 when none), credentials from GDAL_HTTP_PROXYUSERPWD, GDAL_HTTPS_PROXY over GDAL_HTTP_PROXY', () => {
  const proxy = (env: Record<string, string>): unknown => optionsFromEnvironment(env).options.proxy
  assert.equal(proxy({ GDAL_HTTP_PROXY: 'proxy.corp' }), 'http://proxy.corp:1080')
  assert.equal(proxy({ GDAL_HTTP_PROXY: 'proxy.corp:3128' }), 'http://proxy.corp:3128')
  assert.equal(proxy({ GDAL_HTTP_PROXY: 'http://proxy.corp:80' }), 'http://proxy.corp')
  assert.equal(proxy({ GDAL_HTTP_PROXY: 'https://proxy.corp' }), 'https://proxy.corp')
  assert.equal(proxy({ GDAL_HTTP_PROXY: '[::1]:8080' }), 'http://[::1]:8080')
  assert.equal(proxy({ GDAL_HTTP_PROXY: '10.0.0.1:8080', GDAL_HTTP_PROXYUSERPWD: 'ann:p@ss:w' }), 'http://ann:p%40ss%3Aw@10.0.0.1:8080')
  assert.equal(proxy({ GDAL_HTTPS_PROXY: 'p2:8443' }), 'http://p2:8443')
  // The same proxy twice: nothing ignored. Two: the https one for every request, the other named.
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_PROXY: 'p:1', GDAL_HTTPS_PROXY: 'http://p:1' }), { options: { proxy: 'http://p:1' }, ignored: [] })
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_PROXY: 'p:1', GDAL_HTTPS_PROXY: 'q:2' }), { options: { proxy: 'http://q:2' }, ignored: ['GDAL_HTTP_PROXY'] })
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_PROXY: 'p:1', GDAL_PROXY_AUTH: 'NTLM' }).ignored, ['GDAL_PROXY_AUTH'])
  assert.deepEqual(optionsFromEnvironment({ GDAL_HTTP_PROXYUSERPWD: 'a:b' }), { options: {}, ignored: ['GDAL_HTTP_PROXYUSERPWD'] })
  assert.equal(resolveOptions({ proxy: proxy({ GDAL_HTTP_PROXY: 'proxy.corp' }) as string }).proxy, 'http://proxy.corp:1080')
})

test('netrc: on only when GDAL_HTTP_NETRC says YES or a file is named; NO wins over the file', () => {
  const file = join(dir, 'netrc')
  writeFileSync(file, 'machine example.com login a password b\n')
  const netrc = (env: Record<string, string>): unknown => {
    const { options } = optionsFromEnvironment(env)
    return { netrc: options.netrc, netrcFile: options.netrcFile }
  }
  assert.deepEqual(netrc({}), { netrc: undefined, netrcFile: undefined })
  assert.deepEqual(netrc({ GDAL_HTTP_NETRC: 'YES' }), { netrc: true, netrcFile: undefined })
  assert.deepEqual(netrc({ GDAL_HTTP_NETRC: 'off' }), { netrc: false, netrcFile: undefined })
  assert.deepEqual(netrc({ GDAL_HTTP_NETRC_FILE: file }), { netrc: true, netrcFile: file })
  assert.deepEqual(netrc({ GDAL_HTTP_NETRC: 'NO', GDAL_HTTP_NETRC_FILE: file }), { netrc: false, netrcFile: undefined })
})

test('CA bundle: CURL_CA_BUNDLE, then SSL_CERT_FILE, then AWS_CA_BUNDLE', () => {
  const a = join(dir, 'a.pem')
  const b = join(dir, 'b.pem')
  const c = join(dir, 'c.pem')
  for (const f of [a, b, c]) writeFileSync(f, '')
  assert.equal(optionsFromEnvironment({ CURL_CA_BUNDLE: a, SSL_CERT_FILE: b, AWS_CA_BUNDLE: c }).options.caBundle, a)
  assert.equal(optionsFromEnvironment({ SSL_CERT_FILE: b, AWS_CA_BUNDLE: c }).options.caBundle, b)
  assert.equal(optionsFromEnvironment({ AWS_CA_BUNDLE: c }).options.caBundle, c)
})

test('bad values: a usage error naming the variable, quoting numbers but never a header, cookie, credential or proxy', () => {
  const SECRET = 'S3cr3t-value-9f1c'
  const rows: Array<[Record<string, string>, RegExp]> = [
    [{ GDAL_HTTP_MAX_RETRY: 'three' }, /^GDAL_HTTP_MAX_RETRY: must be a whole number of retries \(0 or more\), got "three"$/],
    [{ GDAL_HTTP_MAX_RETRY: '-1' }, /^GDAL_HTTP_MAX_RETRY: must be a whole number/],
    [{ GDAL_HTTP_MAX_RETRY: '2.5' }, /^GDAL_HTTP_MAX_RETRY: must be a whole number/],
    [{ GDAL_HTTP_RETRY_DELAY: '1s' }, /^GDAL_HTTP_RETRY_DELAY: must be a number of seconds, got "1s"$/],
    [{ GDAL_HTTP_TIMEOUT: '0' }, /^GDAL_HTTP_TIMEOUT: must be a number of seconds above 0, got "0"$/],
    [{ GDAL_HTTP_NETRC: 'maybe' }, /^GDAL_HTTP_NETRC: must be YES or NO/],
    [{ AWS_HTTPS: 'nope' }, /^AWS_HTTPS: must be YES or NO/],
    [{ AWS_VIRTUAL_HOSTING: 'sometimes' }, /^AWS_VIRTUAL_HOSTING: must be YES or NO/],
    [{ AWS_S3_ENDPOINT: 'not a host' }, /^AWS_S3_ENDPOINT: is not host\[:port\]/],
    [{ GDAL_HTTP_HEADERS: SECRET }, /^GDAL_HTTP_HEADERS: each must be 'Name: value'; one has no name before a colon$/],
    [{ GDAL_HTTP_HEADERS: `"Authorization: Bearer ${SECRET}` }, /^GDAL_HTTP_HEADERS: a double quote is not closed$/],
    [{ GDAL_HTTP_HEADERS: `Host: ${SECRET}` }, /^GDAL_HTTP_HEADERS: 'Host' is set by rasterpipe itself$/],
    [{ GDAL_HTTP_COOKIE: `a=${SECRET}\u0000` }, /^GDAL_HTTP_COOKIE: the value of 'Cookie' holds a line break$/],
    [{ GDAL_HTTP_HEADER_FILE: join(dir, 'missing') }, /^GDAL_HTTP_HEADER_FILE: cannot read '.*missing': no such file$/],
    [{ GDAL_HTTP_HEADER_FILE: dir }, /^GDAL_HTTP_HEADER_FILE: '.*' is not a file$/],
    [{ GDAL_HTTP_NETRC_FILE: join(dir, 'missing') }, /^GDAL_HTTP_NETRC_FILE: cannot read/],
    [{ SSL_CERT_FILE: join(dir, 'missing.pem') }, /^SSL_CERT_FILE: cannot read/],
    [{ GDAL_HTTP_PROXY: `socks5://u:${SECRET}@h:1080` }, /^GDAL_HTTP_PROXY: a socks5 proxy is not supported/],
    [{ GDAL_HTTPS_PROXY: `http://u:${SECRET}@[bad` }, /^GDAL_HTTPS_PROXY: not a proxy address/]
  ]
  for (const [env, pattern] of rows) {
    assert.throws(() => optionsFromEnvironment(env), (err: Error) => {
      assert.ok(err instanceof UsageError, `${err.name}: ${err.message}`)
      assert.match(err.message, pattern)
      assert.ok(!err.message.includes(SECRET), err.message)
      return true
    }, JSON.stringify(env))
  }
})

test('ignored: the names set that GDAL reads for HTTP and stores but rasterpipe has no equivalent for, once each', () => {
  const { options, ignored } = optionsFromEnvironment({
    GDAL_HTTP_COOKIEFILE: '/tmp/cookies',
    GDAL_HTTP_UNSAFESSL: 'YES',
    GDAL_HTTP_CONNECTTIMEOUT: '5',
    GDAL_HTTP_VERSION: '2',
    GDAL_HTTP_MULTIPLEX: 'YES',
    CPL_VSIL_CURL_ALLOWED_EXTENSIONS: '.tif',
    CPL_VSIL_CURL_CACHE_SIZE: '100000000',
    GS_OAUTH2_REFRESH_TOKEN: 'not-printed',
    GDAL_PAM_ENABLED: 'YES',
    GDAL_DISABLE_READDIR_ON_OPEN: 'EMPTY_DIR', // the value rasterpipe sets: no loss, not named
    VSI_CACHE: 'TRUE', // GDAL reads it itself for the files it opens
    GDAL_CACHEMAX: '64',
    HTTP_PROXY: 'http://p:3128' // the net part's, not GDAL's
  })
  assert.deepEqual(options, {})
  assert.deepEqual(ignored, ['GDAL_HTTP_COOKIEFILE', 'GDAL_HTTP_CONNECTTIMEOUT', 'GDAL_HTTP_UNSAFESSL', 'GDAL_HTTP_VERSION', 'GDAL_HTTP_MULTIPLEX',
    'GS_OAUTH2_REFRESH_TOKEN', 'GDAL_PAM_ENABLED', 'CPL_VSIL_CURL_ALLOWED_EXTENSIONS', 'CPL_VSIL_CURL_CACHE_SIZE'])
})

test('S3: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then AWS_S3_ENDPOINT; the loser named as ignored', () => {
  assert.equal(s3Endpoint({}), undefined)
  assert.deepEqual(s3Endpoint({ AWS_S3_ENDPOINT: 'minio:9000' }), { url: new URL('https://minio:9000'), from: 'AWS_S3_ENDPOINT' })
  assert.deepEqual(s3Endpoint({ AWS_S3_ENDPOINT: 'minio:9000', AWS_HTTPS: 'NO' }), { url: new URL('http://minio:9000'), from: 'AWS_S3_ENDPOINT' })
  assert.deepEqual(s3Endpoint({ AWS_S3_ENDPOINT: 'http://minio:9000' }), { url: new URL('http://minio:9000'), from: 'AWS_S3_ENDPOINT' })
  assert.equal(s3Endpoint({ AWS_S3_ENDPOINT: 'a:1', AWS_ENDPOINT_URL: 'http://b:2' })?.from, 'AWS_ENDPOINT_URL')
  assert.equal(s3Endpoint({ AWS_S3_ENDPOINT: 'a:1', AWS_ENDPOINT_URL: 'http://b:2', AWS_ENDPOINT_URL_S3: 'http://c:3' })?.url.host, 'c:3')
  assert.deepEqual(optionsFromEnvironment({ AWS_S3_ENDPOINT: 'a:1', AWS_HTTPS: 'NO', AWS_ENDPOINT_URL: 'http://b:2' }).ignored, ['AWS_S3_ENDPOINT', 'AWS_HTTPS'])
  assert.deepEqual(optionsFromEnvironment({ AWS_S3_ENDPOINT: 'a:1', AWS_HTTPS: 'NO', AWS_VIRTUAL_HOSTING: 'FALSE' }), { options: {}, ignored: [] })
})

test('S3 addresses: virtual-hosted as GDAL by default with AWS_S3_ENDPOINT, path-style with AWS_VIRTUAL_HOSTING=FALSE or AWS_ENDPOINT_URL, http with AWS_HTTPS=NO', () => {
  const address = (env: Record<string, string>, bucket = 'rasters', key = 'a b/c.tif'): string =>
    s3Address(s3Settings({ AWS_NO_SIGN_REQUEST: 'YES', ...env }, { requesterPays: false, noSign: true }, new Secrets()), bucket, key, 'eu-west-1')
  assert.equal(address({}), 'https://rasters.s3.eu-west-1.amazonaws.com/a%20b/c.tif')
  assert.equal(address({ AWS_VIRTUAL_HOSTING: 'FALSE' }), 'https://s3.eu-west-1.amazonaws.com/rasters/a%20b/c.tif')
  assert.equal(address({ AWS_HTTPS: 'NO' }), 'http://rasters.s3.eu-west-1.amazonaws.com/a%20b/c.tif')
  assert.equal(address({ AWS_S3_ENDPOINT: 'minio.lan:9000' }), 'https://rasters.minio.lan:9000/a%20b/c.tif')
  assert.equal(address({ AWS_S3_ENDPOINT: 'minio.lan:9000', AWS_HTTPS: 'NO', AWS_VIRTUAL_HOSTING: 'FALSE' }), 'http://minio.lan:9000/rasters/a%20b/c.tif')
  assert.equal(address({ AWS_S3_ENDPOINT: 'minio.lan:9000', AWS_VIRTUAL_HOSTING: 'NO' }), 'https://minio.lan:9000/rasters/a%20b/c.tif')
  // A bucket name that cannot be a host name goes path-style whatever is asked.
  assert.equal(address({ AWS_S3_ENDPOINT: 'minio.lan:9000', AWS_VIRTUAL_HOSTING: 'TRUE' }, 'my.bucket'), 'https://minio.lan:9000/my.bucket/a%20b/c.tif')
  assert.equal(address({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' }), 'http://127.0.0.1:9000/rasters/a%20b/c.tif')
  // An IP address has no names under it: path-style, where GDAL would ask rasters.127.0.0.1 and fail.
  assert.equal(address({ AWS_S3_ENDPOINT: '127.0.0.1:9000', AWS_HTTPS: 'NO' }), 'http://127.0.0.1:9000/rasters/a%20b/c.tif')
  assert.equal(address({ AWS_S3_ENDPOINT: '[::1]:9000', AWS_HTTPS: 'NO' }), 'http://[::1]:9000/rasters/a%20b/c.tif')
  assert.equal(address({ AWS_S3_ENDPOINT: 'localhost:9000', AWS_HTTPS: 'NO' }), 'http://rasters.localhost:9000/a%20b/c.tif')
  assert.equal(address({ AWS_ENDPOINT_URL_S3: 'https://store.lan/prefix/', AWS_VIRTUAL_HOSTING: 'TRUE' }), 'https://rasters.store.lan/prefix/a%20b/c.tif')
  // AWS_HTTPS does not change a full URL's scheme.
  assert.equal(address({ AWS_ENDPOINT_URL: 'https://store.lan', AWS_HTTPS: 'NO' }), 'https://store.lan/rasters/a%20b/c.tif')
})

test('beneath: the caller\'s options over the environment\'s; undefined leaves the environment\'s; headers merge by name', () => {
  const env = optionsFromEnvironment({ GDAL_HTTP_MAX_RETRY: '2', GDAL_HTTP_TIMEOUT: '9', GDAL_HTTP_HEADERS: 'X-A: env,X-B: env' }).options
  const merged = beneath(env, { retries: 5, timeout: undefined, headers: ['X-B: flag', 'X-C: flag'] })
  assert.deepEqual(merged, { retries: 5, timeout: 9, headers: { 'x-a': 'env', 'x-b': 'flag', 'x-c': 'flag' } })
  assert.deepEqual(beneath({}, { headers: ['X-C: flag'] }).headers, ['X-C: flag'])
  // A bad -H is left to resolveOptions, which names the option.
  assert.deepEqual(beneath(env, { headers: ['no colon'] }).headers, ['no colon'])
})
