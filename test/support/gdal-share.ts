// Run by test/gdal-share.test.ts in a child process with UV_THREADPOOL_SIZE unset, as a library host that
// sets nothing would: 50 downloads through the library, watching GDAL's slots as fetches settle and as a
// stream of small fs calls completes. Prints one JSON line.
import { stat } from 'node:fs/promises'
import { rasterPipeline, type ResultRecord } from '../../lib/index.js'

const [outDir, tempRoot, ...urls] = process.argv.slice(2)
const pipeline = rasterPipeline({ outDir, tempRoot, fetch: 'download', window: { col: 0, row: 0, width: 1024, height: 1024 } })
const gdal = pipeline.gdalCalls
let fetchesWhileQueued = 0
pipeline.stages[0].on('settled', () => { if (gdal.waiting > 0) fetchesWhileQueued++ })

// fs calls made all through the run: those that complete while every GDAL slot is taken show a thread
// of the pool left for fs.
let running = true
let fsCalls = 0
let fsWhileGdalFull = 0
const probe = (async () => {
  while (running) {
    await stat(tempRoot)
    fsCalls++
    if (gdal.active === gdal.size && gdal.waiting > 0) fsWhileGdalFull++
  }
})()

for (const url of urls) pipeline.write(url)
pipeline.end()
const records: ResultRecord[] = []
for await (const r of pipeline) records.push(r)
running = false
await probe
await pipeline.released
process.stdout.write(JSON.stringify({
  pool: process.env.UV_THREADPOOL_SIZE ?? null,
  ok: records.filter((r) => r.status === 'ok').length,
  errors: records.filter((r) => r.error).map((r) => r.error?.message),
  size: gdal.size,
  peak: gdal.peak,
  fetchesWhileQueued,
  fsCalls,
  fsWhileGdalFull
}) + '\n')
