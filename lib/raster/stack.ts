// A multi-source record at open: every source opened, the region resolved, and one output grid chosen
// for them all. The region is the bbox, or the pixel window in the first source's grid. The grid is the
// target grid when the record asks for one (dst_crs, res, out_size, tap: gdalwarp's, made on the finest
// source), else the finest source's pixels over the region (the source with the most pixels there).
// Each source is then planned onto that grid: a plain window where its own grid is the output's (exact
// pixels, as gdal_translate -srcwin), else a warp with the record's resampling (as gdalwarp -te -tr).
import { RecordError } from '../core/errors.js'
import { closeDataset, type Dataset, type Gdal } from './gdal.js'
import type { Job } from '../core/job.js'
import type { Bbox, PixelWindow, WindowRequest } from '../core/request.js'
import type { Grid } from '../core/records.js'
import { bboxToWindow, clipWindow, resolveWindow, tooManyPixels, transformBbox, type CrsCatalog } from './window.js'
import { prepareWarp, windowBounds } from './warp.js'
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

interface Placed { part: Job, gt: number[], srs: Srs, region: PixelWindow }

/** Whether a record asks for a target grid (a stack's resampling alone only says how to resample). */
export function asksGrid (r: WindowRequest): boolean {
  return r.dstCrs !== undefined || r.res !== undefined || r.outSize !== undefined || r.tap === true
}

export async function openStack (ctx: StackContext, job: Job, openSource: (part: Job) => Promise<Dataset>): Promise<void> {
  const { gdal, crs } = ctx
  const parts = job.parts as Job[]
  const r = job.request
  const placed: Placed[] = []
  // Planning rewrites each part's request and window (below, and in planSource). A record restarted after
  // its source changed is opened again: every part starts from the record's request as parse made it, so
  // that the region is not read from the previous grid's warp extent.
  for (const part of parts) resetPart(part, r)
  await eachSourceInTurn(job, 'open', async (part) => {
    const ds = await openSource(part)
    const gt = await ds.geoTransformAsync
    const srs = await ds.srsAsync
    if (!part.georeferenced || !gt) throw new RecordError('open', 'NOT_GEOREFERENCED', `${part.url}: the sources of a multi-source record must be georeferenced, and this one has no geotransform`)
    if (!srs) throw new RecordError('open', 'NO_CRS', `${part.url}: the sources of a multi-source record need a CRS, and this one has none`)
    if (gt[2] !== 0 || gt[4] !== 0) throw new RecordError('open', 'ROTATED', `${part.url}: a rotated geotransform cannot be stacked`)
    const source = part.source as NonNullable<Job['source']>
    for (const b of r.bands ?? []) {
      if (b > source.count) throw new RecordError('open', 'BAD_BANDS', `${part.url}: band ${b} requested, but the source has ${source.count} band${source.count === 1 ? '' : 's'}`)
    }
    const meta = part.stackSource?.bands ?? []
    if (meta.length > source.count) throw new RecordError('open', 'BAD_BANDS', `${part.url}: "bands" has ${meta.length} entries, but the source has ${source.count} band${source.count === 1 ? '' : 's'}`)
    placed.push({ part, gt, srs, region: { col: 0, row: 0, width: 0, height: 0 } })
  })
  const first = placed[0]
  job.source = first.part.source
  job.georeferenced = true

  // The region, in its own CRS: the bbox, or the first source's pixel window (clipped unless boundless).
  let region: Bbox
  let regionSrs: Srs
  if (r.bbox) {
    region = r.bbox
    regionSrs = r.bboxCrs ? crs.get(r.bboxCrs) : first.srs
  } else {
    const window = await resolveWindow(gdal, crs, first.part, Infinity)
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
  job.window = r.boundless ? first.region : clipWindow(first.region, first.part.source?.width ?? 0, first.part.source?.height ?? 0) ?? first.region

  let grid: Grid
  let gridSrs: Srs
  if (asksGrid(r)) {
    // gdalwarp's own grid for the request, made on the finest source.
    const ref = finest.part
    ref.request = { ...r, bbox: region, bboxCrs: regionSrs.toWKT() }
    ref.window = clipWindow(finest.region, ref.source?.width ?? 0, ref.source?.height ?? 0) ?? finest.region
    try {
      await prepareWarp({ gdal, crs, maxPixels: ctx.maxPixels }, ref, { alpha: false })
    } catch (err) {
      throw sourceError(ref, parts.length, err, 'open')
    }
    grid = ref.grid as Grid
    gridSrs = await (ref.pixels as Dataset).srsAsync ?? finest.srs
    closeWarp(ref)
  } else {
    let window: PixelWindow | null = finest.region
    if (!r.boundless) window = clipWindow(window, finest.part.source?.width ?? 0, finest.part.source?.height ?? 0)
    if (!window) throw sourceError(finest.part, parts.length, new RecordError('open', 'OUTSIDE', 'the region lies wholly outside the source'), 'open')
    const g = finest.gt
    grid = { crs: finest.part.source?.crs ?? null, transform: [g[0] + window.col * g[1], g[1], 0, g[3] + window.row * g[5], 0, g[5]], width: window.width, height: window.height }
    gridSrs = finest.srs
  }
  if (grid.width * grid.height > ctx.maxPixels) throw tooManyPixels(grid.width, grid.height, ctx.maxPixels, 'open')
  job.grid = grid

  await eachSourceInTurn(job, 'open', async (part) => {
    const p = placed.find((q) => q.part === part) as Placed
    await planSource(ctx, p, grid, gridSrs, r)
  })
  if (ctx.oneNodata) await checkOneNodata(placed.map((p) => p.part), parts.length)
  job.memoryBytes = parts.reduce((sum, p) => sum + windowBytes(grid.width, grid.height, r.bands?.length ?? p.source?.count ?? 1, p.source?.dtype ?? 'Float64'), 0)
}

/** A part as parse made it (lib/input/parse.ts): the record's request, nothing planned. */
function resetPart (part: Job, r: WindowRequest): void {
  unplan(part)
  closeWarp(part)
  part.window = undefined
  part.request = { ...r }
}

/** Forgets a part's plan: what a warp made for it, and whether it is read plain. */
function unplan (part: Job): void {
  closeDataset(part.warpSource)
  part.warpSource = undefined
  part.warpArgs = undefined
  part.footprint = undefined
  part.overview = undefined
  part.grid = undefined
  part.plain = false
  part.plainNodata = undefined
}

/** A source onto the output grid: a plain window where its grid is the output's, else a warp. */
async function planSource (ctx: StackContext, p: Placed, grid: Grid, gridSrs: Srs, r: WindowRequest): Promise<void> {
  const { part, gt, srs } = p
  // What a warp made for the grid's sake (the finest source, with a target grid) is planned again here.
  unplan(part)
  const source = part.source as NonNullable<Job['source']>
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
    part.plain = true
    if (fill !== null) part.plainNodata = fill.split(' ')[0]
    part.window = window
    part.request = { window, boundless: true, ...(r.bands ? { bands: r.bands } : {}) }
    return
  }
  // Warped onto the grid exactly: its CRS, its extent (-te) and its resolution (-tr).
  const crsText = grid.crs ?? gridSrs.toWKT()
  const extent: Bbox = [g[0], g[3] + grid.height * g[5], g[0] + grid.width * g[1], g[3]]
  part.request = {
    window: p.region, boundless: r.boundless, bbox: extent, bboxCrs: crsText, dstCrs: crsText, res: [g[1], -g[5]],
    ...(r.bands ? { bands: r.bands } : {}), ...(r.resampling !== undefined ? { resampling: r.resampling } : {})
  }
  part.window = clipWindow(p.region, source.width, source.height) ?? p.region
  await prepareWarp({ gdal: ctx.gdal, crs: ctx.crs, maxPixels: ctx.maxPixels }, part, { alpha: false })
  const got = part.grid as Grid | undefined
  if (!got) throw new RecordError('open', 'WARP_FAILED', `${part.url}: gdalwarp made no grid`)
  if (got.width !== grid.width || got.height !== grid.height || got.transform.some((v, i) => Math.abs(v - g[i]) > 1e-9 * Math.max(1, Math.abs(g[i])))) {
    throw new RecordError('open', 'WARP_FAILED', `${part.url}: gdalwarp made a ${got.width}×${got.height} grid at ${got.transform.join(',')} for the output's ${grid.width}×${grid.height} at ${g.join(',')}`)
  }
  closeWarp(part)
  // Nodata the record gives for a source without its own is the source's nodata to the warp too, so that
  // the resampling does not blend it in.
  const warpFill = await entryNodata(part, part.request.bands)
  if (warpFill) part.warpArgs = [...(part.warpArgs ?? []), '-srcnodata', warpFill, '-dstnodata', warpFill]
}

