// The fetch stage: makes each record's source a local file. HTTP(S) sources are downloaded into the
// private temp directory, or in range mode become a sparse file holding the head (shared between records
// of the same URL); local paths and file:// URLs are used in place. Outputs that exist already are skipped
// here, before any byte moves, under --skip-existing. The blocks stage, after open has resolved the
// window, fetches the blocks a range-mode record needs.
import { open, stat, rm } from 'node:fs/promises'
import type { Dispatcher } from 'undici'
import { httpTransport, RemoteFile, type Version } from './remote-file.js'
import { openCached, probe, type Probed } from './probe.js'
import { ProbeSizes } from './probe-sizes.js'
import { HeaderCache, readRanges } from './header-cache.js'
import { fetchMissing, type SparseSource } from './sparse.js'
import type { RequestOptions } from '../http/response.js'
import { planBlocks, planPointBlocks, UncertainPlan } from './blocks.js'
import { decideFetch, type FetchFacts } from './decision.js'
import { totalBytes, type Range } from './ranges.js'
import { RecordError } from '../core/errors.js'
import { sortedHeaders } from '../core/request.js'
import { option, words, type Message } from '../core/words.js'
import type { Fetched, Job, Plan } from '../core/job.js'
import type { PipelineOptions } from '../core/options.js'
import { SourceCache } from './cache.js'
import type { TempDir } from '../core/tempdir.js'
import type { Stores } from '../store/stores.js'
import { objectExists } from '../store/upload.js'
import { isRemote, isStoreUri, localPath } from '../core/url.js'
import { eachSource } from '../core/each-source.js'

export interface FetchContext {
  options: PipelineOptions
  dispatcher: Dispatcher
  temp: TempDir
  signal: AbortSignal
  /** Object stores' addressing and signing, by URL. */
  stores: Stores
  /** Messages for people (a header cache that stopped working). */
  warn?: (message: Message) => void
  /** The output driver copies the source's overviews (lib/raster/formats.ts, copiesOverviews): a window's
   * range read fetches the blocks of every overview under it too. */
  copiesOverviews?: boolean
}

const WHOLE_FILE_FORMATS = /\.(png|jpe?g|gif|webp|bmp)$/i

/** The largest head (header, directories, out-of-line tags) the header cache keeps for one source. */
const MAX_CACHED_HEAD = 8 * 1024 * 1024

/**
 * The run's request options (retries, timeouts, --max-bytes) on its dispatcher, aborted by `signal`.
 * Throttling answers are retried beyond --retries for at most --max-time (default 10 × --timeout) per
 * request: a record's own --max-time clock (withinMaxTime) ends its requests sooner; uploads have this one.
 */
export function httpOptions ({ options: o, dispatcher, signal }: Pick<FetchContext, 'options' | 'dispatcher' | 'signal'>): RequestOptions {
  return { dispatcher, retries: o.retries, timeoutMs: o.timeout * 1000, maxBytes: o.maxBytes, retryBaseMs: o.retryBaseMs, throttleMs: (o.maxTime ?? 10 * o.timeout) * 1000, signal }
}

/**
 * Runs a record's network work under its --max-time. The clock runs only while the record is fetching
 * (its fetch, then its blocks), not while it waits in a queue between stages; past it, whatever the
 * abort surfaced as becomes MAX_TIME.
 */
async function withinMaxTime (ctx: FetchContext, job: Job, work: (http: RequestOptions, deadline: AbortSignal) => Promise<void>): Promise<void> {
  const limitMs = (ctx.options.maxTime ?? 10 * ctx.options.timeout) * 1000
  const deadline = AbortSignal.timeout(Math.max(1, Math.ceil(limitMs - job.fetchMs)))
  const started = performance.now()
  try {
    await work(requestFor(ctx, job, { ...httpOptions(ctx), signal: AbortSignal.any([ctx.signal, deadline]) }), deadline)
  } catch (err) {
    if (deadline.aborted && !ctx.signal.aborted) throw maxTime(ctx, job)
    throw err
  } finally {
    job.fetchMs += performance.now() - started
  }
}

/** The request options for one source: its headers, and its store's signing. */
function requestFor (ctx: FetchContext, job: Job, http: RequestOptions): RequestOptions {
  const own: RequestOptions = { ...http, headers: job.headers }
  delete own.auth
  const auth = ctx.stores.authFor(job.url)
  if (auth) own.auth = auth
  return own
}

