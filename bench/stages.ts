// What one record costs GDAL, stage by stage, one at a time in-process: open, the window's read into
// memory, and the output's encoding with a few creation options. The figures behind bench/RESULTS.md's
// analysis of what bounds a CPU-bound run.
//
//   node dist/bench/stages.js
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadGdal, type Dataset } from '../lib/raster/gdal.js'
import { makeBatchFiles } from './data.js'

const gdal = loadGdal()
const N = 50

async function timeEach (label: string, fn: (i: number) => Promise<void>): Promise<void> {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  for (let i = 0; i < N; i++) await fn(i)
  const c = process.cpuUsage(c0)
  console.log(`${label.padEnd(28)} ${((performance.now() - t0) / N).toFixed(2)} ms wall, ${((c.user + c.system) / 1000 / N).toFixed(2)} ms CPU a record`)
}

const work = mkdtempSync(join(tmpdir(), 'rasterpipe-stages-'))
try {
  const files = makeBatchFiles(work)
  const sources: Dataset[] = []
  const windows: Dataset[] = []
  await timeEach('open (+ size, CRS)', async (i) => {
    const ds = await gdal.openAsync(files[i % files.length])
    await ds.rasterSizeAsync
    await ds.srsAsync
    sources.push(ds)
  })
  await timeEach('read 512x512 to MEM', async (i) => {
    windows.push(await gdal.translateAsync('', sources[i], ['-of', 'MEM', '-srcwin', '0', '0', '512', '512']))
  })
  for (const [label, co] of [['write DEFLATE (default)', ['COMPRESS=DEFLATE', 'TILED=YES']], ['write DEFLATE ZLEVEL=1', ['COMPRESS=DEFLATE', 'ZLEVEL=1', 'TILED=YES']],
    ['write uncompressed', ['TILED=YES']]] as const) {
    await timeEach(label, async (i) => {
      const out = await gdal.drivers.get('GTiff').createCopyAsync(join(work, `o${i}.tif`), windows[i], [...co])
      await out.flushAsync()
      out.close()
    })
  }
  for (const ds of [...sources, ...windows]) ds.close()
} finally {
  rmSync(work, { recursive: true, force: true })
}
