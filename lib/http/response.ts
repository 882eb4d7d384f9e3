// Requests and what their responses must be: a GET of the file's own bytes, a 206 whose Content-Range is
// the range asked, a body read chunk by chunk and counted, that fails when it ends short. Download and
// range fetching both go through these, so each check is written once.
import type { Dispatcher } from 'undici'
import { RecordError } from '../core/errors.js'
import { statusError } from './errors.js'
import { MAX_REDIRECTS } from './agent.js'
import { isThrottlingAnswer } from './host-limit.js'
import { undici } from './undici.js'

export interface RequestOptions {
  dispatcher: Dispatcher
  retries: number
  timeoutMs: number
  maxBytes: number
  retryBaseMs: number
  /** How long throttling answers may be retried without counting against `retries` (lib/http/retry.ts);
   * absent: they count as any 5xx. */
  throttleMs?: number
  signal?: AbortSignal
  /** The user's headers (--header, a record's `headers`): sent to the URL's own origin only. */
  headers?: Record<string, string>
  /** An object store's addressing and signing (lib/store/); absent for plain HTTP(S). */
  auth?: RequestAuth
}

/** How a store's requests are addressed and signed. */
export interface RequestAuth {
  /** The URL to ask (an s3:// URI's HTTPS address); it may change once a bucket's region is learnt. */
  target: () => string
  /** Headers to add to one request, signed for it: called for every attempt, so each retry is signed afresh. */
  sign: (method: string, target: string, headers: Record<string, string>) => Promise<Record<string, string>>
  /** The store's answer names where to ask instead (a bucket's region): true to ask again, once. */
  redirected?: (status: number, headers: Headers) => boolean
  /** A refusal of the credentials, as a record error that says where they came from (never the secret). */
  refused?: (status: number, body: string) => RecordError | undefined
  /** The auth for a redirect's target on another origin (its own netrc entry); absent: none. */
  crossOrigin?: (target: string) => RequestAuth | undefined
  /**
   * Its signature is the request's Authorization (a store's SigV4, a shared key): the user's own
   * (-H, GDAL_HTTP_USERPWD) is not sent beside it, which would replace the signature or go to the store.
   */
  ownsAuthorization?: boolean
}

/** What crossed the network for a record: body bytes over every attempt, and the requests made. */
export interface Transfer {
  bytes: number
  attempts: number
}

export type Headers = Record<string, string | string[] | undefined>
export type Response = Dispatcher.ResponseData
export type Body = AsyncIterable<Buffer> & { destroy: () => void, on: (event: 'error', listener: (err: Error) => void) => unknown }
/** What the checks read of an answer: undici's response, or a fake transport's in unit tests. */
export interface Answer {
  statusCode: number
  headers: Headers
  body: Body & { dump: () => Promise<unknown> }
}

