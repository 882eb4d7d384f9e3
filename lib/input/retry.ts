// The input record a failed result carries (`record`), so that a retry list can be made from results
// alone, across shards, without the original input files: what the record asked for, fully resolved.
import { redactUrl } from '../http/redact.js'
import type { Job } from '../core/job.js'
import type { InputRecord } from '../core/records.js'
import { printableSources } from './sources.js'
import type { StackSource } from '../core/records.js'
import type { MosaicAsk } from '../core/mosaic.js'

/** A mosaic's own fields, as its record gave them. */
function mosaicRetry (ask: MosaicAsk): Pick<InputRecord, 'mosaic' | 'items' | 'group' | 'dates'> {
  return { mosaic: ask.method, ...(ask.items.length > 0 ? { items: [...ask.items] } : {}), ...(ask.group !== undefined ? { group: ask.group } : {}), ...(ask.dates ? { dates: [...ask.dates] } : {}) }
}

/**
 * Every request field explicitly (the command line's defaults applied), so the retry does the same
 * whatever options it runs with, and names the same output and shard. Headers are never printed: give
 * -H again. A pre-signed URL comes out with its signature REDACTED and needs its original line.
 */
export function retryRecord (job: Job): InputRecord {
  const r = job.request
  const record: InputRecord = job.parts
    ? { urls: printableSources(job.parts.map((p) => p.stackSource as StackSource)) }
    : { url: redactUrl(job.url) }
  if (job.id !== undefined) record.id = job.id
  // A values record: its points or zone and bands, no window (which it may not have).
  if (job.points || job.zone) {
    if (job.points) record.points = job.points.xy.map(([x, y]) => [x, y])
    if (job.points?.crs !== undefined) record.points_crs = job.points.crs
    if (job.zone) Object.assign(record, { geometry: job.zone.geometry, geometry_crs: job.zone.crs, all_touched: job.zone.allTouched })
    if (r.bands) record.bands = r.bands
    if (job.mosaic) Object.assign(record, mosaicRetry(job.mosaic))
    return record
  }
  if (r.bbox) {
    record.bbox = r.bbox
    if (r.bboxCrs !== undefined) record.bbox_crs = r.bboxCrs
  } else {
    record.window = { ...r.window }
  }
  if (r.bands) record.bands = r.bands
  record.boundless = r.boundless
  if (r.outSize) record.out_size = r.outSize
  // The target grid, so that the retry warps as the first try did.
  if (r.dstCrs !== undefined) record.dst_crs = r.dstCrs
  if (r.res) record.res = r.res
  if (r.resampling !== undefined) record.resampling = r.resampling
  if (r.tap) record.tap = true
  if (job.out !== undefined) record.out = job.out
  if (job.mosaic) Object.assign(record, mosaicRetry(job.mosaic))
  return record
}
