// Point samples asked for: a record's `points` ([[x, y], …]) with `points_crs`, or one set for every record
// from --points FILE (a GeoJSON FeatureCollection of Points, or CSV x,y). Checked here, once, so that the
// open stage (lib/raster/points.ts) gets finite coordinates only.
import { InvalidValue } from './request.js'
import { words, type Message } from './words.js'

export type Point = readonly [number, number]

/** The points of a record, and the CRS they are in (none: the raster's own). */
export interface PointSet {
  readonly xy: readonly Point[]
  readonly crs?: string
}

/** One sample's result: the value of each band read (null: nodata or masked), or null outside the raster. */
export type PointValue = Array<number | null> | null

/** A record's `points`, or a library caller's: a non-empty array of [x, y] pairs of finite numbers. */
export function parsePoints (value: unknown, name: Message = '"points"'): Point[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidValue(words`${name} must be a non-empty array of [x, y] pairs, got ${shown(value)}`)
  return value.map((p: unknown, i: number) => {
    if (!Array.isArray(p) || p.length !== 2) throw new InvalidValue(words`${name}: point ${i + 1} must be [x, y], got ${shown(p)}`)
    for (const v of p) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidValue(words`${name}: point ${i + 1} (${shown(p)}) has ${shown(v)}, not a finite number`)
    }
    return [p[0] as number, p[1] as number] as const
  })
}

/** A value as a message shows it: JSON, cut short. */
export function shown (v: unknown): string {
  const text = JSON.stringify(v) ?? String(v)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/**
 * The points of a --points file's text: a GeoJSON FeatureCollection (or one Feature, or bare geometries) of
 * Point or MultiPoint, in order, or CSV lines of x,y (a first line that is not numbers is a header).
 */
export function pointsFromText (text: string, name: Message): Point[] {
  const trimmed = text.trim()
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let doc: unknown
    try {
      doc = JSON.parse(trimmed)
    } catch (err) {
      throw new InvalidValue(words`${name}: not JSON (${(err as Error).message})`)
    }
    const out: unknown[] = []
    collect(doc, out, name)
    return parsePoints(out, name)
  }
  const lines = trimmed.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const rows = lines.map((l) => l.split(/[,;\t]/).map((s) => s.trim()))
  const isNumber = (s: string | undefined): boolean => s !== undefined && s !== '' && Number.isFinite(Number(s))
  if (rows.length > 0 && !(isNumber(rows[0][0]) && isNumber(rows[0][1]))) rows.shift()
  return parsePoints(rows.map((r, i) => {
    if (r.length < 2 || !isNumber(r[0]) || !isNumber(r[1])) throw new InvalidValue(words`${name}: CSV row ${i + 1} (${shown(r.join(','))}) is not x,y numbers`)
    return [Number(r[0]), Number(r[1])]
  }), name)
}

function collect (doc: unknown, out: unknown[], name: Message): void {
  if (Array.isArray(doc)) {
    for (const d of doc) collect(d, out, name)
    return
  }
  const o = doc as { type?: unknown, features?: unknown, geometry?: unknown, coordinates?: unknown } | null
  if (o === null || typeof o !== 'object') throw new InvalidValue(words`${name}: ${shown(doc)} is not GeoJSON`)
  if (o.type === 'FeatureCollection' && Array.isArray(o.features)) for (const f of o.features) collect(f, out, name)
  else if (o.type === 'Feature') collect(o.geometry, out, name)
  else if (o.type === 'Point') out.push(Array.isArray(o.coordinates) ? o.coordinates.slice(0, 2) : o.coordinates)
  else if (o.type === 'MultiPoint' && Array.isArray(o.coordinates)) for (const c of o.coordinates) out.push(Array.isArray(c) ? c.slice(0, 2) : c)
  else throw new InvalidValue(words`${name}: a ${shown(o.type)} is not a Point feature`)
}
