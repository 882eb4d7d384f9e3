// s3:// sources, and gs:// through Cloud Storage's S3-compatible XML API: the HTTPS address to ask
// (virtual-hosted on AWS, path-style on a custom endpoint) and every request signed with AWS Signature V4
// by @smithy/signature-v4, the credentials from the AWS default chain (or GDAL's GS_* HMAC keys).
import { isIP } from 'node:net'
import { awsSdk } from './sdks.js'
import { RecordError } from '../core/errors.js'
import { yes } from './flags.js'
import type { Headers, RequestAuth } from '../http/response.js'
import type { Secrets } from '../http/redact.js'
import { option, words } from '../core/words.js'

export interface S3Settings {
  scheme: 's3' | 'gs'
  /** Signing region until a bucket's own is learnt. */
  region: string
  /** A custom endpoint (S3-compatible stores, emulators). */
  endpoint?: URL
  /** Buckets whose names can be host names are asked at BUCKET.HOST (virtual hosting), others path-style. */
  virtualHosting: boolean
  /** AWS's own endpoints over http (AWS_HTTPS=NO without an endpoint, as GDAL allows); default https. */
  insecure?: boolean
  requesterPays: boolean
  /** Public buckets: no Authorization at all. */
  noSign: boolean
  /** Where the credentials come from, for messages (never the secret). */
  source: string
  credentials?: () => Promise<AwsCredentialIdentity>
}

type Env = NodeJS.ProcessEnv

/** What the AWS credential providers give (as @smithy/types has it). */
export interface AwsCredentialIdentity {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  expiration?: Date
}

/** The settings of s3:// sources, from the environment AWS's tools and GDAL read, and the options. */
export function s3Settings (env: Env, o: { requesterPays: boolean, noSign: boolean }, secrets: Secrets): S3Settings {
  const endpoint = s3Endpoint(env)
  const virtual = env.AWS_VIRTUAL_HOSTING ? gdalTrue(env.AWS_VIRTUAL_HOSTING) : undefined
  const settings: S3Settings = {
    scheme: 's3',
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    // Unset: as each variable's own tool addresses a bucket (AWS: virtual; GDAL's AWS_S3_ENDPOINT:
    // virtual, its default TRUE; AWS_ENDPOINT_URL: path-style, what S3-compatible stores all take).
    virtualHosting: virtual ?? (endpoint === undefined || endpoint.from === 'AWS_S3_ENDPOINT'),
    requesterPays: o.requesterPays || env.AWS_REQUEST_PAYER === 'requester',
    noSign: o.noSign || yes(env.AWS_NO_SIGN_REQUEST),
    source: env.AWS_ACCESS_KEY_ID ? 'the environment (AWS_ACCESS_KEY_ID)'
      : env.AWS_PROFILE ? `profile '${env.AWS_PROFILE}'`
        : 'the default chain (profile default, web identity, container or instance metadata)'
  }
  if (endpoint) settings.endpoint = endpoint.url
  else if (env.AWS_HTTPS && !gdalTrue(env.AWS_HTTPS)) settings.insecure = true
  if (!settings.noSign) settings.credentials = refreshing(keysIn(env) ?? awsSdk().fromNodeProviderChain(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}), secrets)
  return settings
}

/**
 * Keys given in `env` itself, first as in the SDK's chain (its fromEnv reads process.env alone): so that
 * the run's environment with --config on top (AWS_ACCESS_KEY_ID=…, as GDAL's --config takes them) counts.
 */
function keysIn (env: Env): (() => Promise<AwsCredentialIdentity>) | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY
  // As the chain does: a profile named skips the keys in the environment.
  if (!accessKeyId || !secretAccessKey || env.AWS_PROFILE) return undefined
  const sessionToken = env.AWS_SESSION_TOKEN || undefined
  return async () => ({ accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) })
}

