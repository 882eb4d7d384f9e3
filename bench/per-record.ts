// The bench's "CPU per record" section: what one more record costs each contender in CPU seconds, and
// what it costs before its first. Each contender cuts a batch of N1 windows and one of N2; the slope
// (CPU at N2 − CPU at N1) / (N2 − N1) is the cost per record, the intercept (CPU at N1 − N1 × slope) the
// fixed cost; an empty run (no records) is a second view of the fixed cost. GDAL alone is the in-process
// loop over local files that the floor measures (bench/floor.ts): what GDAL's own work per record is.
import { rmSync } from 'node:fs'
import type { RasterServer } from '../test/support/server.js'
import { baseline, rasterpipe, vsicurl, type Contender, type Job, type Run } from './contenders.js'
import { makeBatchFiles, makeNoisyTiff, servedFiles } from './data.js'
import { gdalCpu } from './floor.js'
import { median } from './stats.js'
import { load, rotated } from './turns.js'

export interface Section { work: string, server: RasterServer, runs: number, quick: boolean, concurrency: number, co: string[] }

interface Kind { name: string, sizes: [number, number], jobs: Job[], what: string }

/** Medians of CPU seconds at each size, the slope between them (s per record) and the intercept (s). */
interface Fit { at: [number, number], slope: number, fixed: number }

const fit = (sizes: [number, number], cpu: [number, number]): Fit => {
  const slope = (cpu[1] - cpu[0]) / (sizes[1] - sizes[0])
  return { at: cpu, slope, fixed: cpu[0] - sizes[0] * slope }
}

/** GDAL alone as a contender: its CPU is this process's around a synchronous loop, so no start is in it. */
function gdalAlone (localOf: (url: string) => string): Contender {
  return {
    name: 'GDAL alone (in-process loop, local files)',
    run: async (work, jobs, _concurrency, co) => {
      const t0 = performance.now()
      const cpu = gdalCpu(jobs, localOf, co, work)
      return { wall: (performance.now() - t0) / 1000, cpu, outDir: work }
    }
  }
}