function maxTime (ctx: FetchContext, job: Job): RecordError {
  return new RecordError('fetch', 'MAX_TIME', words`${job.url}: not fetched within ${option('maxTime')} ${ctx.options.maxTime} s`, true)
}

export type FetchStage = ((job: Job) => Promise<void>) & {
  /** The next record for this job's source probes afresh: the file changed on the server. */
  forget: (job: Job) => void
}

/** A record's source as loaded for the run, and whether its head came from the header cache. */
type Loaded = Probed & { cache: 'hit' | 'miss' }

/** Records (or a stack's sources) whose file changed under ranges twice: the blocks stage marks them, and
 * their next fetch is a whole download of their own (see decideFetch's `changedTwice`). */
const changedTwice = new WeakSet<Job>()

export function createFetcher (ctx: FetchContext): FetchStage {
  const cache = new SourceCache<Loaded>(async (p) => {
    if (p.kind === 'range') await p.source.file.close()
    await rm(p.kind === 'range' ? p.source.path : p.path, { force: true })
  })
  const o = ctx.options
  const probeSizes = new ProbeSizes()
  // Made (or refused, as a usage error) when the run starts.
  let headerCache = o.cacheDir !== undefined ? HeaderCache.open(o.cacheDir, o.cacheMax, undefined, (m) => ctx.warn?.(m)) : undefined

  // A multi-source record fetches its sources at once, under its one --max-time.
  const fetchStage = async (job: Job): Promise<void> => {
    await withinMaxTime(ctx, job, (http, deadline) => job.parts ? fetchStack(job, http, deadline) : fetchSource(job, http, deadline))
  }
  const forget = (job: Job): void => {
    // A stack forgets only the sources that changed: the others' loads (and cache entries) still hold.
    if (job.parts) {
      for (const part of job.parts) if (part.sourceChanged) forget(part)
      return
    }
    // The range read that met another version (a whole download is never forgotten: it is the last resort).
    const key = sourceKey(job)
    // Only the version this record found changed: records restarting after it share the fresh load.
    const stale = cache.forget(key, (v) => v.kind === 'range' && v.source === job.fetched?.local?.sparse)
    if (stale && headerCache) headerCache.drop(key).catch(cacheFailed)
  }
  return Object.assign(fetchStage, { forget })

  /** A cache that cannot be written any more is left for the rest of the run: records never fail for it. */
  function cacheFailed (err: unknown): void {
    if (!headerCache) return
    ctx.warn?.(words`${option('cacheDir')} ${headerCache.dir}: ${(err as Error).message}; going on without the header cache`)
    headerCache = undefined
  }

  async function load (job: Job, http: RequestOptions, deadline: AbortSignal): Promise<Loaded> {
    const path = ctx.temp.file(job.url)
    const remote = (known?: Version): RemoteFile => new RemoteFile(httpTransport(job.url, http), job, known)
    // One handle for the record's temp file, from its first byte to its last: a source read by ranges keeps
    // it (closed when its last record is done), a download closes it once whole.
    const file = await open(path, 'w+')
    const local = { path, file }
    try {
      const facts: FetchFacts = { mode: o.fetch, imageTile: WHOLE_FILE_FORMATS.test(new URL(job.url).pathname) }
      if (changedTwice.has(job)) facts.changedTwice = true
      if (decideFetch(facts) === 'download') {
        await remote().whole(file)
        await file.close()
        return { kind: 'download', path, cache: 'miss' }
      }
      const key = sourceKey(job)
      const entry = await headerCache?.read(key)
      if (entry) {
        // The probe's facts and bytes from an earlier run: the blocks' requests carry its validator.
        const warm = await openCached(remote(entry), local, entry, facts)
        if (warm) return { ...warm, cache: 'hit' }
      }
      const probed = await probe(remote(), local, facts, probeSizes)
      if (probed.kind === 'download') await file.close()
      // Only what is read by ranges, and can be tied to its version, is worth keeping.
      // Nor an entry so large that reading it back into memory here (outside --max-memory) would cost
      // more than it saves: a BigTIFF's offset arrays can be tens of MB.
      if (headerCache && probed.kind === 'range' && probed.source.validator !== undefined &&
        totalBytes(probed.keep) <= Math.min(headerCache.maxBytes, MAX_CACHED_HEAD)) {
        const { source, layout, keep } = probed
        await readRanges(file, keep, path)
          .then((bytes) => headerCache?.write(key, job.url, { ...layout, size: source.size, validator: source.validator as string, ranges: keep, bytes }))
          .catch(cacheFailed)
      }
      return { ...probed, cache: 'miss' }
    } catch (err) {
      // A failed fetch keeps nothing on disk: its partial file goes with its record, not at the run's end.
      await file.close().catch(() => undefined)
      await rm(path, { force: true })
      // Said as such to the records waiting for it: their own time may not be up.
      throw deadline.aborted && !ctx.signal.aborted ? maxTime(ctx, job) : err
    }
  }

  /** An output already there: a local file, or an object in the store (asked with HEAD, before any byte moves). */
  async function outputExists (path: string, http: RequestOptions): Promise<boolean> {
    if (!isStoreUri(path)) return await exists(path)
    const auth = ctx.stores.authFor(path)
    if (!auth) throw new RecordError('fetch', 'BAD_URL', `${path}: no store for this output`)
    return await objectExists(path, auth, { ...http, auth, headers: {} })
  }

  async function fetchStack (job: Job, http: RequestOptions, deadline: AbortSignal): Promise<void> {
    if (o.skipExisting && job.outputPath && await outputExists(job.outputPath, http)) {
      job.status = 'skipped'
      return
    }
    await eachSource(job, 'fetch', (part) => fetchSource(part, requestFor(ctx, part, http), deadline))
  }

  async function fetchSource (job: Job, http: RequestOptions, deadline: AbortSignal): Promise<void> {
    if (o.skipExisting && job.outputPath && await outputExists(job.outputPath, http)) {
      job.status = 'skipped'
      return
    }
    if (!isRemote(job.url)) {
      await useLocal(job)
      return
    }
    // Records for one URL share its fetch and local copy. The record that makes the request carries its
    // bytes and attempts; the others carry only what they fetch themselves (range mode's blocks). A record
    // waits for another's fetch only within its own --max-time; should that fetch run out of the other
    // record's time, a record with time left fetches the URL itself.
    let shared
    for (;;) {
      try {
        shared = await cache.acquire(loadKey(job), () => load(job, http, deadline), http.signal)
        break
      } catch (err) {
        const othersTime = err instanceof RecordError && err.code === 'MAX_TIME' && !deadline.aborted && !ctx.signal.aborted
        if (!othersTime) throw err
      }
    }
    const got = shared.value
    // A fetch after the source changed under the record: its entry was dropped and is read again.
    job.fetched = {
      kind: got.kind,
      ...(o.cacheDir !== undefined ? { cache: job.sourceChanged ? 'renewed' : got.cache } : {}),
      local: got.kind === 'range'
        ? { path: got.source.path, downloaded: true, sparse: got.source, release: shared.release }
        : { path: got.path, downloaded: true, release: shared.release }
    }
  }
}

