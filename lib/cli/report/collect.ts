// What `rasterpipe report` keeps of the result records it reads: the counts (the summary's Tally), each
// stage's times, bytes and timings in completion order, chip statistics, errors by code with a few
// examples, and a bounded sample of the records themselves (reservoir sampling, seeded: the same input
// makes the same page). Memory grows with numbers per record, never with the records' text.
import type { ResultRecord, Timings } from '../../core/records.js'
import { Tally } from '../summary.js'

export const STAGES: (keyof Timings)[] = ['fetch', 'open', 'blocks', 'read', 'write', 'total']

/** One record kept for the page: where it came from and its line as printed. */
export interface Kept {
  record: ResultRecord
  /** The file of records it was read from ('-' for stdin). */
  from: string
  /** Its order among all the records read (0-based). */
  seq: number
  /** The record's NDJSON line as read. */
  text: string
}

export interface ErrorGroup {
  code: string
  count: number
  stages: Record<string, number>
  examples: Array<{ where: string, message: string }>
}

/** A small PRNG (mulberry32): the sample is the same from run to run. */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const EXAMPLES_PER_CODE = 3

export class Collector {
  readonly tally = new Tally()
  attempts = 0
  /** Per stage, its ms over the records that have it. */
  readonly stageMs = new Map<keyof Timings, number[]>()
  /** Per record in completion order: total ms and bytes. */
  readonly totalMs: number[] = []
  readonly bytes: number[] = []
  /** --chip-stats: per band, each record's mean and valid fraction. */
  readonly chipMean = new Map<number, number[]>()
  readonly chipValid = new Map<number, number[]>()
  readonly errors = new Map<string, ErrorGroup>()
  readonly sample: Kept[] = []
  private seen = 0
  private readonly random: () => number

  constructor (readonly sampleSize: number, seed = 1) {
    this.random = seeded(seed)
  }

  get records (): number {
    return this.seen
  }

  add (record: ResultRecord, from: string, text: string): void {
    const seq = this.seen++
    this.tally.add(record)
    this.attempts += record.attempts ?? 0
    for (const s of STAGES) {
      const v = record.ms[s]
      if (typeof v !== 'number') continue
      let list = this.stageMs.get(s)
      if (!list) this.stageMs.set(s, list = [])
      list.push(v)
    }
    this.totalMs.push(record.ms.total ?? 0)
    this.bytes.push(record.bytes ?? 0)
    for (const band of Array.isArray(record.stats) ? record.stats : []) {
      if (typeof band?.band !== 'number') continue
      if (typeof band.mean === 'number') push(this.chipMean, band.band, band.mean)
      if (typeof band.valid === 'number') push(this.chipValid, band.band, band.valid)
    }
    if (record.error) this.addError(record, from)
    // Reservoir sampling (Algorithm R): every record equally likely to be kept.
    const kept = { record, from, seq, text }
    if (this.sample.length < this.sampleSize) this.sample.push(kept)
    else {
      const j = Math.floor(this.random() * (seq + 1))
      if (j < this.sampleSize) this.sample[j] = kept
    }
  }

  private addError (record: ResultRecord, from: string): void {
    const e = record.error as NonNullable<ResultRecord['error']>
    const code = String(e.code)
    let group = this.errors.get(code)
    if (!group) this.errors.set(code, group = { code, count: 0, stages: {}, examples: [] })
    group.count++
    group.stages[e.stage] = (group.stages[e.stage] ?? 0) + 1
    if (group.examples.length < EXAMPLES_PER_CODE) {
      const input = record.input ?? (from === '-' ? undefined : from)
      group.examples.push({ where: `${input !== undefined ? `${input}:` : 'line '}${record.line}`, message: String(e.message) })
    }
  }

  /** The sample in the order the records were read. */
  sampled (): Kept[] {
    return [...this.sample].sort((a, b) => a.seq - b.seq)
  }
}

function push (map: Map<number, number[]>, key: number, value: number): void {
  let list = map.get(key)
  if (!list) map.set(key, list = [])
  list.push(value)
}
