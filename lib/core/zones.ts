// Zonal statistics asked for: a record's `geometry` (a GeoJSON Polygon or MultiPolygon) with
// `geometry_crs` and `all_touched`, or one for every record from --geometry FILE; and which statistics
// (--zonal-stats). Checked here, once, so that the open stage (lib/raster/zonal.ts) gets a sound polygon.
import { InvalidValue } from './request.js'
import { words, type Message } from './words.js'
import { shown } from './points.js'

/** A polygon (or several) of a record, in its CRS (GeoJSON's EPSG:4326 unless given). */
export interface Zone {
  readonly geometry: { type: 'Polygon' | 'MultiPolygon', coordinates: unknown }
  readonly crs: string
  readonly allTouched: boolean
  /** The statistics to give (--zonal-stats), in order. */
  readonly stats: readonly string[]
}

export const DEFAULT_ZONAL_STATS = ['count', 'nodata_count', 'min', 'max', 'mean', 'std', 'sum', 'median']
const OTHER_STATS = ['majority', 'unique']

/** --zonal-stats: names from the default set, `majority`, `unique`, or percentiles `p0`…`p100`. */
export function parseZonalStats (value: unknown, name: Message): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value
  if (!Array.isArray(list) || list.length === 0) throw new InvalidValue(words`${name} needs a list of statistics such as count,mean,p90`)
  for (const s of list) {
    const percentile = typeof s === 'string' && /^p(\d{1,3})$/.exec(s)
    if (percentile && Number(percentile[1]) <= 100) continue
    if (typeof s !== 'string' || !(DEFAULT_ZONAL_STATS.includes(s) || OTHER_STATS.includes(s))) {
      throw new InvalidValue(words`${name}: unknown statistic ${JSON.stringify(s)} (known: ${[...DEFAULT_ZONAL_STATS, ...OTHER_STATS].join(', ')}, p0…p100)`)
    }
  }
  return [...new Set(list as string[])]
}

function position (p: unknown, where: string, name: Message): void {
  if (!Array.isArray(p) || p.length < 2 || p.length > 3 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new InvalidValue(words`${name}: ${where} must be [x, y] of finite numbers, got ${shown(p)}`)
  }
}

function polygon (rings: unknown, where: string, name: Message): void {
  if (!Array.isArray(rings) || rings.length === 0) throw new InvalidValue(words`${name}: ${where} must be a non-empty array of rings`)
  rings.forEach((ring: unknown, i) => {
    const at = `${where} ring ${i + 1}`
    if (!Array.isArray(ring) || ring.length < 4) throw new InvalidValue(words`${name}: ${at} must have at least 4 positions`)
    ring.forEach((p: unknown, k) => position(p, `${at} position ${k + 1}`, name))
    const [a, b] = [ring[0] as number[], ring[ring.length - 1] as number[]]
    if (a[0] !== b[0] || a[1] !== b[1]) throw new InvalidValue(words`${name}: ${at} is not closed (its last position is not its first)`)
  })
}

/** A GeoJSON Polygon or MultiPolygon (or a Feature of one); anything else is the field's error. */
export function parseGeometry (value: unknown, name: Message = '"geometry"'): Zone['geometry'] {
  let g = value as { type?: unknown, coordinates?: unknown, geometry?: unknown } | null
  if (g !== null && typeof g === 'object' && g.type === 'Feature') g = g.geometry as typeof g
  if (g === null || typeof g !== 'object' || Array.isArray(g)) throw new InvalidValue(words`${name} must be a GeoJSON Polygon or MultiPolygon, got ${shown(value)}`)
  if (g.type === 'Polygon') {
    polygon(g.coordinates, 'the polygon', name)
  } else if (g.type === 'MultiPolygon') {
    if (!Array.isArray(g.coordinates) || g.coordinates.length === 0) throw new InvalidValue(words`${name}: a MultiPolygon needs at least one polygon`)
    g.coordinates.forEach((p: unknown, i) => polygon(p, `polygon ${i + 1}`, name))
  } else {
    throw new InvalidValue(words`${name} must be a GeoJSON Polygon or MultiPolygon, not ${shown(g.type)}`)
  }
  return { type: g.type, coordinates: g.coordinates }
}

/** A --geometry file's text: one Polygon or MultiPolygon, a Feature, or a FeatureCollection of them (as one MultiPolygon). */
export function geometryFromText (text: string, name: Message): Zone['geometry'] {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new InvalidValue(words`${name}: not JSON (${(err as Error).message})`)
  }
  const d = doc as { type?: unknown, features?: unknown }
  if (d !== null && typeof d === 'object' && d.type === 'FeatureCollection') {
    if (!Array.isArray(d.features) || d.features.length === 0) throw new InvalidValue(words`${name}: a FeatureCollection without features`)
    const parts = d.features.map((f: unknown) => parseGeometry(f, name))
    if (parts.length === 1) return parts[0]
    return { type: 'MultiPolygon', coordinates: parts.flatMap((p) => p.type === 'Polygon' ? [p.coordinates] : p.coordinates as unknown[]) }
  }
  return parseGeometry(doc, name)
}
