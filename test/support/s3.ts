// The loopback S3 the tests start: s3rver (a real S3-protocol server, data in a temp dir) behind a front
// that checks every request's AWS Signature V4 (and GOOG1, GDAL's /vsigs/ HMAC signature) with its own
// implementation of the spec, answers S3's error XML, injects faults, counts requests per key, and fixes
// what s3rver gets wrong about ranges and conditional GETs.
import { createServer, request as httpRequest, Agent, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import s3rverAccount from 's3rver/lib/models/account.js'

/** A fault for a path's requests; with `on`, only for requests of that method (a multipart upload's PUTs). */
export type S3Fault = S3FaultKind & { on?: string }

type S3FaultKind =
  /** 503 with S3's SlowDown error: what S3 answers to too high a request rate, and clients retry. */
  | { kind: 'slowdown' }
  /** Any status, with S3's error XML (the code defaults from the status). */
  | { kind: 'status', status: number, code?: string, message?: string, headers?: Record<string, string> }
  /** 301 PermanentRedirect: the bucket lives in `region` (header x-amz-bucket-region and XML Endpoint). */
  | { kind: 'wrong-region', region: string, endpoint?: string }
  /** A redirect to another origin, e.g. 307 TemporaryRedirect to `to` (a full URL). */
  | { kind: 'redirect', to: string, status?: number }
  /** Resets the connection without an answer. */
  | { kind: 'reset' }

export interface S3Stats {
  requests: number
  /** Body bytes sent to clients. */
  bytes: number
  /** Range headers received, in order. */
  ranges: string[]
  /** Requests by method: GET, HEAD, PUT, POST, DELETE. */
  methods: Record<string, number>
  /** Multipart: POST ?uploads (initiate), PUT ?partNumber (parts), POST ?uploadId (complete). */
  multipart: { initiated: number, parts: number, completed: number }
  /** Statuses answered, in order. */
  statuses: number[]
  /** S3 error codes answered (the front's own and s3rver's), in order. */
  errors: string[]
  /** Headers of the last request, as received. */
  lastHeaders: IncomingHttpHeaders | null
}

export interface S3Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface S3Options {
  accessKeyId?: string
  secretAccessKey?: string
  /** When set, every signed request must carry it (x-amz-security-token), as with temporary credentials. */
  sessionToken?: string
  region?: string
  /** Buckets created at start. */
  buckets?: string[]
}

export interface S3Fixture {
  /** http://127.0.0.1:PORT */
  endpoint: string
  /** 127.0.0.1:PORT, as AWS_S3_ENDPOINT wants it. */
  host: string
  port: number
  region: string
  credentials: S3Credentials
  /** s3rver's own address, behind the front (unchecked, uncounted: for diagnosis and close tests). */
  backendEndpoint: string
  /** Where s3rver keeps the objects; removed by close. */
  directory: string
  /** Path-style URL of an object: http://127.0.0.1:PORT/bucket/key (key segments encoded). */
  url: (bucket: string, key: string) => string
  createBucket: (bucket: string) => Promise<void>
  putObject: (bucket: string, key: string, body: Buffer | string) => Promise<{ etag: string }>
  putFile: (bucket: string, key: string, file: string) => Promise<{ etag: string }>
  getObject: (bucket: string, key: string) => Promise<Buffer>
  /** Keys in a bucket, optionally under a prefix. */
  list: (bucket: string, prefix?: string) => Promise<string[]>
  /** Queues faults for the next requests to 'bucket/key' (or 'bucket' for bucket-level requests). */
  fault: (path: string, ...faults: S3Fault[]) => void
  /** A fault for every request to a path, not consumed. */
  always: (path: string, fault: S3Fault) => void
  /** Lets unsigned requests reach this bucket (for --no-sign); signed ones are still checked. */
  setPublic: (bucket: string, yes?: boolean) => void
  /** Requires `x-amz-request-payer: requester` on every request to this bucket, else 403 AccessDenied. */
  setRequesterPays: (bucket: string, yes?: boolean) => void
  /** Stats for 'bucket/key' or 'bucket'. */
  stats: (path: string) => S3Stats
  totalRequests: () => number
  /** Every error code the front or s3rver answered, with its path, in order. */
  errors: () => Array<{ path: string, status: number, code: string }>
  /** Clears stats and faults (not objects, buckets or bucket flags). */
  reset: () => void
  /** Environment for GDAL's /vsis3/ to reach the front with the fixture's credentials. */
  gdalEnv: (overrides?: Record<string, string>) => Record<string, string>
  /** Environment for GDAL's /vsigs/ (GOOG1 HMAC keys) to reach the front: the same key pair. */
  gdalGsEnv: (overrides?: Record<string, string>) => Record<string, string>
  close: () => Promise<void>
}

const DEFAULT_CODES: Record<number, [string, string]> = {
  400: ['InvalidRequest', 'Bad request.'],
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  409: ['OperationAborted', 'A conflicting conditional operation is currently in progress.'],
  412: ['PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'],
  416: ['InvalidRange', 'The requested range is not satisfiable'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  501: ['NotImplemented', 'A header you provided implies functionality that is not implemented.'],
  503: ['ServiceUnavailable', 'Please reduce your request rate.']
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

function errorXml (code: string, message: string, extra: Record<string, string> = {}): string {
  const fields = Object.entries(extra).map(([k, v]) => `<${k}>${escapeXml(v)}</${k}>`).join('')
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>${fields}<RequestId>0000000000000000</RequestId></Error>`
}

/** An S3 error answer from the front, thrown by the checks and written by the handler. */
class S3Reject extends Error {
  constructor (readonly status: number, readonly code: string, message: string,
    readonly extra: Record<string, string> = {}, readonly headers: Record<string, string> = {}) {
    super(message)
  }
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters, and '/' only if asked. */
function uriEncode (s: string, slash = true): string {
  let out = ''
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte)
    if (/[A-Za-z0-9\-._~]/.test(c) || (!slash && c === '/')) out += c
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

function safeDecode (s: string): string {
  try { return decodeURIComponent(s) } catch { return s }
}

/** The canonical URI: S3 decodes the path once and encodes each segment again (no double encoding). */
function canonicalUri (rawPath: string): string {
  return rawPath.split('/').map((seg) => uriEncode(safeDecode(seg))).join('/') || '/'
}

/** The canonical query: pairs decoded, re-encoded, sorted by key then value; `omit` left out. */
function canonicalQuery (rawQuery: string, omit?: string): string {
  if (rawQuery === '') return ''
  const pairs = rawQuery.split('&').filter((p) => p !== '').map((p) => {
    const at = p.indexOf('=')
    const k = at < 0 ? p : p.slice(0, at)
    const v = at < 0 ? '' : p.slice(at + 1)
    return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))] as const
  }).filter(([k]) => k !== omit)
  pairs.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0)
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

/** Header values by lower-case name from the raw headers: repeated headers joined by ',' as SigV4 says. */
function rawHeaderMap (raw: string[]): Map<string, string> {
  const map = new Map<string, string[]>()
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    const value = raw[i + 1].trim().replace(/\s+/g, ' ')
    map.set(name, [...(map.get(name) ?? []), value])
  }
  return new Map([...map].map(([k, v]) => [k, v.join(',')]))
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest()

function sameSecret (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** YYYYMMDDTHHMMSSZ, or an HTTP date, to a time; NaN when neither. */
function parseAmzDate (s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s)
  if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
  return Date.parse(s)
}

interface SigV4Parts {
  accessKeyId: string
  scope: string[]
  signedHeaders: string
  signature: string
  amzDate: string
  payloadHash: string
}

/** Fixtures alive per access key id, registered with s3rver. */
const registered = new Map<string, number>()

export async function startS3 (options: S3Options = {}): Promise<S3Fixture> {
  const credentials: S3Credentials = {
    accessKeyId: options.accessKeyId ?? 'AKIARASTERPIPETEST01',
    secretAccessKey: options.secretAccessKey ?? 'rasterpipe/test/secret+key/0123456789abcd',
    ...(options.sessionToken ? { sessionToken: options.sessionToken } : {})
  }
  const region = options.region ?? 'us-east-1'
  const dir = mkdtempSync(join(tmpdir(), 'rp-s3-'))
  // s3rver checks only that a V4 request's key id is one it knows (it never verifies V4 signatures), so
  // the fixture's key is registered with it and requests go to it unchanged.
  s3rverAccount.DUMMY_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey)
  registered.set(credentials.accessKeyId, (registered.get(credentials.accessKeyId) ?? 0) + 1)
  const backend = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, vhostBuckets: false })
  const { port: backendPort } = await backend.run()
  // The front's connections to s3rver, destroyed on close so that s3rver's close does not wait for them.
  const agent = new Agent({ keepAlive: true })

  const queued = new Map<string, S3Fault[]>()
  const standing = new Map<string, S3Fault>()
  const stats = new Map<string, S3Stats>()
  const publicBuckets = new Set<string>()
  const payerBuckets = new Set<string>()
  const allErrors: Array<{ path: string, status: number, code: string }> = []
  const sockets = new Set<Socket>()
  let total = 0

  const statsFor = (path: string): S3Stats => {
    let s = stats.get(path)
    if (!s) {
      stats.set(path, s = {
        requests: 0, bytes: 0, ranges: [], methods: {}, multipart: { initiated: 0, parts: 0, completed: 0 },
        statuses: [], errors: [], lastHeaders: null
      })
    }
    return s
  }
  const norm = (path: string): string => path.replace(/^\/+/, '').replace(/\/+$/, '')

  // ---- signature checks -------------------------------------------------------------------------

  function signingKey (secret: string, date: string, reg: string, service: string): Buffer {
    return hmac(hmac(hmac(hmac('AWS4' + secret, date), reg), service), 'aws4_request')
  }

  function checkScope (accessKeyId: string, scope: string[], amzDate: string, malformed: string): void {
    if (accessKeyId !== credentials.accessKeyId) {
      throw new S3Reject(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId })
    }
    const [date, reg, service, terminator] = scope
    if (scope.length !== 4 || terminator !== 'aws4_request') {
      throw new S3Reject(400, malformed, 'The credential is malformed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    }
    if (reg !== region) {
      // As S3 does, the answer names the bucket's region, so that a client can sign for it and ask again.
      throw new S3Reject(400, malformed, `The authorization header is malformed; the region '${reg}' is wrong; expecting '${region}'`, { Region: region }, { 'x-amz-bucket-region': region })
    }
    if (service !== 's3') {
      throw new S3Reject(400, malformed, `The authorization header is malformed; incorrect service '${service}'. This endpoint belongs to 's3'.`)
    }
    if (amzDate.slice(0, 8) !== date) {
      throw new S3Reject(400, malformed, `The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date: '${date}'.`)
    }
  }

  /** Recomputes the SigV4 signature from what was received and compares; throws S3's error when wrong. */
  function verifySigV4 (req: IncomingMessage, headers: Map<string, string>, rawPath: string, rawQuery: string, parts: SigV4Parts, presigned: boolean): void {
    const signed = parts.signedHeaders.split(';')
    if (!signed.includes('host')) {
      throw new S3Reject(403, 'AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: 'host' })
    }
    // S3 refuses x-amz-* headers that are not signed: they could otherwise be changed on the way.
    const unsigned = [...headers.keys()].filter((h) => h.startsWith('x-amz-') && !signed.includes(h))
    if (unsigned.length > 0) {
      throw new S3Reject(403, 'AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: unsigned.join(', ') })
    }
    const canonicalHeaders = signed.map((h) => `${h}:${headers.get(h) ?? ''}\n`).join('')
    const canonicalRequest = [
      req.method ?? 'GET',
      canonicalUri(rawPath),
      canonicalQuery(rawQuery, presigned ? 'X-Amz-Signature' : undefined),
      canonicalHeaders,
      parts.signedHeaders,
      parts.payloadHash
    ].join('\n')
    const stringToSign = ['AWS4-HMAC-SHA256', parts.amzDate, parts.scope.join('/'), sha256(canonicalRequest)].join('\n')
    const [date, reg, service] = parts.scope
    const expected = createHmac('sha256', signingKey(credentials.secretAccessKey, date, reg, service)).update(stringToSign).digest('hex')
    if (!sameSecret(expected, parts.signature.toLowerCase())) {
      throw new S3Reject(403, 'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
        { AWSAccessKeyId: parts.accessKeyId, StringToSign: stringToSign, SignatureProvided: parts.signature, CanonicalRequest: canonicalRequest })
    }
  }

  function checkToken (headers: Map<string, string>): void {
    const token = headers.get('x-amz-security-token')
    if ((credentials.sessionToken ?? '') !== (token ?? '')) {
      throw new S3Reject(403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.')
    }
  }

  function checkHeaderAuth (req: IncomingMessage, headers: Map<string, string>, rawPath: string, rawQuery: string, body: Buffer): void {
    const auth = headers.get('authorization') ?? ''
    const m = /^AWS4-HMAC-SHA256 (.*)$/.exec(auth)
    if (!m) throw new S3Reject(400, 'InvalidArgument', 'Unsupported Authorization Type', { ArgumentName: 'Authorization', ArgumentValue: auth })
    const fields = new Map(m[1].split(',').map((f) => f.trim()).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)] as const))
    const credential = fields.get('Credential')
    const signedHeaders = fields.get('SignedHeaders')
    const signature = fields.get('Signature')
    if (credential == null || signedHeaders == null || signature == null) {
      throw new S3Reject(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.')
    }
    const [accessKeyId, ...scope] = credential.split('/')
    const amzDate = headers.get('x-amz-date') ?? ''
    const when = parseAmzDate(amzDate)
    if (Number.isNaN(when)) throw new S3Reject(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header')
    checkScope(accessKeyId, scope, amzDate, 'AuthorizationHeaderMalformed')
    if (Math.abs(Date.now() - when) > 15 * 60_000) {
      throw new S3Reject(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', { RequestTime: amzDate, ServerTime: new Date().toISOString() })
    }
    const payloadHash = headers.get('x-amz-content-sha256')
    if (payloadHash == null) throw new S3Reject(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256')
    verifySigV4(req, headers, rawPath, rawQuery, { accessKeyId, scope, signedHeaders, signature, amzDate, payloadHash }, false)
    checkToken(headers)
    checkPayload(payloadHash, body)
  }

  function checkPayload (payloadHash: string, body: Buffer): void {
    if (payloadHash === 'UNSIGNED-PAYLOAD') return
    if (payloadHash.startsWith('STREAMING-')) {
      // aws-chunked bodies (each chunk signed, or trailing checksums) are not decoded by the front.
      throw new S3Reject(501, 'NotImplemented', `x-amz-content-sha256 ${payloadHash} is not implemented by the test front`)
    }
    if (!/^[0-9a-f]{64}$/.test(payloadHash)) {
      throw new S3Reject(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.', { ArgumentName: 'x-amz-content-sha256', ArgumentValue: payloadHash })
    }
    const actual = sha256(body)
    if (actual !== payloadHash) {
      throw new S3Reject(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", { ClientComputedContentSHA256: payloadHash, S3ComputedContentSHA256: actual })
    }
  }

  function checkQueryAuth (req: IncomingMessage, headers: Map<string, string>, rawPath: string, rawQuery: string): void {
    const q = new URLSearchParams(rawQuery)
    const need = ['X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires']
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || need.some((k) => !q.has(k))) {
      throw new S3Reject(400, 'AuthorizationQueryParametersError', 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.')
    }
    const [accessKeyId, ...scope] = (q.get('X-Amz-Credential') ?? '').split('/')
    const amzDate = q.get('X-Amz-Date') ?? ''
    const when = parseAmzDate(amzDate)
    if (Number.isNaN(when)) throw new S3Reject(400, 'AuthorizationQueryParametersError', 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"')
    checkScope(accessKeyId, scope, amzDate, 'AuthorizationQueryParametersError')
    const expires = Number(q.get('X-Amz-Expires'))
    if (!(expires >= 0 && expires <= 604800)) throw new S3Reject(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires must be between 0 and 604800 seconds')
    if (Date.now() > when + expires * 1000) throw new S3Reject(403, 'AccessDenied', 'Request has expired', { 'X-Amz-Expires': String(expires) })
    // A presigned URL's token travels in the query; the header map is what verifySigV4 and checkToken see.
    const token = q.get('X-Amz-Security-Token')
    const withToken = new Map(headers)
    if (token != null) withToken.set('x-amz-security-token', token)
    verifySigV4(req, headers, rawPath, rawQuery, {
      accessKeyId, scope, signedHeaders: q.get('X-Amz-SignedHeaders') ?? '', signature: q.get('X-Amz-Signature') ?? '', amzDate, payloadHash: 'UNSIGNED-PAYLOAD'
    }, true)
    checkToken(withToken)
  }

  /** GDAL's /vsigs/ with HMAC keys: GOOG1 KEY:base64(HMAC-SHA1(secret, verb, MD5, type, date, x-goog-*, path)). */
  function checkGoog1 (req: IncomingMessage, headers: Map<string, string>, rawPath: string): void {
    const m = /^GOOG1 ([^:]+):(.+)$/.exec(headers.get('authorization') ?? '')
    if (!m) throw new S3Reject(400, 'InvalidArgument', 'Unsupported Authorization Type')
    if (m[1] !== credentials.accessKeyId) throw new S3Reject(403, 'InvalidAccessKeyId', 'The access key id you provided does not exist in our records.')
    const date = headers.get('x-goog-date') ?? headers.get('date') ?? ''
    if (Number.isNaN(Date.parse(date)) || Math.abs(Date.now() - Date.parse(date)) > 15 * 60_000) {
      throw new S3Reject(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.')
    }
    const goog = [...headers.keys()].filter((h) => h.startsWith('x-goog-')).sort().map((h) => `${h}:${headers.get(h) ?? ''}\n`).join('')
    const stringToSign = `${req.method ?? 'GET'}\n${headers.get('content-md5') ?? ''}\n${headers.get('content-type') ?? ''}\n${date}\n${goog}${rawPath}`
    const expected = createHmac('sha1', credentials.secretAccessKey).update(stringToSign).digest('base64')
    if (!sameSecret(expected, m[2])) {
      throw new S3Reject(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.', { StringToSign: stringToSign })
    }
  }

  // ---- the front ----------------------------------------------------------------------------------

  function answerError (res: ServerResponse, path: string, s: S3Stats, e: S3Reject): void {
    const body = Buffer.from(errorXml(e.code, e.message, e.extra))
    s.errors.push(e.code)
    s.statuses.push(e.status)
    allErrors.push({ path, status: e.status, code: e.code })
    s.bytes += body.length
    res.writeHead(e.status, { 'content-type': 'application/xml', 'content-length': String(body.length), ...e.headers })
    res.end(body)
  }

  function faultReject (path: string, fault: S3Fault): S3Reject | null {
    if (fault.kind === 'slowdown') return new S3Reject(503, 'SlowDown', 'Please reduce your request rate.')
    if (fault.kind === 'status') {
      const [code, message] = DEFAULT_CODES[fault.status] ?? ['InternalError', `status ${fault.status}`]
      return new S3Reject(fault.status, fault.code ?? code, fault.message ?? message, {}, fault.headers)
    }
    if (fault.kind === 'wrong-region') {
      const bucket = path.split('/')[0]
      const endpoint = fault.endpoint ?? `${bucket}.s3.${fault.region}.amazonaws.com`
      return new S3Reject(301, 'PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.',
        { Endpoint: endpoint, Bucket: bucket }, { 'x-amz-bucket-region': fault.region })
    }
    if (fault.kind === 'redirect') {
      return new S3Reject(fault.status ?? 307, 'TemporaryRedirect', 'Please re-send this request to the specified temporary endpoint. Continue to use the original request endpoint for future requests.',
        { Endpoint: new URL(fault.to).host }, { location: fault.to })
    }
    return null
  }

  async function readBody (req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }

  const front: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        const body = errorXml('InternalError', String(err))
        res.writeHead(500, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(body)) })
        res.end(body)
      } else {
        res.destroy()
      }
    })
  })
  front.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const qAt = url.indexOf('?')
    const rawPath = qAt < 0 ? url : url.slice(0, qAt)
    const rawQuery = qAt < 0 ? '' : url.slice(qAt + 1)
    const query = new URLSearchParams(rawQuery)
    const path = norm(safeDecode(rawPath))
    const bucket = path.split('/')[0]
    const method = req.method ?? 'GET'
    const s = statsFor(path)
    s.requests++
    total++
    s.methods[method] = (s.methods[method] ?? 0) + 1
    if (method === 'POST' && query.has('uploads')) s.multipart.initiated++
    if (method === 'PUT' && query.has('partNumber')) s.multipart.parts++
    if (method === 'POST' && query.has('uploadId')) s.multipart.completed++
    s.lastHeaders = { ...req.headers }
    if (typeof req.headers.range === 'string') s.ranges.push(req.headers.range)
    // Bodies are buffered whole (test objects are small): the payload hash is checked before s3rver
    // sees anything, as S3 does.
    const body = await readBody(req)

    const applies = (f: S3Fault | undefined): f is S3Fault => f !== undefined && (f.on === undefined || f.on === req.method)
    const queue = queued.get(path) ?? []
    const next = queue.findIndex(applies)
    const always = standing.get(path)
    const fault = next >= 0 ? queue.splice(next, 1)[0] : applies(always) ? always : undefined
    if (fault?.kind === 'reset') { req.socket.resetAndDestroy(); return }
    const rejected = fault ? faultReject(path, fault) : null
    if (rejected) { answerError(res, path, s, rejected); return }

    const headers = rawHeaderMap(req.rawHeaders)
    const auth = headers.get('authorization')
    const forward = { ...req.headers }
    try {
      if (auth?.startsWith('GOOG1 ')) {
        checkGoog1(req, headers, rawPath)
        // s3rver knows no GOOG1: the checked request goes on as an anonymous one.
        delete forward.authorization
      } else if (auth != null) {
        checkHeaderAuth(req, headers, rawPath, rawQuery, body)
      } else if (query.has('X-Amz-Algorithm')) {
        checkQueryAuth(req, headers, rawPath, rawQuery)
      } else if (!publicBuckets.has(bucket)) {
        throw new S3Reject(403, 'AccessDenied', 'Access Denied')
      }
      if (payerBuckets.has(bucket) && headers.get('x-amz-request-payer') !== 'requester') {
        throw new S3Reject(403, 'AccessDenied', 'Access Denied')
      }
    } catch (e) {
      if (e instanceof S3Reject) { answerError(res, path, s, e); return }
      throw e
    }
    await proxy(req, res, path, s, forward, body, payerBuckets.has(bucket))
  }

  /** Whether s3rver answers this Range right: it reads `bytes=-N` as 0-N and `bytes=0-0` as the whole object. */
  function backendRangeOk (range: string): boolean {
    const m = /^bytes=(\d+)-(\d*)$/.exec(range)
    return m != null && (m[2] === '' || (Number(m[2]) >= Number(m[1]) && Number(m[2]) > 0))
  }

  async function proxy (req: IncomingMessage, res: ServerResponse, path: string, s: S3Stats,
    forward: IncomingHttpHeaders, body: Buffer, charged: boolean): Promise<void> {
    const method = req.method ?? 'GET'
    const headers: OutgoingHttpHeaders = { ...forward }
    // Hop-by-hop headers stay here; the buffered body goes on with its length.
    for (const h of ['connection', 'keep-alive', 'expect', 'transfer-encoding', 'proxy-connection']) delete headers[h]
    if (body.length > 0 || 'content-length' in forward || 'transfer-encoding' in forward) headers['content-length'] = String(body.length)
    // s3rver ignores If-Range and If-Match, and misreads suffix ranges and bytes=0-0: those the front
    // answers itself from s3rver's whole body, streamed (never buffered).
    const range = typeof forward.range === 'string' ? forward.range : undefined
    const objectRead = (method === 'GET' || method === 'HEAD') && path.includes('/')
    const local = objectRead && (forward['if-range'] != null || forward['if-match'] != null || (range != null && !backendRangeOk(range)))
    if (local) { delete headers.range; delete headers['if-range']; delete headers['if-match'] }

    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const out = httpRequest({ host: '127.0.0.1', port: backendPort, method, path: req.url, headers, agent }, resolve)
      out.on('error', reject)
      out.end(body)
    })
    const status = upstream.statusCode ?? 502
    const outHeaders: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(upstream.headers)) if (v != null && k !== 'connection' && k !== 'keep-alive') outHeaders[k] = v
    if (charged) outHeaders['x-amz-request-charged'] = 'requester'

    let start = 0
    let end = -1 // inclusive; -1 for the whole body
    let outStatus = status
    if (local && status === 200) {
      const size = Number(upstream.headers['content-length'])
      const etag = upstream.headers.etag ?? ''
      const ifMatch = forward['if-match']
      const strip = (t: string): string => t.trim().replace(/^W\//, '').replace(/"/g, '')
      if (ifMatch != null && ifMatch !== '*' && !ifMatch.split(',').some((t) => strip(t) === strip(etag))) {
        upstream.destroy()
        answerError(res, path, s, new S3Reject(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' }))
        return
      }
      const ifRange = forward['if-range']
      const rangeApplies = range != null && (ifRange == null || ifRange === etag || ifRange === upstream.headers['last-modified'])
      const m = rangeApplies && range != null ? /^bytes=(\d*)-(\d*)$/.exec(range) : null
      if (m && !(m[1] === '' && m[2] === '')) {
        if (m[1] === '') { start = Math.max(0, size - Number(m[2])); end = size - 1 } else {
          start = Number(m[1])
          end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
        }
        // An invalid range (first past last) is ignored, as RFC 9110 says; an unsatisfiable one is 416.
        if (m[1] !== '' && m[2] !== '' && Number(m[2]) < Number(m[1])) { start = 0; end = -1 } else if (start >= size || (m[1] === '' && Number(m[2]) === 0)) {
          upstream.destroy()
          answerError(res, path, s, new S3Reject(416, 'InvalidRange', 'The requested range is not satisfiable', { RangeRequested: range ?? '', ActualObjectSize: String(size) }, { 'content-range': `bytes */${size}` }))
          return
        } else {
          outStatus = 206
          outHeaders['content-range'] = `bytes ${start}-${end}/${size}`
          outHeaders['content-length'] = String(end - start + 1)
        }
      }
    }
    s.statuses.push(outStatus)
    res.writeHead(outStatus, outHeaders)
    const errorText: Buffer[] = []
    let at = 0
    upstream.on('data', (chunk: Buffer) => {
      let piece = chunk
      if (end >= 0) {
        piece = chunk.subarray(Math.max(0, start - at), Math.max(0, end + 1 - at))
        at += chunk.length
      }
      if (status >= 300 && errorText.length < 16) errorText.push(chunk)
      if (piece.length > 0) {
        s.bytes += piece.length
        // Backpressure: a slow client holds s3rver back rather than filling the front's memory.
        if (!res.write(piece)) { upstream.pause(); res.once('drain', () => upstream.resume()) }
      }
      if (end >= 0 && at > end) upstream.destroy()
    })
    // A client gone mid-body: s3rver's stream stops too.
    res.on('close', () => { if (!res.writableFinished) upstream.destroy() })
    await new Promise<void>((resolve) => {
      let finished = false
      const done = (): void => {
        if (finished) return
        finished = true
        const code = /<Code>([^<]+)<\/Code>/.exec(Buffer.concat(errorText).toString())?.[1]
        if (code) { s.errors.push(code); allErrors.push({ path, status, code }) }
        res.end()
        resolve()
      }
      upstream.on('end', done)
      upstream.on('close', done)
      upstream.on('error', () => { res.destroy(); resolve() })
    })
  }

  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
  const { port } = front.address() as AddressInfo
  const host = `127.0.0.1:${port}`
  const endpoint = `http://${host}`
  const objectPath = (bucket: string, key: string): string => `/${bucket}/${key.split('/').map((seg) => uriEncode(seg)).join('/')}`

  // Helpers go to s3rver directly, unsigned (it allows anonymous access), so they count in no stats.
  async function backendCall (method: string, path: string, body?: Buffer): Promise<{ status: number, headers: IncomingHttpHeaders, body: Buffer }> {
    return await new Promise((resolve, reject) => {
      const out = httpRequest({ host: '127.0.0.1', port: backendPort, method, path, agent, headers: body ? { 'content-length': String(body.length) } : {} }, (r) => {
        readBody(r).then((b) => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: b }), reject)
      })
      out.on('error', reject)
      out.end(body)
    })
  }
  const must = (what: string, r: { status: number, body: Buffer }): void => {
    if (r.status >= 300) throw new Error(`${what}: s3rver answered ${r.status} ${r.body.toString()}`)
  }

  const fixture: S3Fixture = {
    endpoint,
    host,
    port,
    region,
    credentials,
    backendEndpoint: `http://127.0.0.1:${backendPort}`,
    directory: dir,
    url: (bucket, key) => endpoint + objectPath(bucket, key),
    createBucket: async (bucket) => { must(`create bucket ${bucket}`, await backendCall('PUT', `/${bucket}`)) },
    putObject: async (bucket, key, body) => {
      const r = await backendCall('PUT', objectPath(bucket, key), Buffer.isBuffer(body) ? body : Buffer.from(body))
      must(`put ${bucket}/${key}`, r)
      return { etag: String(r.headers.etag) }
    },
    putFile: async (bucket, key, file) => await fixture.putObject(bucket, key, readFileSync(file)),
    getObject: async (bucket, key) => {
      const r = await backendCall('GET', objectPath(bucket, key))
      must(`get ${bucket}/${key}`, r)
      return r.body
    },
    list: async (bucket, prefix = '') => {
      const r = await backendCall('GET', `/${bucket}?prefix=${uriEncode(prefix)}&max-keys=1000`)
      must(`list ${bucket}`, r)
      return [...r.body.toString().matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) =>
        m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&'))
    },
    fault: (path, ...faults) => { queued.set(norm(path), [...(queued.get(norm(path)) ?? []), ...faults]) },
    always: (path, fault) => { standing.set(norm(path), fault) },
    setPublic: (bucket, yes = true) => { if (yes) publicBuckets.add(bucket); else publicBuckets.delete(bucket) },
    setRequesterPays: (bucket, yes = true) => { if (yes) payerBuckets.add(bucket); else payerBuckets.delete(bucket) },
    stats: (path) => statsFor(norm(path)),
    totalRequests: () => total,
    errors: () => [...allErrors],
    reset: () => { stats.clear(); queued.clear(); standing.clear(); allErrors.length = 0; total = 0 },
    gdalEnv: (overrides = {}) => ({
      AWS_S3_ENDPOINT: host,
      AWS_HTTPS: 'NO',
      AWS_VIRTUAL_HOSTING: 'FALSE',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      // Nothing from the user's ~/.aws may take part.
      AWS_CONFIG_FILE: '/dev/null',
      CPL_AWS_CREDENTIALS_FILE: '/dev/null',
      AWS_NO_SIGN_REQUEST: 'NO',
      CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE: 'YES',
      ...overrides
    }),
    gdalGsEnv: (overrides = {}) => ({
      CPL_GS_ENDPOINT: endpoint + '/',
      GS_ACCESS_KEY_ID: credentials.accessKeyId,
      GS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      CPL_GS_CREDENTIALS_FILE: '/dev/null',
      GOOGLE_APPLICATION_CREDENTIALS: '',
      CPL_MACHINE_IS_GCE: 'NO',
      CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE: 'YES',
      ...overrides
    }),
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => front.close(() => resolve()))
      agent.destroy()
      backend.httpServer?.closeAllConnections()
      await backend.close()
      // The registry is s3rver's, process-wide: the key stays while another fixture uses it.
      const left = (registered.get(credentials.accessKeyId) ?? 1) - 1
      registered.set(credentials.accessKeyId, left)
      if (left === 0) s3rverAccount.DUMMY_ACCOUNT.revokeAccessKey(credentials.accessKeyId)
      rmSync(dir, { recursive: true, force: true })
    }
  }
  try {
    for (const b of options.buckets ?? []) await fixture.createBucket(b)
  } catch (e) {
    await fixture.close()
    throw e
  }
  return fixture
}

/** The environment rasterpipe reads for S3, pointed at the fixture, with nothing from ~/.aws. */
export function awsEnv (fixture: S3Fixture, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: fixture.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: fixture.credentials.secretAccessKey,
    AWS_REGION: fixture.region,
    AWS_ENDPOINT_URL_S3: fixture.endpoint,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra
  }
}

/** Runs `work` with a fixture of its own (another origin, region or store), stopped however `work` ends. */
export async function withS3<T> (options: S3Options, work: (fixture: S3Fixture) => Promise<T>): Promise<T> {
  const fixture = await startS3(options)
  try {
    return await work(fixture)
  } finally {
    await fixture.close()
  }
}
