// A remote file served from memory, beneath RemoteFile (lib/source/remote-file.ts): the unit tests'
// stand-in for a server. It answers Range requests as a server would, honours (or ignores) the
// conditions, and can change version, drop its ETag or cut a body short, so RemoteFile's checks meet
// every answer without a socket.
import { Readable } from 'node:stream'
import { retrying } from '../../lib/http/retry.js'
import { rejectStatus, type Answer, type Headers, type Transfer } from '../../lib/http/response.js'
import type { Transport } from '../../lib/source/remote-file.js'

const CHUNK = 16 * 1024

export interface FakeOptions {
  etag?: string
  maxBytes?: number
}

export class FakeTransport implements Transport {
  readonly url = 'https://fake.test/file.tif'
  readonly maxBytes: number
  bytes: Buffer
  etag: string | undefined
  /** If-Match and If-Range are honoured (a server may ignore them). */
  honoursConditions = true
  /** Answers leave out the ETag (a server behind another cache may). */
  dropsEtag = false
  /** Ranges are ignored: every answer is the whole file, 200. */
  ignoresRange = false
  /** The next `cuts.length` bodies end with a socket error after this many bytes each. */
  readonly cuts: number[] = []
  /** Every request's headers, in order. */
  readonly requests: Array<Record<string, string>> = []
  /** Body bytes sent, over every answer. */
  sent = 0

  constructor (bytes: Buffer, o: FakeOptions = {}) {
    this.bytes = bytes
    this.etag = 'etag' in o ? o.etag : '"v1"'
    this.maxBytes = o.maxBytes ?? Number.MAX_SAFE_INTEGER
  }

  /** Another version of the file on the server from now on. */
  change (bytes: Buffer, etag: string | undefined): void {
    this.bytes = bytes
    this.etag = etag
  }

  /** The `range` header of every request, in order. */
  ranges (): Array<string | undefined> {
    return this.requests.map((h) => h.range)
  }

  async get (headers: Record<string, string>): Promise<Answer> {
    this.requests.push(headers)
    const size = this.bytes.length
    const h: Headers = { 'accept-ranges': 'bytes' }
    if (this.etag !== undefined && !this.dropsEtag) h.etag = this.etag
    const ifMatch = headers['if-match']
    if (this.honoursConditions && ifMatch !== undefined && ifMatch !== this.etag) return answer(412, h, Buffer.alloc(0))
    const m = /^bytes=(\d+)-(\d*)$/.exec(headers.range ?? '')
    const ifRange = headers['if-range']
    const whole = this.ignoresRange || !m || (this.honoursConditions && ifRange !== undefined && ifRange !== this.etag)
    if (whole) return this.send(200, { ...h, 'content-length': String(size) }, this.bytes)
    const start = Number(m[1])
    const end = Math.min(m[2] === '' ? size - 1 : Number(m[2]), size - 1)
    if (start >= size) return answer(416, { ...h, 'content-range': `bytes */${size}` }, Buffer.alloc(0))
    const part = this.bytes.subarray(start, end + 1)
    return this.send(206, { ...h, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(part.length) }, part)
  }

  async refuse (res: Answer): Promise<never> {
    return await rejectStatus(res, this.url)
  }

  /** The real retries (lib/http/retry.ts), with no wait between tries. */
  async retrying<T> (transfer: Transfer, attempt: () => Promise<T>): Promise<T> {
    return await retrying(this.url, { dispatcher: undefined as never, retries: 2, retryBaseMs: 0, timeoutMs: 0, maxBytes: this.maxBytes }, transfer, attempt)
  }

  private send (status: number, h: Headers, body: Buffer): Answer {
    const cut = this.cuts.shift()
    const sent = cut === undefined ? body : body.subarray(0, cut)
    this.sent += sent.length
    return answer(status, h, sent, cut !== undefined)
  }
}

/** An answer whose body gives `bytes` in chunks, then ends, or fails as a reset socket when `cut`. */
function answer (statusCode: number, headers: Headers, bytes: Buffer, cut = false): Answer {
  async function * chunks (): AsyncGenerator<Buffer> {
    for (let at = 0; at < bytes.length; at += CHUNK) yield bytes.subarray(at, at + CHUNK)
    if (cut) throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })
  }
  const body = Readable.from(chunks(), { objectMode: false })
  return { statusCode, headers, body: Object.assign(body, { dump: async () => { body.destroy() } }) }
}
