// The rasterpipe command's front: the arguments, --help, --version, usage errors (exit 2), and the
// subcommand. It loads only what they need; the run (lib/cli/run.ts, with the pipeline, undici and GDAL)
// is imported once the arguments are known good. Exit 0 all ok, 1 any failed, 2 usage.
import { access, constants, stat } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { UsageError } from '../core/errors.js'
import { namedValue, optionValue, resolveOptions } from '../run/options.js'
import type { FetchMode, PipelineInput } from '../core/options.js'
import { parseBands, parseBbox, parseCrs, parseOutSize, parseRes, parseResampling, parseWindow } from '../core/request.js'
import { helpText, version } from './help.js'
import { shardFromEnvironment } from '../input/shard.js'
import { usage, type CliConfig, type CliIo } from './io.js'
import { flagNames } from './flags.js'
import type { Message } from '../core/words.js'

const spec = {
  'out-dir': { type: 'string', short: 'o' },
  concurrency: { type: 'string', short: 'c' },
  'fixed-concurrency': { type: 'boolean' },
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
  assets: { type: 'string' },
  progress: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' }
} as const

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
  // An option's text checked by its parser, which names the option in its complaints.
  const named = <T>(key: string, text: string | undefined, parse: (value: string, name: Message) => T): T | undefined =>
    text === undefined ? undefined : namedValue(key, (name) => parse(text, name))
  const options: PipelineInput = {
    outDir: v['out-dir'],
    concurrency: numeric(v.concurrency),
    fixedConcurrency: v['fixed-concurrency'],
    window: named('window', v.window, parseWindow),
    bbox: named('bbox', v.bbox, parseBbox),
    bboxCrs: named('bboxCrs', v['bbox-crs'], parseCrs),
    bands: named('bands', v.bands, parseBands),
    boundless: v.boundless,
    outSize: named('outSize', v['out-size'], parseOutSize),
    dstCrs: named('dstCrs', v['dst-crs'], parseCrs),
    res: named('res', v.res, parseRes),
    resampling: named('resampling', v.resampling, parseResampling),
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
    assets: v.assets,
    minValid: numeric(v['min-valid']),
    // Text, checked by resolveOptions as the library's is; --shards N takes K from the orchestrator.
    shard: v.shards !== undefined ? optionValue('shards', () => shardFromEnvironment(v.shards as string, process.env)) : v.shard,
    // Not an option users need: tests shorten the backoff with it.
    retryBaseMs: process.env.RASTERPIPE_RETRY_BASE_MS ? Number(process.env.RASTERPIPE_RETRY_BASE_MS) : undefined,
    // Records' messages and warnings name options as this command's flags.
    optionNames: flagNames
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

export async function main (argv: string[], io: CliIo = process as unknown as CliIo): Promise<number> {
  // A subcommand comes first; anything else is a run, as it always was (`./summarize` names a file).
  if (argv[0] === 'summarize') {
    const { summarize } = await import('./summarize.js')
    return await summarize(argv.slice(1), io)
  }
  let config
  try {
    config = parseCommandLine(argv, Boolean(io.stderr.isTTY))
    if (config === 'help') { io.stdout.write(helpText()); return 0 }
    if (config === 'version') { io.stdout.write(`rasterpipe ${version()}\n`); return 0 }
    // The options GDAL need not see are checked here, before the run's modules (undici, the stores'
    // SDKs) and GDAL are loaded: a usage error answers at once. The pipeline checks them all again.
    resolveOptions(config.options)
    await checkInputs(config.inputs)
  } catch (err) {
    if (err instanceof UsageError) return usage(io, err)
    throw err
  }
  const { runCommand } = await import('./run.js')
  return await runCommand(config, io)
}

