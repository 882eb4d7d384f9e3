// A values record that also writes its window (`out`, --write): the window is the points' bounding box on
// the raster's grid (every point's pixel, whole) or the zone's window, planned as a plain window record's
// (lib/raster/read.ts makes its VRT, lib/raster/write.ts writes it). Its blocks hold every block the values
// read, so range mode fetches by the window's plan; the values plan is kept here for the read stage.
import { RecordError } from '../core/errors.js'
import type { Job, PointsPlan, WindowPlan, ZonalPlan } from '../core/job.js'
import type { PixelWindow } from '../core/request.js'
import type { SourceInfo } from '../core/records.js'
import { windowBytes } from '../core/budget.js'

const kept = new WeakMap<Job, PointsPlan | ZonalPlan>()

/** The values plan of a record that writes its window (none: the record's plan is the values plan itself, or no values). */
export function valuesPlanOf (job: Job): PointsPlan | ZonalPlan | undefined {
  return job.plan?.kind === 'window' || job.plan?.kind === 'stack' ? kept.get(job) : undefined
}

/** Keeps a values record's values plan for the read, its plan being the window's it writes. */
export function keepValuesPlan (job: Job, values: PointsPlan | ZonalPlan): void {
  kept.set(job, values)
}

/** The points' bounding box in pixels (null: no point on the raster). */
export function pointsWindow (plan: PointsPlan): PixelWindow | null {
  // One pass, no spread: Math.min(...list) throws a RangeError past some 100,000 arguments.
  let c0 = Infinity
  let r0 = Infinity
  let c1 = -Infinity
  let r1 = -Infinity
  for (const p of plan.pixels) {
    if (p === null) continue
    c0 = Math.min(c0, p.col)
    r0 = Math.min(r0, p.row)
    c1 = Math.max(c1, p.col)
    r1 = Math.max(r1, p.row)
  }
  if (c0 === Infinity) return null
  return { col: c0, row: r0, width: c1 - c0 + 1, height: r1 - r0 + 1 }
}

/** The plain window the record writes; its bytes hold the values' too (both are read before the write). */
export function valuesWindowPlan (job: Job, values: PointsPlan | ZonalPlan, source: SourceInfo): WindowPlan {
  const window = values.kind === 'points' ? pointsWindow(values) : values.window
  if (!window) throw new RecordError('open', 'OUTSIDE', `no ${values.kind === 'points' ? 'point' : 'part of the geometry'} lies on the raster: there is no window to write`)
  keepValuesPlan(job, values)
  const bands = values.bands
  return {
    kind: 'window',
    window,
    ...(bands ? { bands } : {}),
    ...(values.blockBands ? { blockBands: values.blockBands } : {}),
    bytes: windowBytes(window.width, window.height, bands?.length ?? source.count, source.dtype) + values.bytes
  }
}
