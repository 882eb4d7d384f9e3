// Host credentials from a netrc file, read as curl reads it: `machine NAME login L password P` (any
// order, across lines), `default` for every other host, `account` read and ignored, `macdef` skipped to
// the next blank line, `#` where a keyword is due a comment to the end of the line, tokens "quoted" with \" \\ \n \r \t escapes.
// Hosts match by name, case-insensitively, without a port; the first matching machine wins.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { UsageError } from '../core/errors.js'
import { option, unreadable, words } from '../core/words.js'

export interface NetrcEntry {
  /** The host name; undefined for `default`. */
  machine?: string
  login?: string
  password?: string
}

export class Netrc {
  constructor (readonly entries: NetrcEntry[]) {}

  /**
   * The entry for `host`: the first machine of that name (of that login, when `login` is given, as curl
   * looks up the password of a URL's user name), else the default entry.
   */
  lookup (host: string, login?: string): NetrcEntry | undefined {
    const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
    const fits = (e: NetrcEntry): boolean => login === undefined || e.login === login
    return this.entries.find((e) => e.machine !== undefined && e.machine.toLowerCase() === name && fits(e)) ??
      this.entries.find((e) => e.machine === undefined && fits(e))
  }
}

const QUOTED_OR_WORD = /"((?:[^"\\]|\\.)*)"?|(\S+)/g
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t' }

/** A line's tokens; `comment` for an unquoted one that starts with `#`. */
function lineTokens (line: string): { text: string, comment: boolean }[] {
  return [...line.matchAll(QUOTED_OR_WORD)].map((m) => m[1] !== undefined
    ? { text: m[1].replace(/\\(.)/g, (_all, c: string) => ESCAPES[c] ?? c), comment: false }
    : { text: m[2], comment: m[2].startsWith('#') })
}

export function parseNetrc (text: string): Netrc {
  const entries: NetrcEntry[] = []
  let current: NetrcEntry | undefined
  let expect: 'machine' | 'login' | 'password' | 'account' | 'macdef' | undefined
  let inMacro = false
  for (const line of text.split(/\r?\n/)) {
    if (inMacro) {
      if (line.trim() === '') inMacro = false
      continue
    }
    for (const { text: token, comment } of lineTokens(line)) {
      // `#` starts a comment where a keyword is due; a value (a password) may start with it.
      if (comment && expect === undefined) break
      if (expect !== undefined) {
        const key = expect
        expect = undefined
        if (key === 'machine') {
          current = { machine: token }
          entries.push(current)
        } else if (key === 'macdef') {
          // The macro's body is the lines after this one, to a blank line.
          inMacro = true
          break
        } else if (key !== 'account' && current) {
          current[key] ??= token
        }
        continue
      }
      if (token === 'default') {
        current = {}
        entries.push(current)
      } else if (token === 'machine' || token === 'login' || token === 'password' || token === 'account' || token === 'macdef') {
        expect = token
      }
      // Anything else is not netrc: skipped, as curl does.
    }
  }
  return new Netrc(entries)
}

/** The netrc file of `--netrc` alone: $NETRC, else ~/.netrc, as curl. */
export function defaultNetrcPath (env: NodeJS.ProcessEnv = process.env): string {
  return env.NETRC !== undefined && env.NETRC !== '' ? env.NETRC : join(homedir(), '.netrc')
}

/** Reads and parses a netrc file once, at the run's start; one that cannot be read is a usage error naming it. */
export function readNetrc (path: string, key: 'netrc' | 'netrcFile'): Netrc {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(words`${option(key)}: cannot read the netrc file '${path}': ${unreadable(err)}`, { option: key })
  }
  return parseNetrc(text)
}
