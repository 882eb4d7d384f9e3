// A multi-source record at open: every source opened, the region resolved, and one output grid chosen
// for them all. The region is the bbox, or the pixel window in the first source's grid. The grid is the
// target grid when the record asks for one (dst_crs, res, out_size, tap: gdalwarp's, made on the finest
// source), else the finest source's pixels over the region (the source with the most pixels there).
// Each source is then planned onto that grid: a plain window where its own grid is the output's (exact
// pixels, as gdal_translate -srcwin), else a warp with the record's resampling (as gdalwarp -te -tr).
import { RecordError } from '../core/errors.js'
import { closeDataset, type Dataset, type Gdal } from './gdal.js'
import type { Job, Opened, StackPlan, WarpPlan } from '../core/job.js'
import type { Bbox, PixelWindow, WindowRequest } from '../core/request.js'
import type { Grid, SourceInfo } from '../core/records.js'
import { bboxToWindow, clipWindow, resolveWindow, tooManyPixels, transformBbox, type CrsCatalog } from './window.js'
import { planWarp, windowBounds } from './warp.js'
import { windowBytes } from '../core/budget.js'
import { eachSourceInTurn, sourceError } from '../core/each-source.js'
import { option, words } from '../core/words.js'

type Srs = InstanceType<Gdal['SpatialReference']>

/** How far from a whole pixel an offset between two grids may be and still count as the same grid. */
const PIXEL_TOLERANCE = 1e-6

export interface StackContext {
  gdal: Gdal
  crs: CrsCatalog
  maxPixels: number
  /** The output format keeps one nodata value for all bands: the stack's bands must agree on it. */
  oneNodata: boolean
}

export interface Placed { part: Job, opened: Opened & { dataset: Dataset }, gt: number[], srs: Srs, region: PixelWindow }

/** Whether a record asks for a target grid (a stack's resampling alone only says how to resample). */
export function asksGrid (r: Readonly<WindowRequest>): boolean {
  return r.dstCrs !== undefined || r.res !== undefined || r.outSize !== undefined || r.tap === true
}

/** A part's bytes on the grid: its bands read × its data type's size. */
function partBytes (grid: Grid, r: Readonly<WindowRequest>, source: SourceInfo): number {
  return windowBytes(grid.width, grid.height, r.bands?.length ?? source.count, source.dtype)
}

