// GDAL's and curl's environment variables that a user brings from rio-tiler, titiler or GDAL scripts
// (GDAL_HTTP_HEADERS, GDAL_HTTP_MAX_RETRY, …), as options: the command line's own options win over them.
// Those without an equivalent are named, so that the command can say once that it ignores them.
import { readFileSync, statSync } from 'node:fs'
import type { PipelineInput } from '../core/options.js'
import { RecordError, UsageError } from '../core/errors.js'
import { InvalidValue, parseHeaders } from '../core/request.js'
import { s3Endpoint } from '../store/s3.js'
import { proxyAddress } from '../http/proxy.js'
import { unreadable } from '../core/words.js'
import { OWN_CONFIG } from '../raster/gdal.js'

export interface EnvironmentOptions {
  /** Options the environment gives, to lie beneath the command line's. */
  options: PipelineInput
  /** Variables that are set and mean something to GDAL, but have no equivalent here. */
  ignored: string[]
}

type Env = NodeJS.ProcessEnv

/**
 * GDAL's variables for its HTTP and cloud access that rasterpipe's own client has no equivalent for (it
 * does not use libcurl or GDAL's /vsicurl/): set, they would change nothing, so the run says so once.
 */
const NO_EQUIVALENT = [
  // Cookies from or to a file; a connect timeout apart from --timeout (which covers the connect too);
  // libcurl's low-speed abort (--timeout and --max-time bound a stalled or trickling body instead).
  'GDAL_HTTP_COOKIEFILE', 'GDAL_HTTP_COOKIEJAR', 'GDAL_HTTP_CONNECTTIMEOUT', 'GDAL_HTTP_LOW_SPEED_LIMIT', 'GDAL_HTTP_LOW_SPEED_TIME',
  // TLS: certificates are always verified (--cacert for a private authority); no client certificates.
  'GDAL_HTTP_UNSAFESSL', 'GDAL_HTTP_SSL_VERIFYSTATUS', 'GDAL_HTTP_USE_CAPI_STORE', 'GDAL_HTTP_CAPATH',
  'GDAL_HTTP_SSLCERT', 'GDAL_HTTP_SSLCERTTYPE', 'GDAL_HTTP_SSLKEY', 'GDAL_HTTP_KEYPASSWD',
  // Connections: HTTP/1.1 through undici with its own keep-alive; ranges are rasterpipe's own plan.
  'GDAL_HTTP_VERSION', 'GDAL_HTTP_MULTIPLEX', 'GDAL_HTTP_MULTIRANGE', 'GDAL_HTTP_MERGE_CONSECUTIVE_RANGES',
  'GDAL_HTTP_TCP_KEEPALIVE', 'GDAL_HTTP_TCP_KEEPIDLE', 'GDAL_HTTP_TCP_KEEPINTVL',
  'GDAL_HTTP_MAX_CACHED_CONNECTIONS', 'GDAL_HTTP_MAX_TOTAL_CONNECTIONS',
  // Which statuses are retried is rasterpipe's (408, 425, 429, 5xx but 501).
  'GDAL_HTTP_RETRY_CODES', 'GDAL_GSSAPI_DELEGATION', 'CPL_CURL_GZIP', 'CPL_CURL_VERBOSE', 'GDAL_INGESTED_BYTES_AT_OPEN',
  // Stores: GDAL's own credential sources that the AWS SDK's chain and the HMAC keys do not cover, and
  // its upload part sizes (rasterpipe's are 8 MiB).
  'CPL_AWS_CREDENTIALS_FILE', 'CPL_AWS_AUTODETECT_EC2', 'VSIS3_CHUNK_SIZE', 'VSIGS_CHUNK_SIZE', 'VSIAZ_CHUNK_SIZE',
  'GS_OAUTH2_REFRESH_TOKEN', 'GS_OAUTH2_CLIENT_ID', 'GS_OAUTH2_CLIENT_SECRET', 'GS_OAUTH2_PRIVATE_KEY',
  'GS_OAUTH2_PRIVATE_KEY_FILE', 'GS_OAUTH2_CLIENT_EMAIL', 'GS_OAUTH2_SCOPE', 'GS_USER_PROJECT', 'CPL_GS_CREDENTIALS_FILE',
  'CPL_MACHINE_IS_GCE'
]
/** /vsicurl/'s own tuning (CPL_VSIL_CURL_ALLOWED_EXTENSIONS, _CACHE_SIZE, _CHUNK_SIZE, _USE_HEAD, …). */
const NO_EQUIVALENT_PREFIX = 'CPL_VSIL_CURL_'

