// One remote file as the fetchers see it: its URL, size and validator, read by ranges (read), whole into
// a local file (whole) or into memory (bytes). The one place that makes a GET of the file's bytes and
// judges the answer: status, Content-Range, the version (validators), the encoding, --max-bytes; and that
// streams a body into the local file. Beneath it a Transport asks (HTTP, or a store's signed requests);
// a fake one serves unit tests.
import type { FileHandle } from 'node:fs/promises'
import { BatchedWrites } from './batched-writes.js'
import { RecordError } from '../core/errors.js'
import { option, words } from '../core/words.js'
import { tooLarge } from '../http/errors.js'
import { retrying } from '../http/retry.js'
import { checkIdentity, checkPartial, discardBody, get, header, otherVersion, readBody, rejectStatus, strongValidator, validatorSeen, type Answer, type Body, type Headers, type RequestOptions, type Transfer } from '../http/response.js'
import type { Range } from './ranges.js'

/** How a remote file's requests are made: one GET, a refused status as the record's error, retries. */
export interface Transport {
  readonly url: string
  /** --max-bytes: what one record may move. */
  readonly maxBytes: number
  get: (headers: Record<string, string>) => Promise<Answer>
  /** An answer whose status was not asked for: its body is drained and it becomes the error. */
  refuse: (res: Answer) => Promise<never>
  /** Runs one request until it succeeds, retrying transient failures, counting attempts in `transfer`. */
  retrying: <T>(transfer: Transfer, attempt: () => Promise<T>) => Promise<T>
}

/** The run's HTTP (the dispatcher chain, a store's signing in `o.auth`) as a remote file's transport. */
export function httpTransport (url: string, o: RequestOptions): Transport {
  return {
    url,
    maxBytes: o.maxBytes,
    get: async (headers) => await get(url, o, headers),
    refuse: async (res) => await rejectStatus(res, url, o),
    retrying: async (transfer, attempt) => await retrying(url, o, transfer, attempt)
  }
}

/** The version a remote file is known as: its total size and strong validator (RFC 9110 8.8). */
export interface Version {
  size?: number
  validator?: string
}

/**
 * A remote file as one record fetches it: what moves is counted in the record's `transfer`. Its size and
 * validator come from the probe (head), a header cache or a sparse source's, and tie every range to them.
 */
export class RemoteFile implements Version {
  size?: number
  validator?: string
  /** The server answered a Range request with a range: a download can resume after what it has. */
  rangesOk = false

  constructor (readonly transport: Transport, readonly transfer: Transfer, known: Version = {}) {
    if (known.size !== undefined) this.size = known.size
    if (known.validator !== undefined) this.validator = known.validator
  }

  get url (): string {
    return this.transport.url
  }

  /**
   * The first request, `Range: bytes=0-(length-1)`, its bytes streamed into `target` (from byte 0), learning
   * the file's size and validator (with the answer's headers); of them, only the first `keep` are held in
   * memory (`prefix`). A server that sends the whole file instead has its body downloaded into `target` in
   * that one request (null), unless `refuseWhole` gives an error for it, thrown before the body is read.
   */
  async head (length: number, keep: number, target: FileHandle, refuseWhole: (h: Headers) => RecordError | undefined): Promise<{ length: number, prefix: Buffer, headers: Headers } | null> {
    return await this.transport.retrying(this.transfer, async () => {
      const res = await this.transport.get({ range: `bytes=0-${length - 1}` })
      if (res.statusCode === 200) {
        const refused = refuseWhole(res.headers)
        if (refused) {
          discardBody(res.body)
          throw refused
        }
        // Range ignored: this is the download, in this one request.
        this.acceptWhole(res)
        await this.receive(res.body, target, false, { written: 0 })
        return null
      }
      if (res.statusCode !== 206) await this.transport.refuse(res)
      const range = checkPartial(res, this.url, 0)
      // A total of '*' (unknown length) can only be downloaded to its end.
      this.size = range.total
      this.validator = strongValidator(res.headers)
      this.rangesOk = true
      // No size check here: --max-bytes limits what a record moves, and a range read of a file over it
      // may move far less. Should this become a download, whole() refuses it before its body.
      const want = Math.min(range.end + 1, length)
      const prefix = Buffer.alloc(Math.min(want, keep))
      // A retried attempt writes from the first byte again, over whatever the last one left.
      await target.truncate(0)
      const writes = new BatchedWrites(target, 0)
      await readBody(res.body, this.url, this.transfer, { length: want, excess: 'stop' }, async (chunk, offset) => {
        if (offset < prefix.length) chunk.copy(prefix, offset)
        await writes.add(chunk, offset)
      })
      await writes.flush()
      return { length: want, prefix, headers: res.headers }
    })
  }