export async function perRecord (s: Section): Promise<string[]> {
  const { work, server } = s
  const latency = 50
  server.latency = latency
  server.bandwidth = 0
  const { serve, localOf } = servedFiles(server)
  const batch = makeBatchFiles(work)
  const cogPath = makeNoisyTiff(work, 'cpu-cog.tif', 2048, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=512'], 'COG')
  const cogSizes: [number, number] = s.quick ? [16, 64] : [40, 160]
  const smallSizes: [number, number] = s.quick ? [32, 128] : [120, 480]
  const kinds: Kind[] = [
    {
      name: '512² window of a COG',
      sizes: cogSizes,
      jobs: Array.from({ length: cogSizes[1] }, (_, i) => ({ url: serve(`cpu-cog${i}.tif`, cogPath), window: [768, 768, 512, 512], out: `${i}.tif` })),
      what: 'a 512×512 window (768,768) of a 2048² COG (3 bands Byte, 512² tiles, DEFLATE), each record its own URL'
    },
    {
      name: '512² window of a small GeoTIFF',
      sizes: smallSizes,
      jobs: Array.from({ length: smallSizes[1] }, (_, i) => ({ url: serve(`cpu-s${i}.tif`, batch[i % batch.length]), window: [0, 0, 512, 512], out: `${i}.tif` })),
      what: 'a 512×512 window (0,0) of URLs serving the 5 batch GeoTIFFs (1–3 MB, noisy Byte, 1–3 bands, tiled and striped) in turn'
    }
  ]
  const programs = [rasterpipe, ...baseline(), vsicurl]
  const contenders = [...programs, gdalAlone(localOf)]
  const cpuOf = (r: Run): number => r.cpu ?? NaN
  const medianCpu = (rs: Run[]): number => median(rs.map(cpuOf))
  const run = (c: Contender, jobs: Job[]) => async (): Promise<Run> => {
    const r = await c.run(work, jobs, s.concurrency, s.co)
    if (r.outDir !== work) rmSync(r.outDir, { recursive: true, force: true })
    return r
  }

  const before = load()
  const fits = new Map<string, Fit[]>(contenders.map((c) => [c.name, []]))
  const detail: string[] = []
  for (const k of kinds) {
    const turns = contenders.flatMap((c) => k.sizes.map((n): [string, () => Promise<Run>] => [`${c.name}, ${n}`, run(c, k.jobs.slice(0, n))]))
    const runs = await rotated(s.runs, `CPU per record, ${k.name}`, turns, (r) => r.wall)
    for (const c of contenders) {
      const [r1, r2] = k.sizes.map((n) => runs.get(`${c.name}, ${n}`) ?? [])
      fits.get(c.name)?.push(fit(k.sizes, [medianCpu(r1), medianCpu(r2)]))
      detail.push(`| ${k.name} | ${c.name} | ${[r1, r2].map((rs) => `${medianCpu(rs).toFixed(2)} (${rs.map((r) => cpuOf(r).toFixed(2)).join(', ')})`).join(' | ')} |`)
    }
  }
  const empty = await rotated(s.runs, 'CPU per record, empty run', programs.map((c): [string, () => Promise<Run>] => [c.name, run(c, [])]), (r) => r.wall)
  const after = load()

  const gdal = fits.get(contenders[contenders.length - 1].name) ?? []
  const rows = contenders.map((c) => {
    const f = fits.get(c.name) ?? []
    const cells = f.flatMap((x, i) => [(x.slope * 1000).toFixed(1), c === contenders[contenders.length - 1] ? '1.00×' : `${(x.slope / gdal[i].slope).toFixed(2)}×`, x.fixed.toFixed(2)])
    const e = empty.get(c.name)
    return `| ${c.name} | ${cells.join(' | ')} | ${e ? medianCpu(e).toFixed(2) : '—'} |`
  })
  return ['', '## CPU per record', '',
    `What one more record costs in CPU (user + system: GNU time for a program and its children, \`process.cpuUsage()\` around GDAL alone's ` +
    `loop), and what a run costs before its first record. Each contender cuts N1 then N2 windows, ${s.runs} run(s) of each size in ` +
    `turns rotated each repetition: **CPU per record** is (median CPU at N2 − median CPU at N1) / (N2 − N1), **fixed cost** the ` +
    'intercept (median CPU at N1 − N1 × that), **empty run** the median CPU of a run with no records. Programs at concurrency ' +
    `${s.concurrency}, from the loopback server with ${latency} ms added to every request (no bandwidth cap; CPU barely depends on it), ` +
    `writing \`${s.co.join(' ')}\`. GDAL alone is the floor's loop (bench/floor.ts): open the local copy, gdal_translate the window, ` +
    'one record at a time in this process, so it has no start of its own and its fixed cost is near 0. "× GDAL alone": the CPU per record ' +
    'against GDAL alone\'s (the goal of issue 23: at most 1.25×).', '',
    ...kinds.map((k) => `- **${k.name}** (N1 = ${k.sizes[0]}, N2 = ${k.sizes[1]}): ${k.what}.`), '',
    `Load average (1, 5, 15 min) ${before} before, ${after} after.`, '',
    `| contender | ${kinds.map((k) => `${k.name}: CPU per record (ms) | × GDAL alone | fixed cost (CPU-s)`).join(' | ')} | empty run (CPU-s) |`,
    `| --- | ${kinds.map(() => '--- | --- | ---').join(' | ')} | --- |`,
    ...rows, '',
    'The CPU-s the slopes come from (median, then the runs):', '',
    '| windows | contender | CPU-s at N1 | CPU-s at N2 |', '| --- | --- | --- | --- |',
    ...detail, '']
}
