// Point samples: each point carried into the raster's CRS, its pixel found as gdallocationinfo finds it
// (GDAL's inverse geotransform, floored: a point on an edge belongs to the pixel right of and below it),
// and its band values read straight from the source, no VRT and no file. Points are read in clusters, one
// block each: the read of a cluster's bounding box lies within that block, so range mode fetches exactly
// the blocks under the points (lib/source/blocks.ts, planPointBlocks) and each once.
import { RecordError } from '../core/errors.js'
import { GMF_ALPHA, maskBeyondNodata, type Dataset, type Gdal } from './gdal.js'
import type { Opened, PointsPlan } from '../core/job.js'
import type { PixelWindow } from '../core/request.js'
import type { PointSet, PointValue } from '../core/points.js'
import type { CrsCatalog } from './window.js'
import { windowBytes } from '../core/budget.js'
import { option, words } from '../core/words.js'

type Srs = InstanceType<Gdal['SpatialReference']>


/** GDALInvGeoTransform, as GDAL 3.6 computes it, so that a point on a pixel's edge floors as GDAL's does. */
export function invertGeoTransform (gt: readonly number[]): number[] | null {
  if (gt[2] === 0 && gt[4] === 0 && gt[1] !== 0 && gt[5] !== 0) {
    return [-gt[0] / gt[1], 1 / gt[1], 0, -gt[3] / gt[5], 0, 1 / gt[5]]
  }
  const det = gt[1] * gt[5] - gt[2] * gt[4]
  const magnitude = Math.max(Math.abs(gt[1]), Math.abs(gt[2]), Math.abs(gt[4]), Math.abs(gt[5]))
  if (Math.abs(det) <= 1e-10 * magnitude * magnitude) return null
  const inv = 1 / det
  return [(gt[2] * gt[3] - gt[0] * gt[5]) * inv, gt[5] * inv, -gt[2] * inv, (-gt[1] * gt[3] + gt[0] * gt[4]) * inv, -gt[4] * inv, gt[1] * inv]
}

/** The pixel containing (x, y) as gdallocationinfo -geoloc gives it (GDALApplyGeoTransform, then floor); null outside. */
export function pixelOf (inv: readonly number[], x: number, y: number, width: number, height: number): { col: number, row: number } | null {
  const px = inv[0] + x * inv[1] + y * inv[2]
  const py = inv[3] + x * inv[4] + y * inv[5]
  if (!Number.isFinite(px) || !Number.isFinite(py)) return null
  const col = Math.floor(px)
  const row = Math.floor(py)
  return col >= 0 && row >= 0 && col < width && row < height ? { col, row } : null
}

/**
 * The points' pixels on the open source, and the reads that fetch them: one window per block that holds
 * points (the bounding box of its points), in the order of the blocks.
 */
export async function planPoints (gdal: Gdal, crs: CrsCatalog, opened: Opened & { dataset: Dataset }, points: PointSet, bands: readonly number[] | undefined): Promise<PointsPlan> {
  const ds = opened.dataset
  const { width, height, count, dtype } = opened.source
  for (const b of bands ?? []) {
    if (b > count) throw new RecordError('open', 'BAD_BANDS', `band ${b} requested, but the source has ${count} band${count === 1 ? '' : 's'}`)
  }
  const gt = ds.geoTransform
  if (points.crs !== undefined && (!opened.georeferenced || !gt)) throw new RecordError('open', 'NOT_GEOREFERENCED', words`${option('pointsCrs')} given, but the source has no geotransform`)
  // No geotransform: GDAL's default one, pixel coordinates (as gdallocationinfo without -geoloc).
  const at = opened.georeferenced && gt ? gt : [0, 1, 0, 0, 0, 1]
  const pixels = pixelsOf(gdal, points.crs !== undefined ? crs.get(points.crs) : null, await ds.srsAsync, points, at, width, height)
  return clusterPlan(ds, pixels, bands, count, dtype)
}

/**
 * Each point's pixel on a grid of `width`×`height` at geotransform `gt` in CRS `to` (null outside), the
 * points carried there from `from` (null: they are in the grid's CRS already).
 */
export function pixelsOf (gdal: Gdal, from: Srs | null, to: Srs | null, points: PointSet, gt: readonly number[], width: number, height: number): Array<{ col: number, row: number } | null> {
  let xy = points.xy
  if (from) {
    if (!to) throw new RecordError('open', 'NO_CRS', words`${option('pointsCrs')} ${points.crs ?? ''} given, but the source has no CRS to carry the points into`)
    if (!from.isSame(to)) {
      const ct = new gdal.CoordinateTransformation(from, to)
      xy = xy.map(([x, y]) => {
        try {
          const p = ct.transformPoint(x, y)
          return [p.x, p.y] as const
        } catch {
          // A point outside the target CRS's area: outside the raster too.
          return [NaN, NaN] as const
        }
      })
    }
  }
  const inv = invertGeoTransform(gt)
  if (!inv) throw new RecordError('open', 'ROTATED', 'the geotransform cannot be inverted')
  return xy.map(([x, y]) => pixelOf(inv, x, y, width, height))
}

