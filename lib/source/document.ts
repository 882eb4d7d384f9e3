// Small documents read whole into memory (a STAC Item or ItemCollection named by `{"stac": …}`): over
// the run's HTTP layer (its dispatcher, retries, timeouts and --max-time, the stores' signing for s3://,
// gs:// and az://, the record's headers to their own origin), or from a local path; never more than a cap.
import { open } from 'node:fs/promises'
import { RecordError } from '../core/errors.js'
import type { RequestOptions } from '../http/response.js'
import { httpTransport, RemoteFile } from './remote-file.js'
import { httpOptions, type FetchContext } from './fetch.js'
import { isRemote, localPath } from '../core/url.js'
import { option, words } from '../core/words.js'

/** The most bytes of one document: STAC items are tens of KB; an ItemCollection of a few thousand is a few MB. */
export const DOCUMENT_MAX_BYTES = 16 * 1024 * 1024

export type DocumentReader = (location: string, headers: Record<string, string>, signal?: AbortSignal) => Promise<Buffer>

export function createDocumentReader (ctx: Pick<FetchContext, 'options' | 'dispatcher' | 'signal' | 'stores'>, maxBytes = DOCUMENT_MAX_BYTES): DocumentReader {
  return async (location, headers, signal) => {
    if (!isRemote(location)) return await readLocalDocument(location, maxBytes)
    const deadline = AbortSignal.timeout((ctx.options.maxTime ?? 10 * ctx.options.timeout) * 1000)
    const http: RequestOptions = {
      ...httpOptions(ctx),
      headers,
      signal: AbortSignal.any([ctx.signal, deadline, ...(signal ? [signal] : [])])
    }
    const auth = ctx.stores.authFor(location)
    if (auth) http.auth = auth
    try {
      return await readRemote(location, http, maxBytes)
    } catch (err) {
      if (deadline.aborted && !ctx.signal.aborted) throw new RecordError('fetch', 'MAX_TIME', words`${location}: not fetched within ${option('maxTime')} ${ctx.options.maxTime} s`, true)
      throw err
    }
  }
}

async function readRemote (url: string, http: RequestOptions, maxBytes: number): Promise<Buffer> {
  return await new RemoteFile(httpTransport(url, http), { bytes: 0, attempts: 0 }).bytes(maxBytes, () => tooBig(url, maxBytes))
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