/** gs:// through the XML API with HMAC keys (the variables GDAL's /vsigs/ reads). */
export function gsSettings (env: Env, o: { noSign: boolean }, secrets: Secrets): S3Settings {
  const settings: S3Settings = {
    scheme: 'gs',
    region: 'auto',
    endpoint: endpointUrl(env.CPL_GS_ENDPOINT || 'https://storage.googleapis.com', 'CPL_GS_ENDPOINT'),
    virtualHosting: false,
    requesterPays: false,
    noSign: o.noSign || yes(env.GS_NO_SIGN_REQUEST),
    source: 'the environment (GS_ACCESS_KEY_ID)'
  }
  const accessKeyId = env.GS_ACCESS_KEY_ID
  const secretAccessKey = env.GS_SECRET_ACCESS_KEY
  if (!settings.noSign) {
    settings.credentials = async () => {
      if (!accessKeyId || !secretAccessKey) throw new NoCredentials('GS_ACCESS_KEY_ID and GS_SECRET_ACCESS_KEY are not set')
      secrets.add(secretAccessKey)
      return { accessKeyId, secretAccessKey }
    }
  }
  return settings
}

/**
 * The custom S3 endpoint, and the variable it came from: the AWS CLI's AWS_ENDPOINT_URL_S3, then its
 * AWS_ENDPOINT_URL (full URLs), then GDAL's AWS_S3_ENDPOINT (host[:port], over https unless AWS_HTTPS=NO;
 * a URL with its scheme is taken as well). AWS's own first: rasterpipe's S3 client is the AWS SDK's
 * chain, and each tool reads only its own, so the one that names a whole URL decides.
 */
export function s3Endpoint (env: Env): { url: URL, from: string } | undefined {
  for (const from of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
    const text = env[from]
    if (text) return { url: endpointUrl(text, from), from }
  }
  const host = env.AWS_S3_ENDPOINT?.trim()
  if (!host) return undefined
  const scheme = env.AWS_HTTPS && !gdalTrue(env.AWS_HTTPS) ? 'http' : 'https'
  let url: URL | undefined
  try {
    url = new URL(/^[a-z]+:\/\//i.test(host) ? host : `${scheme}://${host}`)
  } catch { /* said below */ }
  if (!url || !/^https?:$/.test(url.protocol) || url.hostname === '' || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new RecordError('fetch', 'BAD_URL', 'AWS_S3_ENDPOINT: is not host[:port] (as GDAL takes it: s3.example.com, 127.0.0.1:9000)')
  }
  return { url, from: 'AWS_S3_ENDPOINT' }
}

/** A boolean as GDAL reads it (CPLTestBool): NO, FALSE, OFF and 0 are false, anything else true. */
function gdalTrue (value: string): boolean {
  return !/^(no|false|off|0)$/i.test(value.trim())
}

function endpointUrl (text: string, name: string): URL {
  try {
    return new URL(/^[a-z]+:\/\//i.test(text) ? text : `https://${text}`)
  } catch {
    throw new RecordError('fetch', 'BAD_URL', `${name} is not a URL`)
  }
}

class NoCredentials extends Error {}

/**
 * Credentials fetched once and again shortly before they expire (temporary ones from a role, SSO or
 * instance metadata), not for every request. Their secret parts join the run's secrets as they come.
 */
function refreshing (provider: () => Promise<AwsCredentialIdentity>, secrets: Secrets): () => Promise<AwsCredentialIdentity> {
  let current: Promise<AwsCredentialIdentity> | undefined
  let expires = Infinity
  return async () => {
    if (!current || expires - Date.now() < 5 * 60_000) {
      current = provider().then((c) => {
        secrets.add(c.secretAccessKey, c.sessionToken)
        expires = c.expiration?.getTime() ?? Infinity
        return c
      })
      // A failure is not kept: the next request asks the chain again.
      current.catch(() => { current = undefined })
    }
    return current
  }
}

/** Key segments as S3 canonical URIs want them: RFC 3986, `/` kept. */
function encodeKey (key: string): string {
  return key.split('/').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/')
}

const DNS_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/

/**
 * The address of an object: BUCKET.HOST/KEY under virtual hosting, HOST/BUCKET/KEY path-style. Bucket
 * names that cannot be a host name (dots break the TLS wildcard; capitals, underscores) go path-style,
 * and so does every bucket of an endpoint that is an IP address.
 */
export function s3Address (s: Pick<S3Settings, 'endpoint' | 'virtualHosting' | 'insecure'>, bucket: string, key: string, region: string): string {
  // An endpoint given as an IP address has no names under it (GDAL would ask BUCKET.127.0.0.1 anyway).
  const virtual = s.virtualHosting && DNS_BUCKET.test(bucket) && !(s.endpoint && isIP(s.endpoint.hostname.replace(/^\[|\]$/g, '')))
  if (s.endpoint) {
    const base = s.endpoint
    const path = base.pathname.replace(/\/+$/, '')
    return virtual
      ? `${base.protocol}//${bucket}.${base.host}${path}/${encodeKey(key)}`
      : `${base.origin}${path}/${bucket}/${encodeKey(key)}`
  }
  const scheme = s.insecure ? 'http' : 'https'
  return virtual
    ? `${scheme}://${bucket}.s3.${region}.amazonaws.com/${encodeKey(key)}`
    : `${scheme}://s3.${region}.amazonaws.com/${bucket}/${encodeKey(key)}`
}

/** Refusals that are about the credentials, as S3 names them in its error XML. */
const AUTH_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'AuthorizationHeaderMalformed', 'InvalidSecurity', 'AllAccessDisabled'])

