// `make bench`: measured speed, memory and event-loop health, and rasterpipe against its peers and the
// floor, each comparison made within one run: contenders take turns, their order rotated each repetition,
// so a shared machine's drift falls on all of them alike. Medians and ratios go to bench/RESULTS.md, with
// the machine's load average before and after each comparison.
//
//   node dist/bench/run.js [--runs N] [--quick] [--only NAME,...] [--out FILE]
//
// NAME: peers, cpu (CPU per record and fixed cost), seed (the seed article's batch), points (10,000 points
// across 100 COGs against gdallocationinfo), latency, cog, memory, encoding. --quick (or BENCH_QUICK=1):
// one run, fewer records, the peer comparison and the points (2,000 across 20 COGs) only (unless --only
// says otherwise), for trying; its report goes to bench/RESULTS-quick.md unless --out says otherwise.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { startServer, type RasterServer } from '../test/support/server.js'
import type { StatsJson } from '../lib/cli/summary.js'
import { mergeCreationOptions } from '../lib/raster/formats.js'
import { makeBatchFiles, makeNoisyTiff, servedFiles } from './data.js'
import { article, baseline, checkOutputs, pythonForArticle, rasterpipe, timed, vsicurl, xargs, type Contender, type Job, type Run } from './contenders.js'
import { floorOf, gdalCpu, sourceBytes, type SourceBytes } from './floor.js'
import { perRecord } from './per-record.js'
import { pointsBench } from './points.js'
import { seedBatch } from './seed.js'
import { median } from './stats.js'
import { load, rotated as rotatedRuns } from './turns.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
    only: { type: 'string' },
    out: { type: 'string' }
  }
})
const QUICK = values.quick === true
const RUNS = Number(values.runs ?? (QUICK ? 1 : 3))
const OUT = values.out ?? join(ROOT, 'bench', QUICK ? 'RESULTS-quick.md' : 'RESULTS.md')
const only = values.only ? new Set(values.only.split(',')) : QUICK ? new Set(['peers', 'points']) : null
const want = (name: string): boolean => !only || only.has(name)
const CONCURRENCY = 16
/** The creation options every contender writes with: rasterpipe's defaults for GTiff. */
const CO = mergeCreationOptions('GTiff', [])

/** The bench's turns at its own number of runs. */
async function rotated<T> (label: string, contenders: Array<[string, () => Promise<T>]>, wall: (x: T) => number): Promise<Map<string, T[]>> {
  return await rotatedRuns(RUNS, label, contenders, wall)
}

interface Scenario { name: string, jobs: Job[], what: string }

/** rasterpipe against the three peers and the floor, for one scenario at one network condition. */
async function peerTable (work: string, server: RasterServer, s: Scenario, cpu: number, bytes: SourceBytes[],
  net: { latencyMs: number, bandwidth: number, label: string }, contenders: Contender[], localOf: (url: string) => string): Promise<string[]> {
  server.latency = net.latencyMs
  server.bandwidth = net.bandwidth
  const floor = floorOf(cpu, bytes, { ...net, concurrency: CONCURRENCY })
  const before = load()
  const checked = new Set<string>()
  const runs = await rotated(`${s.name}, ${net.label}`, contenders.map((c): [string, () => Promise<Run & { requests: number, sent: number }>] => [c.name, async () => {
    server.reset()
    const r = await c.run(work, s.jobs, CONCURRENCY, CO)
    const m = { ...r, requests: server.totalRequests(), sent: server.totalBytes() }
    // Each contender's outputs are checked once per table, against GDAL's reading of the local sources.
    if (!checked.has(c.name)) { checkOutputs(r, s.jobs, localOf, 8); checked.add(c.name) }
    rmSync(r.outDir, { recursive: true, force: true })
    return m
  }]), (m) => m.wall)
  const after = load()
  const base = median((runs.get(rasterpipe.name) ?? []).map((m) => m.wall))
  const rows = contenders.map((c) => {
    const ms = runs.get(c.name) ?? []
    const wall = median(ms.map((m) => m.wall))
    const cpuS = ms.every((m) => m.cpu !== null) ? median(ms.map((m) => m.cpu as number)).toFixed(2) : '—'
    const ratio = c === rasterpipe ? `${(wall / floor.total).toFixed(2)}× the floor` : `${(wall / base).toFixed(2)}× rasterpipe`
    return `| ${c.name} | ${wall.toFixed(2)} | ${ms.map((m) => m.wall.toFixed(2)).join(', ')} | ${ratio} | ${cpuS} | ` +
      `${median(ms.map((m) => m.requests))} | ${(median(ms.map((m) => m.sent)) / 1e6).toFixed(1)} |`
  })
  return [`### ${s.name}, ${net.label}`, '',
    `Load average (1, 5, 15 min) ${before} before, ${after} after.`, '',
    '| contender | median wall (s) | runs (s) | ratio | CPU (s, median) | requests | MB sent |', '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    `| the floor | ${floor.total.toFixed(2)} | | | | | |`, '',
    `The floor: GDAL's CPU ${floor.cpu.toFixed(2)} s over ${cpus().length} cores = ${floor.compute.toFixed(2)} s, plus ` +
    `${floor.network.toFixed(2)} s of network (${floor.schedule}).`, '']
}

