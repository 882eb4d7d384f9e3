// Which resolution level a resampled read uses. rasterpipe chooses it and pins it for GDAL's read
// (gdal_translate's -ovr), instead of letting GDAL pick one per chunk it reads: range mode must fetch
// exactly the level that is read, so there must be nothing left to predict.
//
// The rule: the most reduced level that still has at least as many pixels as the output in both axes
// over the window (no upsampling from a coarser level); full resolution when none qualifies or when the
// output is not smaller than the window.

export interface Size { x: number, y: number }

/** The 0-based index into GDAL's overview list of band 1, or null for full resolution. */
export function chooseOverview (full: Size, overviews: Size[], window: { width: number, height: number }, outSize?: readonly [number, number]): number | null {
  if (!outSize) return null
  let best: number | null = null
  let bestFactor = 1
  overviews.forEach((ovr, i) => {
    if (!(ovr.x > 0 && ovr.y > 0)) return
    const fx = full.x / ovr.x
    const fy = full.y / ovr.y
    if (window.width / fx >= outSize[0] && window.height / fy >= outSize[1] && fx * fy > bestFactor) {
      best = i
      bestFactor = fx * fy
    }
  })
  return best
}