/**
 * The request auth of one s3:// (or gs://) URI. Regions learnt from S3's answers are kept per bucket in
 * `regions`, shared by the run.
 */
export function s3Auth (uri: string, s: S3Settings, regions: Map<string, string>): RequestAuth {
  const m = /^[a-z0-9]+:\/\/([^/]+)\/(.+)$/i.exec(uri)
  if (!m) throw new RecordError('input', 'BAD_URL', `${uri}: expected ${s.scheme}://BUCKET/KEY`)
  const [, bucket, key] = m
  const region = (): string => regions.get(bucket) ?? s.region
  const target = (): string => s3Address(s, bucket, key, region())
  return {
    target,
    ownsAuthorization: !s.noSign && s.credentials !== undefined,
    async sign (method, url, headers) {
      const extra: Record<string, string> = {}
      if (s.requesterPays) extra['x-amz-request-payer'] = 'requester'
      if (s.noSign || !s.credentials) return extra
      let credentials: AwsCredentialIdentity
      try {
        credentials = await s.credentials()
      } catch (err) {
        const why = err instanceof Error ? err.message.split('\n')[0] : String(err)
        throw new RecordError('fetch', 'AUTH', words`${uri}: no credentials from ${s.source}: ${why}; use ${option('noSign', true)} for a public bucket`)
      }
      const u = new URL(url)
      const { SignatureV4, Hash } = awsSdk()
      const signer = new SignatureV4({ service: 's3', region: region(), credentials, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: true })
      const signed = await signer.sign({
        method,
        protocol: u.protocol,
        hostname: u.hostname,
        ...(u.port ? { port: Number(u.port) } : {}),
        path: u.pathname,
        query: Object.fromEntries(u.searchParams),
        headers: { ...headers, ...extra, host: u.host }
      })
      const out: Record<string, string> = {}
      for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host' && headers[name] === undefined) out[name] = value
      return out
    },
    redirected (status: number, h: Headers): boolean {
      // S3 names a bucket's region when asked in another one (301 PermanentRedirect, 307, or 400
      // AuthorizationHeaderMalformed): ask again there, signed for it.
      const named = h['x-amz-bucket-region']
      const learnt = Array.isArray(named) ? named[0] : named
      if (![301, 307, 400].includes(status) || !learnt || learnt === region()) return false
      regions.set(bucket, learnt)
      return true
    },
    refused (status: number, body: string): RecordError | undefined {
      const code = /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1]
      if ((status === 401 || status === 403) && (code === undefined || AUTH_CODES.has(code))) {
        const signed = s.noSign ? words`unsigned (${option('noSign', true)})` : `with credentials from ${s.source}`
        const payer = code === 'AccessDenied' && !s.requesterPays ? words`; a requester-pays bucket needs ${option('requesterPays', true)}` : ''
        return new RecordError('fetch', 'AUTH', words`${uri}: the store refused the request ${signed}: HTTP ${status}${code ? ` ${code}` : ''}${payer}`)
      }
      return undefined
    }
  }
}
