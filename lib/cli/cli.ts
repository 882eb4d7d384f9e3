// The rasterpipe command's front: the arguments, --help, --version, usage errors (exit 2), and the
// subcommands (summarize, report, completion). It loads only what they need; the run (lib/cli/run.ts, with the
// pipeline, undici and GDAL) is imported once the arguments are known good. Exit 0 all ok, 1 any
// failed, 2 usage.
import { access, constants, stat } from 'node:fs/promises'
import { UsageError } from '../core/errors.js'
import { keyValue, namedValue, optionValue, resolveOptions } from '../run/options.js'
import { beneath, optionsFromEnvironment, type EnvironmentOptions } from '../run/environment.js'
import type { FetchMode, PipelineInput } from '../core/options.js'
import { parseBands, parseBbox, parseCrs, parseOutSize, parseRes, parseResampling, parseWindow } from '../core/request.js'
import { helpText } from './help.js'
import { shardFromEnvironment } from '../input/shard.js'
import { usage, type CliConfig, type CliIo } from './io.js'
import { flagNames } from './flags.js'
import { messageOf, unreadable, words, type Message } from '../core/words.js'
import { all, has, last, readArguments, spelledAs } from './arguments.js'

/**
 * A number given on the command line, as a number when it reads as one and otherwise as the text, so that
 * resolveOptions checks it and refuses it with the same message a library caller gets.
 */
function numeric (text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  return /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text as unknown as number
}

/** --config's KEY=VALUE pairs that read as such (resolveOptions refuses the others, naming them). */
function configPairs (list: string[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map(keyValue).filter((pair) => pair !== undefined))
}

export type Parsed = CliConfig | 'help' | 'version' | 'version-json'

export function parseCommandLine (argv: string[], stderrIsTTY: boolean, env: NodeJS.ProcessEnv = process.env,
  fromEnvironment: (env: NodeJS.ProcessEnv) => EnvironmentOptions = optionsFromEnvironment): Parsed {
  const a = readArguments(argv)
  const v = (long: string): string | undefined => last(a, long)
  if (has(a, 'help')) return 'help'
  if (has(a, 'version')) return has(a, 'json') ? 'version-json' : 'version'
  if (has(a, 'json')) throw new UsageError('--json goes with --version (records are JSON already)')
  if (has(a, 'bbox') && has(a, 'window')) throw new UsageError('--window and --bbox cannot be used together')
  if (has(a, 'shard') && has(a, 'shards')) throw new UsageError('--shard K/N and --shards N cannot be used together (--shards takes K from the environment)')
  if (has(a, 'overwrite') && has(a, 'skip-existing')) throw new UsageError('--overwrite and --skip-existing cannot be used together')
  if (has(a, 'stac-search') && a.positionals.length > 0) throw new UsageError('--stac-search is the run\'s input: give no input files')
  // An option's text checked by its parser, which names the option in its complaints.
  const named = <T>(key: string, text: string | undefined, parse: (value: string, name: Message) => T): T | undefined =>
    text === undefined ? undefined : namedValue(key, (name) => parse(text, name))
  const flags: PipelineInput = {
    outDir: v('out-dir'),
    concurrency: numeric(v('concurrency')),
    fixedConcurrency: has(a, 'fixed-concurrency') || undefined,
    window: named('window', v('window'), parseWindow),
    bbox: bboxOf(a, named),
    bboxCrs: named('bboxCrs', v('bbox-crs'), parseCrs),
    bands: named('bands', v('bands'), parseBands),
    boundless: has(a, 'boundless') || undefined,
    outSize: named('outSize', v('out-size'), parseOutSize),
    dstCrs: named('dstCrs', v('dst-crs'), parseCrs),
    res: named('res', v('res'), parseRes),
    resampling: named('resampling', v('resampling'), parseResampling),
    tap: has(a, 'tap') || undefined,
    maxPixels: numeric(v('max-pixels')),
    fetch: v('fetch') as FetchMode | undefined,
    retries: numeric(v('retries')),
    timeout: numeric(v('timeout')),
    maxTime: numeric(v('max-time')),
    // Sizes stay text ('500MB'): resolveOptions reads them, for the library too.
    maxBytes: v('max-bytes'),
    maxMemory: v('max-memory'),
    cacheDir: v('cache-dir'),
    cacheMax: v('cache-max'),
    format: v('format'),
    creationOptions: all(a, 'co'),
    headers: all(a, 'header'),
    proxy: v('proxy'),
    noProxy: v('noproxy'),
    netrc: has(a, 'netrc') || undefined,
    netrcFile: v('netrc-file'),
    caBundle: v('cacert'),
    gdalConfig: all(a, 'config'),
    requesterPays: has(a, 'requester-pays') || undefined,
    noSign: has(a, 'no-sign') || undefined,
    skipExisting: has(a, 'skip-existing') || undefined,
    chipStats: has(a, 'chip-stats') || undefined,
    assets: v('assets'),
    // The search's options are checked by resolveOptions (--intersects' file read there), for the library too.
    stacSearch: v('stac-search'),
    collections: v('collections'),
    datetime: v('datetime'),
    intersects: v('intersects'),
    maxItems: numeric(v('max-items')),
    // A path: resolveOptions reads the file, for the library too.
    points: v('points'),
    pointsCrs: named('pointsCrs', v('points-crs'), parseCrs),
    geometry: v('geometry'),
    geometryCrs: named('geometryCrs', v('geometry-crs'), parseCrs),
    allTouched: has(a, 'all-touched') || undefined,
    write: has(a, 'write') || undefined,
    zonalStats: v('zonal-stats'),
    expr: v('expr'),
    exprType: v('expr-type'),
    mosaic: v('mosaic'),
    groupBy: v('group-by'),
    minValid: numeric(v('min-valid')),
    // Text, checked by resolveOptions as the library's is; --shards N takes K from the orchestrator.
    shard: has(a, 'shards') ? optionValue('shards', () => shardFromEnvironment(v('shards') as string, env)) : v('shard'),
    // Not an option users need: tests shorten the backoff with it.
    retryBaseMs: env.RASTERPIPE_RETRY_BASE_MS ? Number(env.RASTERPIPE_RETRY_BASE_MS) : undefined,
    // Records' messages and warnings name options as this command's flags.
    optionNames: flagNames
  }
  const fromEnv = fromEnvironment({ ...env, ...configPairs(flags.gdalConfig as string[] | undefined) })
  const options = beneath(fromEnv.options, flags)
  const quiet = has(a, 'quiet')
  // Quiet means nothing on stderr: it wins over --progress.
  const progress = quiet || has(a, 'no-progress') ? false : has(a, 'progress') || stderrIsTTY
  const config: CliConfig = { options, inputs: a.positionals, progress, quiet, ignored: fromEnv.ignored }
  const stats = v('stats')
  if (stats !== undefined) config.stats = stats
  return config
}

