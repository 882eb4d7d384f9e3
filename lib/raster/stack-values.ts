// Point samples and zonal statistics of a multi-source record (a `urls` stack, a STAC item), on the grid
// lib/raster/stack.ts chose for it: the points' pixels and the zone's window are the grid's, and each
// source gives its bands' values there as the stack's output would hold them. A source on the grid's own
// pixels is read straight from its file (points by block-sized clusters, a zone by its window, as a single
// raster's); a source planned as a warp is warped by its own gdalwarp arguments onto just the pixels
// needed (1×1 per point, the zone's window), so range mode fetches only the blocks under their footprints.
import { RecordError } from '../core/errors.js'
import { closeDataset, type Dataset, type Gdal } from './gdal.js'
import type { Job, Opened, PointsPlan, StackPlan, WarpPlan, WindowPlan, ZonalPlan } from '../core/job.js'
import type { Bbox, PixelWindow } from '../core/request.js'
import type { Grid, ZonalStats } from '../core/records.js'
import type { PointValue } from '../core/points.js'
import { bboxToWindow, clipWindow, checkPixels, transformBbox, type CrsCatalog } from './window.js'
import { clusterPlan, pixelsOf, readPoints, withAlpha } from './points.js'
import { rasterizeZone, readBandWindow, zonalBytes, zoneGeometry, zoneWindow } from './zonal.js'
import { sourceFootprint, widened } from './warp.js'
import { bandSelectArgs, warpArgs } from './plan.js'
import { openDataset, outputNodata, outputScaleOffset, partBands, planSource, type StackContext } from './stack.js'
import { pointsWindow } from './values-window.js'
import { sourceError } from '../core/each-source.js'
import { windowBytes } from '../core/budget.js'
import { fromPointValues, pointValues, zonalValues, type BandRead } from './expr-values.js'

type Srs = InstanceType<Gdal['SpatialReference']>

/** How a part's pixels meet the grid: its plain window's offset on its file, or its warp's arguments. */
type PartWay = { offset: { col: number, row: number } } | { args: string[] }

/** Kept from open to read for each part (its plan is the points' or zone's, which range mode fetches by). */
const ways = new WeakMap<Job, PartWay>()

/** The record's grid, and its zone on the grid, from open to read. */
const grids = new WeakMap<Job, { grid: Grid, srs: Srs, zone?: { window: PixelWindow | null, geometry: string, srs: Srs } }>()

/** A part's values plan when its plan is the write's (a record that writes its window: `out`, --write). */
const partValues = new WeakMap<Job, PointsPlan | ZonalPlan>()

export interface StackValuesContext {
  gdal: Gdal
  crs: CrsCatalog
  maxPixels: number
}

/** The grid's CRS: that of a source on it (exactly its own), else the grid's name for it. */
async function gridSrsOf (ctx: StackValuesContext, job: Job, grid: Grid): Promise<Srs> {
  for (const part of job.parts ?? []) {
    if (part.plan?.kind === 'window') {
      const srs = await openDataset(part).srsAsync
      if (srs) return srs
    }
  }
  if (grid.crs === null) throw new RecordError('open', 'NO_CRS', 'the stack\'s grid has no CRS')
  return ctx.crs.get(grid.crs)
}

/** A sub-window of the grid as a grid of its own. */
function subGrid (grid: Grid, w: PixelWindow): Grid {
  const g = grid.transform
  return { crs: grid.crs, transform: [g[0] + w.col * g[1], g[1], 0, g[3] + w.row * g[5], 0, g[5]], width: w.width, height: w.height }
}

/**
 * The source pixels a warped part reads for the sub-grid `w` (its footprint, widened by the kernel as a
 * whole warp's is); the whole file where the footprint cannot be sure.
 */