/** Records share a fetch when they ask for the same URL with the same headers (which may change the answer). */
function sourceKey (job: Job): string {
  const headers = sortedHeaders(job.headers)
  return headers.length === 0 ? job.url : `${job.url}\n${JSON.stringify(headers)}`
}

/** What a load is shared under: a source's whole download after it changed twice is not its range read. */
function loadKey (job: Job): string {
  return changedTwice.has(job) ? `${sourceKey(job)}\nwhole` : sourceKey(job)
}

async function useLocal (job: Job): Promise<void> {
  const fetched: Fetched = { kind: 'local' }
  job.fetched = fetched
  let path: string
  try {
    path = localPath(job.url)
  } catch (err) {
    throw new RecordError('fetch', 'BAD_URL', `${job.url}: ${(err as Error).message}`)
  }
  const info = await stat(path).catch(() => null)
  if (!info) throw new RecordError('fetch', 'NOT_FOUND', `${job.url}: no such file`)
  if (!info.isFile()) throw new RecordError('fetch', 'NOT_A_FILE', `${job.url}: not a regular file`)
  fetched.local = { path, downloaded: false, release: async () => undefined }
}

async function exists (path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false)
}

/**
 * The blocks stage. A block of another version of the file than the probe saw (SOURCE_CHANGED) restarts
 * the record once from a fresh probe (`restart` fetches and opens it again). A second change (a file that
 * keeps changing, or a server whose ETag changes between answers) restarts it under auto as one whole
 * download, the sure read of one version; under range it fails, saying so.
 */
