// Which pixels a record reads: its pixel window, or its bbox turned into one the way gdal_translate's
// -projwin does, then clipped to the raster unless the read is boundless. Refused before any pixel is
// read when it is empty or larger than --max-pixels.
import { RecordError } from '../core/errors.js'
import type { Dataset, Gdal } from './gdal.js'
import type { Opened } from '../core/job.js'
import { isWarp, type Bbox, type PixelWindow, type WindowRequest } from '../core/request.js'
import { option, words } from '../core/words.js'

type Srs = InstanceType<Gdal['SpatialReference']>

/** Points per edge when a bbox is carried into another CRS: edges bend, corners alone miss the bulge. */
const DENSIFY = 21

export class CrsCatalog {
  private readonly gdal: Gdal
  private readonly known = new Map<string, Srs | Error>()

  constructor (gdal: Gdal) {
    this.gdal = gdal
  }

  /** The CRS for a user's string, parsed once per distinct string. */
  get (text: string): Srs {
    let found = this.known.get(text)
    if (!found) {
      try {
        found = this.gdal.SpatialReference.fromUserInput(text)
      } catch (err) {
        found = new Error(`unknown CRS '${text}': ${(err as Error).message}`)
      }
      this.known.set(text, found)
    }
    if (found instanceof Error) throw new RecordError('input', 'BAD_CRS', found.message)
    return found
  }
}

export function transformBbox (gdal: Gdal, bbox: Bbox, from: Srs, to: Srs): Bbox {
  const ct = new gdal.CoordinateTransformation(from, to)
  const [x0, y0, x1, y1] = bbox
  let minx = Infinity
  let miny = Infinity
  let maxx = -Infinity
  let maxy = -Infinity
  const add = (x: number, y: number): void => {
    try {
      const p = ct.transformPoint(x, y)
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) return
      if (p.x < minx) minx = p.x
      if (p.x > maxx) maxx = p.x
      if (p.y < miny) miny = p.y
      if (p.y > maxy) maxy = p.y
    } catch {
      // A point outside the target CRS's area: the others still bound the box.
    }
  }
  for (let i = 0; i < DENSIFY; i++) {
    const t = i / (DENSIFY - 1)
    add(x0 + t * (x1 - x0), y0)
    add(x0 + t * (x1 - x0), y1)
    add(x0, y0 + t * (y1 - y0))
    add(x1, y0 + t * (y1 - y0))
  }
  if (!(minx < maxx && miny < maxy)) throw new RecordError('open', 'BAD_BBOX', 'the bbox cannot be carried into the raster\'s CRS')
  return [minx, miny, maxx, maxy]
}

/** gdal_translate's -projwin arithmetic, with its rounding for nearest-neighbour reads (GDAL #6610). */
export function bboxToWindow (bbox: Bbox, gt: number[]): PixelWindow {
  if (gt[2] !== 0 || gt[4] !== 0) throw new RecordError('open', 'ROTATED', 'a bbox cannot be used on a rotated geotransform')
  const [minx, miny, maxx, maxy] = bbox
  const ulx = minx
  const uly = gt[5] < 0 ? maxy : miny
  const lrx = maxx
  const lry = gt[5] < 0 ? miny : maxy
  const col = Math.floor((ulx - gt[0]) / gt[1] + 0.001)
  const row = Math.floor((uly - gt[3]) / gt[5] + 0.001)
  const width = Math.floor((lrx - ulx) / gt[1] + 0.5)
  const height = Math.floor((lry - uly) / gt[5] + 0.5)
  if (width <= 0 || height <= 0) throw new RecordError('open', 'EMPTY_WINDOW', `the bbox covers no whole pixel (${width}×${height})`)
  return { col, row, width, height }
}

export function clipWindow (w: PixelWindow, width: number, height: number): PixelWindow | null {
  const x0 = Math.max(0, w.col)
  const y0 = Math.max(0, w.row)
  const x1 = Math.min(width, w.col + w.width)
  const y1 = Math.min(height, w.row + w.height)
  if (x1 <= x0 || y1 <= y0) return null
  return { col: x0, row: y0, width: x1 - x0, height: y1 - y0 }
}

