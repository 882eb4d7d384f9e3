// rasterPipeline(): the chain parse → fetch → open → blocks → read → write → finalize as one object-mode
// Duplex. Write input items (lines, raw lines from LineSplitter, or record objects); read result records.
// When the consumer stops early (destroy(), or a `break` out of `for await`), the run is cancelled: no
// stage starts new work, fetches are aborted, no output is put in place after that moment, and once the
// GDAL calls in flight have returned every dataset is closed and every temp file removed.
import { setMaxListeners } from 'node:events'
import { Transform, type Duplex, type TransformCallback } from 'node:stream'
import chain from 'stream-chain'
import { RecordError, UsageError } from '../core/errors.js'
import { sortedHeaders } from '../core/request.js'
import { keyNames, option, say, words, type Message } from '../core/words.js'
import { createBlockFetcher, createFetcher, httpOptions } from '../source/fetch.js'
import { Finalize, releaseJob } from './finalize.js'
import { checkCreationOptions, copiesOverviews, mergeCreationOptions, outputExtension, UNGEOREFERENCED } from '../raster/formats.js'
import { applyGdalConfig, loadGdal } from '../raster/gdal.js'
import { createHttpClient } from '../http/client.js'
import type { HostLimitFigures } from '../http/host-limit.js'
import { printable, Secrets } from '../http/redact.js'
import { networkSettings } from '../http/network.js'
import { Stores } from '../store/stores.js'
import { dropResults, type Job } from '../core/job.js'
import { createOpener } from '../raster/open.js'
import { resolveOptions } from './options.js'
import type { PipelineInput, PipelineOptions } from '../core/options.js'
import { parseItem, type CrsCheck } from '../input/parse.js'
import { Expand } from '../input/expand.js'
import { searchRecordOf } from '../input/stac-search.js'
import { createDocumentReader } from '../source/document.js'
import { jobKey, shardOf } from '../input/shard.js'
import { requestKey } from '../output/names.js'
import { requestedSources } from '../input/sources.js'
import { mosaicKey } from '../input/mosaic-field.js'
import type { StackSource } from '../core/records.js'
import { OutputClaims } from '../output/claims.js'
import { createReader } from '../raster/read.js'
import type { InputItem, ResultRecord } from '../core/records.js'
import { Stage } from './stage.js'
import { Slots } from '../core/slots.js'
import { MemoryBudget } from '../core/budget.js'
import { TempDir } from '../core/tempdir.js'
import { CrsCatalog } from '../raster/window.js'
import { createWriter } from '../raster/write.js'

type Callback = (error?: Error | null) => void

/** The Duplex, typed: input items in, result records out. */
export interface RasterPipeline extends Duplex {
  readonly options: PipelineOptions
  /** The stages in order; each emits 'settled' (job) when it is done with a job. */
  readonly stages: Stage[]
  /** GDAL calls running (`active`, at most `size`: `options.gdalConcurrency`), `waiting` for a slot, and the `peak`. */
  readonly gdalCalls: Pick<Slots, 'size' | 'active' | 'waiting' | 'peak'>
  /** Each host's (origin's) limit on requests in flight over the run, and the throttling answers it gave. */
  readonly hosts: () => Record<string, HostLimitFigures>
  /** Input items taken in so far (other shards' included). */
  readonly taken: () => number
  /** Input records left to other shards under `shard`: no record is printed for them. */
  readonly otherShards: () => number
  /** Aborts every fetch in flight and not yet started; those records end as errors, the rest go on. */
  abort: () => void
  /** Stops the run at once: as destroy(), and resolves when everything in flight has been let go. */
  cancel: () => Promise<void>
  /** Resolves when the run has released everything it held: after the last record, or after cancel. */
  readonly released: Promise<void>
  write (record: InputItem, callback?: Callback): boolean
  write (record: InputItem, encoding: BufferEncoding, callback?: Callback): boolean
  end (callback?: () => void): this
  end (record: InputItem, callback?: () => void): this
  read (size?: number): ResultRecord | null
  [Symbol.asyncIterator] (): NodeJS.AsyncIterator<ResultRecord>
  on (event: 'data', listener: (record: ResultRecord) => void): this
  on (event: 'warning', listener: (message: string) => void): this
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Duplex's own signature, which this narrows
  on (event: string | symbol, listener: (...args: any[]) => void): this
  once (event: 'data', listener: (record: ResultRecord) => void): this
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  once (event: string | symbol, listener: (...args: any[]) => void): this
}