export function header (headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function withoutAuthorization (headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'))
}

/** A POST of a small JSON body (a STAC API search's page), as get() makes a GET: the same headers, signing and redirects. */
export async function post (url: string, o: RequestOptions, headers: Record<string, string>, body: string): Promise<Response> {
  return await get(url, o, { 'content-type': 'application/json', ...headers }, MAX_REDIRECTS, body)
}

export async function get (url: string, o: RequestOptions, headers: Record<string, string>, hopsLeft = MAX_REDIRECTS, body?: string): Promise<Response> {
  const own = o.headers ?? {}
  const auth = o.auth
  // A body makes it a POST (post() above); redirects with 307 and 308 keep it, the others become GETs.
  let method: 'GET' | 'POST' = body === undefined ? 'GET' : 'POST'
  let sent: { body?: string } = body === undefined ? {} : { body }
  if (!auth) {
    return await undici().request(url, {
      ...requestInit(o, { ...own, 'accept-encoding': 'identity', ...headers }, method),
      ...sent,
      // An option of undici's redirect interceptor, passed through by request() (its types do not list
      // it). The interceptor drops Authorization and cookies when a redirect leaves the origin; the user's
      // own headers may be credentials too (an API key), so they go the same way.
      ...({ stripHeadersOnCrossOriginRedirect: Object.keys(own) } as object)
    })
  }
  // A signed request is signed for its one URL, so a store's redirects are followed here: signed afresh
  // within the store's origin, and without any credential or header of the user's once they leave it.
  // So are those of a URL with Basic credentials (lib/http/credentials.ts).
  let target = auth.target()
  const origin = new URL(target).origin
  for (let hop = 0; ; hop++) {
    const given: Record<string, string> = { ...own, 'accept-encoding': 'identity', ...headers }
    const h = auth.ownsAuthorization ? withoutAuthorization(given) : given
    const res = await undici().request(target, { ...requestInit(o, { ...h, ...await auth.sign(method, target, h) }, method), ...sent, ...({ maxRedirections: 0 } as object) })
    if (hop === 0 && auth.redirected?.(res.statusCode, res.headers as Headers)) {
      await res.body.dump().catch(() => undefined)
      target = auth.target()
      continue
    }
    const location = header(res.headers as Headers, 'location')
    if (res.statusCode < 300 || res.statusCode >= 400 || !location || hop >= hopsLeft) return res
    await res.body.dump().catch(() => undefined)
    const from = target
    target = new URL(location, target).toString()
    // The hops left go on with it, so that two origins redirecting to each other end (TOO_MANY_REDIRECTS).
    // No credentials follow a step down from https to http.
    if (new URL(target).origin !== origin) {
      const down = from.startsWith('https:') && target.startsWith('http:')
      const keep = res.statusCode === 307 || res.statusCode === 308 ? sent.body : undefined
      return await get(target, { ...o, auth: down ? undefined : auth.crossOrigin?.(target), headers: undefined }, headers, hopsLeft - hop - 1, keep)
    }
    if (res.statusCode !== 307 && res.statusCode !== 308) {
      method = 'GET'
      sent = {}
    }
  }
}

/** What request() takes for one request of the run: its dispatcher, timeouts and signal. */
export function requestInit (o: RequestOptions, headers: Record<string, string>, method: Dispatcher.HttpMethod = 'GET'): {
  dispatcher: Dispatcher, method: Dispatcher.HttpMethod, headers: Record<string, string>, headersTimeout: number, bodyTimeout: number, signal: AbortSignal | undefined
} {
  return { dispatcher: o.dispatcher, method, headers, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs, signal: o.signal }
}

/** Errors of throttling answers that their status alone does not show (a store's code in its body). */
const throttlingErrors = new WeakSet<Error>()

/** The error of an answer that said "slow down": 429, 503, or a store's own code for it (S3's SlowDown, Azure's ServerBusy). */
export function isThrottling (err: RecordError): boolean {
  return err.code === 'HTTP_429' || err.code === 'HTTP_503' || throttlingErrors.has(err)
}

/**
 * A status we did not ask for: its body is drained (the connection stays usable) and it becomes the error;
 * a store's refusal of the credentials is read (its first 4 KiB say why) and becomes AUTH, not retried; a
 * store's 5xx is read as far as its error code (S3's SlowDown is a throttling answer whatever its status).
 */
export async function rejectStatus (res: Answer, url: string, o?: RequestOptions): Promise<never> {
  const refused = o?.auth?.refused
  // Azure names its error in a header; S3 and Cloud Storage in the body's XML.
  let code = header(res.headers, 'x-ms-error-code')
  if (refused && (res.statusCode === 401 || res.statusCode === 403)) {
    const err = refused(res.statusCode, await smallText(res.body, 4096))
    if (err) throw err
  } else if (o?.auth && res.statusCode >= 500 && code === undefined) {
    code = /<Code>([^<]{1,64})<\/Code>/.exec(await smallText(res.body, 4096))?.[1]
  } else {
    await res.body.dump().catch(() => undefined)
  }
  const err = statusError(res.statusCode, res.headers, url)
  if (isThrottlingAnswer(res.statusCode, code)) throttlingErrors.add(err)
  throw err
}

/** The first `limit` bytes of a body as text; the rest is not read. */
async function smallText (body: Body, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let got = 0
  try {
    for await (const chunk of body) {
      chunks.push(chunk)
      got += chunk.length
      if (got >= limit) break
    }
  } catch {
    // What arrived is enough to say why, or nothing is.
  } finally {
    body.destroy()
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8')
}

/** A 206's Content-Range: first and last byte, and the total (undefined when the server says `*`). */
export interface ContentRange { start: number, end: number, total?: number }

/** The one Content-Range parser: `bytes START-END/TOTAL` (or `/*`), else null. */
export function contentRange (h: Headers): ContentRange | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(h, 'content-range') ?? '')
  if (!m) return null
  const r: ContentRange = { start: Number(m[1]), end: Number(m[2]) }
  if (m[3] !== '*') r.total = Number(m[3])
  return r
}

/**
 * A 206 must carry the file's own bytes (no Content-Encoding) from `start`, and up to `end` (inclusive)
 * when given; otherwise its body is destroyed and the answer is a retryable BAD_RANGE (or BAD_ENCODING).
 * `check` adds the caller's own test of the range (the file's version) before the body is read.
 */
export function checkPartial (res: Answer, url: string, start: number, end?: number, check?: (range: ContentRange, h: Headers) => void): ContentRange {
  const h = res.headers
  try {
    checkIdentity(url, h)
    const range = contentRange(h)
    if (range) check?.(range, h)
    if (!range || range.start !== start || (end !== undefined && range.end !== end)) {
      const asked = end !== undefined ? `bytes ${start}-${end}` : `bytes from ${start}`
      throw new RecordError('fetch', 'BAD_RANGE', `${url}: asked for ${asked}, got ${header(h, 'content-range') ?? 'no Content-Range'}`, true)
    }
    return range
  } catch (err) {
    discardBody(res.body)
    throw err
  }
}