async function warpFootprint (ctx: StackValuesContext, part: Job, plan: WarpPlan, grid: Grid, gridSrs: Srs, w: PixelWindow): Promise<PixelWindow> {
  const ds = openDataset(part)
  const source = part.opened?.source as NonNullable<Job['opened']>['source']
  const srs = await ds.srsAsync
  const sub = subGrid(grid, w)
  const fp = srs ? sourceFootprint(ctx.gdal, sub, gridSrs, srs, ds.geoTransform as number[]) : 'the source has no CRS'
  if (typeof fp === 'string') return { col: 0, row: 0, width: source.width, height: source.height }
  const factor = plan.overview ? source.width / plan.overview.width : 1
  return widened(fp, factor, sub, part.request.resampling)
}

/**
 * At open, after the stack's grid and its parts' plans: each part's plan becomes the points' (or the
 * zone's) on its own file, and the record's plan says the points' pixels (or the zone's window) on the grid.
 */
export async function planStackValues (ctx: StackValuesContext, job: Job, stack: StackPlan): Promise<PointsPlan | ZonalPlan> {
  const grid = stack.grid
  const gridSrs = await gridSrsOf(ctx, job, grid)
  const parts = job.parts ?? []
  const bandCount = parts.reduce((n, p) => n + partBands(p).length, 0)
  grids.set(job, { grid, srs: gridSrs })
  if (job.points) {
    const points = job.points
    const pixels = pixelsOf(ctx.gdal, points.crs !== undefined ? ctx.crs.get(points.crs) : null, gridSrs, points, grid.transform, grid.width, grid.height)
    let largest = 0
    for (const part of parts) {
      try {
        part.plan = await partPoints(ctx, part, grid, gridSrs, pixels)
      } catch (err) {
        throw sourceError(part, parts.length, err, 'open')
      }
      largest = Math.max(largest, part.plan.bytes)
    }
    // Held: one part's read at a time, and every point's values (a double and a byte per band).
    return { kind: 'points', pixels: pixels.map((p) => p && { ...p, read: 0 }), reads: [], bytes: largest + pixels.length * bandCount * 9 }
  }
  const zone = job.zone
  if (!zone) throw new RecordError('open', 'NO_WINDOW', 'a values record has neither points nor a geometry')
  const geometry = zoneGeometry(ctx.gdal, ctx.crs, zone, gridSrs)
  const window = zoneWindow(grid.transform, geometry.getEnvelope(), grid.width, grid.height)
  if (window) checkPixels(window.width, window.height, ctx.maxPixels, 'open')
  const json = geometry.toJSON()
  grids.set(job, { grid, srs: gridSrs, zone: { window, geometry: json, srs: gridSrs } })
  for (const part of parts) {
    try {
      part.plan = await partZone(ctx, part, grid, gridSrs, window)
    } catch (err) {
      throw sourceError(part, parts.length, err, 'open')
    }
  }
  // Held: every stacked band over the window as doubles with a validity byte (band math reads them
  // together), one source's read or warp of it in its own type (at most 8 bytes a band), and what one
  // band's statistics hold.
  const pixels = window ? window.width * window.height : 0
  return { kind: 'zonal', window, geometry: json, bytes: zonalBytes(window, zone, 'Float64') + pixels * bandCount * (9 + 8) }
}