class Parse extends Transform {
  private count = 0
  others = 0
  private readonly options: PipelineOptions
  private readonly ext: string
  private readonly onJob: (job: Job) => void
  private readonly checkCrs: CrsCheck
  /** Every output path this run's records named so far, and for which request (about 32–64 bytes a record). */
  private readonly claims = new OutputClaims()

  constructor (options: PipelineOptions, ext: string, onJob: (job: Job) => void, checkCrs: CrsCheck) {
    super({ objectMode: true, highWaterMark: 16 })
    this.options = options
    this.ext = ext
    this.onJob = onJob
    this.checkCrs = checkCrs
  }

  get taken (): number {
    return this.count
  }

  override _transform (item: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    const job = parseItem(item, ++this.count, this.options, this.ext, this.checkCrs)
    // Another shard's record is dropped here, before anything is fetched or printed for it.
    const shard = this.options.shard
    if (job && shard && shardOf(jobKey(job, item), shard.count) !== shard.index) {
      this.others++
      done()
      return
    }
    if (job) {
      this.checkOutput(job)
      this.onJob(job)
    }
    done(null, job ?? undefined)
  }

  /**
   * A record whose output path an earlier record of this run (this shard's) named for another request is
   * refused here, before its fetch: one file cannot hold both. The same request twice may run.
   */
  private checkOutput (job: Job): void {
    if (job.error || job.outputPath === undefined) return
    // The sources as the output's name hashes them (a mosaic's method and group with them): the same urls
    // combined otherwise are another request, never one file's.
    const sources = job.parts && mosaicKey(job.mosaic, requestedSources(job.parts.map((p) => p.stackSource as StackSource)))
    const first = this.claims.claim(job.outputPath, requestKey(job.url, job.request, this.options, sources, job.expr, job.points ?? job.zone), job.line, job.input, headersKey(job))
    if (!first) return
    const where = `line ${first.line}${first.input !== job.input ? ` of ${first.input ?? 'stdin'}` : ''}`
    // Headers are never printed: only that they differ.
    const why = first.headersDiffer ? 'for the same URL and window with other headers (a server may answer them with other files)' : 'for another request'
    job.error = new RecordError('input', 'DUPLICATE_OUTPUT',
      `${where} writes the same output '${job.output ?? job.outputPath}' ${why}; give one of them its own "out"`)
  }
}

/**
 * A record's request headers (-H and its own; a stack's, each source's) as text for the claim key: a
 * server may pick the file by a header. Not part of the default name, so that a bearer token renewed
 * between runs keeps the names --skip-existing finds.
 */
function headersKey (job: Job): string {
  return JSON.stringify(job.parts ? job.parts.map((p) => sortedHeaders(p.headers)) : sortedHeaders(job.headers))
}

