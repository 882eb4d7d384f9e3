// Input records to jobs. A line is a bare URL or path, or a JSON object whose fields override the
// command-line defaults. Anything wrong becomes an error record (stage `input`) naming the line.
import { RecordError } from '../core/errors.js'
import { makeJob, type Asked, type Job } from '../core/job.js'
import { isRawLine, LineRecord, type RawLine } from './lines.js'
import type { PipelineOptions } from '../core/options.js'
import { checkWarp, isWarp, InvalidValue, parseBands, parseHeaders, parseBbox, parseCrs, parseOutSize, parseRes, parseResampling, parseWindow, type WindowRequest } from '../core/request.js'
import { outputFor } from '../output/names.js'
import { checkPixels } from '../raster/window.js'
import { checkUrl } from './url.js'
import { parseSources, requestedSources } from './sources.js'
import { messageOf, option, words } from '../core/words.js'
import { parsePoints, type PointSet } from '../core/points.js'
import { DEFAULT_ZONAL_STATS, parseGeometry, type Zone } from '../core/zones.js'
import { exprField } from './expr-field.js'
import { mosaicField, mosaicKey } from './mosaic-field.js'

const KNOWN_FIELDS = new Set(['url', 'urls', 'id', 'window', 'bbox', 'bbox_crs', 'bands', 'boundless', 'out_size', 'out', 'headers', 'dst_crs', 'res', 'resampling', 'tap', 'points', 'points_crs', 'geometry', 'geometry_crs', 'all_touched', 'expr', 'mosaic', 'items', 'group', 'dates'])

/** A request as parse fills it in, before the job is made of it (and its fields fixed). */
type Draft = { -readonly [K in keyof Asked]: Asked[K] }

function draft (line: number, url = ''): Draft {
  return { line, url, request: { window: { col: 0, row: 0, width: 1, height: 1 }, boundless: false }, headers: {} }
}

/** A job with nothing asked but its line and URL (tests, and records that failed before their fields). */
export function newJob (line: number, url = ''): Job {
  return makeJob(draft(line, url))
}

/**
 * Checks a record's CRS string (bbox_crs) at input, so that a CRS GDAL does not know is the record's
 * input error, found before anything is fetched; throws a RecordError.
 */
export type CrsCheck = (text: string) => void

/**
 * Turns one input item into a job, or null for a blank line. Never throws: a bad item becomes a job
 * that carries its error, so that it still gets its one result record.
 */
export function parseItem (item: unknown, line: number, options: PipelineOptions, ext: string, checkCrs?: CrsCheck): Job | null {
  // A record a line gave before (lib/input/expand.ts) names that line, whichever record of it it is.
  const given = item instanceof LineRecord ? item : undefined
  if (given) item = given.value
  let raw: RawLine
  if (given) raw = { line: given.line, ...(given.input !== undefined ? { input: given.input } : {}) }
  else if (typeof item === 'string') raw = { line, text: item }
  else if (isRawLine(item)) raw = item
  else raw = { line, text: undefined }

  const job = draft(raw.line)
  if (raw.input !== undefined) job.input = raw.input
  if (given?.id !== undefined) job.id = given.id
  if (given?.retry !== undefined) job.retryInput = given.retry
  if (given?.error) return makeJob(job, given.error)
  try {
    if (raw.problem !== undefined) throw new InvalidValue(raw.problem)
    let fields: Record<string, unknown>
    if (raw.text !== undefined) {
      const text = raw.text.trim()
      if (text === '') return null
      fields = text.startsWith('{') || text.startsWith('[') || text.startsWith('"') ? parseJson(text) : { url: text }
    } else if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      fields = item as Record<string, unknown>
    } else {
      throw new InvalidValue(`a record must be a line of text or an object with a "url", not ${Array.isArray(item) ? 'an array' : item === null ? 'null' : typeof item}`)
    }
    fill(job, fields, options, ext)
    if (fields.bbox_crs !== undefined && job.request.bboxCrs !== undefined) checkCrs?.(job.request.bboxCrs)
    if (fields.dst_crs !== undefined && job.request.dstCrs !== undefined && job.request.dstCrs.toLowerCase() !== 'utm') checkCrs?.(job.request.dstCrs)
    if (fields.points_crs !== undefined && job.points?.crs !== undefined) checkFieldCrs('points_crs', job.points.crs, checkCrs)
    if (fields.geometry_crs !== undefined && job.zone) checkFieldCrs('geometry_crs', job.zone.crs, checkCrs)
  } catch (err) {
    return makeJob(job, err instanceof RecordError ? err : new RecordError('input', 'BAD_RECORD', messageOf(err)))
  }
  return makeJob(job)
}

function parseJson (text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidValue(`invalid JSON (${(err as Error).message})`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidValue(`a record must be a JSON object with a "url", not ${Array.isArray(value) ? 'an array' : typeof value}`)
  }
  return value as Record<string, unknown>
}