/** A part's plan for the points: its file's pixels under them (a plain window), or the footprints of their grid pixels (a warp). */
async function partPoints (ctx: StackValuesContext, part: Job, grid: Grid, gridSrs: Srs, pixels: ReadonlyArray<{ col: number, row: number } | null>): Promise<PointsPlan> {
  const plan = part.plan as WindowPlan | WarpPlan
  const ds = openDataset(part)
  const source = part.opened?.source as NonNullable<Job['opened']>['source']
  if (plan.kind === 'window') {
    const { col, row } = plan.window
    ways.set(part, { offset: { col, row } })
    // A grid pixel past this file's edge has no value of it (its bands are null there).
    const at = pixels.map((p) => {
      if (!p) return null
      const c = p.col + col
      const r = p.row + row
      return c >= 0 && r >= 0 && c < source.width && r < source.height ? { col: c, row: r } : null
    })
    return clusterPlan(ds, at, part.request.bands, source.count, source.dtype)
  }
  closeWarp(plan)
  ways.set(part, { args: plan.args })
  // Each point its own read: the footprint of its one grid pixel (points sharing a pixel share it).
  const keys = new Map<string, number>()
  const reads: PixelWindow[] = []
  const own: Array<{ col: number, row: number, read: number } | null> = []
  for (const p of pixels) {
    if (!p) { own.push(null); continue }
    const key = `${p.col},${p.row}`
    let read = keys.get(key)
    if (read === undefined) {
      read = reads.push(await warpFootprint(ctx, part, plan, grid, gridSrs, { ...p, width: 1, height: 1 })) - 1
      keys.set(key, read)
    }
    own.push({ ...p, read })
  }
  const bands = part.request.bands
  const blockBands = bands && withAlpha(ds, bands)
  const largest = reads.reduce((m, w) => Math.max(m, w.width * w.height), 0)
  return {
    kind: 'points', pixels: own, reads, ...(bands ? { bands: [...bands] } : {}), ...(blockBands ? { blockBands } : {}),
    ...(plan.overview ? { overview: plan.overview } : {}), bytes: windowBytes(largest, 1, bands?.length ?? source.count, source.dtype) + largest
  }
}

/** A part's plan for the zone: the zone's window on its file (a plain window), or the window's footprint (a warp). */
async function partZone (ctx: StackValuesContext, part: Job, grid: Grid, gridSrs: Srs, window: PixelWindow | null): Promise<ZonalPlan> {
  const plan = part.plan as WindowPlan | WarpPlan
  const ds = openDataset(part)
  const source = part.opened?.source as NonNullable<Job['opened']>['source']
  const bands = part.request.bands
  const blockBands = bands && withAlpha(ds, bands)
  const common = { kind: 'zonal' as const, geometry: '', ...(bands ? { bands: [...bands] } : {}), ...(blockBands ? { blockBands } : {}), bytes: 0 }
  if (plan.kind === 'window') {
    const { col, row } = plan.window
    ways.set(part, { offset: { col, row } })
    const own = window && clipWindow({ ...window, col: window.col + col, row: window.row + row }, source.width, source.height)
    return { ...common, window: own }
  }
  closeWarp(plan)
  ways.set(part, { args: plan.args })
  const own = window && clipWindow(await warpFootprint(ctx, part, plan, grid, gridSrs, window), source.width, source.height)
  return { ...common, window: own, ...(plan.overview ? { overview: plan.overview } : {}) }
}

/** A warp plan's band-selecting VRT let go: the values read makes its own per warp. */
function closeWarp (plan: WarpPlan): void {
  closeDataset(plan.vrt)
  closeDataset(plan.source)
  delete plan.vrt
  delete plan.source
}

/** gdalwarp's arguments for a part, with the grid's extent swapped for the sub-window `w` of it. */
function subArgs (args: readonly string[], grid: Grid, w: PixelWindow): string[] {
  const g = grid.transform
  const te = [g[0] + w.col * g[1], g[3] + (w.row + w.height) * g[5], g[0] + (w.col + w.width) * g[1], g[3] + w.row * g[5]]
  const out = [...args]
  const at = out.indexOf('-te')
  if (at < 0) throw new RecordError('read', 'WARP_FAILED', 'the warp has no -te to narrow')
  out.splice(at + 1, 4, ...te.map(String))
  return out
}

let seq = 0

