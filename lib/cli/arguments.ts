// The command line read against the option table: util.parseArgs splits it, and every complaint (an unknown
// option, a missing value, a value given to a switch, two spellings of one option that disagree) is said
// here in rasterpipe's words, with the nearest known option for a misspelt one.
import { parseArgs } from 'node:util'
import { UsageError } from '../core/errors.js'
import { OPTIONS, parseArgsSpec, spellings, type OptionSpec } from './option-table.js'

/** What one option was given: the spelling used and the value (true for a switch), in command-line order. */
export interface Given {
  spelling: string
  value: string | true
}

export interface Arguments {
  /** By the option's canonical long name. */
  given: Map<string, Given[]>
  positionals: string[]
}

/** Edit distance with transpositions (optimal string alignment): `concurency` is 1 from `concurrency`. */
export function distance (a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) rows[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1)
    }
  }
  return rows[a.length][b.length]
}

/**
 * The known option nearest to a misspelt one: the one long option it begins (`--conc`), else the closest
 * within a few edits (a third of its length, at least 2), as git and cargo suggest. Undefined when none is near.
 */
export function nearest (unknown: string, known: Iterable<string> = spellings().keys()): string | undefined {
  const names = [...known]
  // One letter: only the same letter in the other case (-v for -V); any other is as near as every letter.
  if (/^-[^-]$/.test(unknown)) {
    const other = `-${unknown[1] === unknown[1].toLowerCase() ? unknown[1].toUpperCase() : unknown[1].toLowerCase()}`
    return names.includes(other) ? other : undefined
  }
  const bare = unknown.replace(/^-+/, '').split('=')[0].toLowerCase()
  if (bare === '') return undefined
  const longs = names.filter((s) => s.startsWith('--')).map((s) => s.slice(2))
  const begun = longs.filter((l) => l.startsWith(bare))
  if (begun.length === 1) return `--${begun[0]}`
  let best: string | undefined
  let bestDistance = Infinity
  for (const l of longs) {
    const dist = distance(bare, l)
    if (dist < bestDistance) { best = l; bestDistance = dist }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(bare.length / 3)) ? `--${best}` : undefined
}

/** `unknown option '--x' (did you mean --y?)`, among the command's options or these. */
export function unknownOption (spelling: string, known?: Iterable<string>): UsageError {
  const near = nearest(spelling, known)
  return new UsageError(`unknown option '${spelling}'${near ? ` (did you mean ${near}?)` : ''}`)
}

/** A separate value that is another option, not a value: `-o --bbox …`. Negative numbers are values. */
function looksLikeOption (value: string): boolean {
  return value.startsWith('-') && value !== '-' && !/^-[\d.]/.test(value)
}

export function readArguments (argv: string[]): Arguments {
  const known = spellings()
  // GDAL's tools spell long options with one dash (`-of PNG`, `-co`, `-tap`, `-tr`), which parseArgs would
  // read as a letter and its value (-o with 'f'): where the name is ours with two dashes, or gdal_translate's
  // or gdalwarp's for one of ours, say so instead.
  const gdalNames = new Map(OPTIONS.flatMap((o) => (o.gdal ?? []).map((g) => [g, `--${o.long}`] as const)))
  for (const arg of argv) {
    if (arg === '--') break
    const name = arg.split('=')[0]
    if (!/^-[^-]{2,}$/.test(name)) continue
    const ours = known.has(`-${name}`) ? `-${name}` : gdalNames.get(name)
    if (ours) throw new UsageError(`unknown option '${name}' (did you mean ${ours}?)`)
  }
  const { tokens } = parseArgs({ args: argv, options: parseArgsSpec(), allowPositionals: true, strict: false, tokens: true })
  const given = new Map<string, Given[]>()
  const positionals: string[] = []
  for (const token of tokens) {
    if (token.kind === 'positional') { positionals.push(token.value); continue }
    if (token.kind !== 'option') continue
    const spec: OptionSpec | undefined = known.get(token.rawName)
    if (!spec) throw unknownOption(token.rawName)
    let value: string | true
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`option '${token.rawName}' takes no value`)
      value = true
    } else {
      if (token.value === undefined || (!token.inlineValue && looksLikeOption(token.value))) {
        throw new UsageError(`option '${token.rawName}' needs a value (${spec.value ?? 'VALUE'})` +
          (token.value !== undefined ? `; one that starts with '-' goes as --${spec.long}=${spec.value ?? 'VALUE'}` : ''))
      }
      value = token.value
    }
    const list = given.get(spec.long) ?? []
    list.push({ spelling: token.rawName, value })
    given.set(spec.long, list)
  }
  checkSpellings(given)
  return { given, positionals }
}

/** Two spellings of one option with different values: which one was meant is not ours to guess. */
function checkSpellings (given: Map<string, Given[]>): void {
  for (const o of OPTIONS) {
    const list = given.get(o.long)
    if (!list || o.multiple || o.type === 'boolean') continue
    for (const g of list) {
      const other = list.find((h) => h.spelling !== g.spelling && h.value !== g.value)
      if (other) throw new UsageError(`${g.spelling} and ${other.spelling} are one option, given different values: give it once`)
    }
  }
}

/** The value an option was last given (one spelling's repeat overrides, as parseArgs did). */
export function last (args: Arguments, long: string): string | undefined {
  const list = args.given.get(long)
  const value = list?.[list.length - 1]?.value
  return typeof value === 'string' ? value : undefined
}

export function all (args: Arguments, long: string): string[] | undefined {
  const list = args.given.get(long)
  return list ? list.map((g) => String(g.value)) : undefined
}

export function has (args: Arguments, long: string): boolean {
  return args.given.has(long)
}

/** The spelling an option was given with (the first), for messages. */
export function spelledAs (args: Arguments, long: string): string | undefined {
  return args.given.get(long)?.[0]?.spelling
}
