// What the report asks of GDAL: an output's footprint in EPSG:4326 (from a warp's grid, the output's own
// geotransform, or a failed record's bbox), and a thumbnail: a PNG of at most 256 px made by GDAL, each
// band stretched between its 2nd and 98th percentiles of valid pixels, nodata (the band's mask) transparent.
import type { Gdal, Dataset } from '../../raster/gdal.js'
import type { Bbox } from '../../core/request.js'
import type { ResultRecord } from '../../core/records.js'

export const THUMBNAIL_PX = 256
export const STRETCH: [number, number] = [0.02, 0.98]
const STRETCH_SAMPLE = 16_384

type Srs = ReturnType<Gdal['SpatialReference']['fromUserInput']>
type Transformation = InstanceType<Gdal['CoordinateTransformation']>
/** Points per edge of a footprint transformed to EPSG:4326 (a chip's edges bend little). */
const EDGE_POINTS = 5

/** Footprints in EPSG:4326, with the CRSs met kept by their text. */
export class Footprints {
  private readonly crs = new Map<string, Srs | null>()
  /** Transformations to EPSG:4326 by CRS text: made once each (PROJ's set-up is the dear part). */
  private readonly toLonLat = new Map<string, Transformation | null>()
  private readonly wgs84: Srs

  constructor (private readonly gdal: Gdal) {
    this.wgs84 = gdal.SpatialReference.fromEPSG(4326)
  }

  private srs (text: string): Srs | null {
    let s = this.crs.get(text)
    if (s === undefined) {
      try {
        s = this.gdal.SpatialReference.fromUserInput(text)
      } catch {
        s = null
      }
      this.crs.set(text, s)
    }
    return s
  }

  /** Bounds in `crs` (text, or a dataset's CRS) to EPSG:4326, or undefined when they do not go there. */
  toWgs84 (bbox: Bbox, crs: string | Srs): Bbox | undefined {
    let key: string
    let from: Srs | null
    if (typeof crs === 'string') {
      key = crs
      from = this.srs(crs)
    } else {
      key = crs.toWKT()
      from = crs
    }
    if (!from) return undefined
    let ct = this.toLonLat.get(key)
    if (ct === undefined) {
      try {
        ct = from.isSame(this.wgs84) ? null : new this.gdal.CoordinateTransformation(from, this.wgs84)
      } catch {
        return undefined
      }
      this.toLonLat.set(key, ct)
    }
    const b = ct === null ? bbox : transformEdges(ct, bbox)
    return b.every(Number.isFinite) && b[0] <= b[2] && b[1] <= b[3] ? b : undefined
  }

  /** A grid's footprint (a warp's, or an output's read from its tags). */
  fromGrid (transform: number[], width: number, height: number, crs: string): Bbox | undefined {
    return this.toWgs84(gridBounds(transform, width, height), crs)
  }

  /** A record's footprint without opening its output: a warp's grid, or the bbox a failed record asked. */
  fromRecord (r: ResultRecord): Bbox | undefined {
    if (r.grid && r.grid.crs && Array.isArray(r.grid.transform) && r.grid.transform.length === 6) {
      return this.fromGrid(r.grid.transform, r.grid.width, r.grid.height, r.grid.crs)
    }
    const asked = r.record as { bbox?: unknown, bbox_crs?: unknown } | undefined
    if (r.status === 'error' && Array.isArray(asked?.bbox) && asked.bbox.length === 4 && asked.bbox.every((v) => typeof v === 'number')) {
      const crs = typeof asked.bbox_crs === 'string' ? asked.bbox_crs : r.source?.crs
      if (crs) return this.toWgs84(asked.bbox as Bbox, crs)
    }
    return undefined
  }

  /** An opened output's footprint. */
  fromDataset (ds: Dataset): Bbox | undefined {
    const gt = ds.geoTransform
    const srs = ds.srs
    if (!gt || !srs) return undefined
    const { x, y } = ds.rasterSize
    return this.toWgs84(gridBounds(gt, x, y), srs)
  }
}

/** The bounds of a box's edges, EDGE_POINTS a side, transformed; points that do not go are left out. */
function transformEdges (ct: Transformation, [x0, y0, x1, y1]: Bbox): Bbox {
  const out: Bbox = [Infinity, Infinity, -Infinity, -Infinity]
  const add = (x: number, y: number): void => {
    try {
      const p = ct.transformPoint(x, y)
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) return
      out[0] = Math.min(out[0], p.x); out[1] = Math.min(out[1], p.y)
      out[2] = Math.max(out[2], p.x); out[3] = Math.max(out[3], p.y)
    } catch { /* outside the target's area: the other points still bound it */ }
  }
  for (let i = 0; i < EDGE_POINTS; i++) {
    const t = i / (EDGE_POINTS - 1)
    add(x0 + t * (x1 - x0), y0); add(x0 + t * (x1 - x0), y1)
    add(x0, y0 + t * (y1 - y0)); add(x1, y0 + t * (y1 - y0))
  }
  return out
}