/** Opens every source of a multi-source record and plans each onto the one grid (its part's plan). */
export async function openStack (ctx: StackContext, job: Job, openSource: (part: Job) => Promise<Opened & { dataset: Dataset }>): Promise<StackPlan> {
  const { gdal, crs } = ctx
  const parts = job.parts ?? []
  const r = job.request
  const placed: Placed[] = []
  await eachSourceInTurn(job, 'open', async (part) => {
    const opened = await openSource(part)
    const ds = opened.dataset
    // Idle and just opened: its geotransform (read with the header) got synchronously, the CRS on the pool.
    const gt = ds.geoTransform
    const srs = await ds.srsAsync
    if (!opened.georeferenced || !gt) throw new RecordError('open', 'NOT_GEOREFERENCED', `${part.url}: the sources of a multi-source record must be georeferenced, and this one has no geotransform`)
    if (!srs) throw new RecordError('open', 'NO_CRS', `${part.url}: the sources of a multi-source record need a CRS, and this one has none`)
    if (gt[2] !== 0 || gt[4] !== 0) throw new RecordError('open', 'ROTATED', `${part.url}: a rotated geotransform cannot be stacked`)
    const source = opened.source
    for (const b of r.bands ?? []) {
      if (b > source.count) throw new RecordError('open', 'BAD_BANDS', `${part.url}: band ${b} requested, but the source has ${source.count} band${source.count === 1 ? '' : 's'}`)
    }
    const meta = part.stackSource?.bands ?? []
    if (meta.length > source.count) throw new RecordError('open', 'BAD_BANDS', `${part.url}: "bands" has ${meta.length} entries, but the source has ${source.count} band${source.count === 1 ? '' : 's'}`)
    placed.push({ part, opened, gt, srs, region: { col: 0, row: 0, width: 0, height: 0 } })
  })
  const first = placed[0]
  const opened: Opened = { source: first.opened.source, georeferenced: true }
  job.opened = opened

  // The region, in its own CRS: the bbox, or the first source's pixel window (clipped unless boundless).
  let region: Bbox
  let regionSrs: Srs
  if (r.bbox) {
    region = r.bbox
    regionSrs = r.bboxCrs ? crs.get(r.bboxCrs) : first.srs
  } else {
    const window = await resolveWindow(gdal, crs, first.opened, first.part.request, Infinity)
    region = windowBounds(first.gt, window)
    regionSrs = first.srs
  }
  // Each source's pixels over the region, unclipped; the finest source has the most.
  await eachSourceInTurn(job, 'open', async (part) => {
    const p = placed.find((q) => q.part === part) as Placed
    const box = regionSrs.isSame(p.srs) ? region : transformBbox(gdal, region, regionSrs, p.srs)
    p.region = bboxToWindow(box, p.gt)
  })
  const finest = placed.reduce((best, p) => p.region.width * p.region.height > best.region.width * best.region.height ? p : best, first)
  opened.window = r.boundless ? first.region : clipWindow(first.region, first.opened.source.width, first.opened.source.height) ?? first.region

  let grid: Grid
  let gridSrs: Srs
  if (asksGrid(r)) {
    // gdalwarp's own grid for the request, made on the finest source (and let go: each part is planned below).
    const ref = finest.part
    const window = clipWindow(finest.region, finest.opened.source.width, finest.opened.source.height) ?? finest.region
    let made: WarpPlan
    try {
      made = await planWarp({ gdal, crs, maxPixels: ctx.maxPixels }, ref, finest.opened, { ...r, bbox: region, bboxCrs: regionSrs.toWKT() }, window, { alpha: false })
    } catch (err) {
      throw sourceError(ref, parts.length, err, 'open')
    }
    grid = made.grid
    try {
      gridSrs = await made.vrt?.srsAsync ?? finest.srs
    } finally {
      closeDataset(made.vrt)
      closeDataset(made.source)
    }
  } else {
    let window: PixelWindow | null = finest.region
    if (!r.boundless) window = clipWindow(window, finest.opened.source.width, finest.opened.source.height)
    if (!window) throw sourceError(finest.part, parts.length, new RecordError('open', 'OUTSIDE', 'the region lies wholly outside the source'), 'open')
    const g = finest.gt
    grid = { crs: finest.opened.source.crs, transform: [g[0] + window.col * g[1], g[1], 0, g[3] + window.row * g[5], 0, g[5]], width: window.width, height: window.height }
    gridSrs = finest.srs
  }
  // Points and zones read only their pixels of the grid (lib/raster/stack-values.ts judges the zone's window).
  if (!job.points && !job.zone && grid.width * grid.height > ctx.maxPixels) throw tooManyPixels(grid.width, grid.height, ctx.maxPixels, 'open')
  const plan: StackPlan = { kind: 'stack', grid, bytes: 0 }
  job.plan = plan

  await eachSourceInTurn(job, 'open', async (part) => {
    const p = placed.find((q) => q.part === part) as Placed
    await planSource(ctx, p, grid, gridSrs, r)
  })
  // Band math writes bands of its own, with one nodata: the sources' may differ then.
  // A values record writes no file unless it writes its window (`out`, --write).
  if (ctx.oneNodata && !job.expr && (job.output !== undefined || (!job.points && !job.zone))) await checkOneNodata(placed.map((p) => p.part), parts.length)
  plan.bytes = placed.reduce((sum, p) => sum + (p.part.plan?.bytes ?? 0), 0)
  return plan
}

/** A source onto the output grid: a plain window where its grid is the output's, else a warp. */
export async function planSource (ctx: StackContext, p: Placed, grid: Grid, gridSrs: Srs, r: Readonly<WindowRequest>): Promise<void> {
  const { part, gt, srs } = p
  const source = p.opened.source
  const g = grid.transform
  const dx = (g[0] - gt[0]) / gt[1]
  const dy = (g[3] - gt[3]) / gt[5]
  const same = srs.isSame(gridSrs) && Math.abs(gt[1] - g[1]) <= 1e-9 * Math.abs(g[1]) && Math.abs(gt[5] - g[5]) <= 1e-9 * Math.abs(g[5]) &&
    Math.abs(dx - Math.round(dx)) < PIXEL_TOLERANCE && Math.abs(dy - Math.round(dy)) < PIXEL_TOLERANCE
  const window = { col: Math.round(dx), row: Math.round(dy), width: grid.width, height: grid.height }
  const overlaps = clipWindow(window, source.width, source.height) !== null
  if (!r.boundless && !clipWindow(p.region, source.width, source.height)) {
    throw new RecordError('open', 'OUTSIDE', `${part.url}: the region lies wholly outside this ${source.width}×${source.height} source`)
  }
  // A plain window may run past the source's edge, where gdal_translate fills with the file's nodata, else
  // 0. Where the file has none but the entry gives one (the output band declares it), the fill must be that
  // value, or the 0s count as valid: -a_nodata gives it to the translate, as `gdal_translate -a_nodata v
  // -srcwin …` of the file does. One -a_nodata serves all bands: entries whose bands differ are warped,
  // where -srcnodata/-dstnodata take a value per band.
  const fill = same && overlaps ? await entryNodata(part, r.bands) : null
  if (same && overlaps && (fill === null || new Set(fill.split(' ')).size === 1)) {
    part.plan = {
      kind: 'window',
      window,
      ...(r.bands ? { bands: r.bands } : {}),
      ...(fill !== null ? { nodata: fill.split(' ')[0] } : {}),
      bytes: partBytes(grid, r, source)
    }
    return
  }
  // Warped onto the grid exactly: its CRS, its extent (-te) and its resolution (-tr).
  const crsText = grid.crs ?? gridSrs.toWKT()
  const extent: Bbox = [g[0], g[3] + grid.height * g[5], g[0] + grid.width * g[1], g[3]]
  const request: WindowRequest = {
    window: p.region, boundless: r.boundless, bbox: extent, bboxCrs: crsText, dstCrs: crsText, res: [g[1], -g[5]],
    ...(r.bands ? { bands: r.bands } : {}), ...(r.resampling !== undefined ? { resampling: r.resampling } : {})
  }
  const clipped = clipWindow(p.region, source.width, source.height) ?? p.region
  const plan = await planWarp({ gdal: ctx.gdal, crs: ctx.crs, maxPixels: ctx.maxPixels }, part, p.opened, request, clipped, { alpha: false })
  // The warped VRT made for the grid is not read: a stack's warp is made again into its own file.
  closeDataset(plan.vrt)
  delete plan.vrt
  plan.bytes = partBytes(grid, r, source)
  part.plan = plan
  const got = plan.grid
  if (got.width !== grid.width || got.height !== grid.height || got.transform.some((v, i) => Math.abs(v - g[i]) > 1e-9 * Math.max(1, Math.abs(g[i])))) {
    throw new RecordError('open', 'WARP_FAILED', `${part.url}: gdalwarp made a ${got.width}×${got.height} grid at ${got.transform.join(',')} for the output's ${grid.width}×${grid.height} at ${g.join(',')}`)
  }
  // Nodata the record gives for a source without its own is the source's nodata to the warp too, so that
  // the resampling does not blend it in.
  const warpFill = await entryNodata(part, request.bands)
  if (warpFill) plan.args = [...plan.args, '-srcnodata', warpFill, '-dstnodata', warpFill]
}

