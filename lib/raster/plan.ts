// A record's plan (lib/core/job.ts: window | warp | stack, decided at open) as GDAL's own arguments: the one
// place that says how a window meets gdal_translate and a warp gdalwarp, for open (a warp's VRT, which
// gives its grid), read (a window's VRT) and write (a warp into memory, a stack's parts into files).
import type { WarpPlan, WindowPlan } from '../core/job.js'
import type { Bbox, WindowRequest } from '../core/request.js'

/** gdalwarp's name for a method (`nearest` is its `near`). */
function methodArg (method: string | undefined): string {
  return method === undefined || method === 'nearest' ? 'near' : method
}

/** The bands read, as gdal_translate's and gdalwarp's -b list. */
function bandArgs (bands: readonly number[] | undefined): string[] {
  return (bands ?? []).flatMap((b) => ['-b', String(b)])
}

/**
 * A plain window as gdal_translate cuts it: -srcwin, the part's fill past the file's edge (-a_nodata), the
 * bands, and under out_size the level chosen at open (full resolution: NONE), so GDAL reads exactly that one.
 */
export function translateArgs (plan: WindowPlan, format: 'VRT' | 'GTiff'): string[] {
  const w = plan.window
  const args = ['-of', format, '-srcwin', String(w.col), String(w.row), String(w.width), String(w.height)]
  if (plan.nodata !== undefined) args.push('-a_nodata', plan.nodata)
  args.push(...bandArgs(plan.bands))
  if (plan.outSize) args.push('-outsize', String(plan.outSize[0]), String(plan.outSize[1]), '-ovr', plan.overview ? String(plan.overview.index) : 'NONE')
  return args
}

/** A warp's source when it reads some bands only: a VRT selecting them. */
export function bandSelectArgs (bands: readonly number[]): string[] {
  return ['-of', 'VRT', ...bandArgs(bands)]
}

/**
 * The gdalwarp arguments (without -of) for a request, given its target CRS text, its extent in that CRS,
 * the level it is pinned to (null: full resolution) and whether an alpha band marks what lies outside.
 */
export function gdalwarpArgs (r: Readonly<WindowRequest>, target: string | undefined, te: Bbox, ovr: number | null, dstAlpha: boolean): string[] {
  const args: string[] = []
  if (target !== undefined) args.push('-t_srs', target)
  args.push('-te', ...te.map(String))
  if (r.res) args.push('-tr', String(r.res[0]), String(r.res[1]))
  if (r.outSize) args.push('-ts', String(r.outSize[0]), String(r.outSize[1]))
  if (r.tap) args.push('-tap')
  // The exact transformer: gdalwarp's default approximation (-et 0.125) interpolates per chunk, so the
  // grid's VRT (chunked by its blocks) and the pixels' warp would round differently at pixel edges.
  args.push('-r', methodArg(r.resampling), '-et', '0', '-ovr', ovr === null ? 'NONE' : String(ovr))
  // As gdalwarp initialises a new output: nodata where the source has it, so that the kernels blend
  // partly valid pixels against nodata (a warped VRT otherwise starts from 0).
  args.push(...(dstAlpha ? ['-dstalpha', '-wo', 'INIT_DEST=0'] : ['-wo', 'INIT_DEST=NO_DATA']))
  return args
}

/** A planned warp into a dataset of `format`: VRT (its grid, at open), MEM (a window's pixels), GTiff (a stack's part). */
export function warpArgs (plan: Pick<WarpPlan, 'args'>, format: 'VRT' | 'MEM' | 'GTiff'): string[] {
  return ['-of', format, ...plan.args]
}

/** A stack's part, onto the grid in a GTiff of its own: a plain window cut, or a warp. */
export function partArgs (plan: WindowPlan | WarpPlan): string[] {
  return plan.kind === 'window' ? translateArgs(plan, 'GTiff') : warpArgs(plan, 'GTiff')
}