/** The first of the CA bundle variables that is set wins: curl's and GDAL's two, then the AWS CLI's. */
const CA_BUNDLE = ['CURL_CA_BUNDLE', 'SSL_CERT_FILE', 'AWS_CA_BUNDLE'] as const

function fail (name: string, why: string): never {
  throw new UsageError(`${name}: ${why}`)
}

/** A value that is not a secret may be quoted in a message, shortened. */
function quoted (value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
}

/** YES/NO as GDAL writes its booleans (CPLTestBool), but strict: a typo is an error, not a silent YES. */
function gdalBoolean (value: string, name: string): boolean {
  if (/^(yes|true|on|1)$/i.test(value.trim())) return true
  if (/^(no|false|off|0)$/i.test(value.trim())) return false
  fail(name, `must be YES or NO (or TRUE/FALSE, ON/OFF, 1/0), got ${quoted(value)}`)
}

function seconds (value: string, name: string, zero: boolean): number {
  const n = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isFinite(n) || (!zero && n === 0)) fail(name, `must be a number of seconds${zero ? '' : ' above 0'}, got ${quoted(value)}`)
  return n
}

/**
 * GDAL_HTTP_HEADERS as GDAL documents it (3.6): a comma-separated list where a "quoted" item may hold
 * commas, with \" and \\ escaped inside the quotes; or lines (CRLF, or LF). As later GDALs read it (3.6.2
 * splits lines at commas too), lines split only at line breaks, and text with no colon after its first
 * comma is one header (`Accept: text/plain, application/json`).
 * Returns 'Name: value' strings; never echoes a value in its complaints.
 */
export function splitGdalHeaders (text: string): string[] {
  if (/\n/.test(text)) return text.split(/\r?\n/).filter((line) => line.trim() !== '')
  const comma = text.indexOf(',')
  if (comma >= 0 && !text.slice(comma).includes(':')) return [text]
  const out: string[] = []
  let token = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (!quoted && c === ',') {
      out.push(token)
      token = ''
    } else if (c === '"') {
      quoted = !quoted
    } else if (quoted && c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
      token += text[++i]
    } else {
      token += c
    }
  }
  if (quoted) throw new InvalidValue('a double quote is not closed')
  out.push(token)
  return out.filter((t) => t.trim() !== '')
}

function headersFrom (name: string, lines: string[]): Record<string, string> {
  try {
    return parseHeaders(lines.map((line) => line.trim()))
  } catch (err) {
    if (err instanceof InvalidValue) fail(name, err.message)
    throw err
  }
}

function readable (path: string, name: string): string {
  let isFile: boolean
  try {
    isFile = statSync(path).isFile()
  } catch (err) {
    fail(name, `cannot read '${path}': ${unreadable(err)}`)
  }
  if (!isFile) fail(name, `'${path}' is not a file`)
  return path
}

/**
 * A proxy as libcurl takes it (http/proxy.ts's proxyAddress: no port means 1080). Credentials from
 * GDAL_HTTP_PROXYUSERPWD go into the URL (the net part keeps them secret).
 */
function proxyUrl (value: string, name: string, userpwd: string | undefined): string {
  let u: URL
  try {
    u = proxyAddress(value)
  } catch (err) {
    fail(name, (err as Error).message)
  }
  if (userpwd !== undefined) {
    const at = userpwd.indexOf(':')
    u.username = encodeURIComponent(at < 0 ? userpwd : userpwd.slice(0, at))
    u.password = at < 0 ? '' : encodeURIComponent(userpwd.slice(at + 1))
  }
  // A bare origin: no trailing slash (as HTTP_PROXY is usually written).
  return u.pathname === '/' && u.search === '' ? u.href.replace(/\/$/, '') : u.href
}

/**
 * The options GDAL's variables in `env` give, and the names of those set that have no equivalent. Bad
 * values are usage errors naming the variable; a value that may be a secret (headers, cookies,
 * credentials, proxies) is never quoted.
 */
