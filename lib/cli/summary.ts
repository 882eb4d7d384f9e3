// The run's summary: counts, bytes, per-stage timings, error codes with a first example each (what the
// records alone tell, so that `rasterpipe summarize` makes the same of shards' records), event-loop delay
// and peak memory, for the stderr paragraph and for --stats FILE.
import { writeFile } from 'node:fs/promises'
import { monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks'
import type { ResultRecord, Timings } from '../core/records.js'
import { formatBytes } from '../core/sizes.js'
import type { HostLimitFigures } from '../http/host-limit.js'
import { printableJson } from '../http/redact.js'

const STAGES: (keyof Timings)[] = ['fetch', 'open', 'blocks', 'read', 'write', 'total']

/** The first record that failed with a code: where to look. */
export interface ErrorExample {
  line: number
  input?: string
  url?: string
  stage: string
  message: string
}

/** What result records tell of a run, whichever process reads them. */
export interface RecordsStats {
  records: number
  ok: number
  failed: number
  skipped: number
  bytes: number
  stage_ms: Record<string, { p50: number, p95: number, max: number }>
  errors: Record<string, number>
  error_examples: Record<string, ErrorExample>
}

export interface StatsJson extends RecordsStats {
  wall_s: number
  bytes_per_s: number
  event_loop_delay_ms: { p50: number, p99: number, max: number }
  peak_rss_mb: number
  /** Throttling answers (429, 503) over every host. */
  throttled?: number
  /** Per origin: its limit on requests in flight over the run, and the throttling answers it gave. */
  hosts?: Record<string, HostStats>
  /** Under --shard: which shard this run was (K/N), and how many input records it left to the others. */
  shard?: string
  other_shards?: number
  /** What the run ran on, as --version --json says it. */
  versions?: Record<string, string | null>
}

export interface HostStats {
  limit_min: number
  limit_max: number
  limit_final: number
  throttled: number
  /** Times a Retry-After held the host's new requests. */
  retry_after_holds: number
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
}

/** Counts of result records, from a run as it goes or from files of records afterwards. */
export class Tally {
  ok = 0
  failed = 0
  skipped = 0
  bytes = 0
  private readonly timings = new Map<keyof Timings, number[]>()
  private readonly errors = new Map<string, number>()
  private readonly examples = new Map<string, ErrorExample>()

  get done (): number {
    return this.ok + this.failed + this.skipped
  }

  add (r: ResultRecord): void {
    if (r.status === 'ok') this.ok++
    else if (r.status === 'skipped') this.skipped++
    else this.failed++
    this.bytes += r.bytes
    if (r.error) {
      this.errors.set(r.error.code, (this.errors.get(r.error.code) ?? 0) + 1)
      if (!this.examples.has(r.error.code)) {
        const where = { line: r.line, ...(r.input !== undefined && { input: r.input }), ...(r.url !== undefined && { url: r.url }) }
        this.examples.set(r.error.code, { ...where, stage: r.error.stage, message: r.error.message })
      }
    }
    for (const s of STAGES) {
      const v = r.ms[s]
      if (v === undefined) continue
      let list = this.timings.get(s)
      if (!list) this.timings.set(s, list = [])
      list.push(v)
    }
  }

  counts (): RecordsStats {
    const stageMs: StatsJson['stage_ms'] = {}
    for (const [s, list] of this.timings) {
      const sorted = [...list].sort((a, b) => a - b)
      stageMs[s] = { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), max: sorted[sorted.length - 1] }
    }
    return {
      records: this.done,
      ok: this.ok,
      failed: this.failed,
      skipped: this.skipped,
      bytes: this.bytes,
      stage_ms: stageMs,
      errors: Object.fromEntries(this.errors),
      error_examples: Object.fromEntries(this.examples)
    }
  }
}