/** A part's bands warped onto the sub-window `w` of the grid (a MEM dataset the caller closes). */
async function warpPart (gdal: Gdal, part: Job, args: readonly string[], grid: Grid, w: PixelWindow): Promise<Dataset> {
  const ds = openDataset(part)
  const bands = part.request.bands
  const from = bands ? await gdal.translateAsync('', ds, bandSelectArgs(bands)) : ds
  try {
    return await gdal.warpAsync(`rasterpipe-values-${process.pid}-${++seq}`, null, [from], warpArgs({ args: subArgs(args, grid, w) }, 'MEM'))
  } finally {
    if (from !== ds) closeDataset(from)
  }
}

/** A part's output band's scale and offset, as the stack's VRT gives them, 1 and 0 where it gives none. */
async function scaleOffset (part: Job, b: number): Promise<{ scale: number, offset: number }> {
  const { scale, offset } = await outputScaleOffset(part, b)
  return { scale: scale ?? 1, offset: offset ?? 0 }
}

/** The read stage of a stack's values record: the points' values, or the zone's statistics, of every stacked band. */
export async function readStackValues (gdal: Gdal, job: Job, plan: PointsPlan | ZonalPlan): Promise<{ values: PointValue[] } | { zonal: ZonalStats[] }> {
  const parts = job.parts ?? []
  const planned = grids.get(job)
  if (!planned) throw new RecordError('read', 'NO_WINDOW', 'the stack\'s grid was not planned')
  const grid = planned.grid
  const reads: BandRead[] = []
  const bandNumbers: number[] = []
  if (plan.kind === 'points') {
    for (const part of parts) {
      const values = await partPointValues(gdal, part, grid)
      for (const [k, b] of partBands(part).entries()) {
        const { scale, offset } = await scaleOffset(part, b)
        reads.push(fromPointValues(values, k, scale, offset))
      }
    }
    return { values: pointValues(job, reads, plan.pixels.map((p) => p !== null)) }
  }
  const zone = planned.zone
  const window = zone?.window
  if (!zone || !window) {
    // No pixel of the grid: every band (or expression) counts nothing.
    return { zonal: zonalValues(job, [], new Uint8Array(0), job.zone?.stats ?? [], []) }
  }
  const inside = await rasterizeZone(gdal, grid.transform, zone.srs, window, zone.geometry, job.zone?.allTouched === true)
  for (const part of parts) {
    for (const read of await partWindow(gdal, part, grid, window)) {
      reads.push(read)
      bandNumbers.push(bandNumbers.length + 1)
    }
  }
  return { zonal: zonalValues(job, reads, inside, job.zone?.stats ?? [], bandNumbers) }
}

/** One part's values at the points (per point, its bands read; null where its file or grid has none). */
async function partPointValues (gdal: Gdal, part: Job, grid: Grid): Promise<PointValue[]> {
  const plan = (partValues.get(part) ?? part.plan) as PointsPlan
  const way = ways.get(part)
  const bands = partBands(part)
  if (!way) throw new RecordError('read', 'NO_WINDOW', `${part.url}: the source was not planned`)
  if ('offset' in way) return await readPoints(openDataset(part), plan, async (b) => await outputNodata(part, b))
  // A warped part: each grid pixel under a point warped alone, as the whole grid's warp would make it.
  const done = new Map<number, PointValue>()
  const one: PointsPlan = { kind: 'points', pixels: [{ col: 0, row: 0, read: 0 }], reads: [{ col: 0, row: 0, width: 1, height: 1 }], bands: bands.map((_, i) => i + 1), bytes: 0 }
  const out: PointValue[] = []
  for (const p of plan.pixels) {
    if (!p) { out.push(null); continue }
    let v = done.get(p.read)
    if (v === undefined) {
      const mem = await warpPart(gdal, part, way.args, grid, { col: p.col, row: p.row, width: 1, height: 1 })
      try {
        v = (await readPoints(mem, one))[0]
      } finally {
        closeDataset(mem)
      }
      done.set(p.read, v)
    }
    out.push(v)
  }
  return out
}

