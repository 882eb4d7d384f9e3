// Outputs to object storage: a file written whole in the private temp directory becomes an object by one
// PUT, or above MULTIPART_SIZE in parts: an S3 multipart upload (S3, and GCS through its S3-compatible
// API), aborted on failure, or Azure blocks committed by one block list (uncommitted blocks are never
// visible, and Azure discards them). No partial object is ever visible. Every request is signed afresh
// for each try. --skip-existing asks the store (HEAD) instead of the disk.
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { Dispatcher } from 'undici'
import { RecordError } from '../core/errors.js'
import { storeOf } from '../core/url.js'
import { retrying } from '../http/retry.js'
import { undici } from '../http/undici.js'
import { rejectStatus, requestInit, type RequestAuth, type RequestOptions, type Response } from '../http/response.js'

/** Objects larger than this go up in parts of PART_SIZE (S3's smallest part is 5 MiB). */
export const MULTIPART_SIZE = 16 * 1024 * 1024
export const PART_SIZE = 8 * 1024 * 1024

type Query = Record<string, string>

/** One signed request to the object's URL (with `query` added), tried again on transient failures. */
async function send (uri: string, auth: RequestAuth, o: RequestOptions, method: Dispatcher.HttpMethod, query: Query, body?: Buffer,
  expect = [200, 201], extra: Record<string, string> = {}): Promise<Response> {
  return await retrying(uri, o, { bytes: 0, attempts: 0 }, async () => {
    // The target may carry a query already (an Azure SAS).
    const url = new URL(auth.target())
    for (const [k, v] of Object.entries(query)) url.searchParams.append(k, v)
    const target = url.toString()
    const headers: Record<string, string> = { ...extra }
    if (body) {
      headers['content-length'] = String(body.length)
      if (!azure(uri)) headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex')
    }
    const res = await undici().request(target, { ...requestInit(o, { ...headers, ...await auth.sign(method, target, headers) }, method), body })
    if (!expect.includes(res.statusCode)) await rejectStatus(res, uri, o)
    return res
  })
}

/** Whether the object exists (HEAD: 200 yes, 404 no; anything else is the record's error). */
export async function objectExists (uri: string, auth: RequestAuth, o: RequestOptions): Promise<boolean> {
  const res = await send(uri, auth, o, 'HEAD', {}, undefined, [200, 404])
  await res.body.dump().catch(() => undefined)
  return res.statusCode === 200
}

/**
 * Uploads the file at `path` as the object `uri`. `stillWanted` is asked just before the object is made
 * visible (the single PUT, or the multipart upload's completion): a cancelled run makes no object.
 */
export async function uploadFile (path: string, uri: string, auth: RequestAuth, o: RequestOptions, stillWanted: () => boolean): Promise<void> {
  const file = await open(path, 'r')
  try {
    const { size } = await file.stat()
    if (size <= MULTIPART_SIZE) {
      const body = await readPart(file, 0, size)
      if (!stillWanted()) throw cancelled(uri)
      const res = await send(uri, auth, o, 'PUT', {}, body, undefined, azure(uri) ? { 'x-ms-blob-type': 'BlockBlob' } : {})
      await res.body.dump().catch(() => undefined)
      return
    }
    if (azure(uri)) await blocks(file, size, uri, auth, o, stillWanted)
    else await multipart(file, size, uri, auth, o, stillWanted)
  } finally {
    await file.close()
  }
}

async function multipart (file: Awaited<ReturnType<typeof open>>, size: number, uri: string, auth: RequestAuth, o: RequestOptions,
  stillWanted: () => boolean): Promise<void> {
  const created = await send(uri, auth, o, 'POST', { uploads: '' })
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(await created.body.text())?.[1]
  if (!uploadId) throw new RecordError('write', 'UPLOAD_FAILED', `${uri}: the store gave no UploadId for a multipart upload`)
  const id = { uploadId }
  try {
    const etags: string[] = []
    for (let n = 1, at = 0; at < size; n++, at += PART_SIZE) {
      const res = await send(uri, auth, o, 'PUT', { partNumber: String(n), ...id }, await readPart(file, at, Math.min(PART_SIZE, size - at)))
      await res.body.dump().catch(() => undefined)
      const etag = res.headers.etag
      if (typeof etag !== 'string') throw new RecordError('write', 'UPLOAD_FAILED', `${uri}: part ${n} came back without an ETag`)
      etags.push(etag)
    }
    if (!stillWanted()) throw cancelled(uri)
    const xml = '<CompleteMultipartUpload>' + etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('') + '</CompleteMultipartUpload>'
    const done = await send(uri, auth, o, 'POST', id, Buffer.from(xml))
    // S3 may answer 200 and still report a failure in the body of a completion.
    const text = await done.body.text()
    if (/<Error>/.test(text)) throw new RecordError('write', 'UPLOAD_FAILED', `${uri}: the store refused to complete the upload: ${/<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'unknown error'}`, true)
  } catch (err) {
    // No partial object, and no parts left to be billed for.
    await send(uri, auth, { ...o, retries: 1 }, 'DELETE', id, undefined, [200, 204, 404]).then((r) => r.body.dump(), () => undefined)
    throw err
  }
}

/** Azure: blocks of PART_SIZE, then the block list that makes the blob, all at once. */
async function blocks (file: Awaited<ReturnType<typeof open>>, size: number, uri: string, auth: RequestAuth, o: RequestOptions,
  stillWanted: () => boolean): Promise<void> {
  const ids: string[] = []
  for (let n = 0, at = 0; at < size; n++, at += PART_SIZE) {
    // Block ids of one blob must all have the same length.
    const blockid = Buffer.from(`block-${String(n).padStart(6, '0')}`).toString('base64')
    const res = await send(uri, auth, o, 'PUT', { comp: 'block', blockid }, await readPart(file, at, Math.min(PART_SIZE, size - at)))
    await res.body.dump().catch(() => undefined)
    ids.push(blockid)
  }
  if (!stillWanted()) throw cancelled(uri)
  const xml = '<?xml version="1.0" encoding="utf-8"?><BlockList>' + ids.map((id) => `<Latest>${id}</Latest>`).join('') + '</BlockList>'
  const res = await send(uri, auth, o, 'PUT', { comp: 'blocklist' }, Buffer.from(xml), undefined, { 'content-type': 'application/xml' })
  await res.body.dump().catch(() => undefined)
}

function azure (uri: string): boolean {
  return storeOf(uri) === 'az'
}

async function readPart (file: Awaited<ReturnType<typeof open>>, at: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length)
  const { bytesRead } = await file.read(buf, 0, length, at)
  if (bytesRead !== length) throw new RecordError('write', 'UPLOAD_FAILED', `read ${bytesRead} of ${length} bytes of the output at ${at}`)
  return buf
}

function cancelled (uri: string): RecordError {
  return new RecordError('write', 'CANCELLED', `${uri}: the run was cancelled; not uploaded`)
}
