// A run of the command, once its arguments are known good: the pipeline, input files (or stdin) fed into
// it, NDJSON records out on stdout; progress, per-record errors and the summary on stderr; signals and a
// closed stdout. Loaded by cli.ts only then, so that --help, --version and usage errors load none of it
// (undici, the stores' SDKs, GDAL).
import { createReadStream } from 'node:fs'
import { once } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { UsageError } from '../core/errors.js'
import { GdalMissingError } from '../raster/gdal.js'
import type { ResultRecord } from '../core/records.js'
import { LineSplitter } from '../input/lines.js'
import { rasterPipeline, type RasterPipeline } from '../run/pipeline.js'
import { isGuardedFault } from '../http/guard.js'
import { Progress } from './progress.js'
import { countLines } from './count-lines.js'
import { Summary } from './summary.js'
import { removeNow } from '../core/tempdir.js'
import { printable, printableJson } from '../http/redact.js'
import { usage, type CliConfig, type CliIo } from './io.js'
import { knownVersions, versionsJson } from './versions.js'

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

export async function runCommand (config: CliConfig, io: CliIo): Promise<number> {
  // An exception nothing caught ends the command as Node would (exit 1), printed through the one
  // redaction, line by line (a message may quote a URL with its credentials). A fault inside the run's
  // HTTP client is not one: the library's guard recovers from it.
  const onUncaught = (err: unknown): void => {
    if (isGuardedFault()) return
    io.stderr.write(`${(err instanceof Error && err.stack ? err.stack : String(err)).split('\n').map((line) => printable(line)).join('\n')}\n`)
    process.exit(1)
  }
  process.on('uncaughtException', onUncaught)
  try {
    return await run(config, io)
  } finally {
    process.off('uncaughtException', onUncaught)
  }
}

/**
 * V8 starts a major GC whenever the old generation's headroom falls below the young generation's size: on
 * this small heap, every few records, while response bodies pass through as short-lived buffers. From the
 * run's start (set any earlier, the modules' loading ran one of its own) marking starts at 70% of the old
 * generation's limit instead (bench/RESULTS.md, "When V8 collects"). A soft trigger also turns off V8's own
 * "start now" near the limit, so a hard one at 90% stands in for it. The CLI's process only; triggers given
 * to the node that runs it win.
 */
function collectLater (): void {
  if (!process.execArgv.some((arg) => /^--incremental[-_]marking[-_](soft|hard)[-_]trigger/.test(arg))) {
    setFlagsFromString('--incremental-marking-soft-trigger=70')
    setFlagsFromString('--incremental-marking-hard-trigger=90')
  }
}

async function run (config: CliConfig, io: CliIo): Promise<number> {
  // Input files' lines counted first, on their bytes, before the run holds anything: the total for
  // --progress's ETA (stdin has none).
  const lines = config.progress ? await countLines(config.inputs) : undefined
  let pipeline: RasterPipeline
  try {
    pipeline = rasterPipeline(config.options)
    collectLater()
  } catch (err) {
    if (err instanceof UsageError) return usage(io, err)
    if (err instanceof GdalMissingError) {
      // Line by line: the message's own line breaks are its layout, not control characters to escape.
      io.stderr.write(`rasterpipe: ${err.message.split('\n').map((line) => printable(line)).join('\n')}\n`)
      return 2
    }
    throw err
  }
  // Every line on stderr goes through one redaction (records' messages are redacted already; the -H
  // values are the secrets known here), with its control characters escaped.
  const headerValues = Object.values(pipeline.options.headers)

  const summary = new Summary()
  const progress = config.progress ? new Progress(io.stderr) : undefined
  // Under --shard K/N, this run's share of the input's lines.
  if (progress && lines !== undefined) progress.expect(Math.ceil(lines / (pipeline.options.shard?.count ?? 1)))
  const log = (text: string): void => {
    // -q: per-record errors, warnings and notes are the records' business; only a failed run speaks.
    if (config.quiet) return
    const line = printable(text, headerValues)
    if (progress) progress.log(line); else io.stderr.write(line + '\n')
  }
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
      if (!config.quiet) io.stderr.write(`\nrasterpipe: ${sig} again: exiting now\n`)
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
      if (!io.stdout.write(printableJson(r, headerValues) + '\n')) {
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
    // --stac-search is the input: the pipeline has it already, and stdin is not read.
    await Promise.all([pipeline.options.stacSearch === undefined ? feed(pipeline, config.inputs, io, control) : undefined, done])
    await pipeline.released
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  progress?.stop()
  const shard = pipeline.options.shard
  if (shard) summary.shard = { ...shard, others: pipeline.otherShards() }
  summary.hosts = pipeline.hosts()
  if (config.stats) {
    // What the figures were measured on, read once they are taken: reading PROJ's version holds the
    // event loop some 40 ms, which the run's loop delay must not count.
    summary.finish()
    summary.versions = versionsJson(knownVersions())
  }
  if (brokenPipe) {
    if (config.stats) await summary.writeJson(config.stats)
    return BROKEN_PIPE_EXIT
  }
  if (!config.quiet) io.stderr.write(printable(summary.text(pipeline.options.outDir), headerValues) + '\n')
  if (config.stats) await summary.writeJson(config.stats)
  if (signalled) return SIGNAL_EXIT[signalled] ?? 1
  if (control.error) {
    io.stderr.write(`rasterpipe: ${printable(control.error, headerValues)}\n`)
    return 2
  }
  return summary.failed > 0 ? 1 : 0
}