async function peers (work: string, server: RasterServer, report: string[]): Promise<void> {
  const python = pythonForArticle()
  const base = baseline()
  const contenders = [rasterpipe, ...base, ...(python ? [article] : []), vsicurl, xargs]
  const skipped = python ? [] : ['- The article\'s Python pipeline was **skipped**: no python3 here imports rasterio, aiohttp, tqdm and click ' +
    '(as root on Debian, `make bench` installs python3-rasterio, python3-aiohttp, python3-tqdm, python3-click with apt-get).']
  if (!python) process.stderr.write('bench: skipping the article\'s Python pipeline: no python3 imports rasterio, aiohttp, tqdm and click (run as root on Debian to install them)\n')

  const batch = makeBatchFiles(work)
  const cogPath = makeNoisyTiff(work, 'cog.tif', 2048, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=512'], 'COG')
  const { serve, localOf } = servedFiles(server)
  const nSmall = QUICK ? 32 : 120
  const nCog = QUICK ? 16 : 40
  const nMany = QUICK ? 2 : 6
  const small: Job[] = Array.from({ length: nSmall }, (_, i) => ({ url: serve(`peer-s${i}.tif`, batch[i % batch.length]), window: [0, 0, 512, 512], out: `${i}.tif` }))
  const cog: Job[] = Array.from({ length: nCog }, (_, i) => ({ url: serve(`peer-cog${i}.tif`, cogPath), window: [768, 768, 512, 512], out: `${i}.tif` }))
  const many: Job[] = Array.from({ length: nMany }, (_, f) => serve(`peer-many${f}.tif`, cogPath)).flatMap((url, f) =>
    Array.from({ length: 16 }, (_, w): Job => ({ url, window: [(w % 4) * 512, Math.floor(w / 4) * 512, 512, 512], out: `${f}-${w}.tif` })))
  const cogMb = (readFileSync(cogPath).length / 1e6).toFixed(1)
  const scenarios: Scenario[] = [
    { name: `${nSmall} small GeoTIFFs`, jobs: small, what: `a 512×512 window (0,0) of each of ${nSmall} URLs serving the 5 batch GeoTIFFs (1–3 MB, noisy Byte, 1–3 bands, tiled and striped)` },
    { name: `${nCog} COGs`, jobs: cog, what: `a 512×512 window (768,768) of each of ${nCog} COGs of ${cogMb} MB (2048², 3 bands Byte, 512² tiles, DEFLATE)` },
    { name: `${nMany * 16} windows of ${nMany} COGs`, jobs: many, what: `the 16 windows of 512×512 that tile each of ${nMany} such COGs` }
  ]
  const conditions = [
    { latencyMs: 50, bandwidth: 0, label: '50 ms per request' },
    { latencyMs: 0, bandwidth: 50e6, label: '50 MB/s per response' }
  ]
  report.push('', '## Peers', '',
    `Each scenario is run by rasterpipe and its peers with the same windows, at concurrency ${CONCURRENCY}, all writing GeoTIFFs with ` +
    `rasterpipe's default creation options (\`${CO.join(' ')}\`), from the loopback server (in this process, on the same cores) ` +
    `with 50 ms added to every request (no bandwidth cap), then with every response capped at 50 MB/s (no added latency). ` +
    `${RUNS} run(s) per contender, in turns rotated each repetition; medians. The contenders:`, '',
    `- **rasterpipe** (\`-c ${CONCURRENCY}\`, \`--fetch auto\`, the default), records with \`url\`, \`window\` and \`out\`;`,
    ...base.map((c) => `- **${c.name}**: the same, from the checkout \`RASTERPIPE_BENCH_BASELINE\` names, to compare a change with the code before it;`),
    `- **the article's Python pipeline** (\`bench/peers/article.py\`, on ${python ?? 'no python'}): the seed article's CLI written again, one aiohttp ` +
    'ClientSession, a semaphore of the same size, each file downloaded whole into a NamedTemporaryFile, rasterio\'s window read and write in ' +
    'asyncio.to_thread, click, tqdm; with its two bugs fixed (`Affine(*transform[:6])`, downloads gathered under the semaphore);',
    `- **gdal-async /vsicurl/ pool** (\`bench/peers/vsicurl.ts\`): ${CONCURRENCY} workers in one process, each \`openAsync('/vsicurl/…')\` then ` +
    `\`translateAsync\` of the window, libuv's pool at ${CONCURRENCY} threads;`,
    `- **xargs -P ${CONCURRENCY} gdal_translate -srcwin … /vsicurl/…**, one process per window, \`GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR\`.`, '',
    'Every contender\'s outputs were checked (8 a table, on its first run) against GDAL\'s checksums of the same window of the local source. ' +
    '"ratio": rasterpipe\'s wall against the floor, each peer\'s against rasterpipe (above 1: rasterpipe is faster). CPU: user + system of ' +
    'the contender and its children (GNU time); the server\'s is not in it. The floor: GDAL\'s CPU for the same windows from local copies ' +
    '(open, read, encode, write, one at a time in-process) divided by the cores, plus the network time of the shorter of two schedules at ' +
    `concurrency ${CONCURRENCY}: every file whole in one request, or each file's head (header and directories) then each window's blocks ` +
    'in one request; each request waits the latency once, responses stream at the cap each. It adds the two, as if no compute overlapped ' +
    'the network: rasterpipe can be under it where waits overlap compute.', ...skipped, '')
  // What starting costs each (no records): part of every figure above the floor, which has none.
  const before = load()
  const empty = await rotated('startup', contenders.filter((c) => c !== xargs).map((c): [string, () => Promise<Run>] => [c.name, async () => {
    const r = await c.run(work, [], CONCURRENCY, CO)
    rmSync(r.outDir, { recursive: true, force: true })
    return r
  }]), (m) => m.wall)
  report.push(`Starting with no records (load average ${before} before, ${load()} after): ` + [...empty].map(([name, ms]) =>
    `${name} ${median(ms.map((m) => m.wall)).toFixed(2)} s wall, ${ms.every((m) => m.cpu !== null) ? median(ms.map((m) => m.cpu as number)).toFixed(2) : '—'} s CPU`).join('; ') + '.', '')
  for (const s of scenarios) {
    const windows = new Map<string, Array<[number, number, number, number]>>()
    for (const j of s.jobs) windows.set(j.url, [...(windows.get(j.url) ?? []), j.window])
    const bytes = await Promise.all([...windows].map(async ([url, ws]) => await sourceBytes(readFileSync(localOf(url)), ws)))
    const cpu = gdalCpu(s.jobs, localOf, CO, work)
    report.push(`Scenario **${s.name}**: ${s.what}.`, '')
    for (const net of conditions) report.push(...await peerTable(work, server, s, cpu, bytes, net, contenders, localOf))
  }
  server.latency = 50
  server.bandwidth = 0
}

interface Measure { wall: number, stats?: StatsJson, requests?: number, bytes?: number }

async function timedRasterpipe (work: string, input: string, args: string[]): Promise<Measure> {
  const out = mkdtempSync(join(work, 'out-'))
  const stats = join(out, 'stats.json')
  const { wall } = await timed(process.execPath, [join(ROOT, 'bin', 'rasterpipe'), '-o', out, '--stats', stats, '--no-progress', ...args], input)
  const json = JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
  if (json.failed > 0) throw new Error(`rasterpipe: ${json.failed} records failed: ${JSON.stringify(json.errors)}`)
  rmSync(out, { recursive: true, force: true })
  return { wall, stats: json }
}

async function main (): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'rasterpipe-bench-'))
  const server: RasterServer = await startServer()
  server.latency = 50
  const report: string[] = []
  const started = performance.now()
  try {
    if (want('peers')) await peers(work, server, report)
    const section = { work, server, runs: RUNS, quick: QUICK, concurrency: CONCURRENCY, co: CO }
    if (want('cpu')) report.push(...await perRecord(section))
    if (want('seed')) report.push(...await seedBatch(section))
    if (want('points')) report.push(...await pointsBench(section))
    if (want('encoding')) {
      const encoding = join(work, 'encoding.md')
      execFileSync(process.execPath, [fileURLToPath(new URL('./encoding.js', import.meta.url)), '--out', encoding], { stdio: ['ignore', 'ignore', 'inherit'] })
      report.push('', readFileSync(encoding, 'utf8').trim())
    }
    await legacy(work, server, report)
  } catch (err) {
    // What was measured before a failure is still reported (a long run is not lost to its last scenario).
    report.push('', `**The run stopped early**: ${(err as Error).message.split('\n')[0]}`)
    process.exitCode = 1
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  } finally {
    await server.close()
    rmSync(work, { recursive: true, force: true })
  }
  writeReport(report, started)
}

