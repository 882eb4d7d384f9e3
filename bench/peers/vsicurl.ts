// The in-process GDAL peer: gdal-async opens `/vsicurl/` URLs and translates the window to a GeoTIFF, with
// a pool of workers as large as the concurrency. GDAL's async calls run on libuv's pool, so the pool is
// given a thread per worker (UV_THREADPOOL_SIZE, set by whoever starts this script: libuv reads it once,
// before the first call).
//
//   UV_THREADPOOL_SIZE=16 node dist/bench/peers/vsicurl.js -c 16 --out-dir DIR --co COMPRESS=DEFLATE < jobs
//
// Jobs, one a line: `URL COL,ROW,WIDTH,HEIGHT OUT`.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadGdal } from '../../lib/raster/gdal.js'

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', short: 'c', default: '16' },
    'out-dir': { type: 'string', default: 'output' },
    co: { type: 'string', multiple: true, default: [] }
  }
})

const gdal = loadGdal()
// No directory listing on open: GDAL's own advice for COGs, as the xargs peer is given it too.
gdal.config.set('GDAL_DISABLE_READDIR_ON_OPEN', 'EMPTY_DIR')

const jobs = readFileSync(0, 'utf8').split('\n').filter((l) => l.trim()).map((line) => {
  const [url, window, out] = line.trim().split(/\s+/)
  return { url, window: window.split(','), out }
})
const co = (values.co ?? []).flatMap((c) => ['-co', c])

let next = 0
let failed = 0
async function worker (): Promise<void> {
  for (let i = next++; i < jobs.length; i = next++) {
    const job = jobs[i]
    try {
      const src = await gdal.openAsync(`/vsicurl/${job.url}`)
      try {
        const out = await gdal.translateAsync(join(values['out-dir'] as string, job.out), src, ['-of', 'GTiff', '-srcwin', ...job.window, ...co])
        try { await out.flushAsync() } finally { out.close() }
      } finally {
        src.close()
      }
    } catch (err) {
      failed++
      process.stderr.write(`vsicurl peer: ${job.url}: ${(err as Error).message}\n`)
    }
  }
}

await Promise.all(Array.from({ length: Number(values.concurrency) }, async () => await worker()))
if (failed > 0) process.exit(1)
