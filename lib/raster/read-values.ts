// The read stage of a values record (points or a zone): a stack's by its parts (lib/raster/stack-values.ts),
// a single raster's straight from its file (lib/raster/points.ts, zonal.ts); with band math, the
// expressions over the bands read (lib/raster/expr-values.ts). No VRT, no output file.
import { RecordError } from '../core/errors.js'
import type { Dataset, Gdal } from './gdal.js'
import type { Job, PointsPlan, ZonalPlan } from '../core/job.js'
import type { PointValue } from '../core/points.js'
import type { ZonalStats } from '../core/records.js'
import { readPoints } from './points.js'
import { rasterizeZone, readBandWindow, readZonal } from './zonal.js'
import { readStackValues } from './stack-values.js'
import { fromPointValues, pointValues, zonalValues, type BandRead } from './expr-values.js'

/** The bands a single raster's values record reads, in order. */
function bandsOf (ds: Dataset, plan: PointsPlan | ZonalPlan): number[] {
  return [...(plan.bands ?? Array.from({ length: ds.bands.count() }, (_, i) => i + 1))]
}

/** A band's scale and offset as GDAL gives them (none: 1 and 0). */
async function scaleOffset (ds: Dataset, b: number): Promise<{ scale: number, offset: number }> {
  const band = await ds.bands.getAsync(b)
  return { scale: (await band.scaleAsync) ?? 1, offset: (await band.offsetAsync) ?? 0 }
}

export async function readValues (gdal: Gdal, job: Job, plan: PointsPlan | ZonalPlan): Promise<{ values: PointValue[] } | { zonal: ZonalStats[] }> {
  if (job.parts) return await readStackValues(gdal, job, plan)
  const ds = job.opened?.dataset
  if (!ds) throw new RecordError('read', 'NOT_OPEN', 'the source is not open')
  const zone = job.zone
  if (plan.kind === 'points') {
    const values = await readPoints(ds, plan)
    if (!job.expr) return { values }
    const reads: BandRead[] = []
    for (const [k, b] of bandsOf(ds, plan).entries()) {
      const { scale, offset } = await scaleOffset(ds, b)
      reads.push(fromPointValues(values, k, scale, offset))
    }
    return { values: pointValues(job, reads, plan.pixels.map((p) => p !== null)) }
  }
  if (!zone) throw new RecordError('read', 'NO_WINDOW', 'a zonal record without a zone')
  if (!job.expr) return { zonal: await readZonal(gdal, ds, plan, zone) }
  const window = plan.window
  if (!window) return { zonal: zonalValues(job, [], new Uint8Array(0), zone.stats) }
  const inside = await rasterizeZone(gdal, ds.geoTransform as number[], ds.srs, window, plan.geometry, zone.allTouched)
  const reads: BandRead[] = []
  for (const b of bandsOf(ds, plan)) {
    const read = await readBandWindow(await ds.bands.getAsync(b), window)
    reads.push({ ...read, ...await scaleOffset(ds, b) })
  }
  return { zonal: zonalValues(job, reads, inside, zone.stats) }
}