/** The request's pixel window on the open source: a bbox carried into its pixels, clipped unless boundless. */
export async function resolveWindow (gdal: Gdal, crs: CrsCatalog, opened: Opened | undefined, req: Readonly<WindowRequest>, maxPixels: number): Promise<PixelWindow> {
  const ds = opened?.dataset
  if (!opened || !ds) throw new RecordError('open', 'NOT_OPEN', 'the source is not open')
  const source = opened.source

  for (const b of req.bands ?? []) {
    if (b > source.count) throw new RecordError('open', 'BAD_BANDS', `band ${b} requested, but the source has ${source.count} band${source.count === 1 ? '' : 's'}`)
  }

  let window = req.window
  if (req.bbox) {
    // Idle in the open stage, its geotransform read with the header: got synchronously, no I/O.
    const gt = ds.geoTransform
    if (!opened.georeferenced || !gt) throw new RecordError('open', 'NOT_GEOREFERENCED', 'a bbox needs a georeferenced source, and this one has no geotransform')
    let bbox = req.bbox
    if (req.bboxCrs) {
      const from = crs.get(req.bboxCrs)
      const to = await ds.srsAsync
      if (!to) throw new RecordError('open', 'NO_CRS', words`${option('bboxCrs')} ${req.bboxCrs} given, but the source has no CRS to carry the bbox into`)
      if (!from.isSame(to)) bbox = transformBbox(gdal, bbox, from, to)
    }
    window = bboxToWindow(bbox, gt)
  }

  if (!req.boundless) {
    const clipped = clipWindow(window, source.width, source.height)
    if (!clipped) {
      throw new RecordError('open', 'OUTSIDE', `window ${window.col},${window.row},${window.width},${window.height} lies wholly outside the ${source.width}×${source.height} raster`)
    }
    window = clipped
  }

  // A warp's output is its grid, judged once gdalwarp has made it (lib/raster/warp.ts).
  const [outW, outH] = req.outSize ?? (isWarp(req) ? [0, 0] : [window.width, window.height])
  checkPixels(outW, outH, maxPixels, 'open')
  return window
}

/** One code for a window over --max-pixels, whether a pixel window refused at input or a bbox once open. */
export function tooManyPixels (width: number, height: number, maxPixels: number, stage: 'input' | 'open' = 'input', what: 'window' | 'grid' = 'window'): RecordError {
  return new RecordError(stage, 'TOO_MANY_PIXELS', words`${what} of ${width}×${height} = ${width * height} pixels is over ${option('maxPixels')} ${maxPixels}`)
}

/** The widest side GDAL can make: its sizes are C ints. */
const MAX_SIDE = 2 ** 31 - 1

/**
 * The size gdalwarp gives a grid of resolution `res` over the extent `te` (its -te, -tr and -tap
 * arithmetic), computed in doubles: GDAL computes it in an int, which a fine resolution overflows.
 */
export function warpGridSize (te: Bbox, res: [number, number], tap: boolean): [number, number] {
  let [minx, miny, maxx, maxy] = te
  if (tap) {
    minx = Math.floor(minx / res[0]) * res[0]
    maxx = Math.ceil(maxx / res[0]) * res[0]
    miny = Math.floor(miny / res[1]) * res[1]
    maxy = Math.ceil(maxy / res[1]) * res[1]
  }
  return [Math.floor((maxx - minx + res[0] / 2) / res[0]), Math.floor((Math.abs(maxy - miny) + res[1] / 2) / res[1])]
}

/**
 * Refuses an output (a window, its out_size, a warp's grid) over --max-pixels, or with a side larger than
 * GDAL can make, before GDAL is handed it: GDAL sizes in C ints, which overflow rather than refuse.
 */
export function checkPixels (width: number, height: number, maxPixels: number, stage: 'input' | 'open' = 'input', what: 'window' | 'grid' = 'window'): void {
  if (!(width * height <= maxPixels)) throw tooManyPixels(width, height, maxPixels, stage, what)
  if (width > MAX_SIDE || height > MAX_SIDE) {
    throw new RecordError(stage, 'TOO_MANY_PIXELS', `${what} of ${width}×${height} pixels is larger than GDAL can make (${MAX_SIDE} a side)`)
  }
}

/** `AUTHORITY:CODE` where GDAL can tell one, else the WKT. */
export function crsName (srs: NonNullable<Dataset['srs']>): string {
  const name = (s: typeof srs): string | null => {
    const auth = s.getAuthorityName(null)
    const code = s.getAuthorityCode(null)
    return auth && code ? `${auth}:${code}` : null
  }
  const direct = name(srs)
  if (direct) return direct
  try {
    const guess = srs.clone()
    guess.autoIdentifyEPSG()
    const identified = name(guess)
    if (identified) return identified
  } catch {
    // Not identifiable: fall through to WKT.
  }
  return srs.toWKT()
}
