// Shards: --shard K/N over 1,000 records with GNU parallel equals one unsharded run; a line inserted
// moves nothing; `summarize` over the shards equals the run's --stats; --retry-list; the Kubernetes and
// AWS Batch recipes' commands run locally on the loopback server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { BIN, FIXTURES, ROOT, runCli, scratch } from './support/run.js'
import { readYaml } from './support/yaml.js'
import type { ResultRecord } from '../lib/core/records.js'
import type { StatsJson } from '../lib/cli/summary.js'
import { jobKey, parseShard, shardOf } from '../lib/input/shard.js'
import { parseItem } from '../lib/input/parse.js'
import { resolveOptions } from '../lib/run/options.js'
import { UsageError } from '../lib/core/errors.js'
import { inFlags } from '../lib/cli/flags.js'

const ctx = useServer()
const TIFS = readdirSync(FIXTURES).filter((f) => f.endsWith('.tif')).sort()
const MISSING = 10
const BAD_LINES = ['{"url": ', '{"url": "a.tif", "colour": 1}', '[1, 2]', '{oops', 'ftp://example.org/x.tif']

/** 1,000 input lines: small windows of the fixtures, 10 URLs that answer 404, 5 bad lines. */
function inputLines (): string[] {
  const lines: string[] = []
  for (let i = 0; lines.length < 1000 - MISSING - BAD_LINES.length; i++) {
    const cell = Math.floor(i / TIFS.length)
    lines.push(JSON.stringify({ url: ctx.server.url(TIFS[i % TIFS.length]), window: [(cell % 16) * 8, Math.floor(cell / 16) * 8, 16, 16] }))
  }
  for (let i = 0; i < MISSING; i++) lines.splice(i * 97 + 5, 0, JSON.stringify({ url: ctx.server.url(`missing-${i}.tif`), window: [0, 0, 16, 16] }))
  BAD_LINES.forEach((l, i) => lines.splice(i * 191 + 11, 0, l))
  return lines
}

/** Output files below a directory, as relative path → bytes. */
function outputs (dir: string): Map<string, Buffer> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
  return new Map(files.map((e) => [join(e.parentPath, e.name).slice(dir.length + 1), readFileSync(join(e.parentPath, e.name))]))
}

function recordsOf (path: string): ResultRecord[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord)
}

