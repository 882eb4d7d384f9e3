// The bench's "10,000 points across 100 COGs" section (issue 25): the values under 100 points of each of
// 100 COGs, rasterpipe (one record per COG with its points) against gdallocationinfo over /vsicurl/ (one
// process per COG, its points on stdin), in a pool as wide as rasterpipe's concurrency and one at a time.
// Requests, bytes, wall and CPU, at 0 and 50 ms added per request. Every contender's values are checked on
// every run against gdallocationinfo's on the local files: no speed of wrong answers is reported.
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StatsJson } from '../lib/cli/summary.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { timed } from './contenders.js'
import { servedFiles } from './data.js'
import { sourceBytes } from './floor.js'
import type { Section } from './per-record.js'
import { median } from './stats.js'
import { load, rotated } from './turns.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const gdal = loadGdal()

const SIDE = 2048
const PIXEL = 10
/** GDAL's usual settings for /vsicurl/ on COGs: no directory listing, no probing for side-car files. */
const VSICURL_ENV = { GDAL_DISABLE_READDIR_ON_OPEN: 'EMPTY_DIR', CPL_VSIL_CURL_ALLOWED_EXTENSIONS: '.tif' }

/** The four kinds of COG, in turn: data type, bands, block side, nodata. */
const KINDS = [
  { dtype: 'Byte', bands: 3, block: 512, nodata: null },
  { dtype: 'UInt16', bands: 1, block: 256, nodata: null },
  { dtype: 'Int16', bands: 1, block: 512, nodata: -9999 },
  { dtype: 'Float32', bands: 1, block: 256, nodata: null }
] as const

interface Cog { path: string, url: string, kind: typeof KINDS[number], origin: [number, number], points: Array<[number, number]> }

/** xorshift32: deterministic content and points, seeded per file. */
function rng (seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s }
}

/** COG `i`: a gradient plus noise in its kind's type (Int16 with nodata patches), side by side on one UTM grid. */
export function makeCog (dir: string, i: number): { path: string, kind: typeof KINDS[number], origin: [number, number] } {
  const kind = KINDS[i % KINDS.length]
  const origin: [number, number] = [300000 + (i % 10) * SIDE * PIXEL, 4400000 - Math.floor(i / 10) * SIDE * PIXEL]
  const mem = gdal.drivers.get('MEM').create('', SIDE, SIDE, kind.bands, kind.dtype)
  mem.srs = gdal.SpatialReference.fromEPSG(32618)
  mem.geoTransform = [origin[0], PIXEL, 0, origin[1], 0, -PIXEL]
  const next = rng(i + 1)
  const n = SIDE * SIDE
  for (let b = 1; b <= kind.bands; b++) {
    const band = mem.bands.get(b)
    const grad = (k: number): number => ((k % SIDE) + Math.floor(k / SIDE)) >> 3
    if (kind.dtype === 'Byte') {
      const a = new Uint8Array(n)
      for (let k = 0; k < n; k++) a[k] = grad(k) + (next() & 0x3f)
      band.pixels.write(0, 0, SIDE, SIDE, a)
    } else if (kind.dtype === 'UInt16') {
      const a = new Uint16Array(n)
      for (let k = 0; k < n; k++) a[k] = grad(k) * 64 + (next() & 0x3ff)
      band.pixels.write(0, 0, SIDE, SIDE, a)
    } else if (kind.dtype === 'Int16') {
      const a = new Int16Array(n)
      // Nodata: a square patch and one pixel in eight, so that some points fall on it.
      for (let k = 0; k < n; k++) {
        const r = next()
        const x = k % SIDE
        const y = Math.floor(k / SIDE)
        a[k] = (x >= 600 && x < 900 && y >= 600 && y < 900) || (r & 7) === 0 ? -9999 : grad(k) * 4 - 1000 + ((r >>> 3) & 0xff)
      }
      band.pixels.write(0, 0, SIDE, SIDE, a)
      band.noDataValue = -9999
    } else {
      const a = new Float32Array(n)
      for (let k = 0; k < n; k++) a[k] = (grad(k) * 16 + (next() & 0xff)) / 7
      band.pixels.write(0, 0, SIDE, SIDE, a)
    }
  }
  const path = join(dir, `points-${i}.tif`)
  gdal.drivers.get('COG').createCopy(path, mem, ['COMPRESS=DEFLATE', `BLOCKSIZE=${kind.block}`]).close()
  mem.close()
  return { path, kind, origin }
}

/**
 * 100 points on COG `i`, in its CRS: 40 in one block (its cluster), 50 spread over the raster, 5 on
 * pixel corners (GDAL's edge rule), 5 outside (one on the right edge, which is outside). Coordinates are
 * multiples of 1/8 m, exact in binary and in decimal, so both tools parse the same doubles.
 */