function writeReport (report: string[], started: number): void {
  const gdalVersion = execFileSync('gdal-config', ['--version']).toString().trim()
  const header = ['# rasterpipe benchmark results', '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, GDAL ${gdalVersion}.`,
    `Command: \`make bench\` (\`node dist/bench/run.js ${process.argv.slice(2).join(' ')}\`), ${RUNS} run(s) per row, medians; ` +
    `${((performance.now() - started) / 60000).toFixed(1)} minutes in all.`,
    `Date: ${new Date().toISOString().slice(0, 10)}.`, '']
  // A hand-written analysis at the end of the report (from '## Analysis' on) survives a rerun.
  let analysis = ''
  try {
    const old = readFileSync(OUT, 'utf8')
    const at = old.indexOf('\n## Analysis')
    if (at >= 0) analysis = old.slice(at)
  } catch { /* first run */ }
  const text = [...header, ...report, ''].join('\n') + analysis
  writeFileSync(OUT, text)
  process.stdout.write(text)
}

/** The earlier scenarios: scaling with concurrency, the event loop, range against download on COGs, memory. */
async function legacy (work: string, server: RasterServer, report: string[]): Promise<void> {
  server.latency = 50
  server.bandwidth = 0
  const files = makeBatchFiles(work).map((p) => readFileSync(p))
  for (let i = 0; i < 2000; i++) server.file(`s${i}.tif`, files[i % files.length])
  const urls = (n: number): string[] => Array.from({ length: n }, (_, i) => server.url(`s${i}.tif`))
  const input = (n: number): string => urls(n).join('\n') + '\n'
  const window = ['-w', '0,0,512,512']
  const wallOf = (ms: Measure[]): number => median(ms.map((m) => m.wall))
  const statOf = (ms: Measure[], f: (s: StatsJson) => number): number => median(ms.map((m) => f(m.stats as StatsJson)))

  if (want('latency')) {
    const before = load()
    const runs = await rotated('scenario 1', [
      ['rasterpipe -c 1 --fetch download', async () => await timedRasterpipe(work, input(200), ['-c', '1', '--fetch', 'download', ...window])],
      ['rasterpipe -c 16 --fetch download', async () => await timedRasterpipe(work, input(200), ['-c', '16', '--fetch', 'download', ...window])],
      ['rasterpipe -c 16 (--fetch auto)', async () => await timedRasterpipe(work, input(200), ['-c', '16', ...window])]
    ], (m) => m.wall)
    const c1 = runs.get('rasterpipe -c 1 --fetch download') as Measure[]
    const c16 = runs.get('rasterpipe -c 16 --fetch download') as Measure[]
    report.push('', '## Scenario 1: latency-bound batch (200 GeoTIFFs, 512×512 window, 50 ms per request)', '',
      `Load average ${before} before, ${load()} after.`, '',
      '| run | median wall (s) | runs (s) | records/s |', '| --- | --- | --- | --- |',
      ...[...runs].map(([name, m]) => `| ${name} | ${wallOf(m).toFixed(2)} | ${m.map((x) => x.wall.toFixed(2)).join(', ')} | ${(200 / wallOf(m)).toFixed(1)} |`),
      '', `- \`-c 16\` is **${(wallOf(c1) / wallOf(c16)).toFixed(1)}×** faster than \`-c 1\` (target: at least 8×; CPU-bound on 2 cores, see the analysis).`,
      '', '## Scenario 3: event loop during scenario 1 (`-c 16`)', '',
      `- event-loop delay p99 **${statOf(c16, (s) => s.event_loop_delay_ms.p99)} ms**, max ${statOf(c16, (s) => s.event_loop_delay_ms.max)} ms (medians over runs; target p99 under 20 ms).`,
      `- per-stage ms p50/p95 (last run): ${Object.entries(c16[c16.length - 1].stats?.stage_ms ?? {}).map(([k, v]) => `${k} ${v.p50}/${v.p95}`).join(', ')}.`)
  }

  if (want('cog')) {
    const cog = readFileSync(makeNoisyTiff(work, 'cog.tif', 2048, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=512'], 'COG'))
    const n = 40
    for (let i = 0; i < n; i++) server.file(`cog${i}.tif`, cog)
    const cogInput = Array.from({ length: n }, (_, i) => server.url(`cog${i}.tif`)).join('\n') + '\n'
    const win = ['-w', '768,768,512,512']
    const counted = (args: string[]) => async (): Promise<Measure> => {
      server.reset()
      const m = await timedRasterpipe(work, cogInput, args)
      return { ...m, requests: server.totalRequests(), bytes: server.totalBytes() }
    }
    const before = load()
    const runs = await rotated('COG', [
      ['rasterpipe --fetch range -c 16', counted(['-c', '16', '--fetch', 'range', ...win])],
      ['rasterpipe --fetch download -c 16', counted(['-c', '16', '--fetch', 'download', ...win])]
    ], (m) => m.wall)
    const [range, whole] = [...runs.values()]
    report.push('', `## COG: range against download (a 512×512 window out of ${n} COGs of ${(cog.length / 1e6).toFixed(1)} MB, 50 ms per request)`, '',
      `Load average ${before} before, ${load()} after.`, '',
      '| run | median wall (s) | runs (s) | MB sent by the server | requests |', '| --- | --- | --- | --- | --- |',
      ...[...runs].map(([name, ms]) => `| ${name} | ${wallOf(ms).toFixed(2)} | ${ms.map((x) => x.wall.toFixed(2)).join(', ')} | ` +
        `${(median(ms.map((x) => x.bytes ?? 0)) / 1e6).toFixed(1)} | ${median(ms.map((x) => x.requests ?? 0))} |`),
      '', `- range against download: **${(wallOf(whole) / wallOf(range)).toFixed(2)}×** faster, ${(median(whole.map((x) => x.bytes ?? 0)) / median(range.map((x) => x.bytes ?? 1))).toFixed(0)}× fewer bytes.`)
  }

  if (want('memory')) {
    const before = load()
    const runs = await rotated('scenario 2', [
      ['200', async () => await timedRasterpipe(work, input(200), ['-c', '16', ...window])],
      ['2000', async () => await timedRasterpipe(work, input(2000), ['-c', '16', ...window])]
    ], (m) => m.wall)
    const [m200, m2000] = [...runs.values()]
    const r200 = statOf(m200, (s) => s.peak_rss_mb)
    const r2000 = statOf(m2000, (s) => s.peak_rss_mb)
    report.push('', '## Scenario 2: memory flatness (`-c 16`)', '', `Load average ${before} before, ${load()} after.`, '',
      '| inputs | median peak RSS (MB) | runs (MB) | median wall (s) |', '| --- | --- | --- | --- |',
      `| 200 | ${r200} | ${m200.map((m) => m.stats?.peak_rss_mb).join(', ')} | ${wallOf(m200).toFixed(2)} |`,
      `| 2000 | ${r2000} | ${m2000.map((m) => m.stats?.peak_rss_mb).join(', ')} | ${wallOf(m2000).toFixed(2)} |`,
      '', `- 2,000 against 200 inputs: **${(r2000 / r200).toFixed(2)}×** the peak RSS (target: at most 1.3×, and under 300 MB).`)
  }
}

await main()
