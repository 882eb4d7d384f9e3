// Chips on a target grid: the record's window or bbox warped by GDAL's own gdalwarp, and the source
// footprint of that grid in pixels, so that range mode fetches the blocks the warper will read at the level
// it is pinned to (-ovr). A warped VRT made at open gives the grid; the write stage warps the pixels again
// with the same arguments into memory (warpPixels), as gdalwarp warps into a file.
import { RecordError } from '../core/errors.js'
import { closeDataset, type Dataset, type Gdal } from './gdal.js'
import type { Job, Opened, WarpPlan } from '../core/job.js'
import type { Bbox, PixelWindow, WindowRequest } from '../core/request.js'
import { windowBytes } from '../core/budget.js'
import type { Grid } from '../core/records.js'
import { checkPixels, crsName, transformBbox, warpGridSize, type CrsCatalog } from './window.js'
import { chooseOverview } from './overview.js'
import { bandSelectArgs, gdalwarpArgs, warpArgs } from './plan.js'
import { option, words } from '../core/words.js'

type Srs = InstanceType<Gdal['SpatialReference']>

/**
 * Source pixels a kernel reaches on each side of a sample point, at 1:1; GDAL scales it by the
 * reduction when downsampling. The statistical methods (average, mode, …) read the pixels under the
 * destination pixel, which the footprint itself covers: 1 for the rounding at its edge.
 */
const KERNEL_RADIUS: Record<string, number> = { nearest: 1, bilinear: 1, cubic: 2, cubicspline: 2, lanczos: 3 }

/** Points sampled along each edge of the output at most (every pixel up to this) and across it. */
const EDGE_SAMPLES = 512
const INTERIOR_SAMPLES = 17

let seq = 0

export interface WarpContext {
  gdal: Gdal
  crs: CrsCatalog
  /** --max-pixels: a grid from --res is judged on its size before gdalwarp makes it. */
  maxPixels: number
}

/** The UTM zone (WGS 84) of a point in lon/lat: EPSG:326zz north of the equator, 327zz south. */
export function utmFor (lon: number, lat: number): string {
  const zone = Math.min(60, Math.max(1, Math.floor((((lon + 180) % 360) + 360) % 360 / 6) + 1))
  return `EPSG:${lat >= 0 ? 32600 + zone : 32700 + zone}`
}

/** A pixel window's bounds in its raster's CRS. */
export function windowBounds (gt: number[], w: PixelWindow): Bbox {
  if (gt[2] !== 0 || gt[4] !== 0) throw new RecordError('open', 'ROTATED', 'a warp of a pixel window needs a north-up geotransform')
  const xs = [gt[0] + w.col * gt[1], gt[0] + (w.col + w.width) * gt[1]]
  const ys = [gt[3] + w.row * gt[5], gt[3] + (w.row + w.height) * gt[5]]
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
}

/**
 * Alpha on the output where the source has neither nodata nor an alpha band, so that what lies outside
 * the source (or under its mask) is told apart from data. A source with nodata keeps it (gdalwarp copies
 * it to the output); a source alpha band is carried by gdalwarp itself.
 */
async function needsAlpha (src: Dataset): Promise<boolean> {
  const count = await src.bands.countAsync()
  const first = await src.bands.getAsync(1)
  if ((await first.noDataValueAsync) !== null) return false
  const last = await src.bands.getAsync(count)
  return (await last.colorInterpretationAsync) !== 'Alpha'
}

/**
 * The warped VRT's bands keep the source's colour interpretation (gdalwarp leaves them undefined), so that
 * an RGB source stays RGB in the output; an alpha band added by -dstalpha says Alpha.
 */
export async function keepInterpretation (from: Dataset, to: Dataset): Promise<void> {
  const n = await from.bands.countAsync()
  const m = await to.bands.countAsync()
  for (let i = 1; i <= m; i++) {
    const band = await to.bands.getAsync(i)
    band.colorInterpretation = i <= n ? await (await from.bands.getAsync(i)).colorInterpretationAsync ?? 'Undefined' : 'Alpha'
  }
}

/** A warped VRT's grid: its size and geotransform are members (got synchronously, it being idle), its CRS on the pool. */
async function gridOf (ds: Dataset): Promise<Grid> {
  const srs = await ds.srsAsync
  const size = ds.rasterSize
  return { crs: srs ? crsName(srs) : null, transform: ds.geoTransform ?? [], width: size.x, height: size.y }
}

/**
 * The output grid carried back into the source's full-resolution pixels: every pixel along the edges (up
 * to EDGE_SAMPLES an edge) and a grid across it, through the exact inverse transform. Anything that does
 * not transform, or a span that wraps the globe, is not sure: the caller then reads the whole file or fails.
 */
