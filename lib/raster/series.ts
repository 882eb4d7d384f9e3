// A time series' points or zone (STAC items grouped with "mosaic": "none", and `points` or `geometry`):
// each item's sources sampled or summarised on their own grids as a single record's would be (no common
// grid: a point reads each item's own pixel), one `series` entry per item (date), in the group's order.
import { RecordError } from '../core/errors.js'
import { messageOf } from '../core/words.js'
import { sourceError, eachSourceInTurn } from '../core/each-source.js'
import type { Job } from '../core/job.js'
import type { PointValue } from '../core/points.js'
import type { SeriesEntry, ZonalStats } from '../core/records.js'
import type { Gdal } from './gdal.js'
import { readPoints } from './points.js'
import { readZonal } from './zonal.js'

/**
 * Opens and plans every source as a values record of its own (`openPart`: the single record's open), then
 * gives the record the first source's shape and a plan of the kind its parts have, whose bytes are the
 * largest part's: the parts are read one at a time.
 */
export async function openSeries (job: Job, openPart: (part: Job) => Promise<void>): Promise<void> {
  await eachSourceInTurn(job, 'open', openPart)
  const parts = job.parts ?? []
  const first = parts[0]
  const plan = first.plan
  if (!first.opened || !plan || (plan.kind !== 'points' && plan.kind !== 'zonal')) throw new RecordError('open', 'NO_WINDOW', `${first.url}: the source was not planned`)
  job.opened = { source: first.opened.source, georeferenced: first.opened.georeferenced, ...(first.opened.window ? { window: first.opened.window } : {}) }
  job.plan = { ...plan, bytes: Math.max(...parts.map((p) => p.plan?.bytes ?? 0)) }
}

/** One point's values across an item's sources: their bands in turn, null only where every source has none. */
function joined (a: PointValue | undefined, b: PointValue, before: number, count: number): PointValue {
  if (a === undefined) return b
  if (a === null && b === null) return null
  return [...(a ?? new Array<number | null>(before).fill(null)), ...(b ?? new Array<number | null>(count).fill(null))]
}

export async function readSeries (gdal: Gdal, job: Job): Promise<SeriesEntry[]> {
  const ask = job.mosaic
  const parts = job.parts ?? []
  if (!ask) throw new RecordError('read', 'NO_WINDOW', 'not a time series')
  const out: SeriesEntry[] = []
  for (let k = 0; k < ask.count; k++) {
    const entry: SeriesEntry = { item: ask.items[k] ?? String(k + 1) }
    const datetime = ask.dates?.[k]
    if (datetime !== undefined) entry.datetime = datetime
    let values: PointValue[] | undefined
    let bands = 0
    const zonal: ZonalStats[] = []
    for (let a = 0; a < ask.per; a++) {
      const part = parts[k * ask.per + a]
      const ds = part.opened?.dataset
      const plan = part.plan
      try {
        if (!ds || !plan) throw new RecordError('read', 'NOT_OPEN', `${part.url}: the source is not open`)
        const count = (plan.kind === 'points' || plan.kind === 'zonal' ? plan.bands?.length : undefined) ?? await ds.bands.countAsync()
        if (plan.kind === 'points') {
          const got = await readPoints(ds, plan)
          values = got.map((v, i) => joined(values?.[i], v, bands, count))
        } else if (plan.kind === 'zonal' && job.zone) {
          // Bands numbered across the item's sources, as its bands in a time series' file.
          for (const stats of await readZonal(gdal, ds, plan, job.zone)) zonal.push({ ...stats, band: zonal.length + 1 })
        }
        bands += count
      } catch (err) {
        throw sourceError(part, parts.length, err instanceof RecordError ? err : new RecordError('read', 'READ_FAILED', `${part.url}: ${messageOf(err)}`), 'read')
      }
    }
    if (values) entry.values = values
    else entry.zonal = zonal
    out.push(entry)
  }
  return out
}