  /**
   * The whole file streamed into `target`, with retries; after `written` bytes already there (a probe's
   * head), and after whatever a failed attempt left, it resumes by Range where a strong validator guards
   * the resume. A short body is never taken as success: its length is checked against Content-Length or
   * Content-Range.
   */
  async whole (target: FileHandle, written = 0): Promise<void> {
    const state = { written }
    await this.transport.retrying(this.transfer, () => this.wholeOnce(target, state))
  }

  private async wholeOnce (target: FileHandle, state: { written: number }): Promise<void> {
    // Every byte arrived before the connection failed (a server closing the socket as the body ends):
    // there is nothing left to ask for, and asking for bytes past the end would be answered 416.
    if (this.complete(state.written)) return
    const resume = state.written > 0 && this.rangesOk && this.validator !== undefined
    const headers: Record<string, string> = {}
    if (resume) {
      headers.range = `bytes=${state.written}-`
      headers['if-range'] = this.validator as string
    }
    const res = await this.transport.get(headers)
    let append = false
    if (res.statusCode === 206 && resume) {
      // The rest must start where the file ends, and show by its own strong validator that it is the version
      // the start came from (a server may ignore If-Range, and send no validator): otherwise start again from
      // the first byte rather than splice two versions.
      try {
        const range = checkPartial(res, this.url, state.written, undefined, (r, h) => {
          if ((r.total !== undefined && this.size !== undefined && r.total !== this.size) || otherVersion(h, this.validator)) {
            throw new RecordError('fetch', 'SOURCE_CHANGED', `${this.url}: the file changed on the server during the download; starting again`, true)
          }
          if (strongValidator(h) !== this.validator) {
            throw new RecordError('fetch', 'SOURCE_CHANGED', `${this.url}: the rest of the download came without the validator of its start; starting again`, true)
          }
        })
        if (range.total !== undefined) this.size = range.total
      } catch (err) {
        state.written = 0
        throw err
      }
      append = true
    } else if (res.statusCode === 200) {
      state.written = 0
      this.acceptWhole(res)
    } else {
      await this.transport.refuse(res)
    }
    await this.receive(res.body, target, append, state)
  }

  /**
   * Takes what a 200 response says of the whole file; refuses it before its body when it is encoded or
   * its Content-Length is over --max-bytes.
   */
  private acceptWhole (res: Answer): void {
    const h = res.headers
    this.validator = strongValidator(h)
    this.rangesOk = header(h, 'accept-ranges') === 'bytes'
    const length = header(h, 'content-length')
    this.size = length !== undefined ? Number(length) : undefined
    try {
      checkIdentity(this.url, h)
      if (this.size !== undefined && this.size > this.transport.maxBytes) throw tooLarge(this.url, this.size, this.transport.maxBytes)
    } catch (err) {
      discardBody(res.body)
      throw err
    }
  }

  /** Streams a body to the end of a file, counting bytes, enforcing --max-bytes and the expected length. */
  private async receive (body: Body, target: FileHandle, append: boolean, state: { written: number }): Promise<void> {
    const max = this.transport.maxBytes
    const start = append ? state.written : 0
    let failure: unknown
    if (!append) await target.truncate(0)
    const writes = new BatchedWrites(target, start)
    try {
      await readBody(body, this.url, this.transfer, { over: (got) => start + got > max ? tooLarge(this.url, start + got, max) : undefined },
        async (chunk) => await writes.add(chunk))
    } catch (err) {
      failure = err
    } finally {
      // What arrived is written even when the body failed, so a retry can resume from it.
      await writes.flush().catch((err: unknown) => { failure ??= err })
      state.written = (await target.stat()).size
    }
    // A connection that fails after the last byte of a body of known length has lost nothing.
    if (failure !== undefined && !(this.complete(state.written) && !(failure instanceof RecordError))) throw failure
    if (this.size !== undefined && state.written !== this.size) {
      throw new RecordError('fetch', 'TRUNCATED', `${this.url}: received ${state.written} of ${this.size} bytes`, true)
    }
  }

  /** The whole body of a known length is on disk. */
  private complete (written: number): boolean {
    return this.size !== undefined && written > 0 && written === this.size
  }

  /**
   * The whole file into memory (a small document, as a STAC Item): refused as `tooBig()` when its
   * Content-Length, or what has streamed, is over `maxBytes`.
   */
  async bytes (maxBytes: number, tooBig: () => RecordError): Promise<Buffer> {
    return await this.transport.retrying(this.transfer, async () => {
      const res = await this.transport.get({})
      if (res.statusCode !== 200) await this.transport.refuse(res)
      const length = Number(header(res.headers, 'content-length') ?? NaN)
      if (length > maxBytes) {
        discardBody(res.body)
        throw tooBig()
      }
      const chunks: Buffer[] = []
      await readBody(res.body, this.url, this.transfer, { over: (got) => got > maxBytes ? tooBig() : undefined }, (chunk) => chunks.push(chunk))
      return Buffer.concat(chunks)
    })
  }