export function sourceFootprint (gdal: Gdal, grid: Grid, target: Srs, source: Srs, sourceGt: number[]): { x0: number, y0: number, x1: number, y1: number } | string {
  if (sourceGt[2] !== 0 || sourceGt[4] !== 0) return 'the source geotransform is rotated'
  const ct = new gdal.CoordinateTransformation(target, source)
  const g = grid.transform
  let x0 = Infinity
  let y0 = Infinity
  let x1 = -Infinity
  let y1 = -Infinity
  const add = (px: number, py: number): boolean => {
    const gx = g[0] + px * g[1] + py * g[2]
    const gy = g[3] + px * g[4] + py * g[5]
    let p
    try {
      p = ct.transformPoint(gx, gy)
    } catch {
      return false
    }
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) return false
    const c = (p.x - sourceGt[0]) / sourceGt[1]
    const r = (p.y - sourceGt[3]) / sourceGt[5]
    x0 = Math.min(x0, c)
    x1 = Math.max(x1, c)
    y0 = Math.min(y0, r)
    y1 = Math.max(y1, r)
    return true
  }
  const { width: W, height: H } = grid
  const steps = (n: number, most: number): number[] => {
    const k = Math.min(n, most)
    return Array.from({ length: k + 1 }, (_, i) => (i * n) / k)
  }
  for (const x of steps(W, EDGE_SAMPLES)) if (!add(x, 0) || !add(x, H)) return 'a point of the output\'s edge does not transform into the source CRS'
  for (const y of steps(H, EDGE_SAMPLES)) if (!add(0, y) || !add(W, y)) return 'a point of the output\'s edge does not transform into the source CRS'
  for (const x of steps(W, INTERIOR_SAMPLES)) {
    for (const y of steps(H, INTERIOR_SAMPLES)) if (!add(x, y)) return 'a point inside the output does not transform into the source CRS'
  }
  // In degrees, a footprint wider than half the globe is one that crossed the antimeridian.
  if (source.isGeographic() && (x1 - x0) * Math.abs(sourceGt[1]) > 180) return 'the footprint crosses the antimeridian'
  return { x0, y0, x1, y1 }
}

/** The sizes of the source's overview levels, in GDAL's order. */
export async function overviewSizes (ds: Dataset): Promise<Array<{ x: number, y: number }>> {
  const overviews = (await ds.bands.getAsync(1)).overviews
  const sizes = []
  for (let i = 0, n = await overviews.countAsync(); i < n; i++) sizes.push(await (await overviews.getAsync(i)).sizeAsync)
  return sizes
}

/**
 * Plans a warp of `window` (the request's region in the source's pixels) onto the request's grid: the
 * warped VRT (`vrt`), its grid, the pinned level and the footprint range mode fetches. Runs in the open
 * stage's GDAL slot: no pixel is read here. `alpha: false` adds no alpha band where the source has no
 * nodata (a stack's source). What it opens is closed should it fail.
 */
