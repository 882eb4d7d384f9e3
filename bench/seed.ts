// The bench's "seed batch" section: the batch of issue 23's item 5, rasterpipe against the seed article's
// own pipeline on the same (uncompressed) output, and against rasterpipe reading the same batch from
// local files: what the network adds to a run.
import { linkSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { mergeCreationOptions } from '../lib/raster/formats.js'
import { article, baseline, checkOutputs, pythonForArticle, rasterpipe, type Contender, type Job, type Run } from './contenders.js'
import { makeNoisyTiff } from './data.js'
import type { Section } from './per-record.js'
import { median } from './stats.js'
import { load, rotated } from './turns.js'

export async function seedBatch (s: Section): Promise<string[]> {
  const { work, server } = s
  const latency = 50
  const concurrency = 15
  const co = mergeCreationOptions('GTiff', ['COMPRESS=NONE'])
  server.latency = latency
  server.bandwidth = 0
  const n = s.quick ? 40 : 120
  const tile = makeNoisyTiff(work, 'seed.tif', 1024, 3, ['TILED=YES', 'COMPRESS=DEFLATE'])
  const bytes = readFileSync(tile)
  // Each record its own URL and its own local name (hard links: the same bytes, no copies).
  const local = new Map<string, string>()
  const jobs: Job[] = Array.from({ length: n }, (_, i) => {
    server.file(`seed${i}.tif`, bytes)
    const path = join(work, `seed${i}.tif`)
    linkSync(tile, path)
    local.set(server.url(`seed${i}.tif`), path)
    return { url: server.url(`seed${i}.tif`), window: [0, 0, 512, 512], out: `${i}.tif` }
  })
  const localOf = (url: string): string => local.get(url) as string
  const fromDisk: Contender = {
    name: 'rasterpipe, the same batch from local files',
    run: async (work, jobs, concurrency, co) => await rasterpipe.run(work, jobs.map((j) => ({ ...j, url: localOf(j.url) })), concurrency, co)
  }
  const python = pythonForArticle()
  const contenders = [rasterpipe, ...baseline(), ...(python ? [article] : []), fromDisk]
  if (!python) process.stderr.write('bench: seed batch: skipping the article\'s Python pipeline: no python3 imports rasterio, aiohttp, tqdm and click\n')

  const before = load()
  const checked = new Set<string>()
  const runs = await rotated(s.runs, 'seed batch', contenders.map((c): [string, () => Promise<Run>] => [c.name, async () => {
    const r = await c.run(work, jobs, concurrency, co)
    if (!checked.has(c.name)) { checkOutputs(r, jobs, localOf, 8); checked.add(c.name) }
    rmSync(r.outDir, { recursive: true, force: true })
    return r
  }]), (r) => r.wall)
  const after = load()
  const wallOf = (c: Contender): number => median((runs.get(c.name) ?? []).map((r) => r.wall))
  const base = wallOf(rasterpipe)
  const rows = contenders.map((c) => {
    const rs = runs.get(c.name) ?? []
    const ratio = c === rasterpipe ? '' : c === fromDisk ? `network run ${(base / wallOf(c)).toFixed(2)}× this` : `${(wallOf(c) / base).toFixed(2)}× rasterpipe`
    const cpu = rs.every((r) => r.cpu !== null) ? median(rs.map((r) => r.cpu as number)).toFixed(2) : '—'
    return `| ${c.name} | ${wallOf(c).toFixed(2)} | ${rs.map((r) => r.wall.toFixed(2)).join(', ')} | ${ratio} | ${cpu} |`
  })
  return ['', '## Seed batch', '',
    `The batch of issue 23 (item 5): ${n} tiles of 1024² × 3 bands (noisy Byte, tiled, DEFLATE; ${(bytes.length / 1e6).toFixed(1)} MB each, ` +
    `each its own URL), the article's default window (0,0,512,512) of each, at concurrency ${concurrency}, ${latency} ms added to every ` +
    `request, all writing the seed's uncompressed output (\`${co.join(' ')}\`; rasterpipe \`--co COMPRESS=NONE\`). ${s.runs} run(s) each, ` +
    'in turns rotated each repetition; medians; outputs checked (8 per contender) against GDAL\'s reading of the local tile. ' +
    `The contenders: rasterpipe; the article's Python pipeline (bench/peers/article.py${python ? `, on ${python}` : ': **skipped**, no python3 here imports rasterio, aiohttp, tqdm and click'}); ` +
    'rasterpipe on the same tiles as local files (hard links, one per record). Issue 23\'s goals: the article\'s wall at least 1.7× ' +
    'rasterpipe\'s, and the network run at most 1.25× the local one.', '',
    `Load average (1, 5, 15 min) ${before} before, ${after} after.`, '',
    '| contender | median wall (s) | runs (s) | ratio | CPU (s, median) |', '| --- | --- | --- | --- | --- |',
    ...rows, '']
}
