// Whole-body transfers into the private temp directory, with retries, resume by Range (guarded by the
// validator the server gave), and exact byte accounting. A short body is never taken as success: the
// length is checked against Content-Length or Content-Range.
import { createWriteStream } from 'node:fs'
import { stat, truncate } from 'node:fs/promises'
import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import { request, type Dispatcher } from 'undici'
import { RecordError } from '../errors.js'
import { networkError, statusError } from '../http/errors.js'
import { waitBeforeRetry } from '../http/retry.js'

export interface DownloadOptions {
  dispatcher: Dispatcher
  retries: number
  timeoutMs: number
  maxBytes: number
  retryBaseMs: number
  signal?: AbortSignal
}

/** What crossed the network for a record: body bytes over every attempt, and the requests made. */
export interface Transfer {
  bytes: number
  attempts: number
}

export type Headers = Record<string, string | string[] | undefined>

export function header (headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** What a download has on disk, so that the next request can resume after it. */
export interface Progress {
  written: number
  validator?: string
  rangesOk: boolean
  total?: number
}

/**
 * Runs one request (`attempt`) until it succeeds, retrying transient failures with jittered backoff.
 * Counts every request in `transfer.attempts`.
 */
export async function retrying<T> (url: string, o: DownloadOptions, transfer: Transfer, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    transfer.attempts++
    try {
      return await attempt()
    } catch (caught) {
      const err = networkError(caught, url)
      if (!err.retryable || tries > o.retries || o.signal?.aborted) {
        if (tries > 1) err.message += ` (after ${tries} attempts)`
        throw err
      }
      await waitBeforeRetry(tries, o.retryBaseMs, err, o.signal)
    }
  }
}

export async function download (url: string, path: string, o: DownloadOptions, transfer: Transfer = { bytes: 0, attempts: 0 },
  from: Progress = { written: 0, rangesOk: false }): Promise<void> {
  const state = { ...from }
  await retrying(url, o, transfer, () => attemptOnce(url, path, o, state, transfer))
}

export function get (url: string, o: DownloadOptions, headers: Record<string, string>): ReturnType<typeof request> {
  return request(url, {
    dispatcher: o.dispatcher,
    method: 'GET',
    // The file's own bytes: a compressed transfer could neither be resumed nor placed by byte offset.
    headers: { 'accept-encoding': 'identity', ...headers },
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    signal: o.signal
  })
}

async function attemptOnce (url: string, path: string, o: DownloadOptions, state: Progress, transfer: Transfer): Promise<void> {
  // Every byte arrived before the connection failed (a server closing the socket as the body ends):
  // there is nothing left to ask for, and asking for bytes past the end would be answered 416.
  if (complete(state)) return
  const resume = state.written > 0 && state.rangesOk && state.validator !== undefined
  const headers: Record<string, string> = {}
  if (resume) {
    headers.range = `bytes=${state.written}-`
    headers['if-range'] = state.validator as string
  }
  const res = await get(url, o, headers)
  const h = res.headers as Headers
  let append = false
  if (res.statusCode === 206 && resume) {
    const range = contentRange(h)
    if (!range || range.start !== state.written) {
      res.body.destroy()
      state.written = 0
      throw new RecordError('fetch', 'BAD_RANGE', `${url}: server resumed at the wrong offset`, true)
    }
    // The rest must be of the version the start came from (a server may ignore If-Range): otherwise
    // start again from the first byte rather than splice two versions.
    if ((range.total !== undefined && state.total !== undefined && range.total !== state.total) || otherVersion(h, state.validator)) {
      res.body.destroy()
      state.written = 0
      throw new RecordError('fetch', 'SOURCE_CHANGED', `${url}: the file changed on the server during the download; starting again`, true)
    }
    if (range.total !== undefined) state.total = range.total
    append = true
  } else if (res.statusCode === 200) {
    state.written = 0
    acceptFull(state, h)
  } else {
    await res.body.dump().catch(() => undefined)
    throw statusError(res.statusCode, h, url)
  }
  try {
    checkIdentity(url, h)
  } catch (err) {
    res.body.destroy()
    throw err
  }
  if (state.total !== undefined && state.total > o.maxBytes) {
    res.body.destroy()
    throw tooLarge(url, state.total, o.maxBytes)
  }
  if (!append) await truncate(path, 0).catch(() => undefined)
  await receiveBody(res.body, url, path, append, state, o, transfer)
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

/** A body with a Content-Encoding is not the file's bytes: it can be neither resumed nor placed by offset. */
export function checkIdentity (url: string, h: Headers): void {
  const encoding = header(h, 'content-encoding')
  if (encoding && encoding.toLowerCase() !== 'identity') {
    throw new RecordError('fetch', 'BAD_ENCODING', `${url}: the server answered with Content-Encoding '${encoding}' although asked for identity; its bytes are not the file's`)
  }
}

/** Takes what a 200 response says of the whole file. */
export function acceptFull (state: Progress, h: Headers): void {
  state.validator = strongValidator(h)
  state.rangesOk = header(h, 'accept-ranges') === 'bytes'
  const length = header(h, 'content-length')
  state.total = length !== undefined ? Number(length) : undefined
}

/** Streams a body to the end of a file, counting bytes, enforcing --max-bytes and the expected length. */
export async function receiveBody (body: AsyncIterable<Buffer> & { destroy: () => void }, url: string, path: string, append: boolean,
  state: Progress, o: DownloadOptions, transfer: Transfer): Promise<void> {
  const file = createWriteStream(path, { flags: append ? 'a' : 'w' })
  let failure: unknown
  try {
    let position = state.written
    for await (const chunk of body) {
      transfer.bytes += chunk.length
      position += chunk.length
      if (position > o.maxBytes) {
        body.destroy()
        throw tooLarge(url, position, o.maxBytes)
      }
      if (!file.write(chunk)) await once(file, 'drain')
    }
  } catch (err) {
    failure = err
  } finally {
    // End the file gracefully even when the body failed: what arrived is kept, so a retry can resume
    // from it. (Destroying the stream would drop writes still queued.)
    file.end()
    await finished(file).catch(() => undefined)
    state.written = await stat(path).then((s) => s.size, () => 0)
  }
  // A connection that fails after the last byte of a body of known length has lost nothing.
  if (failure !== undefined && !(complete(state) && !(failure instanceof RecordError))) throw failure
  if (state.total !== undefined && state.written !== state.total) {
    throw new RecordError('fetch', 'TRUNCATED', `${url}: received ${state.written} of ${state.total} bytes`, true)
  }
}

/** The whole body of a known length is on disk. */
function complete (state: Progress): boolean {
  return state.total !== undefined && state.written > 0 && state.written === state.total
}

/**
 * Whether a response contradicts the validator seen first. ETags (quoted) are compared with the ETag,
 * dates with Last-Modified: a response that carries only the other kind contradicts nothing.
 */
export function otherVersion (h: Headers, validator: string | undefined): boolean {
  if (validator === undefined) return false
  const seen = header(h, validator.startsWith('"') ? 'etag' : 'last-modified')
  return seen !== undefined && seen !== validator
}

/** ETag, or Last-Modified: what If-Range may carry. A weak ETag cannot guard a byte range. */
export function strongValidator (h: Headers): string | undefined {
  const etag = header(h, 'etag')
  if (etag && !etag.startsWith('W/')) return etag
  return header(h, 'last-modified')
}

export function tooLarge (url: string, size: number, max: number): RecordError {
  return new RecordError('fetch', 'TOO_LARGE', `${url}: body of ${size} bytes is over --max-bytes ${max}`)
}
