// Which byte ranges of a TIFF a window read needs: the blocks (tiles or strips) under the window, of
// every band read, at the resolution level GDAL will read from, and of the mask at that level.
import type { Range } from './ranges.js'
import type { PixelWindow } from './request.js'
import type { TiffInfo, TiffIfd } from './tiff.js'

/** GDAL's COG layout may put a 4-byte size before each block and repeat its last 4 bytes after it. */
const BLOCK_PAD = 4

const isMask = (ifd: TiffIfd): boolean => (ifd.subfile & 4) !== 0

/**
 * The levels GDAL may read a window of `w`×`h` from to make `outW`×`outH` pixels: the most reduced
 * overview whose reduction is under the requested one times a threshold. GDAL's threshold is 1.2 or 1.0
 * depending on version and resampling; both candidates are returned, so that the read never meets a
 * block that was not fetched.
 */
export function candidateLevels (info: TiffInfo, w: number, h: number, outSize?: [number, number]): TiffIfd[] {
  const images = info.ifds.filter((i) => !isMask(i))
  const full = images[0]
  if (!full) return []
  if (!outSize) return [full]
  const desired = Math.min(w / outSize[0], h / outSize[1])
  const levels = new Set<TiffIfd>()
  for (const threshold of [1.0, 1.2]) {
    let best = full
    let bestFactor = 1
    for (const ovr of images.slice(1)) {
      const factor = full.width / ovr.width
      if (factor < desired * threshold && factor > bestFactor) {
        best = ovr
        bestFactor = factor
      }
    }
    levels.add(best)
  }
  return [...levels]
}

function blocksOf (ifd: TiffIfd, x0: number, y0: number, x1: number, y1: number, samples: number[]): Range[] {
  const across = Math.ceil(ifd.width / ifd.blockWidth)
  const down = Math.ceil(ifd.height / ifd.blockHeight)
  const perPlane = across * down
  const planes = ifd.planar === 2 ? samples : [0]
  const out: Range[] = []
  for (const plane of planes) {
    for (let by = Math.floor(y0 / ifd.blockHeight); by <= Math.floor((y1 - 1) / ifd.blockHeight) && by < down; by++) {
      for (let bx = Math.floor(x0 / ifd.blockWidth); bx <= Math.floor((x1 - 1) / ifd.blockWidth) && bx < across; bx++) {
        const i = plane * perPlane + by * across + bx
        const offset = ifd.offsets[i]
        const count = ifd.byteCounts[i]
        if (!offset || !count) continue // a sparse block: GDAL fills it without reading
        out.push([Math.max(0, offset - BLOCK_PAD), offset + count + BLOCK_PAD])
      }
    }
  }
  return out
}

/** Byte ranges needed to read `window` (clipped to the raster here) of `bands` (1-based; all if none). */
export function planBlocks (info: TiffInfo, window: PixelWindow, bands: number[] | undefined, outSize?: [number, number]): Range[] {
  const full = info.ifds.find((i) => !isMask(i))
  if (!full) return []
  const c0 = Math.max(0, window.col)
  const r0 = Math.max(0, window.row)
  const c1 = Math.min(full.width, window.col + window.width)
  const r1 = Math.min(full.height, window.row + window.height)
  if (c1 <= c0 || r1 <= r0) return []
  const samples = (bands ?? Array.from({ length: full.samples }, (_, i) => i + 1)).map((b) => b - 1)
  const ranges: Range[] = []
  // The reduction GDAL weighs is that of the window asked for, clipped or not.
  for (const level of candidateLevels(info, window.width, window.height, outSize)) {
    const fx = full.width / level.width
    const fy = full.height / level.height
    // GDAL reads an overview over the window scaled exactly, or over its rounded integer form
    // (GDALBandGetBestOverviewLevel2): take the union of both.
    const x0 = Math.max(0, Math.min(Math.floor(c0 / fx), Math.round(c0 / fx)))
    const y0 = Math.max(0, Math.min(Math.floor(r0 / fy), Math.round(r0 / fy)))
    const x1 = Math.min(level.width, Math.max(Math.ceil(c1 / fx), Math.round(c0 / fx) + Math.max(1, Math.round((c1 - c0) / fx))))
    const y1 = Math.min(level.height, Math.max(Math.ceil(r1 / fy), Math.round(r0 / fy) + Math.max(1, Math.round((r1 - r0) / fy))))
    ranges.push(...blocksOf(level, x0, y0, x1, y1, samples))
    const mask = info.ifds.find((i) => isMask(i) && i.width === level.width && i.height === level.height)
    if (mask) ranges.push(...blocksOf(mask, x0, y0, x1, y1, [0]))
  }
  return ranges
}