export function gridBounds (t: number[], width: number, height: number): Bbox {
  const xs = [t[0], t[0] + width * t[1], t[0] + height * t[2], t[0] + width * t[1] + height * t[2]]
  const ys = [t[3], t[3] + width * t[4], t[3] + height * t[5], t[3] + width * t[4] + height * t[5]]
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
}

/** The value at fraction p of sorted values (nearest rank). */
export function quantile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))]
}

/** Values stretched onto 0–255 between the band's percentiles of its valid pixels. */
export function stretch (values: Float64Array, valid: Uint8Array, out: Uint8Array, range = STRETCH): void {
  // Percentiles of at most STRETCH_SAMPLE valid values, evenly spaced: for a display stretch, as good.
  let all = 0
  for (let i = 0; i < values.length; i++) if (valid[i] !== 0) all++
  const every = Math.max(1, Math.ceil(all / STRETCH_SAMPLE))
  const kept = new Float64Array(Math.ceil(all / every))
  let n = 0
  let seen = 0
  let integers = true
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < values.length; i++) {
    if (valid[i] === 0 || seen++ % every !== 0) continue
    const v = values[i]
    kept[n++] = v
    if (v < min) min = v
    if (v > max) max = v
    if (integers && !Number.isInteger(v)) integers = false
  }
  const [lo, hi] = integers && max - min < 1 << 20 ? integerQuantiles(kept.subarray(0, n), min, max, range) : sortedQuantiles(kept.subarray(0, n), range)
  const k = 255 / (hi > lo ? hi - lo : 1)
  for (let i = 0; i < values.length; i++) {
    const v = (values[i] - lo) * k + 0.5
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : v
  }
}

function sortedQuantiles (values: Float64Array, range: [number, number]): [number, number] {
  const sorted = values.sort()
  return [quantile(sorted, range[0]), quantile(sorted, range[1])]
}

/** The same ranks as sortedQuantiles, by counting: whole numbers (8- to 16-bit bands) need no sort. */
function integerQuantiles (values: Float64Array, min: number, max: number, range: [number, number]): [number, number] {
  if (values.length === 0) return [NaN, NaN]
  const counts = new Uint32Array(max - min + 1)
  for (let i = 0; i < values.length; i++) counts[values[i] - min]++
  const rank = (p: number): number => Math.min(values.length - 1, Math.max(0, Math.round(p * (values.length - 1))))
  const at = (r: number): number => {
    let seen = 0
    for (let v = 0; v < counts.length; v++) {
      seen += counts[v]
      if (seen > r) return v + min
    }
    return max
  }
  return [at(rank(range[0])), at(rank(range[1]))]
}

let seq = 0

/**
 * The PNG thumbnail of an opened output. GDAL's work (reads, PNG encoding) runs on libuv's pool: several
 * thumbnails at once use the cores the stretch in JavaScript leaves.
 */
export async function thumbnail (gdal: Gdal, ds: Dataset, px = THUMBNAIL_PX): Promise<{ png: Buffer, width: number, height: number }> {
  const { x, y } = ds.rasterSize
  const scale = Math.min(1, px / Math.max(x, y))
  const w = Math.max(1, Math.round(x * scale))
  const h = Math.max(1, Math.round(y * scale))
  const count = ds.bands.count()
  // Three bands as red, green, blue; fewer as grey (the first). An alpha band is the mask, not a colour.
  const colour = count >= 3 && ds.bands.get(3).colorInterpretation !== 'Alpha' ? [1, 2, 3] : [1]
  const alpha = new Uint8Array(w * h).fill(255)
  const channels: Uint8Array[] = []
  const options = { buffer_width: w, buffer_height: h, resampling: scale < 1 ? 'Average' : 'NearestNeighbor' }
  for (const b of colour) {
    const band = ds.bands.get(b)
    const values = await band.pixels.readAsync(0, 0, x, y, new Float64Array(w * h), options)
    const mask = band.getMaskBand()
    const valid = mask ? await mask.pixels.readAsync(0, 0, x, y, new Uint8Array(w * h), { buffer_width: w, buffer_height: h }) : new Uint8Array(w * h).fill(255)
    for (let i = 0; i < valid.length; i++) {
      if (Number.isNaN(values[i])) valid[i] = 0
      if (valid[i] === 0) alpha[i] = 0
    }
    const out = new Uint8Array(w * h)
    stretch(values, valid, out)
    channels.push(out)
  }
  const mem = gdal.drivers.get('MEM').create('', w, h, 4, gdal.GDT_Byte)
  const path = `/vsimem/rasterpipe-report-${process.pid}-${++seq}.png`
  try {
    for (let i = 0; i < 3; i++) mem.bands.get(i + 1).pixels.write(0, 0, w, h, channels[Math.min(i, channels.length - 1)])
    mem.bands.get(4).pixels.write(0, 0, w, h, alpha)
    mem.bands.get(4).colorInterpretation = 'Alpha'
    // zlib level 4: a quarter of the default 6's time for 10% more bytes (bench/RESULTS.md, "Report").
    const png = await gdal.drivers.get('PNG').createCopyAsync(path, mem, ['ZLEVEL=4'])
    png.close()
    return { png: gdal.vsimem.release(path), width: w, height: h }
  } finally {
    mem.close()
  }
}
