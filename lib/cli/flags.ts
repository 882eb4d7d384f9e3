// The command line's words for the library's options: a message names an option by its key (`maxBytes`,
// lib/core/words.ts), and the CLI says it as the flag that sets it (`--max-bytes`).
import { say, type Message, type OptionNames } from '../core/words.js'
import { OPTIONS } from './option-table.js'

/** The command-line spelling of each option, for messages; library-only options keep their key. */
const FLAGS: Record<string, string> = Object.fromEntries(OPTIONS.filter((o) => o.key !== undefined && !o.hidden).map((o) => [o.key, `--${o.long}`]))

function flagOf (key: string): string {
  return FLAGS[key] ?? key
}

/** Options named as flags, with the value as the command line takes it: `--fetch auto`, `--boundless`. */
export const flagNames: OptionNames = (key, value) => value === undefined || value === true ? flagOf(key) : `${flagOf(key)} ${value}`

/** A library message (an error's, a warning's) in the command line's words. */
export function inFlags (message: Message): string {
  return say(message, flagNames)
}
