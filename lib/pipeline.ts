// rasterPipeline(): the chain parse → fetch → open → read → write → finalize as one object-mode Duplex.
// Write input items (lines, raw lines from LineSplitter, or record objects); read result records.
import { setMaxListeners } from 'node:events'
import { Transform, type Duplex, type TransformCallback } from 'node:stream'
import chain from 'stream-chain'
import type { Dispatcher } from 'undici'
import { UsageError } from './errors.js'
import { createBlockFetcher, createFetcher } from './fetch.js'
import { Finalize } from './finalize.js'
import { loadGdal, type Gdal } from './gdal.js'
import { createAgent } from './http.js'
import { createOpener } from './open.js'
import { resolveOptions, type PipelineOptions } from './options.js'
import { parseItem, type InputItem } from './parse.js'
import { createReader } from './read.js'
import { Stage } from './stage.js'
import { TempDir } from './tempdir.js'
import { CrsCatalog } from './window.js'
import { createWriter } from './write.js'

export interface RasterPipeline extends Duplex {
  readonly options: PipelineOptions
  readonly stages: Stage[]
  /** Input items taken in so far. */
  readonly taken: () => number
  /** Stops every fetch and GDAL step that has not started; records in flight end as errors. */
  abort: () => void
}

export function outputExtension (gdal: Gdal, format: string): string {
  let driver
  try {
    driver = gdal.drivers.get(format)
  } catch {
    driver = null
  }
  if (!driver) throw new UsageError(`--format: unknown GDAL driver '${format}'`)
  const md = driver.getMetadata() as Record<string, string>
  if (md.DCAP_RASTER !== 'YES' || (md.DCAP_CREATECOPY !== 'YES' && md.DCAP_CREATE !== 'YES')) {
    throw new UsageError(`--format: GDAL driver '${format}' cannot write rasters`)
  }
  if (format === 'GTiff' || format === 'COG') return '.tif'
  const ext = (md.DMD_EXTENSION ?? md.DMD_EXTENSIONS ?? '').split(/\s+/)[0]
  return ext ? `.${ext}` : ''
}

class Parse extends Transform {
  private count = 0
  private readonly options: PipelineOptions
  private readonly ext: string

  constructor (options: PipelineOptions, ext: string) {
    super({ objectMode: true, highWaterMark: 16 })
    this.options = options
    this.ext = ext
  }

  get taken (): number {
    return this.count
  }

  override _transform (item: InputItem, _enc: BufferEncoding, done: TransformCallback): void {
    const job = parseItem(item, ++this.count, this.options, this.ext)
    done(null, job ?? undefined)
  }
}

export function rasterPipeline (given: Partial<PipelineOptions> = {}): RasterPipeline {
  const options = resolveOptions(given)
  const gdal = loadGdal()
  const ext = outputExtension(gdal, options.format)
  const temp = new TempDir(options.tempRoot)
  const dispatcher: Dispatcher = createAgent({ connections: options.concurrency, timeoutMs: options.timeout * 1000 })
  const controller = new AbortController()
  // Every request in flight listens on the run's signal: more than Node's default of 10 is the point.
  setMaxListeners(0, controller.signal)
  const crs = new CrsCatalog(gdal)

  const fetchContext = { options, dispatcher, temp, signal: controller.signal }
  const parse = new Parse(options, ext)
  const stages = [
    new Stage({ name: 'fetch', limit: options.concurrency }, createFetcher(fetchContext)),
    new Stage({ name: 'open', limit: options.gdalConcurrency }, createOpener({ gdal, crs, maxPixels: options.maxPixels })),
    // Range mode's block fetches wait on the network, so they get the fetch limit, not GDAL's.
    new Stage({ name: 'fetch', limit: options.concurrency }, createBlockFetcher(fetchContext)),
    new Stage({ name: 'read', limit: options.gdalConcurrency }, createReader({ gdal })),
    new Stage({ name: 'write', limit: options.gdalConcurrency }, createWriter({ gdal, format: options.format, creationOptions: options.creationOptions }))
  ]
  const duplex = chain([parse, ...stages, new Finalize()]) as unknown as Duplex

  let cleaned = false
  const cleanup = (): void => {
    if (cleaned) return
    cleaned = true
    temp.removeSync()
    void dispatcher.close().catch(() => undefined)
  }
  duplex.once('end', cleanup)
  duplex.once('close', cleanup)
  duplex.once('error', () => { controller.abort(); cleanup() })

  return Object.assign(duplex, {
    options,
    stages,
    taken: () => parse.taken,
    abort: () => controller.abort()
  })
}
