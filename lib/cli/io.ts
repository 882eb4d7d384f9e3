// The command's streams, its parsed command line, and how it reports a usage error (exit status 2).
import { printable } from '../http/redact.js'
import type { PipelineInput } from '../core/options.js'
import type { Message } from '../core/words.js'
import { inFlags } from './flags.js'

export interface CliIo {
  stdin: NodeJS.ReadableStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
}

export interface CliConfig {
  options: PipelineInput
  inputs: string[]
  progress: boolean
  /** -q: nothing on stderr unless the run itself fails. */
  quiet: boolean
  /** GDAL's variables set but without an equivalent, warned of once. */
  ignored: string[]
  stats?: string
}

/** A usage error's message, its options named by flag. */
export function usage (io: CliIo, message: Message): number {
  io.stderr.write(`rasterpipe: ${printable(inFlags(message))}\nTry 'rasterpipe --help' for the options.\n`)
  return 2
}
