// Zonal statistics: the geometry carried into the raster's CRS (OGR, vertex by vertex, as gdal_rasterize
// carries a layer), the window its bounds cover on the raster's grid, the zone made by GDAL's own
// rasterize onto that window's grid (pixel centres inside, or every pixel touched), and each band's
// statistics over the zone's pixels that are neither nodata nor masked. No VRT, no file.
import { RecordError } from '../core/errors.js'
import { maskBeyondNodata, type Band, type Dataset, type Gdal } from './gdal.js'
import type { PixelWindow } from '../core/request.js'
import type { Opened, ZonalPlan } from '../core/job.js'
import type { Zone } from '../core/zones.js'
import type { ZonalStats } from '../core/records.js'
import type { CrsCatalog } from './window.js'
import { checkPixels } from './window.js'
import { windowBytes } from '../core/budget.js'
import { invertGeoTransform, withAlpha } from './points.js'

type Srs = InstanceType<Gdal['SpatialReference']>


/** The zone's geometry in the raster's CRS, and the window of the raster its bounds cover (null: none). */
export async function planZonal (gdal: Gdal, crs: CrsCatalog, opened: Opened & { dataset: Dataset }, zone: Zone, bands: readonly number[] | undefined, maxPixels: number): Promise<ZonalPlan> {
  const ds = opened.dataset
  const { width, height, count, dtype } = opened.source
  for (const b of bands ?? []) {
    if (b > count) throw new RecordError('open', 'BAD_BANDS', `band ${b} requested, but the source has ${count} band${count === 1 ? '' : 's'}`)
  }
  const gt = ds.geoTransform
  if (!opened.georeferenced || !gt) throw new RecordError('open', 'NOT_GEOREFERENCED', 'a geometry needs a georeferenced source, and this one has no geotransform')
  if (gt[2] !== 0 || gt[4] !== 0) throw new RecordError('open', 'ROTATED', 'a geometry cannot be used on a rotated geotransform')
  const to = await ds.srsAsync
  if (!to) throw new RecordError('open', 'NO_CRS', `geometry_crs ${zone.crs}: the source has no CRS to carry the geometry into`)
  const geometry = zoneGeometry(gdal, crs, zone, to)
  const window = zoneWindow(gt, geometry.getEnvelope(), width, height)
  if (window) checkPixels(window.width, window.height, maxPixels, 'open')
  const blockBands = bands && withAlpha(ds, bands)
  return { kind: 'zonal', window, geometry: geometry.toJSON(), ...(bands ? { bands: [...bands] } : {}), ...(blockBands ? { blockBands } : {}), bytes: zonalBytes(window, zone, dtype) }
}

/** The zone's geometry carried into `to` (OGR, vertex by vertex). */
export function zoneGeometry (gdal: Gdal, crs: CrsCatalog, zone: Zone, to: Srs): InstanceType<Gdal['Geometry']> {
  const from = crs.get(zone.crs)
  try {
    const geometry = gdal.Geometry.fromGeoJson(zone.geometry)
    if (!from.isSame(to)) geometry.transform(new gdal.CoordinateTransformation(from, to))
    return geometry
  } catch (err) {
    throw new RecordError('open', 'BAD_GEOMETRY', `the geometry cannot be carried into the raster's CRS: ${(err as Error).message}`)
  }
}

/** The pixels of a `width`×`height` north-up grid the envelope reaches, whole (null: none). */
export function zoneWindow (gt: readonly number[], env: { minX: number, maxX: number, minY: number, maxY: number }, width: number, height: number): PixelWindow | null {
  const inv = invertGeoTransform(gt) as number[]
  const xs = [inv[0] + env.minX * inv[1], inv[0] + env.maxX * inv[1]]
  const ys = [inv[3] + env.minY * inv[5], inv[3] + env.maxY * inv[5]]
  // The pixels the bounds reach, whole; a geometry of no width still covers the pixel it lies in.
  const c0 = Math.max(0, Math.floor(Math.min(...xs)))
  const r0 = Math.max(0, Math.floor(Math.min(...ys)))
  const c1 = Math.min(width, Math.max(Math.ceil(Math.max(...xs)), Math.floor(Math.min(...xs)) + 1))
  const r1 = Math.min(height, Math.max(Math.ceil(Math.max(...ys)), Math.floor(Math.min(...ys)) + 1))
  return c1 > c0 && r1 > r0 ? { col: c0, row: r0, width: c1 - c0, height: r1 - r0 } : null
}

/**
 * Held at once: one band's pixels, its mask and the zone (a byte a pixel each), the zone's values as
 * doubles and their sorted copy (up to 20 bytes a pixel with an array's growth), and for majority or
 * unique a map of the distinct values (up to some 80 bytes each, every pixel distinct at worst).
 */
export function zonalBytes (window: PixelWindow | null, zone: Zone, dtype: string): number {
  const pixels = window ? window.width * window.height : 0
  const counts = zone.stats.includes('majority') || zone.stats.includes('unique')
  return windowBytes(pixels, 1, 1, dtype) + (2 + 20 + (counts ? 80 : 0)) * pixels
}

