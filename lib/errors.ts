// Every failure a record can meet, as data: the stage it happened in, a stable code for scripts, a message
// for people, and whether trying again could help.
export type Stage = 'input' | 'fetch' | 'open' | 'read' | 'write'

export class RecordError extends Error {
  override name = 'RecordError'
  readonly stage: Stage
  readonly code: string
  readonly retryable: boolean
  /** Seconds the server asked us to wait (Retry-After), when it did. */
  retryAfter?: number

  constructor (stage: Stage, code: string, message: string, retryable = false) {
    super(message)
    this.stage = stage
    this.code = code
    this.retryable = retryable
  }

  toJSON (): { stage: Stage, code: string, message: string, retryable: boolean } {
    return { stage: this.stage, code: this.code, message: this.message, retryable: this.retryable }
  }
}

/** A bad option or setup problem: the CLI exits 2 on it. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Wraps anything thrown inside a stage, keeping a RecordError's own stage and code. */
export function asRecordError (err: unknown, stage: Stage, code = 'FAILED'): RecordError {
  if (err instanceof RecordError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new RecordError(stage, code, message.trim() || `${stage} failed`)
}