/**
 * --bbox's value; -b is a band in GDAL's tools (`-b 3`), so a value given as -b that is no bbox says
 * where bands go.
 */
function bboxOf (a: ReturnType<typeof readArguments>, named: <T>(key: string, text: string | undefined, parse: (value: string, name: Message) => T) => T | undefined): ReturnType<typeof parseBbox> | undefined {
  try {
    return named('bbox', last(a, 'bbox'), parseBbox)
  } catch (err) {
    if (!(err instanceof UsageError) || spelledAs(a, 'bbox') !== '-b') throw err
    throw new UsageError(words`${messageOf(err)} (-b is --bbox here; bands are --bands, e.g. --bands 3,2,1)`, { option: 'bbox' })
  }
}

/** The warning for GDAL's variables that rasterpipe has no equivalent of, once per run. */
export function ignoredWarning (ignored: string[]): string | undefined {
  return ignored.length === 0 ? undefined : `rasterpipe: warning: ignoring ${ignored.join(', ')} (no equivalent in rasterpipe)\n`
}

async function checkInputs (inputs: string[]): Promise<void> {
  for (const name of inputs) {
    if (name === '-') continue
    await access(name, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read input file '${name}': ${unreadable(err)}${err.code ? ` (${err.code})` : ''}`)
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
  if (argv[0] === 'report') {
    const { report } = await import('./report/command.js')
    return await report(argv.slice(1), io)
  }
  if (argv[0] === 'completion') {
    const { completion } = await import('./completion.js')
    try {
      return completion(argv.slice(1), io)
    } catch (err) {
      if (err instanceof UsageError) return usage(io, err)
      throw err
    }
  }
  let config
  try {
    config = parseCommandLine(argv, Boolean(io.stderr.isTTY))
    if (config === 'help') { io.stdout.write(helpText()); return 0 }
    if (config === 'version' || config === 'version-json') {
      const { printVersions } = await import('./versions.js')
      return printVersions(io, config === 'version-json')
    }
    // The options GDAL need not see are checked here, before the run's modules (undici, the stores'
    // SDKs) and GDAL are loaded: a usage error answers at once. The pipeline checks them all again.
    resolveOptions(config.options)
    await checkInputs(config.inputs)
  } catch (err) {
    if (err instanceof UsageError) return usage(io, err)
    throw err
  }
  const warning = ignoredWarning(config.ignored)
  if (warning && !config.quiet) io.stderr.write(warning)
  const { runCommand } = await import('./run.js')
  return await runCommand(config, io)
}