/** The warped VRT made for the grid is not read: a stack's warp is made again into its own file. */
function closeWarp (part: Job): void {
  closeDataset(part.pixels)
  part.pixels = undefined
}

/** The entry's nodata per band read, as gdalwarp's list, when the source has none and each band has one. */
async function entryNodata (part: Job, read: number[] | undefined): Promise<string | null> {
  const ds = part.dataset as Dataset
  const bands = read ?? Array.from({ length: part.source?.count ?? 0 }, (_, i) => i + 1)
  const values: string[] = []
  for (const b of bands) {
    if ((await (await ds.bands.getAsync(b)).noDataValueAsync) !== null) return null
    const v = part.stackSource?.bands[b - 1]?.nodata
    if (v === undefined) return null
    values.push(Number.isNaN(v) ? 'nan' : String(v))
  }
  return values.join(' ')
}

/** The nodata each output band will have: its source's own, else its entry's; null for none. */
export async function outputNodata (part: Job, band: number): Promise<number | null> {
  const own = await (await (part.dataset as Dataset).bands.getAsync(band)).noDataValueAsync
  return own ?? part.stackSource?.bands[band - 1]?.nodata ?? null
}

async function checkOneNodata (parts: Job[], of: number): Promise<void> {
  let seen: { value: number | null, part: Job, band: number } | undefined
  for (const part of parts) {
    for (const band of part.request.bands ?? Array.from({ length: part.source?.count ?? 0 }, (_, i) => i + 1)) {
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