export class Summary extends Tally {
  /** Set under --shard once the run is over. */
  shard?: { index: number, count: number, others: number }
  /** What the run ran on (versions.ts), set by the command. */
  versions?: Record<string, string | null>
  /** Set once the run is over: each host's limit (lib/http/host-limit.ts). */
  hosts: Record<string, HostLimitFigures> = {}
  private readonly started = performance.now()
  private ended?: number
  private readonly loop: ELDHistogram

  constructor () {
    super()
    this.loop = monitorEventLoopDelay({ resolution: 1 })
    this.loop.enable()
  }

  /** The run's clock and loop-delay figures taken now; later work does not count in them. */
  finish (): void {
    this.loop.disable()
    this.ended ??= performance.now()
  }

  json (): StatsJson {
    this.loop.disable()
    const wall = ((this.ended ?? performance.now()) - this.started) / 1000
    const c = this.counts()
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100
    // The key order of before: the measures of the process among the counts, examples and shard last.
    const s: StatsJson = {
      records: c.records,
      ok: c.ok,
      failed: c.failed,
      skipped: c.skipped,
      wall_s: Math.round(wall * 1000) / 1000,
      bytes: c.bytes,
      bytes_per_s: wall > 0 ? Math.round(c.bytes / wall) : 0,
      stage_ms: c.stage_ms,
      event_loop_delay_ms: { p50: ms(this.loop.percentile(50)), p99: ms(this.loop.percentile(99)), max: ms(this.loop.max) },
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      errors: c.errors,
      error_examples: c.error_examples,
      throttled: Object.values(this.hosts).reduce((n, h) => n + h.throttled, 0),
      hosts: Object.fromEntries(Object.entries(this.hosts).map(([origin, h]) => [origin,
        { limit_min: h.min, limit_max: h.max, limit_final: h.final, throttled: h.throttled, retry_after_holds: h.held }]))
    }
    if (this.shard) {
      s.shard = `${this.shard.index}/${this.shard.count}`
      s.other_shards = this.shard.others
    }
    if (this.versions) s.versions = this.versions
    return s
  }

  text (outDir: string): string {
    const s = this.json()
    const stages = (['fetch', 'open', 'blocks', 'read', 'write'] as const)
      .filter((k) => s.stage_ms[k])
      .map((k) => `${k} ${s.stage_ms[k].p50}/${s.stage_ms[k].p95}`)
      .join(', ')
    return `rasterpipe: ${s.records} record${s.records === 1 ? '' : 's'} in ${s.wall_s.toFixed(1)} s: ` +
      `${s.ok} ok, ${s.failed} failed, ${s.skipped} skipped; ${formatBytes(s.bytes)} fetched ` +
      `(${formatBytes(s.bytes_per_s)}/s)${s.ok > 0 ? `; outputs in ${outDir}` : ''}.` +
      (stages ? ` Stage ms p50/p95: ${stages}.` : '') +
      ` Event loop delay p99 ${s.event_loop_delay_ms.p99} ms, max ${s.event_loop_delay_ms.max} ms; peak RSS ${s.peak_rss_mb} MB.` +
      throttling(s) +
      (s.shard ? ` Shard ${s.shard}: ${s.other_shards} input record${s.other_shards === 1 ? '' : 's'} left to the other shards.` : '')
  }

  async writeJson (path: string): Promise<void> {
    await writeFile(path, printableJson(this.json(), [], 2) + '\n')
  }
}

/** A sentence on the hosts that throttled, if any did. */
function throttling (s: StatsJson): string {
  const hosts = Object.entries(s.hosts ?? {}).filter(([, h]) => h.throttled > 0)
  if (hosts.length === 0) return ''
  const each = hosts.map(([origin, h]) => `${origin}: ${h.throttled}, limit ${h.limit_min}–${h.limit_max}, ${h.limit_final} at the end`).join('; ')
  return ` Throttled (429/503): ${s.throttled} answer${s.throttled === 1 ? '' : 's'} from ${hosts.length} host${hosts.length === 1 ? '' : 's'} (${each}).`
}