export function optionsFromEnvironment (env: Env = process.env): EnvironmentOptions {
  const options: PipelineInput = {}
  const ignored: string[] = []
  const get = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v === '' ? undefined : v
  }

  const retries = get('GDAL_HTTP_MAX_RETRY')
  if (retries !== undefined) {
    if (!/^\s*\d+\s*$/.test(retries) || !Number.isSafeInteger(Number(retries))) fail('GDAL_HTTP_MAX_RETRY', `must be a whole number of retries (0 or more), got ${quoted(retries)}`)
    options.retries = Number(retries)
  }
  const delay = get('GDAL_HTTP_RETRY_DELAY')
  if (delay !== undefined) options.retryBaseMs = Math.round(seconds(delay, 'GDAL_HTTP_RETRY_DELAY', true) * 1000)
  const timeout = get('GDAL_HTTP_TIMEOUT')
  if (timeout !== undefined) options.timeout = seconds(timeout, 'GDAL_HTTP_TIMEOUT', false)

  // Headers: the user agent, cookie and credentials first, then the header file, then GDAL_HTTP_HEADERS
  // on top (as libcurl lets a header given whole replace one it would make itself).
  const headers: Record<string, string> = {}
  const userAgent = get('GDAL_HTTP_USERAGENT')
  if (userAgent !== undefined) Object.assign(headers, headersFrom('GDAL_HTTP_USERAGENT', [`User-Agent: ${userAgent}`]))
  const cookie = get('GDAL_HTTP_COOKIE')
  if (cookie !== undefined) Object.assign(headers, headersFrom('GDAL_HTTP_COOKIE', [`Cookie: ${cookie}`]))
  Object.assign(headers, serverAuth(env, ignored))
  const headerFile = get('GDAL_HTTP_HEADER_FILE')
  if (headerFile !== undefined) {
    let text: string
    try {
      text = readFileSync(readable(headerFile, 'GDAL_HTTP_HEADER_FILE'), 'utf8')
    } catch (err) {
      if (err instanceof UsageError) throw err
      fail('GDAL_HTTP_HEADER_FILE', `cannot read '${headerFile}': ${unreadable(err)}`)
    }
    Object.assign(headers, headersFrom('GDAL_HTTP_HEADER_FILE', text.split(/\r?\n/).filter((line) => line.trim() !== '')))
  }
  const gdalHeaders = get('GDAL_HTTP_HEADERS')
  if (gdalHeaders !== undefined) {
    let lines: string[]
    try {
      lines = splitGdalHeaders(gdalHeaders)
    } catch (err) {
      if (err instanceof InvalidValue) fail('GDAL_HTTP_HEADERS', err.message)
      throw err
    }
    Object.assign(headers, headersFrom('GDAL_HTTP_HEADERS', lines))
  }
  if (Object.keys(headers).length > 0) options.headers = headers

  const proxy = chooseProxy(env, ignored)
  if (proxy !== undefined) options.proxy = proxy

  // GDAL reads ~/.netrc unless told not to; rasterpipe, as curl, only when asked (README, "Environment variables").
  const netrc = get('GDAL_HTTP_NETRC')
  const netrcOn = netrc === undefined ? undefined : gdalBoolean(netrc, 'GDAL_HTTP_NETRC')
  const netrcFile = get('GDAL_HTTP_NETRC_FILE')
  if (netrcOn === false) {
    options.netrc = false
  } else if (netrcFile !== undefined) {
    options.netrcFile = readable(netrcFile, 'GDAL_HTTP_NETRC_FILE')
    options.netrc = true
  } else if (netrcOn === true) {
    options.netrc = true
  }

  const ca = CA_BUNDLE.find((name) => get(name) !== undefined)
  if (ca !== undefined) options.caBundle = readable(env[ca] as string, ca)

  checkStoreVariables(env, ignored)

  for (const name of NO_EQUIVALENT) if (get(name) !== undefined) ignored.push(name)
  // rasterpipe sets these after GDAL has read its environment (lib/raster/gdal.ts): a value here is lost.
  for (const name of Object.keys(OWN_CONFIG)) if (get(name) !== undefined && get(name)?.toUpperCase() !== OWN_CONFIG[name].value) ignored.push(name)
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith(NO_EQUIVALENT_PREFIX) && get(name) !== undefined) ignored.push(name)
  }
  return { options, ignored: [...new Set(ignored)] }
}

/**
 * A caller's options (the command line's) over the environment's: a key given (not undefined) replaces
 * the environment's, except headers, which merge by name with the caller's winning (as -H over
 * GDAL_HTTP_HEADERS). Headers that do not parse are left for resolveOptions to refuse by their option.
 */
