// Which byte ranges of a TIFF a window read needs: the blocks (tiles or strips) under the window, of
// every band read, at the one level the read is pinned to (lib/overview.ts), and of that level's mask;
// and, for an output that copies the source's overviews, those of every overview level and its mask.
import type { Range } from './ranges.js'
import type { PixelWindow } from '../core/request.js'
import type { TiffInfo, TiffIfd } from './tiff.js'

/** GDAL's COG layout may put a 4-byte size before each block and repeat its last 4 bytes after it. */
const BLOCK_PAD = 4

const isMask = (ifd: TiffIfd): boolean => (ifd.subfile & 4) !== 0

/** The plan cannot be sure which blocks GDAL reads: the caller fetches everything, or fails. */
export class UncertainPlan extends Error {
  override name = 'UncertainPlan'
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

/** Reduced-resolution images: GDAL's overviews of a TIFF (NewSubfileType bit 0, not a mask). */
const isOverview = (ifd: TiffIfd): boolean => (ifd.subfile & 1) !== 0 && !isMask(ifd)

/**
 * Byte ranges needed to read `window` (clipped to the raster here) of `bands` (1-based; all if none),
 * from full resolution or from the pinned overview of the given size. With `overviews`, also from every
 * overview level: gdal_translate's window VRT exposes the source's overviews as its own (GDAL's virtual
 * overviews), and an output driver that copies them (COG, GTiff's COPY_SRC_OVERVIEWS, KEA) reads each
 * under the window, whichever level GDAL then picks for each.
 */
export function planBlocks (info: TiffInfo, window: PixelWindow, bands: readonly number[] | undefined, overview?: { width: number, height: number }, overviews = false): Range[] {
  const images = info.ifds.filter((i) => !isMask(i))
  const full = images[0]
  if (!full) return []
  const c0 = Math.max(0, window.col)
  const r0 = Math.max(0, window.row)
  const c1 = Math.min(full.width, window.col + window.width)
  const r1 = Math.min(full.height, window.row + window.height)
  if (c1 <= c0 || r1 <= r0) return []
  let level = full
  if (overview) {
    // GDAL's overview, found among the reduced-resolution directories by its size; anything but exactly
    // one match means the file is not laid out as we read it.
    const matches = images.slice(1).filter((i) => i.width === overview.width && i.height === overview.height)
    if (matches.length !== 1) throw new UncertainPlan(`the ${overview.width}×${overview.height} overview matches ${matches.length} directories`)
    level = matches[0]
  }
  const samples = (bands ?? Array.from({ length: full.samples }, (_, i) => i + 1)).map((b) => b - 1)
  const levels = overviews ? [level, ...images.slice(1).filter((i) => i !== level && isOverview(i))] : [level]
  return levels.flatMap((l) => levelBlocks(info, full, l, [c0, r0, c1, r1], samples))
}

/** The blocks of one level (and of its mask) under the full-resolution window [c0, r0, c1, r1). */
function levelBlocks (info: TiffInfo, full: TiffIfd, level: TiffIfd, [c0, r0, c1, r1]: number[], samples: number[]): Range[] {
  if (level.samples !== full.samples) throw new UncertainPlan(`a level has ${level.samples} samples where the image has ${full.samples}`)
  const fx = full.width / level.width
  const fy = full.height / level.height
  // The window scaled to the level is fractional on an overview: a pixel more on each side covers every
  // pixel GDAL's resampling may touch. (At full resolution the window is whole pixels.)
  const margin = level === full ? 0 : 1
  const x0 = Math.max(0, Math.floor(c0 / fx) - margin)
  const y0 = Math.max(0, Math.floor(r0 / fy) - margin)
  const x1 = Math.min(level.width, Math.ceil(c1 / fx) + margin)
  const y1 = Math.min(level.height, Math.ceil(r1 / fy) + margin)
  const ranges = blocksOf(level, x0, y0, x1, y1, samples)
  const masks = info.ifds.filter((i) => isMask(i) && i.width === level.width && i.height === level.height)
  if (masks.length > 1) throw new UncertainPlan(`${masks.length} masks of ${level.width}×${level.height}`)
  // A mask at full resolution but none at this level: GDAL may build this level's mask from the full one.
  if (masks.length === 0 && info.ifds.some(isMask)) throw new UncertainPlan(`no mask of ${level.width}×${level.height} beside the image's mask`)
  if (masks.length === 1) ranges.push(...blocksOf(masks[0], x0, y0, x1, y1, [0]))
  return ranges
}

/**
 * Byte ranges a point sample reads (lib/raster/points.ts): the blocks under each of its reads (one block
 * each, at full resolution, with the mask's), every block once however many points it holds.
 */
export function planPointBlocks (info: TiffInfo, reads: readonly PixelWindow[], bands: readonly number[] | undefined, overview?: { width: number, height: number }): Range[] {
  const seen = new Set<string>()
  const out: Range[] = []
  for (const w of reads) {
    for (const r of planBlocks(info, w, bands, overview)) {
      const key = `${r[0]}-${r[1]}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push(r)
    }
  }
  return out
}
