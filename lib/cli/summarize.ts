// `rasterpipe summarize`: one summary over the result records (or --stats files) of many runs, such as
// the shards of one job, and the list of inputs to run again. Reads only what runs wrote: nothing fetched.
import { createReadStream } from 'node:fs'
import { access, constants, readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { unknownOption } from './arguments.js'
import { UsageError } from '../core/errors.js'
import type { ResultRecord } from '../core/records.js'
import { unreadable } from '../core/words.js'
import { formatBytes } from '../core/sizes.js'
import { Tally, type HostStats, type RecordsStats, type StatsJson } from './summary.js'
import type { CliIo } from './io.js'
import { printable, printableJson } from '../http/redact.js'

export function summarizeHelp (): string {
  return `Usage: rasterpipe summarize [--retry-list] [records.ndjson ...]
       rasterpipe summarize --stats stats.json ...

Reads the result records that runs of rasterpipe printed (files, or stdin when none or '-'), for
example the four shards of one job, and prints one summary of them all on stdout: the JSON that
--stats writes (records, ok, failed, skipped, bytes, per-stage ms p50/p95/max, error codes with
their counts and a first example of each). A record that appears again for the same input file
and line (a rerun's records after the first run's) replaces the earlier one.

Options:
      --retry-list   print instead the input records to run again, one per failed record, as
                     NDJSON (the window or bbox asked, bands, out_size, out, id): feed them to
                     rasterpipe --skip-existing. Records that failed at input (bad lines) cannot
                     be retried as they are: they are listed on stderr to be fixed. Headers are
                     never in records (give -H again); a pre-signed URL comes out REDACTED.
      --stats        the files are --stats JSON files of several runs (shards): their counts and
                     errors add up; stage max is exact, p50/p95 are the runs' values weighted by
                     their record counts (percentiles do not merge; summarize the records for
                     exact ones). Shards missing from a --shard job are named on stderr.
  -h, --help         this help

A one-line summary goes to stderr. Exit status: 0 no record failed; 1 some failed; 2 usage error
or a line that is not a result record (named by file and line).

Examples:
  parallel 'rasterpipe --shard {}/4 -o chips inputs.ndjson > shard-{}.ndjson' ::: 1 2 3 4
  rasterpipe summarize shard-*.ndjson                  # the job's summary, as one run's --stats
  rasterpipe summarize --retry-list shard-*.ndjson > retry.ndjson
  rasterpipe --skip-existing -o chips retry.ndjson > retry-results.ndjson
  rasterpipe summarize --stats shard-*.json            # shards' --stats files merged
`
}

function fail (message: string): never {
  throw new UsageError(`summarize: ${message}`)
}

async function * linesOf (name: string, io: CliIo): AsyncGenerator<string> {
  // Opened first, so that a missing file is a usage error naming it rather than a stream error later.
  if (name !== '-') await access(name, constants.R_OK).catch((err: Error) => fail(`cannot read '${name}': ${unreadable(err)}`))
  const stream = (name === '-' ? io.stdin : createReadStream(name)) as NodeJS.ReadableStream
  yield * createInterface({ input: stream, crlfDelay: Infinity })
}

function asRecord (text: string, where: string): ResultRecord {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    fail(`${where}: not a result record (invalid JSON: ${(err as Error).message})`)
  }
  const r = value as ResultRecord
  if (r === null || typeof r !== 'object' || typeof r.line !== 'number' || !['ok', 'error', 'skipped'].includes(r.status)) {
    fail(`${where}: not a result record (one has "line" and "status"): ${text.slice(0, 80)}`)
  }
  r.bytes ??= 0
  r.ms ??= {}
  return r
}

/** Records by input file and line, later ones replacing earlier ones (a rerun after the first run). */
async function readRecords (names: string[], io: CliIo): Promise<{ records: ResultRecord[], replaced: number }> {
  const byLine = new Map<string, ResultRecord>()
  let replaced = 0
  for (const name of names) {
    let n = 0
    for await (const text of linesOf(name, io)) {
      n++
      if (text.trim() === '') continue
      const r = asRecord(text, `${name === '-' ? 'stdin' : name}:${n}`)
      // One line may give several records (a STAC ItemCollection: one per item, each with its id).
      const key = JSON.stringify([r.input ?? null, r.line, r.url ?? null, r.id ?? null])
      if (byLine.delete(key)) replaced++
      byLine.set(key, r)
    }
  }
  return { records: [...byLine.values()], replaced }
}

