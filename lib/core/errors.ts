// Every failure a record can meet, as data: the stage it happened in, a stable code for scripts, a message
// for people, and whether trying again could help. Messages name options by key (lib/core/words.ts).
import { WordsError, type Message } from './words.js'

export type Stage = 'input' | 'fetch' | 'open' | 'blocks' | 'read' | 'write'

export class RecordError extends WordsError {
  override name = 'RecordError'
  readonly stage: Stage
  readonly code: string
  readonly retryable: boolean
  /** Seconds the server asked us to wait (Retry-After), when it did. */
  retryAfter?: number

  constructor (stage: Stage, code: string, message: Message, retryable = false) {
    super(message)
    this.stage = stage
    this.code = code
    this.retryable = retryable
  }

  toJSON (): { stage: Stage, code: string, message: string, retryable: boolean } {
    return { stage: this.stage, code: this.code, message: this.message, retryable: this.retryable }
  }
}

/** A bad option or setup problem: the CLI exits 2 on it. `option`: the key of the option at fault, when one is. */
export class UsageError extends WordsError {
  override name = 'UsageError'
  readonly option?: string

  constructor (message: Message, about: { option?: string } = {}) {
    super(message)
    if (about.option !== undefined) this.option = about.option
  }
}

/**
 * The code of a failure a stage did not name itself (a plain exception: a file system error, a bug): a
 * code per stage, so that every code says where, and README's "Error codes" lists each.
 */
export const STAGE_CODES: Record<Stage, string> = {
  input: 'BAD_RECORD',
  fetch: 'FETCH_FAILED',
  open: 'OPEN_FAILED',
  blocks: 'BLOCKS_FAILED',
  read: 'READ_FAILED',
  write: 'WRITE_FAILED'
}

/**
 * Anything thrown inside a stage, as a RecordError of that stage: the stage that was running when it
 * happened (a fetch error met by the blocks stage is a `blocks` error), keeping code and message; a plain
 * exception gets the stage's own code.
 */
export function asRecordError (err: unknown, stage: Stage): RecordError {
  if (err instanceof RecordError) {
    if (err.stage === stage) return err
    const moved = new RecordError(stage, err.code, err, err.retryable)
    if (err.retryAfter !== undefined) moved.retryAfter = err.retryAfter
    return moved
  }
  const message = err instanceof Error ? err.message : String(err)
  return new RecordError(stage, STAGE_CODES[stage], message.trim() || `${stage} failed`)
}