export async function planWarp (ctx: WarpContext, job: Job, opened: Opened, r: Readonly<WindowRequest>, window: PixelWindow, { alpha: alphaAllowed = true } = {}): Promise<WarpPlan> {
  const { gdal, crs } = ctx
  const { dataset: ds, source } = opened
  if (!ds) throw new RecordError('open', 'NOT_OPEN', 'the source is not open')
  // Idle in the open stage: its geotransform (read with the header) got synchronously, the CRS on the pool.
  const gt = ds.geoTransform
  const srcSrs = await ds.srsAsync
  if (!opened.georeferenced || !gt) throw new RecordError('open', 'NOT_GEOREFERENCED', words`${job.url}: ${option('dstCrs')}, ${option('res')}, ${option('resampling')} and ${option('tap')} need a georeferenced source, and this one has no geotransform`)
  if (!srcSrs) throw new RecordError('open', 'NO_CRS', `${job.url}: a warp needs the source's CRS, and it has none`)

  // The region asked for, in its own CRS: the bbox, or the pixel window's footprint in the source's CRS.
  const [region, regionSrs]: [Bbox, Srs] = r.bbox
    ? [r.bbox, r.bboxCrs ? crs.get(r.bboxCrs) : srcSrs]
    : [windowBounds(gt, window), srcSrs]
  let targetText = r.dstCrs
  if (targetText?.toLowerCase() === 'utm') {
    const ll = new gdal.CoordinateTransformation(regionSrs, gdal.SpatialReference.fromEPSG(4326))
    const c = ll.transformPoint((region[0] + region[2]) / 2, (region[1] + region[3]) / 2)
    if (!Number.isFinite(c.x) || !Number.isFinite(c.y)) throw new RecordError('open', 'BAD_CRS', words`${job.url}: ${option('dstCrs', 'utm')}: the window's centre has no longitude and latitude`)
    targetText = utmFor(c.x, c.y)
  }
  let target: Srs
  try {
    target = targetText === undefined ? srcSrs : crs.get(targetText)
  } catch (err) {
    throw new RecordError('open', 'BAD_CRS', words`${option('dstCrs')}: ${(err as Error).message}`)
  }
  // The extent in the target CRS: the region's edges densified (21 points each) and carried over.
  const te = regionSrs.isSame(target) ? region : transformBbox(gdal, region, regionSrs, target)
  // GDAL sizes the grid in an int: a fine --res would overflow it (a negative width) rather than be refused.
  if (r.res) checkPixels(...warpGridSize(te, r.res, r.tap === true), ctx.maxPixels, 'open', 'grid')

  const warpSource = r.bands ? await gdal.translateAsync('', ds, bandSelectArgs(r.bands)) : ds
  let vrt: Dataset | undefined
  try {
    // A stack's output has exactly its sources' bands: no alpha band is added for one of them.
    const alpha = alphaAllowed && await needsAlpha(warpSource)
    const sizes = await overviewSizes(ds)
    const make = async (args: string[]): Promise<Dataset> => {
      try {
        return await gdal.warpAsync(`/vsimem/rasterpipe-warp-${process.pid}-${++seq}.vrt`, null, [warpSource], warpArgs({ args }, 'VRT'))
      } catch (err) {
        throw new RecordError('open', 'WARP_FAILED', `${job.url}: gdalwarp refused the grid: ${(err as Error).message}`)
      }
    }
    // First at full resolution, for the grid (with --res or --out-size it does not depend on the level);
    // then the level whose pixels still outnumber the output's over the footprint, as for --out-size.
    const first = await make(gdalwarpArgs(r, targetText, te, null, alpha))
    let grid: Grid
    try {
      grid = await gridOf(first)
    } finally {
      closeDataset(first)
    }
    let fp = sourceFootprint(gdal, grid, target, srcSrs, gt)
    let level: number | null = null
    if (typeof fp !== 'string') {
      const span = { width: Math.max(1, Math.round(fp.x1 - fp.x0)), height: Math.max(1, Math.round(fp.y1 - fp.y0)) }
      level = chooseOverview({ x: source.width, y: source.height }, sizes, span, [grid.width, grid.height])
    }
    const args = gdalwarpArgs(r, targetText, te, level, alpha)
    vrt = await make(args)
    if (level !== null) {
      grid = await gridOf(vrt)
      fp = sourceFootprint(gdal, grid, target, srcSrs, gt)
    }
    await keepInterpretation(warpSource, vrt)
    const plan: WarpPlan = {
      kind: 'warp',
      window,
      grid,
      ...(r.bands ? { bands: r.bands } : {}),
      ...(level !== null ? { overview: { index: level, width: sizes[level].x, height: sizes[level].y } } : {}),
      footprint: typeof fp === 'string' ? { uncertain: fp } : { window: widened(fp, level === null ? 1 : source.width / sizes[level].x, grid, r.resampling) },
      args,
      ...(r.bands ? { source: warpSource } : {}),
      vrt,
      bytes: windowBytes(grid.width, grid.height, await vrt.bands.countAsync(), source.dtype)
    }
    return plan
  } catch (err) {
    closeDataset(vrt)
    if (warpSource !== ds) closeDataset(warpSource)
    throw err
  }
}

/**
 * A footprint widened by the kernel's reach at the level read (`factor`: its reduction, as GDAL scales the
 * kernel when downsampling), doubled, plus two pixels for GDAL's own rounding of its source window.
 */
export function widened (fp: { x0: number, y0: number, x1: number, y1: number }, factor: number, grid: Grid, resampling: string | undefined): PixelWindow {
  const scale = Math.max(1, (fp.x1 - fp.x0) / factor / grid.width, (fp.y1 - fp.y0) / factor / grid.height)
  const margin = (2 * Math.ceil((KERNEL_RADIUS[resampling ?? 'nearest'] ?? 1) * scale) + 2) * factor
  const col = Math.floor(fp.x0 - margin)
  const row = Math.floor(fp.y0 - margin)
  return { col, row, width: Math.ceil(fp.x1 + margin) - col, height: Math.ceil(fp.y1 + margin) - row }
}

/**
 * The record's pixels warped into memory (a MEM dataset of the output's size, which the memory budget
 * holds for it from read until written), with the arguments the grid's VRT was made with. Not the VRT's
 * own pixels: GDAL 3.6 warps a warped VRT block by block (512×128 at most; gdalwarp -of VRT ignores
 * BLOCKXSIZE and BLOCKYSIZE), each block with its own source window, and under bilinear or cubic a
 * source with nodata then differs from gdalwarp's file output (by up to 4 on uint16-striped.tif to UTM).
 * Warped into a dataset of its own, as gdalwarp warps into a file (in chunks of its -wm), it is the same.
 */
export async function warpPixels (gdal: Gdal, source: Dataset | undefined, plan: WarpPlan): Promise<Dataset> {
  if (!source) throw new RecordError('write', 'NOT_OPEN', 'the source is not open')
  // gdal-async wants a name; the MEM driver makes no file of it.
  const out = await gdal.warpAsync(`rasterpipe-warp-${process.pid}-${++seq}`, null, [source], warpArgs(plan, 'MEM'))
  try {
    await keepInterpretation(source, out)
  } catch (err) {
    closeDataset(out)
    throw err
  }
  return out
}