function fill (job: Draft, fields: Record<string, unknown>, options: PipelineOptions, ext: string): void {
  if (fields.id !== undefined) {
    if (typeof fields.id !== 'string' && typeof fields.id !== 'number') throw new InvalidValue('"id" must be a string or a number')
    job.id = String(fields.id)
  }
  const url = fields.url
  const sources = fields.urls !== undefined ? parseSources(fields.urls) : undefined
  if (sources && url !== undefined) throw new InvalidValue('a record has "url" or "urls", not both')
  if (!sources && (typeof url !== 'string' || url.trim() === '')) throw new InvalidValue('record has no "url"')
  // A multi-source record is named by its first source where one URL is printed (`url`, the output's name).
  job.url = sources ? sources[0].url : checkUrl((url as string).trim())
  for (const key of Object.keys(fields)) {
    if (!KNOWN_FIELDS.has(key)) throw new InvalidValue(`unknown field "${key}" (known: ${[...KNOWN_FIELDS].join(', ')})`)
  }
  job.request = requestFor(fields, options)
  if (fields.headers !== undefined) {
    try {
      job.headers = { ...options.headers, ...parseHeaders(fields.headers) }
    } catch (err) {
      throw err instanceof InvalidValue ? new InvalidValue(`headers: ${err.message}`) : err
    }
  } else {
    job.headers = options.headers
  }
  const points = pointsFor(fields, options)
  const zone = zoneFor(fields, options)
  if (points || zone) {
    // A values record reads its points or zone only: no window, no file (a window as well is a record of its own).
    const field = points ? 'points' : 'geometry'
    if (points && zone) throw new InvalidValue('a record has "points" or "geometry", not both')
    // A time series (STAC items grouped, "mosaic": "none") is sampled item by item: a `series` entry per date.
    const series = sources && fields.mosaic === 'none' ? mosaicField(fields, sources, options.expr) : undefined
    if (fields.mosaic !== undefined && !series) throw new InvalidValue(`"${field}" with "mosaic" is not supported yet (but on a time series: "mosaic": "none")`)
    // `out` or --write: the window is written too (lib/raster/values-window.ts).
    const write = fields.out !== undefined || options.write === true
    if (series && options.write === true) throw new InvalidValue(words`a time series with "${field}" writes no file (each item is sampled on its own grid): run it without ${option('write')}`)
    for (const key of ['out', 'window', 'bbox', 'out_size', 'dst_crs', 'res', 'resampling', 'tap']) {
      // The grouping gives a time series of whole items their union's bbox, which points do not need.
      if (series && key === 'bbox') continue
      // A stack's window or bbox says its grid's extent, as for a stack's output (lib/raster/stack-values.ts).
      if (sources && !series && (key === 'window' || key === 'bbox')) continue
      if (key === 'out' && write && !series) continue
      if (fields[key] !== undefined) throw new InvalidValue(`"${field}" and "${key}" cannot be used together: a ${field} record writes no file (give the window a record of its own)`)
    }
    if (isWarp(job.request) || job.request.outSize) throw new InvalidValue(words`"${field}" cannot be used with a warp or ${option('outSize')}: a ${field} record writes no file`)
    if (points) job.points = points
    if (zone) job.zone = zone
    if (series && sources) {
      job.mosaic = series
      job.parts = partsOf(job, sources)
      return
    }
    // A stack's grid without a window or bbox covers its first source whole (not the default window).
    if (sources && fields.window === undefined && fields.bbox === undefined && !options.windowGiven && !options.bbox) job.request = { ...job.request, window: { col: 0, row: 0, width: 2 ** 31 - 1, height: 2 ** 31 - 1 } }
    if (sources) job.parts = partsOf(job, sources)
    // Band math at the points or in the zone: one value (or statistics) per expression (lib/raster/expr-values.ts).
    const values = exprField(fields.expr, options, sources)
    if (values) job.expr = values
    if (write) {
      const named = outputFor(job.url, job.request, fields.out, options, ext, sources && requestedSources(sources), job.id, job.expr, points ?? zone)
      job.output = named.display
      if (fields.out !== undefined) job.out = fields.out as string
      job.outputPath = named.path
    }
    return
  }
  // A pixel window can be judged before a byte is fetched; a bbox is judged once the source is open.
  const r = job.request
  // A warp's size is known only once its grid is (at open), unless out_size gives it.
  // A stack's grid is its finest source's, known only once open, unless out_size gives it.
  const [w, h] = r.outSize ?? (r.bbox || isWarp(r) || sources ? [0, 0] : [r.window.width, r.window.height])
  checkPixels(w, h, options.maxPixels)
  const mosaic = mosaicField(fields, sources, options.expr)
  // A mosaic's grid reaches over all its items, past the first's edge (lib/raster/mosaic.ts).
  if (mosaic) job.mosaic = mosaic
  if (mosaic) job.request = { ...job.request, boundless: true }
  if (sources) job.parts = partsOf(job, sources)
  const expr = exprField(fields.expr, options, sources)
  if (expr) job.expr = expr
  const out = outputFor(job.url, job.request, fields.out, options, ext, sources && mosaicKey(mosaic, requestedSources(sources)), job.id, job.expr)
  job.output = out.display
  if (fields.out !== undefined) job.out = fields.out as string
  job.outputPath = out.path
}