export function rasterPipeline (given: PipelineInput = {}): RasterPipeline {
  const options = resolveOptions(given)
  const gdal = loadGdal()
  applyGdalConfig(gdal, options.gdalConfig)
  const ext = outputExtension(gdal, options.format)
  const creationOptions = mergeCreationOptions(options.format, options.creationOptions)
  // The defaults alone are known good: GDAL is asked only when a user gave options.
  if (options.creationOptions.length > 0) checkCreationOptions(gdal, options.format, creationOptions)
  const crs = new CrsCatalog(gdal)
  if (options.bboxCrs !== undefined) {
    try {
      crs.get(options.bboxCrs)
    } catch (err) {
      throw new UsageError(words`${option('bboxCrs')}: ${(err as Error).message}`, { option: 'bboxCrs' })
    }
  }
  if (options.dstCrs !== undefined && options.dstCrs.toLowerCase() !== 'utm') {
    try {
      crs.get(options.dstCrs)
    } catch (err) {
      throw new UsageError(words`${option('dstCrs')}: ${(err as Error).message}`, { option: 'dstCrs' })
    }
  }
  for (const key of ['pointsCrs', 'geometryCrs'] as const) {
    const text = options[key]
    if (text === undefined) continue
    try {
      crs.get(text)
    } catch (err) {
      throw new UsageError(words`${option(key)}: ${(err as Error).message}`, { option: key })
    }
  }
  // Values that are never printed: header values, proxy and netrc passwords now, store credentials as they are resolved.
  const secrets = new Secrets()
  // Read once, now: an unreadable netrc or CA bundle, or a bad proxy URL, is a usage error before any record.
  const network = networkSettings(options, secrets)
  const temp = new TempDir(options.tempRoot)
  // Fetches are aborted by abort() (after a signal's grace period) and by a cancel; a cancel also stops
  // every stage from starting work and the write stage from putting outputs in place.
  const fetches = new AbortController()
  const cancelled = new AbortController()
  // Every request in flight listens on the run's signal: more than Node's default of 10 is the point.
  setMaxListeners(0, fetches.signal)
  setMaxListeners(0, cancelled.signal)

  let warn: (message: Message) => void = () => undefined
  const dispatcher = createHttpClient({
    concurrency: options.concurrency,
    adaptive: !options.fixedConcurrency,
    timeoutMs: options.timeout * 1000,
    agent: network.agent,
    ...(options.dispatcher ? { make: options.dispatcher } : {}),
    onFault: (err) => warn(`a fault inside the HTTP client was recovered from (requests in flight are retried): ${err instanceof Error ? err.message : String(err)}`)
  })

  // Every job from parse until finalize has let it go, so that a cancelled run can release those left
  // in the stages' buffers.
  const live = new Set<Job>()
  // The stores' variables as GDAL takes them: the environment, --config (gdalConfig) on top.
  const stores = new Stores(options, secrets, { ...process.env, ...options.gdalConfig }, network.credentials)
  const fetchContext = { options, dispatcher, temp, signal: fetches.signal, stores, warn: (message: Message) => warn(message), copiesOverviews: copiesOverviews(options.format, creationOptions) }
  // Uploads stop when the run is cancelled; they are the write stage's, so not bound by --max-time.
  const upload = {
    auth: (uri: string) => stores.authFor(uri),
    http: { ...httpOptions({ options, dispatcher, signal: cancelled.signal }), maxBytes: Infinity }
  }
  // STAC lines become one record per item before parse; their documents are read over the run's HTTP.
  const expand = new Expand({
    ...(options.assets ? { assets: options.assets } : {}),
    ...(options.expr !== undefined ? { expr: true } : {}),
    ...(options.mosaic !== undefined ? { mosaic: options.mosaic } : {}),
    ...(options.groupBy !== undefined ? { groupBy: options.groupBy } : {}),
    extentGiven: options.bbox !== undefined || options.windowGiven,
    headers: options.headers,
    readDocument: createDocumentReader(fetchContext),
    onSecrets: (values) => secrets.add(...values)
  })
  const parse = new Parse(options, ext, (job) => {
    live.add(job)
    secrets.add(...Object.values(job.headers))
    // A stack's entries may carry headers of their own.
    for (const part of job.parts ?? []) secrets.add(...Object.values(part.headers))
  }, (text) => { crs.get(text) })
  const gdalStage = { limit: options.gdalConcurrency, signal: cancelled.signal }
  // One limit on GDAL calls across open, read and write, so that GDAL leaves a thread of the pool to fs.
  const gdalCalls = new Slots(options.gdalConcurrency)
  const fetchStage = createFetcher(fetchContext)
  const openStage = createOpener({ gdal, crs, maxPixels: options.maxPixels, maxMemory: options.maxMemory, gdalCalls, oneNodata: ['GTiff', 'COG'].includes(options.format) })
  const budget = new MemoryBudget(options.maxMemory)
  // The file changed on the server under a record: let go of what it had, and fetch and open it afresh.
  const restart = async (job: Job): Promise<void> => {
    fetchStage.forget(job)
    await releaseJob(job)
    dropResults(job)
    await fetchStage(job)
    // Under --skip-existing the output may have appeared meanwhile: then the record is skipped.
    if (job.status !== 'skipped') await openStage(job)
  }
  // A multi-source record's fetches count one a source against --concurrency.
  const sources = (job: Job): number => Math.min(options.concurrency, job.parts?.length ?? 1)
  const stages = [
    new Stage({ name: 'fetch', limit: options.concurrency, signal: cancelled.signal, weight: sources }, fetchStage),
    new Stage({ name: 'open', ...gdalStage }, openStage),
    // Range mode's block fetches wait on the network, so they get the fetch limit, not GDAL's.
    new Stage({ name: 'blocks', limit: options.concurrency, signal: cancelled.signal, applies: (job) => Boolean(job.fetched?.local?.sparse) || Boolean(job.parts?.some((p) => p.fetched?.local?.sparse)), weight: sources },
      createBlockFetcher(fetchContext, restart)),
    new Stage({ name: 'read', ...gdalStage }, createReader({ gdal, budget, cancelled: cancelled.signal, gdalCalls })),
    // Point samples and zonal statistics are read by the read stage, and write no file.
    new Stage({ name: 'write', ...gdalStage, applies: (job) => job.plan?.kind !== 'points' && job.plan?.kind !== 'zonal' }, createWriter({ gdal, format: options.format, creationOptions, cancelled: cancelled.signal, gdalCalls, temp, outDir: options.outDir, upload, chipStats: options.chipStats, ...(options.minValid !== undefined ? { minValid: options.minValid } : {}) }))
  ]
  const names = options.optionNames ?? keyNames
  const finalize = new Finalize((job) => live.delete(job), secrets, (message) => warn(message), names)
  const duplex = chain([expand, parse, ...stages, finalize]) as unknown as Duplex
  warn = (message) => { duplex.emit('warning', printable(say(message, names), secrets)) }

  let released: Promise<void> | undefined
  const release = (): Promise<void> => {
    released ??= (async () => {
      cancelled.abort()
      fetches.abort()
      // GDAL calls cannot be interrupted: wait for them, so that no dataset is closed under one.
      await Promise.all([...stages.map((s) => s.idle()), finalize.idle()])
      for (const job of live) await releaseJob(job).catch(() => undefined)
      live.clear()
      temp.removeSync()
      await dispatcher.destroy().catch(() => undefined)
    })()
    return released
  }
  // The cancel takes effect inside destroy() itself, not a tick later on 'close': a write finishing in
  // between must already see it. stream-chain's destroy() destroys every stream of the chain there and
  // then, finalize among them while any record is still on its way.
  finalize.onCancel = () => {
    cancelled.abort()
    fetches.abort()
  }
  // After the last record every job has been let go: the temp directory can go at once, so that a
  // consumer who has read everything finds it gone.
  duplex.once('end', () => temp.removeSync())
  const releasedAfterClose = new Promise<void>((resolve) => duplex.once('close', () => { resolve(release()) }))

  const pipeline = Object.assign(duplex, {
    options,
    stages,
    gdalCalls,
    hosts: () => dispatcher.figures(),
    taken: () => parse.taken,
    otherShards: () => parse.others,
    abort: () => fetches.abort(),
    cancel: async () => {
      duplex.destroy()
      await release()
    },
    released: releasedAfterClose
  })
  // The run's own search is its one input (lib/input/stac-search.ts): written now, and the input ended.
  if (options.stacSearch !== undefined) duplex.end(searchRecordOf(options))
  if (UNGEOREFERENCED.has(options.format)) {
    process.nextTick(() => warn(words`${option('format', options.format)} keeps no georeferencing inside the file; outputs are plain images`))
  }
  return pipeline as unknown as RasterPipeline
}