function errorsText (s: RecordsStats): string {
  const codes = Object.entries(s.errors).sort((a, b) => b[1] - a[1])
  if (codes.length === 0) return ''
  return ' Errors: ' + codes.map(([code, n]) => {
    const e = s.error_examples[code]
    return `${code} ×${n}` + (e ? ` (first: ${e.input ? `${e.input}:` : 'line '}${e.line}: ${e.stage}: ${e.message})` : '')
  }).join('; ') + '.'
}

function countsText (s: RecordsStats, from: string): string {
  return `rasterpipe summarize: ${s.records} record${s.records === 1 ? '' : 's'} from ${from}: ${s.ok} ok, ${s.failed} failed, ` +
    `${s.skipped} skipped; ${formatBytes(s.bytes)} fetched.` + errorsText(s)
}

/** The failed records' input records, in input order; those that cannot be retried are listed on stderr. */
function retryList (records: ResultRecord[], io: CliIo): void {
  const failed = records.filter((r) => r.status === 'error')
    .sort((a, b) => (a.input ?? '').localeCompare(b.input ?? '') || a.line - b.line)
  const cannot: string[] = []
  for (const r of failed) {
    if (r.record) io.stdout.write(printableJson(r.record) + '\n')
    else cannot.push(`${r.input ? `${r.input}:` : 'line '}${r.line} (${r.error ? `${r.error.stage} ${r.error.code}` : 'no error given'})`)
  }
  if (cannot.length > 0) {
    io.stderr.write(printable(`rasterpipe summarize: ${cannot.length} failed record${cannot.length === 1 ? '' : 's'} not in the retry list: ` +
      'bad input lines (fix them in the input), or records without "record": ' + cannot.slice(0, 10).join(', ') +
      (cannot.length > 10 ? `, and ${cannot.length - 10} more` : '')) + '\n')
  }
}

type Stage = StatsJson['stage_ms'][string]

/** --stats files of several runs as one. */
export function mergeStats (all: StatsJson[]): StatsJson & { merged: Record<string, unknown> } {
  const sum = (f: (s: StatsJson) => number): number => all.reduce((n, s) => n + (f(s) ?? 0), 0)
  const max = (f: (s: StatsJson) => number | undefined): number => Math.max(0, ...all.map((s) => f(s) ?? 0))
  const records = sum((s) => s.records)
  const stageMs: Record<string, Stage> = {}
  for (const stage of new Set(all.flatMap((s) => Object.keys(s.stage_ms ?? {})))) {
    const having = all.filter((s) => s.stage_ms?.[stage])
    const weight = having.reduce((n, s) => n + s.records, 0) || 1
    const mean = (k: 'p50' | 'p95'): number => Math.round(having.reduce((n, s) => n + s.stage_ms[stage][k] * s.records, 0) / weight)
    stageMs[stage] = { p50: mean('p50'), p95: mean('p95'), max: max((s) => s.stage_ms?.[stage]?.max) }
  }
  const errors: Record<string, number> = {}
  const examples: StatsJson['error_examples'] = {}
  for (const s of all) {
    for (const [code, n] of Object.entries(s.errors ?? {})) errors[code] = (errors[code] ?? 0) + n
    for (const [code, e] of Object.entries(s.error_examples ?? {})) examples[code] ??= e
  }
  // The runs' builds: one set when they agree (as one run's --stats says it), else each named under merged.
  const builds = [...new Set(all.map((s) => JSON.stringify(s.versions ?? null)))].map((t) => JSON.parse(t) as StatsJson['versions'] | null)
  return {
    records,
    ok: sum((s) => s.ok),
    failed: sum((s) => s.failed),
    skipped: sum((s) => s.skipped),
    // Shards run side by side: the job took as long as its longest, and moved bytes at their rates added.
    wall_s: max((s) => s.wall_s),
    bytes: sum((s) => s.bytes),
    bytes_per_s: sum((s) => s.bytes_per_s),
    stage_ms: stageMs,
    event_loop_delay_ms: { p50: max((s) => s.event_loop_delay_ms?.p50), p99: max((s) => s.event_loop_delay_ms?.p99), max: max((s) => s.event_loop_delay_ms?.max) },
    peak_rss_mb: max((s) => s.peak_rss_mb),
    errors,
    error_examples: examples,
    throttled: sum((s) => s.throttled ?? 0),
    hosts: mergeHosts(all),
    ...(builds.length === 1 && builds[0] && { versions: builds[0] }),
    merged: {
      runs: all.length,
      shards: all.map((s) => s.shard).filter((s) => s !== undefined),
      ...(builds.length > 1 && { versions: builds }),
      note: 'stage_ms p50/p95 are the runs\' values weighted by their records (percentiles do not merge); max is exact; wall_s and peak values are the largest run\'s; a host\'s limit_final is the last run\'s that asked it'
    }
  }
}