/**
 * The reads that fetch the points' pixels of `ds`: one window per block that holds points (the bounding
 * box of its points), in the order of the blocks.
 */
export function clusterPlan (ds: Dataset, at: ReadonlyArray<{ col: number, row: number } | null>, bands: readonly number[] | undefined, count: number, dtype: string): PointsPlan {
  const width = ds.rasterSize.x
  const [bw, bh] = blockSize(ds)
  const across = Math.ceil(width / bw)
  const keys = new Map<number, number>()
  const reads: PixelWindow[] = []
  const pixels = at.map((p) => {
    if (!p) return null
    const key = Math.floor(p.row / bh) * across + Math.floor(p.col / bw)
    let read = keys.get(key)
    if (read === undefined) {
      read = reads.push({ col: p.col, row: p.row, width: 1, height: 1 }) - 1
      keys.set(key, read)
    } else {
      // The cluster's bounding box grows, within its block.
      const w = reads[read]
      const c1 = Math.max(w.col + w.width, p.col + 1)
      const r1 = Math.max(w.row + w.height, p.row + 1)
      w.col = Math.min(w.col, p.col)
      w.row = Math.min(w.row, p.row)
      w.width = c1 - w.col
      w.height = r1 - w.row
    }
    return { ...p, read }
  })
  // Held at once: one read of every band, and its mask (a byte a pixel), at most a block.
  const largest = reads.reduce((m, w) => Math.max(m, w.width * w.height), 0)
  const bytes = windowBytes(largest, 1, bands?.length ?? count, dtype) + largest
  const blockBands = bands && withAlpha(ds, bands)
  return { kind: 'points', pixels, reads, ...(bands ? { bands: [...bands] } : {}), ...(blockBands ? { blockBands } : {}), bytes }
}


/** The bands read for `bands`: with the alpha band when it masks one of them (its blocks are read too). */
export function withAlpha (ds: Dataset, bands: readonly number[]): number[] {
  const out = [...bands]
  if (!bands.some((b) => (ds.bands.get(b).getMaskFlags() & GMF_ALPHA) !== 0)) return out
  for (let b = 1; b <= ds.bands.count(); b++) {
    if (ds.bands.get(b).colorInterpretation === 'Alpha' && !out.includes(b)) out.push(b)
  }
  return out
}

/** The first band's block size: every band of a GeoTIFF has the same. */
function blockSize (ds: Dataset): [number, number] {
  const b = ds.bands.get(1).blockSize
  return [Math.max(1, b.x), Math.max(1, b.y)]
}

/**
 * Each point's band values, read cluster by cluster (each read lies within one block). A band's value is
 * null where it is the band's nodata, or where its mask (per-dataset, alpha) says 0.
 */
export async function readPoints (ds: Dataset, plan: PointsPlan, nodataOf?: (band: number) => Promise<number | null>): Promise<PointValue[]> {
  const bandNumbers = plan.bands ?? Array.from({ length: ds.bands.count() }, (_, i) => i + 1)
  const values: PointValue[] = plan.pixels.map((p) => (p ? new Array<number | null>(bandNumbers.length).fill(null) : null))
  // Which points each read covers.
  const byRead = plan.reads.map(() => [] as number[])
  plan.pixels.forEach((p, i) => { if (p) byRead[p.read].push(i) })
  for (const [k, band] of bandNumbers.entries()) {
    const b = ds.bands.get(band)
    // A stack's part: the nodata its output band has (its entry's where the file has none).
    const nodata = nodataOf ? await nodataOf(band) : b.noDataValue
    const masked = maskBeyondNodata(b)
    for (const [r, w] of plan.reads.entries()) {
      const data = await b.pixels.readAsync(w.col, w.row, w.width, w.height)
      const mask = masked ? await masked.pixels.readAsync(w.col, w.row, w.width, w.height) : null
      for (const i of byRead[r]) {
        const p = plan.pixels[i] as { col: number, row: number }
        const at = (p.row - w.row) * w.width + (p.col - w.col)
        const v = Number(data[at])
        // GDAL compares in the band's type: a Float32 band's nodata as a float.
        const isNodata = nodata !== null && nodata !== undefined && (v === (data instanceof Float32Array ? Math.fround(nodata) : nodata) || (Number.isNaN(nodata) && Number.isNaN(v)))
        ;(values[i] as Array<number | null>)[k] = isNodata || (mask !== null && mask[at] === 0) || Number.isNaN(v) ? null : v
      }
    }
  }
  return values
}
