// Messages that name an option. The library names an option by its key (`maxBytes`), the command line by
// its flag (`--max-bytes`): a message keeps the options it names as parts, said with either naming.

/** How a message names an option: its key, and the value it speaks of when there is one (`true` for a switch). */
export type OptionNames = (key: string, value?: string | true) => string

/** The library's naming: the key (`maxBytes`), and `key: value` when a value is named (`fetch: 'auto'`). */
export const keyNames: OptionNames = (key, value) =>
  value === undefined ? key : `${key}: ${value === true ? 'true' : `'${value}'`}`

/** Something a message can hold that is said differently by key or by flag. */
export interface Sayable {
  say: (names: OptionNames) => string
}

/** An option named in a message: `words\`over ${option('maxBytes')} ${max}\``. */
export function option (key: string, value?: string | true): Sayable {
  return { say: (names) => names(key, value) }
}

function isSayable (value: unknown): value is Sayable {
  return typeof (value as Sayable | undefined)?.say === 'function'
}

/** A message that may name options; `String()` of it says them by key. */
export class Words implements Sayable {
  private readonly parts: ReadonlyArray<string | Sayable>

  constructor (parts: ReadonlyArray<string | Sayable>) {
    this.parts = parts
  }

  say (names: OptionNames = keyNames): string {
    return this.parts.map((p) => typeof p === 'string' ? p : p.say(names)).join('')
  }

  toString (): string {
    return this.say(keyNames)
  }
}

/** Tags a message that names options (`option()`), or holds another message that may (a `Words`, an error's). */
export function words (strings: TemplateStringsArray, ...values: unknown[]): Words {
  const parts: Array<string | Sayable> = []
  strings.forEach((text, i) => {
    parts.push(text)
    if (i < values.length) parts.push(isSayable(values[i]) ? values[i] as Sayable : values[i] instanceof Error ? (values[i] as Error).message : String(values[i]))
  })
  return new Words(parts)
}

/** A message as given: plain text, or words that name options. */
export type Message = string | Sayable

/** A message said with `names` (the library's keys by default). */
export function say (message: Message, names: OptionNames = keyNames): string {
  return typeof message === 'string' ? message : message.say(names)
}

/**
 * An error whose message may name options: `message` says them by key, `say(names)` as a reader needs.
 * Changes to the message after it is made go through `reword()`, so that both ways of saying it keep them.
 */
export class WordsError extends Error implements Sayable {
  private readonly words?: Sayable
  private readonly edits: Array<(text: string) => string> = []

  constructor (message: Message) {
    super(say(message))
    if (typeof message !== 'string') this.words = message
  }

  say (names: OptionNames = keyNames): string {
    if (!this.words) return this.message
    return this.edits.reduce((text, edit) => edit(text), this.words.say(names))
  }

  /** Changes the message however it is said (a note added, a URL redacted). */
  reword (edit: (text: string) => string): void {
    this.message = edit(this.message)
    if (this.words) this.edits.push(edit)
  }
}

/** An error's message as a part of another: its words when it has them. */
export function messageOf (err: unknown): Message {
  if (err instanceof WordsError) return err
  return err instanceof Error ? err.message : String(err)
}

/** Changes an error's message (see `WordsError.reword`); a plain error's text alone. */
export function reword (err: Error, edit: (text: string) => string): void {
  if (err instanceof WordsError) err.reword(edit)
  else err.message = edit(err.message)
}

const UNREADABLE: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long'
}

/** Why a file could not be read, in a few words (`cannot read 'F': …`), from a file system error. */
export function unreadable (err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return (code !== undefined ? UNREADABLE[code] : undefined) ?? (err instanceof Error ? err.message : String(err))
}
