// Whole-body transfers into the private temp directory, with retries, resume by Range (guarded by the
// validator the server gave), and exact byte accounting. A short body is never taken as success: the
// length is checked against Content-Length or Content-Range.
import { createWriteStream } from 'node:fs'
import { stat, truncate } from 'node:fs/promises'
import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import { RecordError } from '../core/errors.js'
import { tooLarge } from '../http/errors.js'
import { retrying } from '../http/retry.js'
import { checkIdentity, checkPartial, discardBody, get, header, otherVersion, readBody, rejectStatus, strongValidator, type Body, type Headers, type RequestOptions, type Response, type Transfer } from '../http/response.js'

/** What a download has on disk, so that the next request can resume after it. */
export interface Progress {
  written: number
  validator?: string
  rangesOk: boolean
  total?: number
}

export async function download (url: string, path: string, o: RequestOptions, transfer: Transfer = { bytes: 0, attempts: 0 },
  from: Progress = { written: 0, rangesOk: false }): Promise<void> {
  const state = { ...from }
  await retrying(url, o, transfer, () => attemptOnce(url, path, o, state, transfer))
}

async function attemptOnce (url: string, path: string, o: RequestOptions, state: Progress, transfer: Transfer): Promise<void> {
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
  let append = false
  if (res.statusCode === 206 && resume) {
    // The rest must start where the file ends, and show by its own strong validator that it is the version
    // the start came from (a server may ignore If-Range, and send no validator): otherwise start again from
    // the first byte rather than splice two versions.
    try {
      const range = checkPartial(res, url, state.written, undefined, (r, h) => {
        if ((r.total !== undefined && state.total !== undefined && r.total !== state.total) || otherVersion(h, state.validator)) {
          throw new RecordError('fetch', 'SOURCE_CHANGED', `${url}: the file changed on the server during the download; starting again`, true)
        }
        if (strongValidator(h) !== state.validator) {
          throw new RecordError('fetch', 'SOURCE_CHANGED', `${url}: the rest of the download came without the validator of its start; starting again`, true)
        }
      })
      if (range.total !== undefined) state.total = range.total
    } catch (err) {
      state.written = 0
      throw err
    }
    append = true
  } else if (res.statusCode === 200) {
    state.written = 0
    acceptWhole(res, url, state, o)
  } else {
    await rejectStatus(res, url, o)
  }
  if (!append) await truncate(path, 0).catch(() => undefined)
  await receiveBody(res.body, url, path, append, state, o, transfer)
}

/**
 * Takes what a 200 response says of the whole file; refuses it before its body when it is encoded or
 * its Content-Length is over --max-bytes.
 */
export function acceptWhole (res: Response, url: string, state: Progress, o: RequestOptions): void {
  const h = res.headers as Headers
  state.validator = strongValidator(h)
  state.rangesOk = header(h, 'accept-ranges') === 'bytes'
  const length = header(h, 'content-length')
  state.total = length !== undefined ? Number(length) : undefined
  try {
    checkIdentity(url, h)
    if (state.total !== undefined && state.total > o.maxBytes) throw tooLarge(url, state.total, o.maxBytes)
  } catch (err) {
    discardBody(res.body)
    throw err
  }
}

/** Streams a body to the end of a file, counting bytes, enforcing --max-bytes and the expected length. */
export async function receiveBody (body: Body, url: string, path: string, append: boolean,
  state: Progress, o: RequestOptions, transfer: Transfer): Promise<void> {
  const file = createWriteStream(path, { flags: append ? 'a' : 'w' })
  const start = state.written
  let failure: unknown
  try {
    await readBody(body, url, transfer, { over: (got) => start + got > o.maxBytes ? tooLarge(url, start + got, o.maxBytes) : undefined },
      async (chunk) => { if (!file.write(chunk)) await once(file, 'drain') })
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
