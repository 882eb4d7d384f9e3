// Shards: which of N workers keeps an input record. The shard is a hash of what the record asks for (its
// URL, window or bbox, bands, size and `out`), never of its line number, so inserting or removing a line
// moves no other record, and every worker reading the same input agrees without talking to the others.
import { createHash } from 'node:crypto'
import { redactUrl } from '../http/redact.js'
import { InvalidValue, type WindowRequest } from '../core/request.js'
import type { Job } from '../core/job.js'
import { isRawLine, LineRecord } from './lines.js'
import { printableSources } from './sources.js'
import type { StackSource } from '../core/records.js'
import type { Shard } from '../core/options.js'
import { option, words } from '../core/words.js'

/** The orchestrators' variables that carry a 0-based worker index, in the order they are looked at. */
export const SHARD_INDEX_VARIABLES = ['JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const

const WHOLE = /^\s*\d+\s*$/

/** A shard as `K/N` text or `{index, count}`; throws InvalidValue (resolveOptions names the option). */
export function parseShard (value: unknown): Shard {
  let index: unknown
  let count: unknown
  if (typeof value === 'string') {
    const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value)
    if (!m) throw new InvalidValue(`must be K/N, e.g. 3/4 (shard 3 of 4), got ${JSON.stringify(value)}`)
    index = Number(m[1])
    count = Number(m[2])
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    ({ index, count } = value as Record<string, unknown>)
  } else {
    throw new InvalidValue(`must be K/N or {index, count}, got ${JSON.stringify(value)}`)
  }
  if (!Number.isSafeInteger(count) || (count as number) < 1) throw new InvalidValue(`the shard count N must be a whole number of at least 1, got ${JSON.stringify(count)}`)
  if (!Number.isSafeInteger(index) || (index as number) < 1 || (index as number) > (count as number)) {
    throw new InvalidValue(`K must be a whole number from 1 to N (${String(count)}), got ${JSON.stringify(index)} (shards are 1-based: an orchestrator's 0-based index i is shard i+1)`)
  }
  return { index: index as number, count: count as number }
}

/**
 * `--shards N` with the worker's 0-based index from the orchestrator (Kubernetes Indexed Jobs set
 * JOB_COMPLETION_INDEX, AWS Batch array jobs AWS_BATCH_JOB_ARRAY_INDEX): index 2 of 4 is shard 3/4.
 */
export function shardFromEnvironment (countText: string, env: NodeJS.ProcessEnv): string {
  if (!WHOLE.test(countText) || Number(countText) < 1) throw new InvalidValue(`must be a whole number of at least 1, got ${JSON.stringify(countText)}`)
  const count = Number(countText)
  const name = SHARD_INDEX_VARIABLES.find((v) => env[v] !== undefined && env[v] !== '')
  if (name === undefined) {
    throw new InvalidValue(words`takes the worker's index from ${SHARD_INDEX_VARIABLES.join(' or ')}, and neither is set; give ${option('shard', 'K/N')} instead`)
  }
  const text = env[name] as string
  if (!WHOLE.test(text) || Number(text) >= count) {
    throw new InvalidValue(`${name} must be a whole number from 0 to ${count - 1} (0-based), got ${JSON.stringify(text)}`)
  }
  return `${Number(text) + 1}/${count}`
}

/**
 * What identifies a record for sharding: the request as resolved (the command-line defaults applied, so
 * a record's `[c, r, w, h]` and the same window as an object agree), and its own `out`. A bbox makes the
 * window irrelevant, so it is left out then. URLs without credentials: a URL pre-signed anew is the
 * same record.
 */
export function recordKey (url: string, request: WindowRequest, out: unknown, sources?: unknown[]): string {
  const r = request
  const where = r.bbox ? { bbox: r.bbox, bbox_crs: r.bboxCrs ?? null } : { window: r.window }
  // A multi-source record goes by all its sources (their entries, URLs redacted), not its first URL alone.
  return JSON.stringify([sources ?? redactUrl(url), where, r.bands ?? null, r.boundless, r.outSize ?? null, out ?? null])
}

/**
 * The key of a job as parsed. A record that could not be read (bad JSON, no url) goes by its text, so
 * that it is reported by exactly one shard; a line that has no text (over the length limit, not UTF-8)
 * by its file and line number, the only things known of it.
 */
export function jobKey (job: Job, item: unknown): string {
  if (!job.error && job.url) return recordKey(job.url, job.request, job.out, job.parts && printableSources(job.parts.map((p) => p.stackSource as StackSource)))
  // A record a line gave (an object written, or an item of a STAC line) goes by what it was.
  if (item instanceof LineRecord) item = item.value ?? ['item', job.input ?? null, job.line, job.id ?? null]
  const text = typeof item === 'string'
    ? item
    : isRawLine(item)
      ? item.text
      : JSON.stringify(item)
  return text !== undefined ? JSON.stringify(['text', text.trim()]) : JSON.stringify(['line', job.input ?? null, job.line])
}

/** The 1-based shard a key falls in: 48 bits of its SHA-256, modulo the count (uniform to 1 part in 2^40). */
export function shardOf (key: string, count: number): number {
  const digest = createHash('sha256').update(key).digest()
  return (digest.readUIntBE(0, 6) % count) + 1
}

export function formatShard (s: Shard): string {
  return `${s.index}/${s.count}`
}