export function pointsOf (i: number, origin: [number, number], block: number): Array<[number, number]> {
  const next = rng(1000 + i)
  const frac = (): number => (next() % 80) / 8
  const at = (col: number, row: number, fx: number, fy: number): [number, number] => [origin[0] + col * PIXEL + fx, origin[1] - row * PIXEL - fy]
  const out: Array<[number, number]> = []
  const blocks = SIDE / block
  const bx = next() % blocks
  const by = next() % blocks
  for (let k = 0; k < 40; k++) out.push(at(bx * block + (next() % block), by * block + (next() % block), frac(), frac()))
  for (let k = 0; k < 50; k++) out.push(at(next() % SIDE, next() % SIDE, frac(), frac()))
  for (let k = 0; k < 5; k++) out.push(at(1 + (next() % (SIDE - 1)), 1 + (next() % (SIDE - 1)), 0, 0))
  const w = SIDE * PIXEL
  out.push([origin[0] - 5, origin[1] - 100], [origin[0] + w + 5, origin[1] - 100], [origin[0] + 100, origin[1] + 5],
    [origin[0] + 100, origin[1] - w - 5], [origin[0] + w, origin[1] - 2000])
  // Interleaved, as a user's list would be: the cluster's points are not sent together.
  for (let k = out.length - 1; k > 0; k--) {
    const j = next() % (k + 1)
    ;[out[k], out[j]] = [out[j], out[k]]
  }
  return out
}

type Values = Array<Array<number | null> | null>

/** gdallocationinfo -valonly's output for `n` points of `bands` bands: a line a band, one empty line for a point outside. */
function parseLocationInfo (text: string, n: number, bands: number): Array<string[] | null> {
  const lines = text.split('\n')
  const out: Array<string[] | null> = []
  let at = 0
  for (let p = 0; p < n; p++) {
    if (lines[at] === '') { out.push(null); at++; continue }
    out.push(lines.slice(at, at + bands))
    at += bands
  }
  if (lines.slice(at).some((l) => l !== '')) throw new Error(`gdallocationinfo printed more lines than ${n} points of ${bands} band(s)`)
  return out
}

/**
 * The truth, as gdallocationinfo prints it for the local file (its nodata as a number). A value of
 * ours matches when it is the same number (a Float32's to the float: gdallocationinfo prints 15 digits),
 * or null where gdallocationinfo prints the band's nodata.
 */
function check (who: string, cog: Cog, got: Values | undefined, want: Array<string[] | null>): void {
  const fail = (p: number, msg: string): never => {
    throw new Error(`${who}: WRONG VALUES: ${cog.url} point ${p} (${cog.points[p].join(', ')}): ${msg}; the bench reports no speed of wrong answers`)
  }
  if (!got || got.length !== want.length) fail(0, `${got?.length ?? 'no'} values for ${want.length} points`)
  for (const [p, w] of want.entries()) {
    const g = (got as Values)[p]
    if (w === null || g === null) {
      if (w !== g) fail(p, `${JSON.stringify(g)}, gdallocationinfo ${JSON.stringify(w)}`)
      continue
    }
    for (const [b, text] of w.entries()) {
      const v = g[b]
      const ref = Number(text)
      const same = v === null
        ? cog.kind.nodata !== null && ref === cog.kind.nodata
        : (cog.kind.dtype === 'Float32' ? Math.fround(ref) === v : ref === v)
      if (!same || g.length !== w.length) fail(p, `${JSON.stringify(g)}, gdallocationinfo ${JSON.stringify(w)}`)
    }
  }
}

interface Measure { wall: number, cpu: number | null, requests: number, sent: number }

