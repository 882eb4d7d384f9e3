// The floor a batch of windows cannot beat on this machine: GDAL's own CPU for the same windows read from
// local copies and written with the same creation options, spread over every core, plus the network time
// of the shortest schedule at the given concurrency, latency and per-response bandwidth.
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { loadGdal } from '../lib/raster/gdal.js'
import { readTiff } from '../lib/source/tiff.js'
import type { Job } from './contenders.js'

export interface Network { latencyMs: number, bandwidth: number, concurrency: number }

export interface Floor {
  /** GDAL's CPU seconds for every window, one at a time in this process. */
  cpu: number
  /** That CPU divided by the cores. */
  compute: number
  /** The shortest schedule's network seconds, and which schedule it is. */
  network: number
  schedule: string
  total: number
}

/**
 * GDAL's CPU seconds to cut every job's window out of its local copy (open, read, encode, write: what
 * gdal_translate does), measured as this process's user + system time around synchronous calls.
 */
export function gdalCpu (jobs: Job[], localOf: (url: string) => string, co: string[], work: string): number {
  const gdal = loadGdal()
  const dir = mkdtempSync(join(work, 'floor-'))
  const c0 = process.cpuUsage()
  for (const [i, j] of jobs.entries()) {
    const src = gdal.open(localOf(j.url))
    gdal.translate(join(dir, `${i}.tif`), src, ['-of', 'GTiff', '-srcwin', ...j.window.map(String), ...co.flatMap((c) => ['-co', c])]).close()
    src.close()
  }
  const c = process.cpuUsage(c0)
  rmSync(dir, { recursive: true, force: true })
  return (c.user + c.system) / 1e6
}

/** Per source: its size, the bytes GDAL reads to open it (header and directories) and, per job, the bytes of the blocks under the window. */
export interface SourceBytes { size: number, head: number, blocks: number[] }

export async function sourceBytes (file: Buffer, windows: Array<[number, number, number, number]>): Promise<SourceBytes> {
  const info = await readTiff(async (offset, length) => file.subarray(offset, offset + length), file.length)
  const full = info.ifds[0]
  const blocks = windows.map(([col, row, width, height]) => {
    const across = Math.ceil(full.width / full.blockWidth)
    const down = Math.ceil(full.height / full.blockHeight)
    const planes = full.planar === 2 ? full.samples : 1
    let bytes = 0
    for (let p = 0; p < planes; p++) {
      for (let by = Math.floor(row / full.blockHeight); by <= Math.floor((row + height - 1) / full.blockHeight) && by < down; by++) {
        for (let bx = Math.floor(col / full.blockWidth); bx <= Math.floor((col + width - 1) / full.blockWidth) && bx < across; bx++) {
          bytes += full.byteCounts[p * across * down + by * across + bx] ?? 0
        }
      }
    }
    return bytes
  })
  return { size: file.length, head: info.structure.reduce((n, [a, b]) => n + (b - a), 0), blocks }
}

/**
 * The network seconds of the shortest of two schedules: each source fetched whole in one request, or its
 * head in one request and then each window's blocks in one request. Requests run `concurrency` at a time,
 * each waits the latency once, and each response streams at `bandwidth` (so `concurrency` of them at once).
 */
export function networkFloor (sources: SourceBytes[], net: Network): { seconds: number, schedule: string } {
  const rounds = (n: number): number => Math.ceil(n / net.concurrency)
  const transfer = (bytes: number): number => net.bandwidth > 0 ? bytes / (net.bandwidth * net.concurrency) : 0
  const L = net.latencyMs / 1000
  const whole = rounds(sources.length) * L + transfer(sources.reduce((n, s) => n + s.size, 0))
  const jobs = sources.reduce((n, s) => n + s.blocks.length, 0)
  const ranged = (rounds(sources.length) + rounds(jobs)) * L + transfer(sources.reduce((n, s) => n + s.head + s.blocks.reduce((a, b) => a + b, 0), 0))
  return whole <= ranged
    ? { seconds: whole, schedule: `${sources.length} whole files, ${rounds(sources.length)} round trip(s)` }
    : { seconds: ranged, schedule: `${sources.length} heads then ${jobs} block reads, ${rounds(sources.length) + rounds(jobs)} round trips` }
}

export function floorOf (cpu: number, sources: SourceBytes[], net: Network): Floor {
  const compute = cpu / cpus().length
  const { seconds, schedule } = networkFloor(sources, net)
  return { cpu, compute, network: seconds, schedule, total: compute + seconds }
}