/** One part's bands over the zone's window of the grid: values and validity per pixel (invalid past its file's edge). */
async function partWindow (gdal: Gdal, part: Job, grid: Grid, window: PixelWindow): Promise<BandRead[]> {
  const way = ways.get(part)
  const plan = (partValues.get(part) ?? part.plan) as ZonalPlan
  if (!way) throw new RecordError('read', 'NO_WINDOW', `${part.url}: the source was not planned`)
  const bands = partBands(part)
  const n = window.width * window.height
  const out: BandRead[] = []
  if ('offset' in way) {
    const ds = openDataset(part)
    const own = plan.window
    for (const b of bands) {
      const { scale, offset } = await scaleOffset(part, b)
      const data = new Float64Array(n)
      const valid = new Uint8Array(n)
      if (own) {
        // The file's part of the window, put where it lies in the grid's window.
        const read = await readBandWindow(await ds.bands.getAsync(b), own, await outputNodata(part, b))
        const dc = own.col - (window.col + way.offset.col)
        const dr = own.row - (window.row + way.offset.row)
        for (let r = 0; r < own.height; r++) {
          for (let c = 0; c < own.width; c++) {
            const from = r * own.width + c
            const to = (r + dr) * window.width + c + dc
            data[to] = Number(read.data[from])
            valid[to] = read.valid[from]
          }
        }
      }
      out.push({ data, valid, scale, offset })
    }
    return out
  }
  const mem = await warpPart(gdal, part, way.args, grid, window)
  try {
    for (const [i, b] of bands.entries()) {
      const { scale, offset } = await scaleOffset(part, b)
      const read = await readBandWindow(await mem.bands.getAsync(i + 1), { col: 0, row: 0, width: window.width, height: window.height })
      out.push({ data: read.data, valid: read.valid, scale, offset })
    }
  } finally {
    closeDataset(mem)
  }
  return out
}

/**
 * A stack's values record that writes its window too (`out`, --write): the window (the points' bounding
 * box on the grid, the zone's window) as a stack of its own, each source planned onto that sub-grid as a
 * plain stack record's (lib/raster/stack.ts planSource; boundless, so a source the window misses is
 * nodata there, not an error). Each part's values plan is kept for the read; range mode fetches by the
 * write's plans, whose blocks hold the values' (the window holds every point and the zone).
 */
export async function planStackWindow (ctx: StackContext, job: Job, values: PointsPlan | ZonalPlan): Promise<StackPlan> {
  const planned = grids.get(job)
  if (!planned) throw new RecordError('open', 'NO_WINDOW', 'the stack\'s grid was not planned')
  const window = values.kind === 'points' ? pointsWindow(values) : values.window
  if (!window) throw new RecordError('open', 'OUTSIDE', `no ${values.kind === 'points' ? 'point' : 'part of the geometry'} lies on the stack's grid: there is no window to write`)
  checkPixels(window.width, window.height, ctx.maxPixels, 'open')
  const grid = subGrid(planned.grid, window)
  const g = grid.transform
  const bounds: Bbox = [g[0], g[3] + grid.height * g[5], g[0] + grid.width * g[1], g[3]]
  const parts = job.parts ?? []
  let bytes = values.bytes
  for (const part of parts) {
    partValues.set(part, part.plan as PointsPlan | ZonalPlan)
    const opened = part.opened as Opened & { dataset: Dataset }
    const gt = opened.dataset.geoTransform as number[]
    const srs = await opened.dataset.srsAsync as Srs
    const box = planned.srs.isSame(srs) ? bounds : transformBbox(ctx.gdal, bounds, planned.srs, srs)
    try {
      await planSource(ctx, { part, opened, gt, srs, region: bboxToWindow(box, gt) }, grid, planned.srs, { ...part.request, boundless: true })
    } catch (err) {
      throw sourceError(part, parts.length, err, 'open')
    }
    bytes += part.plan?.bytes ?? 0
  }
  return { kind: 'stack', grid, bytes }
}
