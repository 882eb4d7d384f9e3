// The whole of a STAC Item as a bbox request: in the item's own CRS when its projection extension says
// it (proj:bbox, or proj:transform with proj:shape, with proj:epsg or proj:code), so that the window is
// the raster itself; else its GeoJSON bbox in EPSG:4326, a lon/lat envelope that GDAL's -projwin
// rounding can turn into a pixel more or less at an edge.
import { RecordError } from '../core/errors.js'
import { option, words } from '../core/words.js'
import { isObject } from '../core/request.js'

export interface Extent { bbox: number[], crs: string }

/** The extent of an item read whole, by its first source's asset (whose grid a pixel window is in). */
export function itemExtent (item: Record<string, unknown>, asset: Record<string, unknown>, label: string): Extent {
  const properties = isObject(item.properties) ? item.properties : {}
  // Asset-level projection fields describe that asset's own grid, and win over the item's.
  for (const where of [asset, properties]) {
    const crs = projCode(where) ?? projCode(properties)
    const bbox = numbers(where['proj:bbox'], 4) ?? fromTransform(where)
    if (crs !== undefined && bbox !== undefined && bbox[0] < bbox[2] && bbox[1] < bbox[3]) return { bbox, crs }
  }
  const b = item.bbox
  if (Array.isArray(b) && (b.length === 4 || b.length === 6) && b.every((n) => typeof n === 'number' && Number.isFinite(n))) {
    const nums = b as number[]
    return { bbox: b.length === 4 ? nums : [nums[0], nums[1], nums[3], nums[4]], crs: 'EPSG:4326' }
  }
  throw new RecordError('input', 'BAD_RECORD', words`${label}: no "bbox" to read the whole item by; give a "bbox" or "window" (or ${option('bbox')}, ${option('window')})`)
}

function projCode (o: Record<string, unknown>): string | undefined {
  const epsg = o['proj:epsg']
  if (typeof epsg === 'number' && Number.isSafeInteger(epsg) && epsg > 0) return `EPSG:${epsg}`
  const code = o['proj:code']
  return typeof code === 'string' && /^[A-Za-z]+:\w+$/.test(code) ? code : undefined
}

/** proj:transform ([a, b, c, d, e, f]: x = a·col + b·row + c, y = d·col + e·row + f) over proj:shape ([rows, cols]), north-up only. */
function fromTransform (o: Record<string, unknown>): number[] | undefined {
  const t = numbers(o['proj:transform'], 6) ?? numbers(o['proj:transform'], 9)
  const shape = numbers(o['proj:shape'], 2)
  if (!t || !shape || t[1] !== 0 || t[3] !== 0) return undefined
  const xs = [t[2], t[2] + t[0] * shape[1]]
  const ys = [t[5], t[5] + t[4] * shape[0]]
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
}

function numbers (v: unknown, count: number): number[] | undefined {
  return Array.isArray(v) && v.length === count && v.every((n) => typeof n === 'number' && Number.isFinite(n)) ? v as number[] : undefined
}