/** The zone on the window's grid (of `gt`, in `srs`), by GDAL's rasterize: 1 inside (centres, or all touched), 0 outside. */
export async function rasterizeZone (gdal: Gdal, gt: readonly number[], srs: Srs | null, w: PixelWindow, geometry: string, allTouched: boolean): Promise<Uint8Array> {
  const target = gdal.drivers.get('MEM').create('', w.width, w.height, 1, 'Byte')
  const vector = gdal.drivers.get('Memory').create('')
  try {
    target.geoTransform = [gt[0] + w.col * gt[1], gt[1], 0, gt[3] + w.row * gt[5], 0, gt[5]]
    if (srs) target.srs = srs
    const layer = vector.layers.create('zone', srs ?? null, gdal.wkbUnknown)
    const feature = new gdal.Feature(layer)
    feature.setGeometry(gdal.Geometry.fromGeoJson(JSON.parse(geometry) as object))
    layer.features.add(feature)
    await gdal.rasterizeAsync(target, vector, ['-burn', '1', ...(allTouched ? ['-at'] : [])])
    return await target.bands.get(1).pixels.readAsync(0, 0, w.width, w.height) as Uint8Array
  } finally {
    vector.close()
    target.close()
  }
}

/** A band's pixels in a window, and which are valid: not `nodata` (the band's own unless given), not masked, not NaN. */
export async function readBandWindow (b: Band, w: PixelWindow, nodata: number | null = b.noDataValue): Promise<{ data: ArrayLike<number>, valid: Uint8Array }> {
  const masked = maskBeyondNodata(b)
  const data = await b.pixels.readAsync(w.col, w.row, w.width, w.height) as ArrayLike<number>
  const mask = masked ? await masked.pixels.readAsync(w.col, w.row, w.width, w.height) : null
  // GDAL compares in the band's type: a Float32 band's nodata as a float.
  const nd = nodata === null || nodata === undefined ? undefined : data instanceof Float32Array ? Math.fround(nodata) : nodata
  const valid = new Uint8Array(w.width * w.height)
  for (let i = 0; i < valid.length; i++) {
    const v = Number(data[i])
    valid[i] = (nd !== undefined && (v === nd || (Number.isNaN(nd) && Number.isNaN(v)))) || (mask !== null && mask[i] === 0) || Number.isNaN(v) ? 0 : 1
  }
  return { data, valid }
}

/** Each band's statistics over the zone's valid pixels (the names in `stats`, in that order, after `band`). */
export async function readZonal (gdal: Gdal, ds: Dataset, plan: ZonalPlan, { allTouched, stats }: Pick<Zone, 'allTouched' | 'stats'>): Promise<ZonalStats[]> {
  const bandNumbers = plan.bands ?? Array.from({ length: ds.bands.count() }, (_, i) => i + 1)
  const window = plan.window
  const zone = window ? await rasterizeZone(gdal, ds.geoTransform as number[], ds.srs, window, plan.geometry, allTouched) : new Uint8Array(0)
  const out: ZonalStats[] = []
  for (const band of bandNumbers) {
    const read = window ? await readBandWindow(ds.bands.get(band), window) : { data: [], valid: new Uint8Array(0) }
    out.push(zoneStats(band, zone, read, stats))
  }
  return out
}

/** One band's statistics over the zone's pixels (`zone` 1), the valid ones counted, the others as nodata. */
export function zoneStats (band: number, zone: Uint8Array, { data, valid }: { data: ArrayLike<number>, valid: Uint8Array }, stats: readonly string[]): ZonalStats {
  const values: number[] = []
  let nodataCount = 0
  for (let i = 0; i < zone.length; i++) {
    if (zone[i] === 0) continue
    if (valid[i] === 0) nodataCount++
    else values.push(Number(data[i]))
  }
  return summarise(band, values, nodataCount, stats)
}

/** numpy's percentile (linear interpolation between the closest ranks) of sorted values. */
function percentile (sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q / 100
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return lo === hi ? sorted[lo] : sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo)
}

/** The statistics asked for, as numpy computes them (std: population; majority: the smallest most frequent value; unique: how many distinct values). */
export function summarise (band: number, values: number[], nodataCount: number, stats: readonly string[]): ZonalStats {
  const n = values.length
  const r: ZonalStats = { band }
  let sorted: number[] | undefined
  const sortedValues = (): number[] => (sorted ??= Float64Array.from(values).sort() as unknown as number[])
  let sum: number | undefined
  const total = (): number => (sum ??= values.reduce((a, v) => a + v, 0))
  for (const s of stats) {
    if (s === 'count') r.count = n
    else if (s === 'nodata_count') r.nodata_count = nodataCount
    else if (n === 0) r[s] = s === 'sum' ? 0 : s === 'unique' ? 0 : null
    else if (s === 'min') r.min = sortedValues()[0]
    else if (s === 'max') r.max = sortedValues()[n - 1]
    else if (s === 'sum') r.sum = total()
    else if (s === 'mean') r.mean = total() / n
    else if (s === 'std') {
      const mean = total() / n
      r.std = Math.sqrt(values.reduce((a, v) => a + (v - mean) * (v - mean), 0) / n)
    } else if (s === 'median') r.median = percentile(sortedValues(), 50)
    else if (s.startsWith('p')) r[s] = percentile(sortedValues(), Number(s.slice(1)))
    else {
      const counts = new Map<number, number>()
      for (const v of sortedValues()) counts.set(v, (counts.get(v) ?? 0) + 1)
      if (s === 'unique') r.unique = counts.size
      else {
        let best = 0
        for (const [v, c] of counts) if (c > best) { best = c; r.majority = v }
      }
    }
  }
  return r
}