export function createBlockFetcher (ctx: FetchContext, restart: (job: Job) => Promise<void>): (job: Job) => Promise<void> {
  return async function blocksStage (job: Job): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      // Which sources changed is this attempt's question: a source renewed by the last restart is not "changed twice".
      for (const part of job.parts ?? []) part.sourceChanged = false
      try {
        // A stack's sources fetch their blocks at once; a source that changed restarts the whole record,
        // since its grid was planned from the old version with the others'.
        if (job.parts) {
          await withinMaxTime(ctx, job, (http) => eachSource(job, 'blocks', async (part) => {
            const sparse = part.fetched?.local?.sparse
            // A stack's sources are copied into plain GTiffs of our own (lib/raster/stack-write.ts): no overview is read.
            if (sparse && part.plan) await changed(part, fetchBlocks(part, part.plan, sparse, requestFor(ctx, part, http), false))
          }))
          return
        }
        const sparse = job.fetched?.local?.sparse
        const plan = job.plan
        if (!sparse || !plan) return
        await withinMaxTime(ctx, job, (http) => changed(job, fetchBlocks(job, plan, sparse, http, ctx.copiesOverviews === true)))
        return
      } catch (err) {
        if (!(err instanceof RecordError && err.code === 'SOURCE_CHANGED') || attempt > 2) throw err
        if (attempt === 2) {
          if (decideFetch({ mode: ctx.options.fetch, imageTile: false, changedTwice: true }) !== 'download') throw changedAgain(err)
          for (const source of job.parts?.filter((p) => p.sourceChanged) ?? [job]) changedTwice.add(source)
        }
        await restart(job)
      }
    }
  }

  function changedAgain (err: RecordError): RecordError {
    const why = 'it changed again after a fresh probe: a file that keeps changing, or a server whose ETag changes between answers ' +
      '(several nodes, each with its own), cannot be read by ranges'
    return new RecordError(err.stage, err.code, words`${err}; ${why} (${option('fetch', 'auto')} downloads it whole)`, err.retryable)
  }

  /** Marks a record (or a stack's source) whose file changed under it, for restart() to forget. */
  async function changed (job: Job, work: Promise<void>): Promise<void> {
    try {
      await work
    } catch (err) {
      if (err instanceof RecordError && err.code === 'SOURCE_CHANGED') job.sourceChanged = true
      throw err
    }
  }

  /** `copied`: the window goes into the output as it is, whose driver may copy the source's overviews. */
  async function fetchBlocks (job: Job, plan: Plan, sparse: SparseSource, http: RequestOptions, copied: boolean): Promise<void> {
    if (plan.kind === 'stack') return
    let wanted: Range[]
    try {
      if (plan.kind === 'points') {
        // Point samples read only the blocks under them (lib/raster/points.ts), each once.
        wanted = planPointBlocks(sparse.info, plan.reads, plan.blockBands ?? plan.bands, plan.overview)
      } else if (plan.kind === 'zonal') {
        // A zone reads its window at full resolution (lib/raster/zonal.ts).
        wanted = plan.window ? planBlocks(sparse.info, plan.window, plan.blockBands ?? plan.bands, plan.overview) : []
      } else {
        // A warp reads the source under its output's footprint (lib/raster/warp.ts), not the window.
        const footprint = plan.kind === 'warp' ? plan.footprint : undefined
        if (footprint && 'uncertain' in footprint) throw new UncertainPlan(footprint.uncertain)
        // A window copied as it is (no warp, no --out-size, whose read is pinned to one level and exposes
        // no overviews) carries the source's overviews into an output that copies them.
        const overviews = copied && plan.kind === 'window' && !plan.outSize
        wanted = planBlocks(sparse.info, footprint ? footprint.window : plan.window, (plan.kind === 'window' ? plan.blockBands : undefined) ?? plan.bands, plan.overview, overviews)
      }
    } catch (err) {
      if (!(err instanceof UncertainPlan)) throw err
      // The sure path: under auto, the whole file (then nothing GDAL reads can be a hole); under
      // range, an error rather than a guess.
      if (ctx.options.fetch !== 'auto') throw new RecordError('fetch', 'BAD_TIFF', `${job.url}: cannot be read by ranges: ${err.message}`)
      wanted = [[0, sparse.size]]
      if (job.fetched) job.fetched.kind = 'download'
    }
    await fetchMissing(sparse, wanted, new RemoteFile(httpTransport(job.url, http), job, sparse))
  }
}
