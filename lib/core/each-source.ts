// Work on every source of a multi-source record. Each source's failure is the record's, its message
// naming which source (1-based, of how many) and its URL, so that a user knows which of the files failed.
import { asRecordError, RecordError, type Stage } from './errors.js'
import type { Job } from './job.js'
import { words } from './words.js'

/** A source's error as the record's: the same stage, code and retryability, the source named first. */
export function sourceError (part: Job, of: number, err: unknown, stage: Stage): RecordError {
  const index = (part.stackSource?.index ?? 0) + 1
  const inner = err instanceof RecordError ? err : asRecordError(err, stage)
  const message = inner.message.startsWith(part.url) ? inner : words`${part.url}: ${inner}`
  const named = new RecordError(inner.stage, inner.code, words`source ${index} of ${of}: ${message}`, inner.retryable)
  if (inner.retryAfter !== undefined) named.retryAfter = inner.retryAfter
  return named
}

/**
 * Runs `work` on every source at once and waits for all of them (so that nothing is left running behind
 * the record); then throws the failure of the first source that failed, in the record's order.
 */
export async function eachSource (job: Job, stage: Stage, work: (part: Job) => Promise<void>): Promise<void> {
  const parts = job.parts ?? []
  const settled = await Promise.allSettled(parts.map(work))
  const failed = settled.findIndex((s) => s.status === 'rejected')
  if (failed !== -1) throw sourceError(parts[failed], parts.length, (settled[failed] as PromiseRejectedResult).reason, stage)
}

/** Runs `work` on every source in turn (GDAL calls, within the one slot the stage holds). */
export async function eachSourceInTurn (job: Job, stage: Stage, work: (part: Job) => Promise<void>): Promise<void> {
  const parts = job.parts ?? []
  for (const part of parts) {
    try {
      await work(part)
    } catch (err) {
      throw sourceError(part, parts.length, err, stage)
    }
  }
}