  /** Refuses, before any request, ranges that would take the record over --max-bytes. */
  reserve (needed: number): void {
    const { bytes } = this.transfer
    const max = this.transport.maxBytes
    if (bytes + needed > max) {
      throw new RecordError('fetch', 'TOO_LARGE', words`${this.url}: the window needs ${needed} more bytes, over ${option('maxBytes')} ${max} with the ${bytes} this record has moved`)
    }
  }

  /**
   * Bytes [start, end) of the known version, given to `write` chunk by chunk with their offset in the
   * range: memory holds one chunk, whatever the range's size. The answer must be exactly that range of the
   * same version (size, and validator when known). Not retried as a request when the file changed (it
   * would meet the same new version): SOURCE_CHANGED, for the caller to read the file afresh.
   */
  async read ([start, end]: Range, write: (chunk: Buffer, offset: number) => unknown): Promise<void> {
    const url = this.url
    const max = this.transport.maxBytes
    await this.transport.retrying(this.transfer, async () => {
      const headers: Record<string, string> = { range: `bytes=${start}-${end - 1}` }
      if (this.validator) Object.assign(headers, conditions(this.validator))
      const res = await this.transport.get(headers)
      if (this.changed(res)) {
        await res.body.dump().catch(() => undefined)
        throw new RecordError('fetch', 'SOURCE_CHANGED', `${url}: the file changed on the server since its directories were read (${res.statusCode})`)
      }
      if (res.statusCode === 200) {
        discardBody(res.body)
        throw new RecordError('fetch', this.validator ? 'SOURCE_CHANGED' : 'RANGE_UNSUPPORTED',
          this.validator ? `${url}: the file changed on the server during the run` : `${url}: the server stopped honouring Range requests`)
      }
      if (res.statusCode !== 206) await this.transport.refuse(res)
      checkPartial(res, url, start, end - 1, (range, h) => this.checkVersion(range.total, h))
      const over = (): RecordError | undefined => this.transfer.bytes > max
        ? new RecordError('fetch', 'TOO_LARGE', words`${url}: this record has moved ${this.transfer.bytes} bytes, over ${option('maxBytes')} ${max}`)
        : undefined
      await readBody(res.body, url, this.transfer, { length: end - start, label: ` of range ${start}-${end - 1}`, over }, write)
    })
  }

  /**
   * Every range must come from the version of the file the probe saw: the same total size, and, when the
   * probe had a validator, the 206 must show that same one (ETag, or Last-Modified): a server that ignores
   * If-Match and If-Range, and drops the ETag on some answers, would otherwise mix two versions of one size,
   * silently (as a resumed download, whole()).
   */
  private checkVersion (total: number | undefined, h: Headers): void {
    if (total !== undefined && total !== this.size) {
      throw new RecordError('fetch', 'SOURCE_CHANGED', `${this.url}: the file changed on the server during the run (now ${total} bytes, was ${this.size})`)
    }
    if (this.validator === undefined) return
    const seen = validatorSeen(h, this.validator)
    if (seen !== this.validator) {
      throw new RecordError('fetch', 'SOURCE_CHANGED', seen === undefined
        ? `${this.url}: a range came without the validator the file was opened with (${this.validator}); not known to be the same version`
        : `${this.url}: the file changed on the server during the run (validator ${seen}, was ${this.validator})`)
    }
  }

  /**
   * A refusal that says the file is another version now: 412 to the condition, or 416 (a range past the end)
   * naming another size, as a server that ignores the condition answers for a file that shrank.
   */
  private changed (res: Answer): boolean {
    if (res.statusCode === 412) return this.validator !== undefined
    if (res.statusCode !== 416) return false
    const total = /^bytes \*\/(\d+)$/.exec(header(res.headers, 'content-range') ?? '')
    return (total !== null && Number(total[1]) !== this.size) || otherVersion(res.headers, this.validator)
  }
}

/**
 * The headers that tie a range to the version whose directories were read: If-Match (an ETag) or
 * If-Unmodified-Since (a Last-Modified date) makes a server that honours them answer 412 rather than
 * bytes of another version; If-Range makes one that honours only that answer 200. Whatever the server
 * honours, the 206's own validator and size are checked too (checkVersion).
 */
function conditions (validator: string): Record<string, string> {
  const guard = validator.startsWith('"') ? 'if-match' : 'if-unmodified-since'
  return { [guard]: validator, 'if-range': validator }
}