/** A multi-source record's parts: one job per source, with the record's request (and points or zone). */
function partsOf (job: Draft, sources: ReturnType<typeof parseSources>): Job[] {
  return sources.map((source, index) => {
    // The entry's own headers on top of the record's, for this source alone.
    const headers = source.headers ? { ...job.headers, ...source.headers } : job.headers
    return makeJob({ line: job.line, url: source.url, request: { ...job.request }, headers, stackSource: { ...source, index }, ...(job.points ? { points: job.points } : {}), ...(job.zone ? { zone: job.zone } : {}) })
  })
}

/** The record's points (or --points for a record without), in `points_crs` (or --points-crs). */
function pointsFor (f: Record<string, unknown>, o: PipelineOptions): PointSet | undefined {
  if (f.points_crs !== undefined && f.points === undefined && !o.points) throw new InvalidValue('"points_crs" needs "points"')
  const xy = f.points !== undefined ? parsePoints(f.points) : o.points
  if (!xy) return undefined
  const crs = f.points_crs !== undefined ? parseCrs(f.points_crs, '"points_crs"') : o.pointsCrs
  return crs !== undefined ? { xy, crs } : { xy }
}

/** A zone's geometry (or --geometry for a record without), in `geometry_crs` (default EPSG:4326, GeoJSON's). */
function zoneFor (f: Record<string, unknown>, o: PipelineOptions): Zone | undefined {
  for (const key of ['geometry_crs', 'all_touched']) {
    if (f[key] !== undefined && f.geometry === undefined && !o.geometry) throw new InvalidValue(`"${key}" needs "geometry"`)
  }
  const geometry = f.geometry !== undefined ? parseGeometry(f.geometry) : o.geometry
  if (!geometry) return undefined
  if (f.all_touched !== undefined && typeof f.all_touched !== 'boolean') throw new InvalidValue('"all_touched" must be true or false')
  const crs = f.geometry_crs !== undefined ? parseCrs(f.geometry_crs, '"geometry_crs"') : o.geometryCrs ?? 'EPSG:4326'
  return { geometry, crs, allTouched: (f.all_touched as boolean | undefined) ?? o.allTouched ?? false, stats: o.zonalStats ?? DEFAULT_ZONAL_STATS }
}

/** A points_crs or geometry_crs GDAL does not know: the record's input error, naming the field. */
function checkFieldCrs (field: string, text: string, checkCrs: CrsCheck | undefined): void {
  try {
    checkCrs?.(text)
  } catch (err) {
    if (err instanceof RecordError) throw new RecordError(err.stage, err.code, `${field}: ${err.message}`)
    throw err
  }
}

function requestFor (f: Record<string, unknown>, o: PipelineOptions): WindowRequest {
  const request: WindowRequest = {
    window: f.window !== undefined ? parseWindow(f.window) : o.window,
    boundless: o.boundless
  }
  // A record's window wins over a command-line bbox, and a record's bbox over any window.
  const bbox = f.bbox !== undefined ? parseBbox(f.bbox) : (f.window === undefined ? o.bbox : undefined)
  if (bbox) request.bbox = bbox
  const crs = f.bbox_crs !== undefined ? parseCrs(f.bbox_crs, 'bbox_crs') : o.bboxCrs
  if (crs !== undefined && bbox) request.bboxCrs = crs
  const bands = f.bands !== undefined ? parseBands(f.bands) : o.bands
  if (bands) request.bands = bands
  if (f.boundless !== undefined) {
    if (typeof f.boundless !== 'boolean') throw new InvalidValue('"boundless" must be true or false')
    request.boundless = f.boundless
  }
  const w = request.window
  if (!bbox && !request.boundless && (w.col < 0 || w.row < 0)) {
    throw new InvalidValue(words`window: offsets must be 0 or more, got ${w.col},${w.row} (a window reaching left of or above the raster needs ${option('boundless', true)})`)
  }
  const outSize = f.out_size !== undefined ? parseOutSize(f.out_size, 'out_size') : (f.res === undefined ? o.outSize : undefined)
  if (outSize) request.outSize = outSize
  // The warp fields: a record's own win over the options, and are checked together as the options are.
  const dstCrs = f.dst_crs !== undefined ? parseCrs(f.dst_crs, 'dst_crs') : o.dstCrs
  if (dstCrs !== undefined) request.dstCrs = dstCrs
  const res = f.res !== undefined ? parseRes(f.res) : (f.out_size === undefined ? o.res : undefined)
  if (res) request.res = res
  const resampling = f.resampling !== undefined ? parseResampling(f.resampling) : o.resampling
  if (resampling !== undefined) request.resampling = resampling
  if (f.tap !== undefined && typeof f.tap !== 'boolean') throw new InvalidValue('"tap" must be true or false')
  const tap = f.tap ?? o.tap
  if (tap === true) request.tap = true
  checkWarp(request, { res: 'res', outSize: 'out_size', tap: 'tap' })
  return request
}
