// Values records' shared last step: the bands read at the points or in the zone's window (a single raster's,
// or a stack's in its band order), each with which of its values are valid, turned into the record's
// `values` or `zonal`; with band math, the expressions evaluated over those bands first (lib/core/expr.ts,
// as the write path evaluates them over a window), so a point gets one value per expression and a zone the
// statistics of each expression's band.
import { RecordError } from '../core/errors.js'
import { evaluateExpr, ExprError } from '../core/expr.js'
import type { Job } from '../core/job.js'
import type { PointValue } from '../core/points.js'
import type { ZonalStats } from '../core/records.js'
import { resolved } from './band-math.js'
import { zoneStats } from './zonal.js'

/** One band at the points (one value each) or over a window: its raw values, which are valid, and its scale and offset. */
export interface BandRead {
  data: ArrayLike<number>
  valid: Uint8Array
  scale: number
  offset: number
}

/** The record's expressions over the bands read: one band of results each, with their validity. */
function evaluated (job: Job, reads: readonly BandRead[], n: number): ReadonlyArray<{ data: ArrayLike<number>, valid: Uint8Array }> {
  const expr = job.expr
  if (!expr) return reads
  let out
  try {
    const { program, bands } = resolved(job, expr)
    out = evaluateExpr(program, bands, reads.map((r) => ({ data: r.data, nodata: null, mask: r.valid, scale: r.scale, offset: r.offset })), n, expr.type)
  } catch (err) {
    throw new RecordError('read', 'BAD_EXPR', err instanceof ExprError ? err.message : String(err))
  }
  const nodata = out.nodata
  return out.bands.map((data) => {
    const valid = new Uint8Array(n)
    for (let i = 0; i < n; i++) valid[i] = data[i] === nodata || Number.isNaN(data[i]) ? 0 : 1
    return { data, valid }
  })
}

/** Each point's values (null outside the raster or grid: `inside[i]` false), band by band or expression by expression. */
export function pointValues (job: Job, reads: readonly BandRead[], inside: readonly boolean[]): PointValue[] {
  const bands = evaluated(job, reads, inside.length)
  return inside.map((ok, i) => ok ? bands.map((b) => b.valid[i] === 1 ? Number(b.data[i]) : null) : null)
}

/** Each band's (or expression's) statistics over the zone's pixels of the window read. */
export function zonalValues (job: Job, reads: readonly BandRead[], zone: Uint8Array, stats: readonly string[], bandNumbers?: readonly number[]): ZonalStats[] {
  return evaluated(job, reads, zone.length).map((b, k) => zoneStats(job.expr ? k + 1 : bandNumbers?.[k] ?? k + 1, zone, b, stats))
}

/** Values read as a point sample reads them (null: not valid) as a band at the points. */
export function fromPointValues (values: readonly PointValue[], k: number, scale: number, offset: number): BandRead {
  const data = new Float64Array(values.length)
  const valid = new Uint8Array(values.length)
  values.forEach((v, i) => {
    const x = v?.[k]
    if (x !== null && x !== undefined) { data[i] = x; valid[i] = 1 }
  })
  return { data, valid, scale, offset }
}