export async function pointsBench (s: Section): Promise<string[]> {
  const { work, server } = s
  const nCogs = s.quick ? 20 : 100
  const dir = mkdtempSync(join(work, 'points-'))
  const t0 = performance.now()
  const { serve } = servedFiles(server)
  const cogs: Cog[] = Array.from({ length: nCogs }, (_, i) => {
    const { path, kind, origin } = makeCog(dir, i)
    return { path, url: serve(`points-${i}.tif`, path), kind, origin, points: pointsOf(i, origin, kind.block) }
  })
  const nPoints = cogs.reduce((n, c) => n + c.points.length, 0)
  const sizes = cogs.map((c) => readFileSync(c.path).length)
  process.stderr.write(`bench: points: ${nCogs} COGs made in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  const pointsFile = cogs.map((c, i) => {
    const f = join(dir, `points-${i}.txt`)
    writeFileSync(f, c.points.map(([x, y]) => `${x} ${y}`).join('\n') + '\n')
    return f
  })
  // The truth: gdallocationinfo on each local file.
  const truth = cogs.map((c, i) => parseLocationInfo(execFileSync('gdallocationinfo', ['-valonly', '-geoloc', c.path], { input: readFileSync(pointsFile[i]), encoding: 'utf8' }), c.points.length, c.kind.bands))

  // What no tool can go under in range reads: each file's head (header and directories) and the blocks under its points.
  const under = await Promise.all(cogs.map(async (c) => {
    const inv = [-c.origin[0] / PIXEL, 1 / PIXEL, 0, c.origin[1] / PIXEL, 0, -1 / PIXEL]
    const blocks = new Map<string, [number, number, number, number]>()
    for (const [x, y] of c.points) {
      const col = Math.floor(inv[0] + x * inv[1])
      const row = Math.floor(inv[3] + y * inv[5])
      if (col < 0 || row < 0 || col >= SIDE || row >= SIDE) continue
      blocks.set(`${Math.floor(col / c.kind.block)},${Math.floor(row / c.kind.block)}`, [col, row, 1, 1])
    }
    const b = await sourceBytes(readFileSync(c.path), [...blocks.values()])
    return { blocks: blocks.size, bytes: b.head + b.blocks.reduce((a, x) => a + x, 0) }
  }))
  const blocksUnder = under.reduce((n, u) => n + u.blocks, 0)
  const bytesUnder = under.reduce((n, u) => n + u.bytes, 0)

  /**
   * The server's requests and body bytes for the COGs. GDAL's /vsicurl/ opens with one HEAD (for the size;
   * seen with CPL_CURL_VERBOSE=YES), which sends no body: each contender's requests without a Range are
   * checked to be the `heads` expected per COG, so that no whole-file GET hides among them.
   */
  const counted = (heads: number): { requests: number, sent: number } => {
    cogs.forEach((c, i) => {
      const st = server.stats(`/points-${i}.tif`)
      const unranged = st.requests - st.ranges.length
      if (unranged !== heads) throw new Error(`points: ${unranged} request(s) without a single Range to ${c.url}, ${heads} expected`)
    })
    return { requests: server.totalRequests(), sent: server.totalBytes() }
  }
  const concurrency = s.concurrency
  const rasterpipe = (c: number) => async (): Promise<Measure> => {
    const stats = join(dir, 'stats.json')
    const out = join(dir, 'records.ndjson')
    const input = cogs.map((cog) => JSON.stringify({ url: cog.url, points: cog.points })).join('\n') + '\n'
    const fd = openSync(out, 'w')
    server.reset()
    let t
    try {
      t = await timed(process.execPath, [join(ROOT, 'bin', 'rasterpipe'), '-c', String(c), '--stats', stats, '--no-progress'], input, {}, fd)
    } finally { closeSync(fd) }
    const m = { ...t, ...counted(0) }
    const json = JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
    if (json.failed > 0) throw new Error(`rasterpipe: ${json.failed} records failed: ${JSON.stringify(json.errors)}`)
    const records = new Map<string, Values>()
    for (const line of readFileSync(out, 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as { url: string, values?: Values }
      records.set(r.url, r.values as Values)
    }
    cogs.forEach((cog, i) => check(`rasterpipe -c ${c}`, cog, records.get(cog.url), truth[i]))
    rmSync(out)
    rmSync(stats)
    return m
  }
  const locationInfo = (p: number) => async (): Promise<Measure> => {
    const outs = cogs.map((_, i) => join(dir, `gdallocationinfo-${i}.txt`))
    const input = cogs.map((c, i) => `${c.url} ${pointsFile[i]} ${outs[i]}`).join('\n') + '\n'
    server.reset()
    // One process per COG, its points on stdin; `exec`: the shell is gone before GDAL starts.
    const t = await timed('xargs', ['-P', String(p), '-L', '1', 'sh', '-c', 'exec gdallocationinfo -valonly -geoloc "/vsicurl/$0" < "$1" > "$2"'], input, VSICURL_ENV)
    const m = { ...t, ...counted(1) }
    cogs.forEach((cog, i) => {
      const got = parseLocationInfo(readFileSync(outs[i], 'utf8'), cog.points.length, cog.kind.bands)
      const values: Values = got.map((g) => g && g.map((v) => cog.kind.nodata !== null && Number(v) === cog.kind.nodata ? null : cog.kind.dtype === 'Float32' ? Math.fround(Number(v)) : Number(v)))
      check(`gdallocationinfo -P ${p}`, cog, values, truth[i])
      rmSync(outs[i])
    })
    return m
  }
  const names = {
    rp: `rasterpipe -c ${concurrency}`,
    rp1: 'rasterpipe -c 1',
    gl: `xargs -P ${concurrency} gdallocationinfo /vsicurl/`,
    gl1: 'xargs -P 1 gdallocationinfo /vsicurl/ (one at a time)'
  }
  const conditions = [
    { latencyMs: 0, label: 'no added latency', contenders: [[names.rp, rasterpipe(concurrency)], [names.rp1, rasterpipe(1)], [names.gl, locationInfo(concurrency)], [names.gl1, locationInfo(1)]] },
    { latencyMs: 50, label: '50 ms per request', contenders: [[names.rp, rasterpipe(concurrency)], [names.gl, locationInfo(concurrency)]] }
  ] as Array<{ latencyMs: number, label: string, contenders: Array<[string, () => Promise<Measure>]> }>

  const mb = (n: number): string => (n / 1e6).toFixed(1)
  const report = ['', `## Points: ${nPoints.toLocaleString('en')} points across ${nCogs} COGs`, '',
    `The values under ${nPoints / nCogs} points of each of ${nCogs} COGs of 2048² (DEFLATE, with overviews; in turn Byte × 3 bands ` +
    'in 512² tiles, UInt16 in 256², Int16 with nodata in 512², Float32 in 256²; ' +
    `${mb(Math.min(...sizes))}–${mb(Math.max(...sizes))} MB, ${mb(sizes.reduce((a, b) => a + b, 0))} MB in all), each its own URL on the loopback server. ` +
    'Per COG: 40 points in one block, 50 spread over the raster, 5 on pixel corners, 5 outside (one on the right edge), in the ' +
    'COG\'s CRS, interleaved. The contenders:', '',
    `- **rasterpipe** (\`-c N\`, \`--fetch auto\`, the default): one record per COG, \`{"url": …, "points": [[x, y], …]}\`, values in its records;`,
    '- **gdallocationinfo** (GDAL\'s CLI): `xargs -P N sh -c \'exec gdallocationinfo -valonly -geoloc "/vsicurl/$URL" < points > values\'`, ' +
    `one process per COG with all its points on stdin, with \`${Object.entries(VSICURL_ENV).map(([k, v]) => `${k}=${v}`).join('`, `')}\`.`, '',
    `Every run's values (all ${nPoints.toLocaleString('en')}) are checked against gdallocationinfo's on the local files; a mismatch stops the ` +
    `section. ${s.runs} run(s) per contender, in turns rotated each repetition; medians. CPU: user + system of the contender and its ` +
    'children (GNU time); the server\'s is not in it. Requests include gdallocationinfo\'s HEAD (one a process: /vsicurl/ asks ' +
    'the size); MB sent are the bodies\' bytes (a HEAD sends none). "blocks under the points": each COG\'s head (header and directories, as ' +
    `laid out in the file) and the distinct blocks holding its points, ${blocksUnder} in all, one request each: what range reads ` +
    'cannot go under (requests can, where one request carries adjacent blocks).', '']
  for (const net of conditions) {
    server.latency = net.latencyMs
    server.bandwidth = 0
    const before = load()
    const runs = await rotated(s.runs, `points, ${net.label}`, net.contenders, (m) => m.wall)
    const base = median((runs.get(names.rp) ?? []).map((m) => m.wall))
    report.push(`### ${nPoints.toLocaleString('en')} points, ${net.label}`, '', `Load average (1, 5, 15 min) ${before} before, ${load()} after.`, '',
      '| contender | median wall (s) | runs (s) | ratio | CPU (s, median) | requests | MB sent |', '| --- | --- | --- | --- | --- | --- | --- |',
      ...net.contenders.map(([name]) => {
        const ms = runs.get(name) ?? []
        const wall = median(ms.map((m) => m.wall))
        const cpu = ms.every((m) => m.cpu !== null) ? median(ms.map((m) => m.cpu as number)).toFixed(2) : '—'
        return `| ${name} | ${wall.toFixed(2)} | ${ms.map((m) => m.wall.toFixed(2)).join(', ')} | ${name === names.rp ? '' : `${(wall / base).toFixed(2)}× rasterpipe -c ${concurrency}`} | ` +
          `${cpu} | ${median(ms.map((m) => m.requests))} | ${mb(median(ms.map((m) => m.sent)))} |`
      }),
      `| blocks under the points | | | | | ${nCogs + blocksUnder} | ${mb(bytesUnder)} |`, '')
  }
  server.latency = 50
  rmSync(dir, { recursive: true, force: true })
  return report
}
