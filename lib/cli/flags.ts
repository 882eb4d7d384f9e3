// The command line's words for the library's options: a message names an option by its key (`maxBytes`,
// lib/core/words.ts), and the CLI says it as the flag that sets it (`--max-bytes`).
import { say, type Message, type OptionNames } from '../core/words.js'

/** The command-line spelling of each option, for messages; library-only options keep their key. */
const FLAGS: Record<string, string> = {
  outDir: '--out-dir',
  concurrency: '--concurrency',
  fixedConcurrency: '--fixed-concurrency',
  window: '--window',
  bbox: '--bbox',
  bboxCrs: '--bbox-crs',
  bands: '--bands',
  boundless: '--boundless',
  outSize: '--out-size',
  maxPixels: '--max-pixels',
  fetch: '--fetch',
  retries: '--retries',
  timeout: '--timeout',
  maxTime: '--max-time',
  maxBytes: '--max-bytes',
  maxMemory: '--max-memory',
  headers: '--header',
  requesterPays: '--requester-pays',
  noSign: '--no-sign',
  format: '--format',
  creationOptions: '--co',
  skipExisting: '--skip-existing',
  chipStats: '--chip-stats',
  minValid: '--min-valid',
  shard: '--shard',
  dstCrs: '--dst-crs',
  res: '--res',
  resampling: '--resampling',
  tap: '--tap',
  cacheDir: '--cache-dir',
  cacheMax: '--cache-max',
  assets: '--assets',
  shards: '--shards'
}

function flagOf (key: string): string {
  return FLAGS[key] ?? key
}

/** Options named as flags, with the value as the command line takes it: `--fetch auto`, `--boundless`. */
export const flagNames: OptionNames = (key, value) => value === undefined || value === true ? flagOf(key) : `${flagOf(key)} ${value}`

/** A library message (an error's, a warning's) in the command line's words. */
export function inFlags (message: Message): string {
  return say(message, flagNames)
}
