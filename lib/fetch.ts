// The fetch stage: makes each record's source a local file. HTTP(S) sources are downloaded into the
// private temp directory (shared between records of the same URL); local paths and file:// URLs are used
// in place. Outputs that exist already are skipped here, before any byte moves, under --skip-existing.
import { stat, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { resolve } from 'node:path'
import type { Dispatcher } from 'undici'
import { download, type DownloadResult } from './download.js'
import { RecordError } from './errors.js'
import type { Job } from './job.js'
import type { PipelineOptions } from './options.js'
import { SourceCache } from './source-cache.js'
import type { TempDir } from './tempdir.js'

export interface FetchContext {
  options: PipelineOptions
  dispatcher: Dispatcher
  temp: TempDir
  signal: AbortSignal
}

export function isRemote (url: string): boolean {
  return /^https?:\/\//i.test(url)
}

export function createFetcher (ctx: FetchContext): (job: Job) => Promise<void> {
  const cache = new SourceCache<DownloadResult>(async (d) => { await rm(d.path, { force: true }) })
  const o = ctx.options

  return async function fetchStage (job: Job): Promise<void> {
    const t0 = performance.now()
    try {
      if (o.skipExisting && job.outputPath && await exists(job.outputPath)) {
        job.status = 'skipped'
        return
      }
      if (!isRemote(job.url)) {
        await useLocal(job)
        return
      }
      job.fetch = 'download'
      const shared = await cache.acquire(job.url, () => download(job.url, ctx.temp.file(job.url), {
        dispatcher: ctx.dispatcher,
        retries: o.retries,
        timeoutMs: o.timeout * 1000,
        maxBytes: o.maxBytes,
        retryBaseMs: o.retryBaseMs,
        signal: ctx.signal
      })).catch((err: unknown) => {
        const e = err as { attempts?: number, bytes?: number }
        job.attempts = e.attempts ?? job.attempts
        job.bytes = e.bytes ?? job.bytes
        throw err
      })
      if (shared.first) {
        job.bytes = shared.value.bytes
        job.attempts = shared.value.attempts
      }
      job.local = { path: shared.value.path, downloaded: true, release: shared.release }
    } finally {
      job.ms.fetch = Math.round(performance.now() - t0)
    }
  }
}

async function useLocal (job: Job): Promise<void> {
  job.fetch = 'local'
  let path: string
  try {
    path = /^file:/i.test(job.url) ? fileURLToPath(job.url) : resolve(job.url)
  } catch (err) {
    throw new RecordError('fetch', 'BAD_URL', `${job.url}: ${(err as Error).message}`)
  }
  const info = await stat(path).catch(() => null)
  if (!info) throw new RecordError('fetch', 'NOT_FOUND', `${job.url}: no such file`)
  if (!info.isFile()) throw new RecordError('fetch', 'NOT_A_FILE', `${job.url}: not a regular file`)
  job.local = { path, downloaded: false, release: async () => undefined }
}

async function exists (path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false)
}