/**
 * Ends a response whose body is not wanted. undici's body, destroyed before it is read, emits an abort
 * error; with no listener that error is uncaught, outside the fault guard's context, and ends the process.
 */
export function discardBody (body: Body): void {
  body.on('error', () => undefined)
  body.destroy()
}

/** A body with a Content-Encoding is not the file's bytes: it can be neither resumed nor placed by offset. */
export function checkIdentity (url: string, h: Headers): void {
  const encoding = header(h, 'content-encoding')
  if (encoding && encoding.toLowerCase() !== 'identity') {
    throw new RecordError('fetch', 'BAD_ENCODING', `${url}: the server answered with Content-Encoding '${encoding}' although asked for identity; its bytes are not the file's`)
  }
}

/**
 * Whether a response contradicts the validator seen first. ETags (quoted) are compared with the ETag,
 * dates with Last-Modified: a response that carries only the other kind contradicts nothing.
 */
export function otherVersion (h: Headers, validator: string | undefined): boolean {
  if (validator === undefined) return false
  const seen = validatorSeen(h, validator)
  return seen !== undefined && seen !== validator
}

/** The answer's validator of the same kind as `validator`: its ETag for an ETag, else its Last-Modified. */
export function validatorSeen (h: Headers, validator: string): string | undefined {
  return header(h, validator.startsWith('"') ? 'etag' : 'last-modified')
}

/**
 * What may tie byte ranges to one version of the file (RFC 9110 8.8), and carry If-Range (13.1.5): a strong
 * ETag, or, where there is no ETag at all, a Last-Modified a second or more before the answer's Date
 * (8.8.2.2: within that second the file may have changed again under the same date). A weak ETag, a
 * Last-Modified within the second of Date, or one without a Date to compare with, are weak: undefined.
 */
export function strongValidator (h: Headers): string | undefined {
  const etag = header(h, 'etag')
  if (etag !== undefined) return etag.startsWith('W/') ? undefined : etag
  const modified = header(h, 'last-modified')
  const date = header(h, 'date')
  if (modified === undefined || date === undefined) return undefined
  return Date.parse(date) - Date.parse(modified) >= 1000 ? modified : undefined
}

/** Why an answer has no strong validator (see strongValidator), in words for an error message. */
export function validatorWeakness (h: Headers): string {
  const etag = header(h, 'etag')
  if (etag !== undefined) return `its ETag ${etag} is weak`
  const modified = header(h, 'last-modified')
  const date = header(h, 'date')
  if (modified === undefined) return 'it has no ETag or Last-Modified'
  if (date === undefined) return `its Last-Modified (${modified}) comes without a Date to show it is a second old`
  return `its Last-Modified (${modified}) is not a second or more before its Date (${date})`
}

export interface BodyLimits {
  /** The bytes the body should carry; ending short of them is a retryable TRUNCATED. */
  length?: number
  /** Bytes past `length`: 'stop' keeps the first `length` and reads no further (a server may send the
   * whole file to a small range: memory stays bounded by what was asked); 'fail' is a BAD_RANGE. */
  excess?: 'stop' | 'fail'
  /** Named in messages after the byte counts, e.g. ` of range 0-99`. */
  label?: string
  /** The --max-bytes check, made after every chunk with the bytes this body has given so far. */
  over?: (got: number) => RecordError | undefined
}

/**
 * Reads a body chunk by chunk into `write` (given each chunk and its offset in the body), counting every
 * byte received in `transfer.bytes`. Returns the bytes written. A failure destroys the body.
 */
export async function readBody (body: Body, url: string, transfer: Transfer, limits: BodyLimits,
  write: (chunk: Buffer, offset: number) => unknown): Promise<number> {
  const { length, excess = 'fail', label = '', over } = limits
  let got = 0
  try {
    for await (const chunk of body) {
      transfer.bytes += chunk.length
      let piece = chunk
      if (length !== undefined && got + chunk.length > length) {
        if (excess === 'fail') throw new RecordError('fetch', 'BAD_RANGE', `${url}: sent more than the ${length} bytes${label}`, true)
        piece = chunk.subarray(0, length - got)
      }
      const tooMuch = over?.(got + piece.length)
      if (tooMuch) throw tooMuch
      await write(piece, got)
      got += piece.length
      if (got === length && excess === 'stop') break
    }
  } finally {
    // Ends the request whether the loop broke off, failed or finished (a no-op once the body has ended).
    body.destroy()
  }
  if (length !== undefined && got < length) throw new RecordError('fetch', 'TRUNCATED', `${url}: received ${got} of ${length} bytes${label}`, true)
  return got
}
