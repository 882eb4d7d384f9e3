// Download mode: the whole body streamed to a file in the private temp directory, with retries, resume by
// Range (guarded by the validator the server gave), and exact byte accounting. A short body is never
// taken as success: the length is checked against Content-Length or Content-Range.
import { createWriteStream } from 'node:fs'
import { stat, truncate } from 'node:fs/promises'
import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import { request, type Dispatcher } from 'undici'
import { RecordError } from './errors.js'
import { networkError, statusError } from './http.js'
import { waitBeforeRetry } from './retry.js'

export interface DownloadOptions {
  dispatcher: Dispatcher
  retries: number
  timeoutMs: number
  maxBytes: number
  retryBaseMs: number
  signal?: AbortSignal
}

export interface DownloadResult {
  path: string
  /** Body bytes received over every attempt. */
  bytes: number
  attempts: number
  size: number
}

type Headers = Record<string, string | string[] | undefined>

function header (headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** State carried between attempts, so a retry can resume where the last one stopped. */
interface Progress {
  written: number
  validator?: string
  rangesOk: boolean
  total?: number
}

export async function download (url: string, path: string, o: DownloadOptions): Promise<DownloadResult> {
  const state: Progress = { written: 0, rangesOk: false }
  const counter = { bytes: 0 }
  for (let attempt = 1; ; attempt++) {
    try {
      await attemptOnce(url, path, o, state, counter)
      return { path, bytes: counter.bytes, attempts: attempt, size: state.written }
    } catch (caught) {
      const err = networkError(caught, url)
      if (!err.retryable || attempt > o.retries || o.signal?.aborted) {
        if (attempt > 1) err.message += ` (after ${attempt} attempts)`
        throw Object.assign(err, { attempts: attempt, bytes: counter.bytes })
      }
      await waitBeforeRetry(attempt, o.retryBaseMs, err, o.signal)
    }
  }
}

async function attemptOnce (url: string, path: string, o: DownloadOptions, state: Progress, counter: { bytes: number }): Promise<void> {
  const resume = state.written > 0 && state.rangesOk && state.validator !== undefined
  const headers: Record<string, string> = {}
  if (resume) {
    headers.range = `bytes=${state.written}-`
    headers['if-range'] = state.validator as string
  }
  const res = await request(url, {
    dispatcher: o.dispatcher,
    method: 'GET',
    headers,
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    signal: o.signal
  })
  const h = res.headers as Headers
  let append = false
  if (res.statusCode === 206 && resume) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(h, 'content-range') ?? '')
    if (!range || Number(range[1]) !== state.written) {
      res.body.destroy()
      state.written = 0
      throw new RecordError('fetch', 'BAD_RANGE', `${url}: server resumed at the wrong offset`, true)
    }
    if (range[3] !== '*') state.total = Number(range[3])
    append = true
  } else if (res.statusCode === 200) {
    state.written = 0
    state.validator = strongValidator(h)
    state.rangesOk = header(h, 'accept-ranges') === 'bytes'
    const length = header(h, 'content-length')
    state.total = length !== undefined ? Number(length) : undefined
  } else {
    await res.body.dump().catch(() => undefined)
    throw statusError(res.statusCode, h, url)
  }

  if (state.total !== undefined && state.total > o.maxBytes) {
    res.body.destroy()
    throw tooLarge(url, state.total, o.maxBytes)
  }
  if (!append) await truncate(path, 0).catch(() => undefined)

  const file = createWriteStream(path, { flags: append ? 'a' : 'w' })
  try {
    let position = state.written
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      counter.bytes += chunk.length
      position += chunk.length
      if (position > o.maxBytes) {
        res.body.destroy()
        throw tooLarge(url, position, o.maxBytes)
      }
      if (!file.write(chunk)) await once(file, 'drain')
    }
  } finally {
    // End the file gracefully even when the body failed: what arrived is kept, so a retry can resume
    // from it. (Destroying the stream would drop writes still queued.)
    file.end()
    await finished(file).catch(() => undefined)
    state.written = await stat(path).then((s) => s.size, () => 0)
  }
  if (state.total !== undefined && state.written !== state.total) {
    throw new RecordError('fetch', 'TRUNCATED', `${url}: received ${state.written} of ${state.total} bytes`, true)
  }
}

/** ETag, or Last-Modified: what If-Range may carry. A weak ETag cannot guard a byte range. */
function strongValidator (h: Headers): string | undefined {
  const etag = header(h, 'etag')
  if (etag && !etag.startsWith('W/')) return etag
  return header(h, 'last-modified')
}

function tooLarge (url: string, size: number, max: number): RecordError {
  return new RecordError('fetch', 'TOO_LARGE', `${url}: body of ${size} bytes is over --max-bytes ${max}`)
}
