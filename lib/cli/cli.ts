// The rasterpipe command: options to a pipeline, input files (or stdin) into it, NDJSON records out on
// stdout; progress, per-record errors and the summary on stderr. Exit 0 all ok, 1 any failed, 2 usage.
import { createReadStream } from 'node:fs'
import { access, constants, stat } from 'node:fs/promises'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { UsageError } from '../errors.js'
import { GdalMissingError } from '../raster/gdal.js'
import type { ResultRecord } from '../input/records.js'
import { LineSplitter } from '../input/lines.js'
import { optionValue, type FetchMode, type PipelineInput } from '../run/options.js'
import { rasterPipeline, type RasterPipeline } from '../run/pipeline.js'
import { Progress } from './progress.js'
import { parseBands, parseBbox, parseCrs, parseOutSize, parseRes, parseResampling, parseWindow } from '../input/request.js'
import { Summary } from './summary.js'
import { helpText, version } from './help.js'
import { shardFromEnvironment } from '../input/shard.js'
import { summarize } from './summarize.js'
import { removeNow } from '../run/tempdir.js'

const spec = {
  'out-dir': { type: 'string', short: 'o' },
  concurrency: { type: 'string', short: 'c' },
  window: { type: 'string', short: 'w' },
  bbox: { type: 'string', short: 'b' },
  'bbox-crs': { type: 'string' },
  bands: { type: 'string' },
  boundless: { type: 'boolean' },
  'out-size': { type: 'string' },
  'dst-crs': { type: 'string' },
  res: { type: 'string' },
  resampling: { type: 'string' },
  tap: { type: 'boolean' },
  'max-pixels': { type: 'string' },
  fetch: { type: 'string' },
  retries: { type: 'string' },
  timeout: { type: 'string' },
  'max-time': { type: 'string' },
  'max-bytes': { type: 'string' },
  'max-memory': { type: 'string' },
  'cache-dir': { type: 'string' },
  'cache-max': { type: 'string' },
  format: { type: 'string' },
  co: { type: 'string', multiple: true },
  header: { type: 'string', short: 'H', multiple: true },
  'requester-pays': { type: 'boolean' },
  'no-sign': { type: 'boolean' },
  'skip-existing': { type: 'boolean' },
  'chip-stats': { type: 'boolean' },
  'min-valid': { type: 'string' },
  stats: { type: 'string' },
  shard: { type: 'string' },
  shards: { type: 'string' },
  progress: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' }
} as const

export interface CliIo {
  stdin: NodeJS.ReadableStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
}

interface CliConfig {
  options: PipelineInput
  inputs: string[]
  progress: boolean
  stats?: string
}

/**
 * A number given on the command line, as a number when it reads as one and otherwise as the text, so that
 * resolveOptions checks it and refuses it with the same message a library caller gets.
 */
function numeric (text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  return /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text as unknown as number
}

export function parseCommandLine (argv: string[], stderrIsTTY: boolean): CliConfig | 'help' | 'version' {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: spec, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const v = parsed.values
  if (v.help) return 'help'
  if (v.version) return 'version'
  if (v.bbox !== undefined && v.window !== undefined) throw new UsageError('--window and --bbox cannot be used together')
  if (v.shard !== undefined && v.shards !== undefined) throw new UsageError('--shard K/N and --shards N cannot be used together (--shards takes K from the environment)')
  const options: PipelineInput = {
    outDir: v['out-dir'],
    concurrency: numeric(v.concurrency),
    window: v.window === undefined ? undefined : optionValue('window', () => parseWindow(v.window)),
    bbox: v.bbox === undefined ? undefined : optionValue('bbox', () => parseBbox(v.bbox)),
    bboxCrs: v['bbox-crs'] === undefined ? undefined : optionValue('bboxCrs', () => parseCrs(v['bbox-crs'])),
    bands: v.bands === undefined ? undefined : optionValue('bands', () => parseBands(v.bands)),
    boundless: v.boundless,
    outSize: v['out-size'] === undefined ? undefined : optionValue('outSize', () => parseOutSize(v['out-size'])),
    dstCrs: v['dst-crs'] === undefined ? undefined : optionValue('dstCrs', () => parseCrs(v['dst-crs'], 'dst-crs')),
    res: v.res === undefined ? undefined : optionValue('res', () => parseRes(v.res)),
    resampling: v.resampling === undefined ? undefined : optionValue('resampling', () => parseResampling(v.resampling)),
    tap: v.tap,
    maxPixels: numeric(v['max-pixels']),
    fetch: v.fetch as FetchMode | undefined,
    retries: numeric(v.retries),
    timeout: numeric(v.timeout),
    maxTime: numeric(v['max-time']),
    // Sizes stay text ('500MB'): resolveOptions reads them, for the library too.
    maxBytes: v['max-bytes'],
    maxMemory: v['max-memory'],
    cacheDir: v['cache-dir'],
    cacheMax: v['cache-max'],
    format: v.format,
    creationOptions: v.co,
    headers: v.header,
    requesterPays: v['requester-pays'],
    noSign: v['no-sign'],
    skipExisting: v['skip-existing'],
    chipStats: v['chip-stats'],
    minValid: numeric(v['min-valid']),
    // Text, checked by resolveOptions as the library's is; --shards N takes K from the orchestrator.
    shard: v.shards !== undefined ? optionValue('--shards', () => shardFromEnvironment(v.shards as string, process.env)) : v.shard,
    // Not an option users need: tests shorten the backoff with it.
    retryBaseMs: process.env.RASTERPIPE_RETRY_BASE_MS ? Number(process.env.RASTERPIPE_RETRY_BASE_MS) : undefined
  }
  const progress = v['no-progress'] ? false : v.progress ?? stderrIsTTY
  const config: CliConfig = { options, inputs: parsed.positionals, progress }
  if (v.stats !== undefined) config.stats = v.stats
  return config
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long'
}