/** Runs a program to its end; resolves with its status and output. */
async function run (cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

const same = (r: ResultRecord): string => `${r.line} ${r.url ?? ''} ${r.status} ${r.error?.code ?? ''} ${r.output?.replace(/^.*\//, '') ?? ''}`

test('--shard and --shards: the library and the CLI refuse the same values with the same message, the CLI naming the option by its flag', async () => {
  for (const [value, pattern] of [['5/4', /K must be a whole number from 1 to N \(4\), got 5/], ['0/4', /got 0/], ['3', /must be K\/N/], ['1/0', /at least 1, got 0/]] as const) {
    assert.throws(() => resolveOptions({ shard: value }), (err: Error) => err instanceof UsageError && pattern.test(err.message) && err.message.startsWith('shard: ') && inFlags(err).startsWith('--shard: '))
    const cli = await runCli(['--shard', value], { stdin: '' })
    assert.equal(cli.code, 2, value)
    assert.equal(cli.stderr.split('\n')[0], `rasterpipe: ${(() => { try { resolveOptions({ shard: value }) } catch (err) { return inFlags(err as UsageError) } })()}`)
  }
  assert.deepEqual(resolveOptions({ shard: { index: 2, count: 3 } }).shard, { index: 2, count: 3 })
  assert.deepEqual(parseShard(' 3 / 4 '), { index: 3, count: 4 })
  const env = { JOB_COMPLETION_INDEX: '', AWS_BATCH_JOB_ARRAY_INDEX: '' }
  const none = await runCli(['--shards', '4'], { stdin: '', env })
  assert.match(none.stderr, /^rasterpipe: --shards: takes the worker's index from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX, and neither is set/)
  const over = await runCli(['--shards', '4'], { stdin: '', env: { ...env, AWS_BATCH_JOB_ARRAY_INDEX: '4' } })
  assert.match(over.stderr, /^rasterpipe: --shards: AWS_BATCH_JOB_ARRAY_INDEX must be a whole number from 0 to 3 \(0-based\), got "4"/)
  const both = await runCli(['--shards', '4', '--shard', '1/4'], { stdin: '' })
  assert.match(both.stderr, /--shard K\/N and --shards N cannot be used together/)
})

test('inserting a line at the top moves no other record to another shard; every line is in exactly one shard', () => {
  const options = resolveOptions({ outDir: 'out' })
  const lines = inputLines()
  const shardsOf = (list: string[]): string[] => list.map((text, i) => {
    const job = parseItem(text, i + 1, options, '.tif')
    assert.ok(job, `line ${i + 1} is a record`)
    return `${text} → ${shardOf(jobKey(job, text), 4)}`
  })
  const before = shardsOf(lines)
  const after = shardsOf([JSON.stringify({ url: ctx.server.url('inserted.tif') }), ...lines])
  assert.deepEqual(after.slice(1), before, 'a record changed shard when a line was inserted above it')
  const sizes = [1, 2, 3, 4].map((k) => before.filter((s) => s.endsWith(`→ ${k}`)).length)
  assert.equal(sizes.reduce((a, b) => a + b), 1000)
  // The same window written as an array or as an object is the same record, so the same shard.
  const a = parseItem('{"url": "a.tif", "window": [1, 2, 3, 4]}', 1, options, '.tif')
  const b = parseItem('{"url": "a.tif", "window": {"col": 1, "row": 2, "width": 3, "height": 4}}', 9, options, '.tif')
  assert.ok(a && b)
  assert.equal(jobKey(a, ''), jobKey(b, ''))
})

test('1,000 records: 4 shards under GNU parallel equal one unsharded run; summarize, --retry-list, reruns, and the recipes', async (t) => {
  if (!existsSync('/usr/bin/parallel') && (await run('sh', ['-c', 'command -v parallel'])).code !== 0) {
    t.skip('GNU parallel is not installed')
    return
  }
  const dir = scratch('rp-shard-')
  const input = join(dir, 'inputs.ndjson')
  const lines = inputLines()
  writeFileSync(input, lines.join('\n') + '\n')
  const common = ['--fetch', 'download', '-c', '8']

  // One unsharded run.
  const single = await runCli(['-o', join(dir, 'single'), '--stats', join(dir, 'single.json'), '--no-progress', ...common, input])
  assert.equal(single.code, 1, single.stderr.slice(-500))
  assert.equal(single.records.length, 1000)
  const stats = JSON.parse(readFileSync(join(dir, 'single.json'), 'utf8')) as StatsJson

  // Four shards side by side, by the recipe.
  const results = join(dir, 'results')
  const shards = await run(join(ROOT, 'examples', 'parallel.sh'), ['4', input, results, '-o', join(dir, 'sharded'), ...common],
    { RASTERPIPE: join(ROOT, 'bin', 'rasterpipe'), TMPDIR: dir })
  assert.equal(shards.code, 1, `the summary exits 1 (404s among the records): ${shards.stderr.slice(-500)}`)
  const perShard = [1, 2, 3, 4].map((k) => recordsOf(join(results, `shard-${k}.ndjson`)))
  const sizes = perShard.map((r) => r.length)
  t.diagnostic(`shard sizes ${sizes.join(', ')}`)
  for (const n of sizes) assert.ok(n >= 200 && n <= 300, `shard sizes ${sizes.join(', ')}: each within 250 ± 20%`)
  const union = perShard.flat()
  assert.equal(union.length, 1000, 'every record in exactly one shard')
  assert.deepEqual(union.map(same).sort(), single.records.map(same).sort(), 'the shards\' records are the unsharded run\'s')
  const a = outputs(join(dir, 'single'))
  const b = outputs(join(dir, 'sharded'))
  assert.equal(a.size, 1000 - MISSING - BAD_LINES.length)
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), 'the same outputs')
  for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name) as Buffer), `${name} differs between the runs`)

  // summarize over the shards: the unsharded run's counts and error codes.
  const summary = JSON.parse(readFileSync(join(results, 'summary.json'), 'utf8')) as StatsJson
  const counts = (s: StatsJson): unknown[] => [s.records, s.ok, s.failed, s.skipped, s.errors]
  assert.deepEqual(counts(summary), counts(stats))
  assert.deepEqual(stats.errors, { HTTP_404: MISSING, BAD_RECORD: BAD_LINES.length })
  const merged = await run(process.execPath, [BIN, 'summarize', '--stats', ...[1, 2, 3, 4].map((k) => join(results, `shard-${k}.json`))])
  assert.equal(merged.code, 1)
  assert.deepEqual(counts(JSON.parse(merged.stdout) as StatsJson), counts(stats))
  assert.doesNotMatch(merged.stderr, /warning/)
  const three = await run(process.execPath, [BIN, 'summarize', '--stats', ...[1, 2, 4].map((k) => join(results, `shard-${k}.json`))])
  assert.match(three.stderr, /warning: shard 3\/4 missing/)

  // --retry-list: exactly the 404s, as input records; with the files now there, the retry finishes the run.
  const retry = await run(process.execPath, [BIN, 'summarize', '--retry-list', ...[1, 2, 3, 4].map((k) => join(results, `shard-${k}.ndjson`))])
  const retried = retry.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { url: string, window: unknown })
  assert.deepEqual(retried.map((r) => r.url).sort(), Array.from({ length: MISSING }, (_v, i) => ctx.server.url(`missing-${i}.tif`)).sort())
  for (const r of retried) assert.deepEqual(r.window, { col: 0, row: 0, width: 16, height: 16 })
  assert.match(retry.stderr, new RegExp(`${BAD_LINES.length} failed records not in the retry list`))
  writeFileSync(join(dir, 'retry.ndjson'), retry.stdout)
  for (let i = 0; i < MISSING; i++) ctx.server.file(`missing-${i}.tif`, readFileSync(join(FIXTURES, TIFS[i % TIFS.length])))
  const again = await runCli(['-o', join(dir, 'sharded'), '--skip-existing', '--no-progress', ...common, join(dir, 'retry.ndjson')])
  assert.equal(again.code, 0, again.stderr)
  assert.deepEqual(again.records.map((r) => r.status), Array(MISSING).fill('ok'))
  assert.equal(outputs(join(dir, 'sharded')).size, 1000 - BAD_LINES.length)

  // Rerunning one shard with --skip-existing redoes nothing; a line inserted on top moves no record.
  writeFileSync(join(dir, 'inserted.ndjson'), [JSON.stringify({ url: ctx.server.url('inserted.tif') }), ...lines].join('\n') + '\n')
  const requests = ctx.server.totalRequests()
  const rerun = await runCli(['--shard', '2/4', '-o', join(dir, 'sharded'), '--skip-existing', '--no-progress', ...common, join(dir, 'inserted.ndjson')])
  const moved = rerun.records.filter((r) => r.url !== ctx.server.url('inserted.tif'))
  assert.deepEqual(moved.map((r) => `${r.url} ${r.line - 1}`).sort(), perShard[1].map((r) => `${r.url} ${r.line}`).sort(), 'shard 2 kept the same records')
  assert.ok(moved.every((r) => r.status === 'skipped' || r.error?.stage === 'input'), 'a rerun of a done shard redoes nothing')
  const fetched = ctx.server.totalRequests() - requests
  assert.ok(fetched <= 1, `only the inserted record may fetch, got ${fetched} requests`)

  // The Kubernetes Indexed Job's container command, run here: index 2 with --shards 4 is shard 3/4.
  const job = readYaml(readFileSync(join(ROOT, 'examples', 'kubernetes', 'job.yaml'), 'utf8')) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(job.apiVersion, 'batch/v1')
  assert.equal(job.kind, 'Job')
  assert.equal(job.spec.completionMode, 'Indexed')
  assert.ok(job.spec.backoffLimitPerIndex >= 1)
  assert.equal(job.spec.template.spec.restartPolicy, 'Never', 'podFailurePolicy and backoffLimitPerIndex need restartPolicy Never')
  const container = job.spec.template.spec.containers[0]
  assert.ok(container.resources.requests.cpu && container.resources.limits.memory)
  const args = container.args as string[]
  assert.equal(args[args.indexOf('--shards') + 1], String(job.spec.completions), 'completions must equal --shards')
  const env = Object.fromEntries((container.env as Array<{ name: string, value: string }>).map((e) => [e.name, e.value]))
  for (const name of ['INPUTS', 'RESULTS', 'OUT_DIR']) assert.match(env[name], /^s3:\/\//, `${name} on object storage`)
  // Kubernetes expands $(VAR) in args from the container's env; here the store's places become local ones.
  const local: Record<string, string> = { ...env, INPUTS: input, RESULTS: join(dir, 'k8s'), OUT_DIR: join(dir, 'sharded') }
  const argv = [...container.command as string[], ...args].map((a) => a.replace(/\$\((\w+)\)/g, (_m, v: string) => local[v]))
  const PATH = `${join(ROOT, 'examples', 'container')}:${join(ROOT, 'bin')}:${process.env.PATH ?? ''}`
  const pod = await run(argv[0], argv.slice(1), { ...local, JOB_COMPLETION_INDEX: '2', AWS_BATCH_JOB_ARRAY_INDEX: '', PATH, TMPDIR: dir })
  // Only bad lines still fail: the 404s' files are there now.
  assert.equal(pod.code, perShard[2].some((r) => r.error?.stage === 'input') ? 1 : 0, pod.stderr)
  assert.match(pod.stderr, /Shard 3\/4: \d+ input records left to the other shards/)
  assert.deepEqual(recordsOf(join(dir, 'k8s', 'shard-3.ndjson')).map((r) => `${r.line} ${r.url ?? ''}`).sort(),
    perShard[2].map((r) => `${r.line} ${r.url ?? ''}`).sort(), 'the pod processed exactly shard 3/4')
  assert.ok(existsSync(join(dir, 'k8s', 'shard-3.json')))

  // The AWS Batch job definition's command, with its parameters (Ref::) and array index 1: shard 2/4.
  const def = JSON.parse(readFileSync(join(ROOT, 'examples', 'aws-batch', 'job-definition.json'), 'utf8')) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  const submit = JSON.parse(readFileSync(join(ROOT, 'examples', 'aws-batch', 'submit-job.json'), 'utf8')) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(def.type, 'container')
  assert.equal(submit.jobDefinition, def.jobDefinitionName)
  assert.equal(String(submit.arrayProperties.size), submit.parameters.shards, 'the array size must equal --shards')
  assert.ok(def.retryStrategy.attempts >= 1 && def.containerProperties.resourceRequirements.length === 2)
  const params: Record<string, string> = { ...def.parameters, ...submit.parameters, outDir: join(dir, 'sharded') }
  const batchEnv = Object.fromEntries((def.containerProperties.environment as Array<{ name: string, value: string }>).map((e) => [e.name, e.value]))
  const command = (def.containerProperties.command as string[]).map((a) => a.startsWith('Ref::') ? params[a.slice(5)] : a)
  const batch = await run(command[0], command.slice(1), { ...batchEnv, INPUTS: input, RESULTS: join(dir, 'batch'), AWS_BATCH_JOB_ARRAY_INDEX: '1', JOB_COMPLETION_INDEX: '', PATH, TMPDIR: dir })
  assert.equal(batch.code, perShard[1].some((r) => r.error?.stage === 'input') ? 1 : 0, batch.stderr)
  assert.deepEqual(recordsOf(join(dir, 'batch', 'shard-2.ndjson')).map((r) => `${r.line} ${r.url ?? ''}`).sort(),
    perShard[1].map((r) => `${r.line} ${r.url ?? ''}`).sort(), 'the array child processed exactly shard 2/4')
  rmSync(dir, { recursive: true, force: true })
})