/** The entry's nodata per band read, as gdalwarp's list, when the source has none and each band has one. */
async function entryNodata (part: Job, read: readonly number[] | undefined): Promise<string | null> {
  const ds = openDataset(part)
  const bands = read ?? Array.from({ length: part.opened?.source.count ?? 0 }, (_, i) => i + 1)
  const values: string[] = []
  for (const b of bands) {
    if ((await (await ds.bands.getAsync(b)).noDataValueAsync) !== null) return null
    const v = part.stackSource?.bands[b - 1]?.nodata
    if (v === undefined) return null
    values.push(Number.isNaN(v) ? 'nan' : String(v))
  }
  return values.join(' ')
}

/** A part's open dataset (open made it before anything asks for it). */
export function openDataset (part: Job): Dataset {
  const ds = part.opened?.dataset
  if (!ds) throw new RecordError('open', 'NOT_OPEN', `${part.url}: the source is not open`)
  return ds
}

/** The bands a part reads: the record's `bands`, else all of its file's. */
export function partBands (part: Job): number[] {
  return [...(part.request.bands ?? Array.from({ length: part.opened?.source.count ?? 0 }, (_, i) => i + 1))]
}

/** The nodata each output band will have: its source's own, else its entry's; null for none. */
export async function outputNodata (part: Job, band: number): Promise<number | null> {
  const own = await (await openDataset(part).bands.getAsync(band)).noDataValueAsync
  return own ?? part.stackSource?.bands[band - 1]?.nodata ?? null
}

/**
 * The scale and offset each output band will have: its source's own, else its entry's; null for none.
 * Scale 1 and offset 0 are what GDAL says of a band without them.
 */
export async function outputScaleOffset (part: Job, band: number): Promise<{ scale: number | null, offset: number | null }> {
  const b = await openDataset(part).bands.getAsync(band)
  const meta = part.stackSource?.bands[band - 1]
  const scale = await b.scaleAsync
  const offset = await b.offsetAsync
  return { scale: scale !== null && scale !== 1 ? scale : meta?.scale ?? null, offset: offset !== null && offset !== 0 ? offset : meta?.offset ?? null }
}

async function checkOneNodata (parts: Job[], of: number): Promise<void> {
  let seen: { value: number | null, part: Job, band: number } | undefined
  for (const part of parts) {
    for (const band of partBands(part)) {
      const value = await outputNodata(part, band)
      if (!seen) {
        seen = { value, part, band }
      } else if (!(value === seen.value || (Number.isNaN(value) && Number.isNaN(seen.value)))) {
        const say = (v: number | null): string => v === null ? 'none' : String(v)
        throw sourceError(part, of, new RecordError('open', 'MIXED_NODATA',
          words`band ${band} has nodata ${say(value)}, but source ${(seen.part.stackSource?.index ?? 0) + 1} band ${seen.band} has ${say(seen.value)}; GTiff and COG keep one nodata value for all bands (give "bands": [{"nodata": …}] for sources without one, or another ${option('format')})`), 'open')
      }
    }
  }
}
