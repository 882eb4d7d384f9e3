// Small documents read whole into memory (a STAC Item or ItemCollection named by `{"stac": …}`): over
// the run's HTTP layer (its dispatcher, retries, timeouts and --max-time, the stores' signing for s3://,
// gs:// and az://, the record's headers to their own origin), or from a local path; never more than a cap.
import { open } from 'node:fs/promises'
import { RecordError } from '../core/errors.js'
import { post, type RequestOptions } from '../http/response.js'
import { httpTransport, RemoteFile } from './remote-file.js'
import { httpOptions, type FetchContext } from './fetch.js'
import { isRemote, localPath } from '../core/url.js'
import { option, words } from '../core/words.js'

/** The most bytes of one document: STAC items are tens of KB; an ItemCollection of a few thousand is a few MB. */
export const DOCUMENT_MAX_BYTES = 16 * 1024 * 1024

/** `post`: a JSON body to POST instead of a GET (a STAC API search's page); remote locations only. */
export type DocumentReader = (location: string, headers: Record<string, string>, signal?: AbortSignal, post?: string) => Promise<Buffer>

export function createDocumentReader (ctx: Pick<FetchContext, 'options' | 'dispatcher' | 'signal' | 'stores'>, maxBytes = DOCUMENT_MAX_BYTES): DocumentReader {
  return async (location, headers, signal, post) => {
    if (!isRemote(location)) {
      if (post !== undefined) throw new RecordError('fetch', 'BAD_URL', `${location}: a POST needs an http(s) URL`)
      return await readLocalDocument(location, maxBytes)
    }
    const deadline = AbortSignal.timeout((ctx.options.maxTime ?? 10 * ctx.options.timeout) * 1000)
    const http: RequestOptions = {
      ...httpOptions(ctx),
      headers,
      signal: AbortSignal.any([ctx.signal, deadline, ...(signal ? [signal] : [])])
    }
    const auth = ctx.stores.authFor(location)
    if (auth) http.auth = auth
    try {
      return await readRemote(location, http, maxBytes, post)
    } catch (err) {
      if (deadline.aborted && !ctx.signal.aborted) throw new RecordError('fetch', 'MAX_TIME', words`${location}: not fetched within ${option('maxTime')} ${ctx.options.maxTime} s`, true)
      throw err
    }
  }
}

async function readRemote (url: string, http: RequestOptions, maxBytes: number, body?: string): Promise<Buffer> {
  const transport = httpTransport(url, http)
  if (body !== undefined) transport.get = async (headers) => await post(url, http, headers, body)
  return await new RemoteFile(transport, { bytes: 0, attempts: 0 }).bytes(maxBytes, () => tooBig(url, maxBytes))
}

/** A document from a local path or file:// URL. */
export async function readLocalDocument (location: string, maxBytes = DOCUMENT_MAX_BYTES): Promise<Buffer> {
  let path: string
  try {
    path = localPath(location)
  } catch (err) {
    throw new RecordError('fetch', 'BAD_URL', `${location}: ${(err as Error).message}`)
  }
  const file = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new RecordError('fetch', err.code === 'ENOENT' ? 'NOT_FOUND' : 'READ_FAILED', `${location}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`)
  })
  try {
    const info = await file.stat()
    if (!info.isFile()) throw new RecordError('fetch', 'NOT_A_FILE', `${location}: not a regular file`)
    if (info.size > maxBytes) throw tooBig(location, maxBytes)
    return await file.readFile()
  } finally {
    await file.close()
  }
}

function tooBig (location: string, maxBytes: number): RecordError {
  return new RecordError('fetch', 'TOO_LARGE', `${location}: a document over ${maxBytes} bytes`)
}