/** Each host's figures over the runs that asked it: lowest and highest limits, throttling answers added. */
function mergeHosts (all: StatsJson[]): Record<string, HostStats> {
  const hosts: Record<string, HostStats> = {}
  for (const s of all) {
    for (const [origin, h] of Object.entries(s.hosts ?? {})) {
      const seen = hosts[origin]
      hosts[origin] = seen
        ? {
            limit_min: Math.min(seen.limit_min, h.limit_min),
            limit_max: Math.max(seen.limit_max, h.limit_max),
            limit_final: h.limit_final,
            throttled: seen.throttled + h.throttled,
            retry_after_holds: seen.retry_after_holds + h.retry_after_holds
          }
        : { ...h }
    }
  }
  return hosts
}

/** What is odd about a set of shards' stats: shards missing or twice, counts that disagree on the input. */
function shardProblems (all: StatsJson[]): string[] {
  const shards = all.map((s) => s.shard).filter((s): s is string => s !== undefined)
  if (shards.length === 0) return []
  const problems: string[] = []
  const counts = new Set(shards.map((s) => s.split('/')[1]))
  if (counts.size > 1) return [`the runs are shards of different counts (${[...counts].join(', ')})`]
  const n = Number([...counts][0])
  const missing = Array.from({ length: n }, (_v, i) => `${i + 1}/${n}`).filter((k) => !shards.includes(k))
  if (missing.length > 0) problems.push(`shard${missing.length === 1 ? '' : 's'} ${missing.join(', ')} missing`)
  const twice = shards.filter((k, i) => shards.indexOf(k) !== i)
  if (twice.length > 0) problems.push(`shard${twice.length === 1 ? '' : 's'} ${[...new Set(twice)].join(', ')} given twice`)
  const inputs = new Set(all.filter((s) => s.shard).map((s) => s.records + (s.other_shards ?? 0)))
  if (inputs.size > 1) problems.push(`the shards read inputs of different sizes (${[...inputs].join(', ')} records): not the same input`)
  return problems
}

async function readStats (names: string[]): Promise<StatsJson[]> {
  if (names.length === 0 || names.includes('-')) fail('--stats reads files: name the --stats JSON files of the runs')
  return await Promise.all(names.map(async (name) => {
    let value: StatsJson
    try {
      value = JSON.parse(await readFile(name, 'utf8')) as StatsJson
    } catch (err) {
      fail(`--stats: cannot read '${name}': ${unreadable(err)}`)
    }
    if (value === null || typeof value !== 'object' || typeof value.records !== 'number' || typeof value.errors !== 'object') {
      fail(`--stats: '${name}' is not a --stats file (one has "records" and "errors")`)
    }
    return value
  }))
}

export async function summarize (argv: string[], io: CliIo): Promise<number> {
  try {
    const { values: v, positionals } = (() => {
      try {
        return parseArgs({ args: argv, allowPositionals: true, strict: true, options: { 'retry-list': { type: 'boolean' }, stats: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } })
      } catch (err) {
        // An unknown option in rasterpipe's words, with the nearest of summarize's own.
        const known = ['--retry-list', '--stats', '--help', '-h']
        const unknown = argv.find((a) => /^-./.test(a) && !known.includes(a.split('=')[0]))
        if (unknown) throw unknownOption(unknown.split('=')[0], known)
        fail((err as Error).message)
      }
    })()
    if (v.help) { io.stdout.write(summarizeHelp()); return 0 }
    if (v.stats && v['retry-list']) fail('--retry-list needs result records; --stats files hold none')
    if (v.stats) {
      const all = await readStats(positionals)
      for (const p of shardProblems(all)) io.stderr.write(`rasterpipe summarize: warning: ${printable(p)}\n`)
      const merged = mergeStats(all)
      io.stdout.write(printableJson(merged, [], 2) + '\n')
      io.stderr.write(printable(countsText(merged, `${all.length} --stats file${all.length === 1 ? '' : 's'}`)) + '\n')
      return merged.failed > 0 ? 1 : 0
    }
    const names = positionals.length === 0 ? ['-'] : positionals
    const { records, replaced } = await readRecords(names, io)
    const tally = new Tally()
    for (const r of records) tally.add(r)
    const s = tally.counts()
    if (v['retry-list']) retryList(records, io)
    else io.stdout.write(printableJson(s, [], 2) + '\n')
    const from = `${names.length} input${names.length === 1 ? '' : 's'}` + (replaced > 0 ? ` (${replaced} replaced by later records of the same line)` : '')
    io.stderr.write(printable(countsText(s, from)) + '\n')
    return s.failed > 0 ? 1 : 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`rasterpipe: ${printable(err.message)}\nTry 'rasterpipe summarize --help'.\n`)
      return 2
    }
    throw err
  }
}