async function checkInputs (inputs: string[]): Promise<void> {
  for (const name of inputs) {
    if (name === '-') continue
    await access(name, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
      const why = READ_ERRORS[err.code ?? ''] ?? err.message
      throw new UsageError(`cannot read input file '${name}': ${why}${err.code ? ` (${err.code})` : ''}`)
    })
    // Pipes (`<(cmd)`) and devices are fine; a directory is not a list of records.
    if ((await stat(name)).isDirectory()) throw new UsageError(`input '${name}' is a directory`)
  }
}

/** Feeds every input, in order, line by line into the pipeline, honouring its backpressure. */
async function feed (pipeline: RasterPipeline, inputs: string[], io: CliIo, control: FeedControl): Promise<void> {
  const sources = inputs.length === 0 ? ['-'] : inputs
  const maxLength = pipeline.options.maxLineLength
  try {
    for (const name of sources) {
      if (control.stopped) break
      const stream = (name === '-' ? io.stdin : createReadStream(name)) as NodeJS.ReadableStream & { destroy: () => void }
      const lines = stream.pipe(new LineSplitter(maxLength, name === '-' ? undefined : name))
      // Stopping (a signal, a closed stdout) ends the loop below even while it waits for input that may
      // never come: destroying only the source would leave the splitter, and this loop, waiting forever.
      control.current = { destroy: () => { stream.destroy(); lines.destroy() } }
      // pipe() does not carry a read error on: hand it to the loop below.
      stream.on('error', (err: Error) => lines.destroy(err))
      try {
        for await (const raw of lines) {
          if (control.stopped) break
          if (!pipeline.write(raw)) await once(pipeline, 'drain', { signal: control.stop.signal })
        }
      } catch (err) {
        // Reading stops early on a signal (the stream is destroyed under us). A read error stops the
        // input too: the records already read still finish, and the run exits 2.
        if (!control.stopped) {
          control.stopped = true
          control.error = `cannot read input ${name === '-' ? 'stdin' : `'${name}'`}: ${(err as Error).message}`
        }
      } finally {
        if (name !== '-') stream.destroy()
      }
    }
  } finally {
    control.current = undefined
    if (!pipeline.destroyed) pipeline.end()
  }
}

interface FeedControl {
  stopped: boolean
  /** Aborted when input must stop: wakes a feed waiting for the pipeline to drain. */
  stop: AbortController
  current?: { destroy: () => void }
  /** Why reading input failed, if it did. */
  error?: string
}

/** After the first signal, records in flight get this long to finish before their fetches are aborted. */
const GRACE_MS = 2000
/** The same signal again within this many ms is the same signal delivered twice. */
const DUPLICATE_SIGNAL_MS = 50
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }
/** After stdout closed early (`| head`): 128 + SIGPIPE, what a shell reports for a filter SIGPIPE ended. */
export const BROKEN_PIPE_EXIT = 141

function usage (io: CliIo, message: string): number {
  io.stderr.write(`rasterpipe: ${message}\nTry 'rasterpipe --help' for the options.\n`)
  return 2
}

