// `make bench-report`: how long `rasterpipe report` takes over 10,000 records, and how large the page is.
// The records are synthetic (90% ok, 8% failed, 2% skipped, with --chip-stats), their outputs real:
// 10,000 GeoTIFFs of 256² made here from windows of fixtures/rasters/rgb-byte-tiled.tif, on a grid of
// chips in UTM, so that the report opens every one for its footprint and 100 for thumbnails, as after a
// real run. Three runs, the median; the section "Report" of bench/RESULTS.md is written again.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadGdal } from '../lib/raster/gdal.js'
import { median } from './stats.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const RECORDS = Number(process.env.BENCH_REPORT_RECORDS ?? 10_000)
const RUNS = 3
const SIDE = 256

const gdal = loadGdal()
// BENCH_REPORT_DIR keeps the records, outputs and page there (to look at the page).
const KEEP = process.env.BENCH_REPORT_DIR
if (KEEP) mkdirSync(KEEP, { recursive: true })
const work = KEEP ?? mkdtempSync(join(tmpdir(), 'rp-bench-report-'))
try {
  const chips = join(work, 'chips')
  mkdirSync(chips)
  const src = gdal.open(join(ROOT, 'fixtures', 'rasters', 'rgb-byte-tiled.tif'))
  const srcGt = src.geoTransform as number[]
  const bands = [1, 2, 3].map((b) => src.bands.get(b).pixels.read(0, 0, 1024, 1024) as Uint8Array)
  const srs = src.srs
  src.close()
  const lines: string[] = []
  const made = performance.now()
  for (let i = 0; i < RECORDS; i++) {
    const col = (i * 37) % (1024 - SIDE)
    const row = (i * 91) % (1024 - SIDE)
    const status = i % 50 === 7 ? 'skipped' : i % 12 === 5 ? 'error' : 'ok'
    const url = `https://bucket.example.com/scenes/T18SVH_${String(i % 400).padStart(4, '0')}/TCI.tif`
    const ms = { fetch: 40 + (i * 13) % 400, open: 15 + i % 30, blocks: 60 + (i * 7) % 300, read: 2 + i % 9, write: 20 + (i * 3) % 80 }
    const total = ms.fetch + ms.open + ms.blocks + ms.read + ms.write
    if (status === 'error') {
      lines.push(JSON.stringify({ line: i + 1, input: 'inputs.ndjson', url, status, fetch: 'range', bytes: 0, attempts: 5, ms: { fetch: ms.fetch, total: ms.fetch },
        error: { stage: 'fetch', code: i % 3 === 0 ? 'HTTP_503' : 'TIMEOUT', message: `${url}: server answered HTTP 503 after 5 attempts`, retryable: true },
        record: { url, window: { col, row, width: SIDE, height: SIDE } } }))
      continue
    }
    // Chips on a 100-wide grid 2.56 km apart, each from a window of the fixture.
    const out = join(chips, `TCI-${i.toString(16).padStart(8, '0')}.tif`)
    const ds = gdal.drivers.get('GTiff').create(out, SIDE, SIDE, 3, gdal.GDT_Byte, ['TILED=YES', 'COMPRESS=DEFLATE', 'ZLEVEL=1'])
    ds.geoTransform = [srcGt[0] + (i % 100) * SIDE * 10, 10, 0, srcGt[3] - Math.floor(i / 100) * SIDE * 10, 0, -10]
    if (srs) ds.srs = srs
    const buf = new Uint8Array(SIDE * SIDE)
    for (let b = 0; b < 3; b++) {
      for (let y = 0; y < SIDE; y++) buf.set(bands[b].subarray((row + y) * 1024 + col, (row + y) * 1024 + col + SIDE), y * SIDE)
      ds.bands.get(b + 1).pixels.write(0, 0, SIDE, SIDE, buf)
    }
    ds.close()
    const stats = [1, 2, 3].map((band) => ({ band, min: 1, max: 213, mean: 100 + (i * band) % 17, std: 47.1, valid: 1 }))
    lines.push(JSON.stringify({ line: i + 1, input: 'inputs.ndjson', url, status, ...(status === 'skipped' ? {} : { fetch: 'range' }), output: out,
      bytes: status === 'ok' ? 300_000 + (i * 7919) % 200_000 : 0, attempts: status === 'ok' ? 3 : 0,
      window: { col, row, width: SIDE, height: SIDE }, source: { driver: 'GTiff', width: 10980, height: 10980, count: 3, dtype: 'Byte', crs: 'EPSG:32618' },
      ...(status === 'ok' ? { stats } : {}), ms: status === 'ok' ? { ...ms, total } : { fetch: ms.fetch, total: ms.fetch } }))
  }
  const setupS = (performance.now() - made) / 1000
  const records = join(work, 'records.ndjson')
  writeFileSync(records, lines.join('\n') + '\n')
  const statsPath = join(work, 'run.json')
  writeFileSync(statsPath, JSON.stringify({
    records: RECORDS, ok: 0, failed: 0, skipped: 0, wall_s: 312.4, bytes: 0, bytes_per_s: 0, stage_ms: {}, errors: {}, error_examples: {},
    event_loop_delay_ms: { p50: 1, p99: 20, max: 40 }, peak_rss_mb: 400, throttled: 57,
    hosts: { 'https://bucket.example.com': { limit_min: 6, limit_max: 16, limit_final: 11, throttled: 57, retry_after_holds: 3 } }
  }))

  const page = join(work, 'report.html')
  const walls: number[] = []
  const cpu: number[] = []
  let stderr = ''
  // GNU time for the CPU (user + system) of the command and its children, where it is installed.
  const timed = existsSync('/usr/bin/time')
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now()
    const command = [process.execPath, join(ROOT, 'bin', 'rasterpipe'), 'report', records, '--stats', statsPath, '-o', page]
    const run = timed
      ? spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', ...command], { encoding: 'utf8' })
      : spawnSync(command[0], command.slice(1), { encoding: 'utf8' })
    walls.push((performance.now() - t) / 1000)
    if (run.status !== 0) throw new Error(`report failed: ${run.stderr}`)
    const m = /^cpu ([\d.]+) ([\d.]+)$/m.exec(run.stderr)
    if (m) cpu.push(Number(m[1]) + Number(m[2]))
    stderr = run.stderr.replace(/^cpu .*$/m, '').trim()
  }
  const html = statSync(page).size
  const filesDir = join(work, 'report_files')
  const beside = readdirSync(work).includes('report_files') ? readdirSync(filesDir).reduce((n, f) => n + statSync(join(filesDir, f)).size, 0) : 0
  const besideCount = beside > 0 ? readdirSync(filesDir).length : 0
  const htmlText = readFileSync(page, 'utf8')
  const footprints = htmlText.match(/class="fp /g)?.length ?? 0
  const mb = (n: number): string => (n / 1024 / 1024).toFixed(2)
  const gdalVersion = execFileSync('gdal-config', ['--version']).toString().trim()
  const section = [
    '## Report (`make bench-report`)',
    '',
    `\`rasterpipe report\` over ${RECORDS} synthetic result records (90% ok, 8% failed, 2% skipped, with --chip-stats) and a --stats file, ` +
    `their ${lines.length - lines.filter((l) => l.includes('"status":"error"')).length} outputs real GeoTIFFs of ${SIDE}² (3 bands, DEFLATE) made by bench/report.ts ` +
    `(${setupS.toFixed(0)} s): every output's footprint read from its tags, 100 thumbnails made by GDAL. ${RUNS} runs, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ` +
    `Node ${process.version}, GDAL ${gdalVersion}, ${new Date().toISOString().slice(0, 10)}; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')} after.`,
    '',
    '| build wall (s, median) | runs (s) | CPU (s, median) | page (MB) | beside it in report_files/ | footprints drawn |',
    '| --- | --- | --- | --- | --- | --- |',
    `| ${median(walls).toFixed(2)} | ${walls.map((w) => w.toFixed(2)).join(', ')} | ${cpu.length > 0 ? median(cpu).toFixed(2) : '–'} | ${mb(html)} | ${besideCount} PNGs, ${mb(beside)} MB | ${footprints} |`,
    '',
    `The command said: \`${stderr.replace(work, '…')}\`. Acceptance: under 10 s to build, under 5 MB to open (the page alone; ` +
    'the thumbnails past the inline budget are files beside it). The wall time is the machine\'s load as much as the command\'s: ' +
    'the CPU column is what the command costs.',
    ''
  ].join('\n')
  process.stdout.write(section + '\n')
  const resultsPath = process.env.BENCH_REPORT_RESULTS ?? join(ROOT, 'bench', 'RESULTS.md')
  const results = readFileSync(resultsPath, 'utf8')
  const at = results.indexOf('\n## Report (`make bench-report`)')
  const next = at < 0 ? -1 : results.indexOf('\n## ', at + 1)
  const updated = at < 0 ? results.replace(/\n*$/, '\n\n') + section : results.slice(0, at + 1) + section + (next < 0 ? '' : results.slice(next))
  writeFileSync(resultsPath, updated)
} finally {
  if (!KEEP) rmSync(work, { recursive: true, force: true })
}