export function beneath (environment: PipelineInput, own: PipelineInput): PipelineInput {
  const merged: PipelineInput = { ...environment }
  for (const [key, value] of Object.entries(own)) if (value !== undefined) (merged as Record<string, unknown>)[key] = value
  if (environment.headers !== undefined && own.headers !== undefined) {
    try {
      merged.headers = { ...parseHeaders(environment.headers), ...parseHeaders(own.headers) }
    } catch (err) {
      if (!(err instanceof InvalidValue)) throw err
    }
  }
  return merged
}

/**
 * GDAL_HTTP_USERPWD (Basic, libcurl's default and what GDAL_HTTP_AUTH=BASIC or ANY lead to) and
 * GDAL_HTTP_BEARER (with GDAL_HTTP_AUTH=BEARER or unset) as an Authorization header, which goes to each
 * URL's own origin only. Other methods (NTLM, NEGOTIATE, ANYSAFE) are not rasterpipe's: ignored.
 */
function serverAuth (env: Env, ignored: string[]): Record<string, string> {
  const auth = env.GDAL_HTTP_AUTH?.trim().toUpperCase() || undefined
  const userpwd = env.GDAL_HTTP_USERPWD || undefined
  const bearer = env.GDAL_HTTP_BEARER || undefined
  if (userpwd !== undefined && (auth === undefined || auth === 'BASIC' || auth === 'ANY')) {
    if (bearer !== undefined) ignored.push('GDAL_HTTP_BEARER')
    return headersFrom('GDAL_HTTP_USERPWD', [`Authorization: Basic ${Buffer.from(userpwd.includes(':') ? userpwd : `${userpwd}:`).toString('base64')}`])
  }
  if (bearer !== undefined && (auth === undefined || auth === 'BEARER')) {
    if (userpwd !== undefined) ignored.push('GDAL_HTTP_USERPWD')
    return headersFrom('GDAL_HTTP_BEARER', [`Authorization: Bearer ${bearer}`])
  }
  if (auth !== undefined) ignored.push('GDAL_HTTP_AUTH')
  if (userpwd !== undefined) ignored.push('GDAL_HTTP_USERPWD')
  if (bearer !== undefined) ignored.push('GDAL_HTTP_BEARER')
  return {}
}

/**
 * rasterpipe takes one proxy for every request. GDAL_HTTPS_PROXY (for https:// URLs, most of what is
 * read: stores, COG hosts) wins when both are set and differ; GDAL_HTTP_PROXY is then named as ignored.
 */
function chooseProxy (env: Env, ignored: string[]): string | undefined {
  const http = env.GDAL_HTTP_PROXY || undefined
  const https = env.GDAL_HTTPS_PROXY || undefined
  const userpwd = env.GDAL_HTTP_PROXYUSERPWD || undefined
  const method = env.GDAL_PROXY_AUTH?.trim().toUpperCase() || undefined
  if (http === undefined && https === undefined) {
    if (userpwd !== undefined) ignored.push('GDAL_HTTP_PROXYUSERPWD')
    if (method !== undefined) ignored.push('GDAL_PROXY_AUTH')
    return undefined
  }
  // Credentials go to the proxy as Basic: other methods are not rasterpipe's.
  if (method !== undefined && method !== 'BASIC' && method !== 'ANY') ignored.push('GDAL_PROXY_AUTH')
  const name = https !== undefined ? 'GDAL_HTTPS_PROXY' : 'GDAL_HTTP_PROXY'
  const chosen = proxyUrl((https ?? http) as string, name, userpwd)
  if (https !== undefined && http !== undefined && proxyUrl(http, 'GDAL_HTTP_PROXY', userpwd) !== chosen) ignored.push('GDAL_HTTP_PROXY')
  return chosen
}

/**
 * The S3 variables lib/store/s3.ts reads when the first s3:// URL comes, checked now so that a typo is
 * one usage error before the run rather than an error per record; those that another variable
 * overrides are named as ignored.
 */
function checkStoreVariables (env: Env, ignored: string[]): void {
  for (const name of ['AWS_HTTPS', 'AWS_VIRTUAL_HOSTING']) {
    const v = env[name]
    if (v !== undefined && v !== '') gdalBoolean(v, name)
  }
  let endpoint
  try {
    endpoint = s3Endpoint(env)
  } catch (err) {
    if (err instanceof RecordError) throw new UsageError(err.message)
    throw err
  }
  if (endpoint !== undefined && endpoint.from !== 'AWS_S3_ENDPOINT') {
    if (env.AWS_S3_ENDPOINT) ignored.push('AWS_S3_ENDPOINT')
    if (env.AWS_HTTPS) ignored.push('AWS_HTTPS')
  }
}