export async function main (argv: string[], io: CliIo = process as unknown as CliIo): Promise<number> {
  // A subcommand comes first; anything else is a run, as it always was (`./summarize` names a file).
  if (argv[0] === 'summarize') return await summarize(argv.slice(1), io)
  let config
  try {
    config = parseCommandLine(argv, Boolean(io.stderr.isTTY))
    if (config === 'help') { io.stdout.write(helpText()); return 0 }
    if (config === 'version') { io.stdout.write(`rasterpipe ${version()}\n`); return 0 }
    await checkInputs(config.inputs)
  } catch (err) {
    if (err instanceof UsageError) return usage(io, err.message)
    throw err
  }

  let pipeline: RasterPipeline
  try {
    pipeline = rasterPipeline(config.options)
  } catch (err) {
    if (err instanceof UsageError) return usage(io, err.message)
    if (err instanceof GdalMissingError) {
      io.stderr.write(`rasterpipe: ${err.message}\n`)
      return 2
    }
    throw err
  }

  const summary = new Summary()
  const progress = config.progress ? new Progress(io.stderr) : undefined
  const log = (line: string): void => { if (progress) progress.log(line); else io.stderr.write(line + '\n') }
  const control: FeedControl = { stopped: false, stop: new AbortController() }
  const stopInput = (): void => {
    control.stopped = true
    control.stop.abort()
    control.current?.destroy()
  }
  let signalled: NodeJS.Signals | undefined
  let leaving = false
  let signalledAt = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    // One signal can arrive twice within a moment: Ctrl-C reaches every process of the terminal's group,
    // so a wrapper that also passes it on (bin/rasterpipe on an old Node, npx, make) delivers it again,
    // as does a supervisor signalling a whole process group. That is one request, not "again".
    if (signalled === sig && performance.now() - signalledAt < DUPLICATE_SIGNAL_MS) return
    if (signalled && !leaving) {
      // Second signal: leave now, but not under GDAL's feet: exiting (or deleting the temp files) while
      // GDAL calls still run on the pool crashed the process now and then (SIGSEGV). cancel() stops every
      // stage, aborts the fetches and waits only for the GDAL calls already running (a chunk each; they
      // cannot be interrupted), then closes every dataset and removes temp files and partial outputs.
      leaving = true
      io.stderr.write(`\nrasterpipe: ${sig} again: exiting now\n`)
      void pipeline.cancel().finally(() => process.exit(SIGNAL_EXIT[sig] ?? 1))
      return
    }
    if (leaving) {
      // A third: at once, whatever is running.
      removeNow()
      process.exit(SIGNAL_EXIT[sig] ?? 1)
    }
    signalled = sig
    signalledAt = performance.now()
    stopInput()
    log(`rasterpipe: ${sig}: reading no more input; finishing the records in flight (${sig} again to quit at once)`)
    setTimeout(() => pipeline.abort(), GRACE_MS).unref()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let brokenPipe = false
  pipeline.on('warning', (message: string) => log(`rasterpipe: warning: ${message}`))
  const done = new Promise<void>((resolve, reject) => {
    pipeline.on('data', (r: ResultRecord) => {
      if (brokenPipe) return
      summary.add(r)
      if (r.error) log(`rasterpipe: ${r.input ? `${r.input}:` : 'line '}${r.line}: ${r.error.stage} ${r.error.code}: ${r.error.message}`)
      progress?.update(summary.done, pipeline.taken() - pipeline.otherShards())
      if (!io.stdout.write(JSON.stringify(r) + '\n')) {
        pipeline.pause()
        io.stdout.once('drain', () => pipeline.resume())
      }
    })
    pipeline.once('end', resolve)
    pipeline.once('error', reject)
    // After a cancel there is no 'end': the run is over once it has let go of everything.
    pipeline.once('close', () => { void pipeline.released.then(resolve) })
  })
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE' || brokenPipe) return
    // A closed pipe (`| head`) means nobody reads the records any more: take no more input, cancel the
    // work in flight (no output is put in place after this), let GDAL's calls in flight return, remove
    // the temp files, and leave quietly, as a filter that SIGPIPE ended.
    brokenPipe = true
    stopInput()
    void pipeline.cancel()
  }
  io.stdout.on('error', onStdoutError)

  try {
    await Promise.all([feed(pipeline, config.inputs, io, control), done])
    await pipeline.released
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  progress?.stop()
  const shard = pipeline.options.shard
  if (shard) summary.shard = { ...shard, others: pipeline.otherShards() }
  if (brokenPipe) {
    if (config.stats) await summary.writeJson(config.stats)
    return BROKEN_PIPE_EXIT
  }
  io.stderr.write(summary.text(pipeline.options.outDir) + '\n')
  if (config.stats) await summary.writeJson(config.stats)
  if (signalled) return SIGNAL_EXIT[signalled] ?? 1
  if (control.error) {
    io.stderr.write(`rasterpipe: ${control.error}\n`)
    return 2
  }
  return summary.failed > 0 ? 1 : 0
}

