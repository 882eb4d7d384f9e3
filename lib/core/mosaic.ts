// Mosaics: the methods, what a mosaic record asks, and the per-pixel accumulator that combines a group's
// items one at a time (pure math, no GDAL: lib/raster/mosaic.ts feeds it each item's pixels on the grid).
// A value counts where it is valid (inside the item, not its nodata, not NaN); a pixel no item gives a
// valid value to has none in the result.
import { InvalidValue } from './request.js'

/** `none`: no combining, the group's items' bands stacked in order (a time series). */
export const MOSAIC_METHODS = ['first', 'last', 'min', 'max', 'mean', 'median', 'count', 'none'] as const
export type MosaicMethod = typeof MOSAIC_METHODS[number]
export type Combine = Exclude<MosaicMethod, 'none'>

/** What a mosaic (or time series) record asks: its method, its items and, grouped, its group's key. */
export interface MosaicAsk {
  method: MosaicMethod
  /** The items' ids, in the group's order (none given: each source is an item); each gives `per` sources, in the record's `urls` in turn. */
  items: readonly string[]
  /** How many items: `items`' length, or the number of sources when none are named. */
  count: number
  per: number
  group?: string
  /** A time series' items' dates (ISO 8601), one per item, for its `series` entries. */
  dates?: readonly string[]
}

export function isMosaicMethod (value: unknown): value is MosaicMethod {
  return typeof value === 'string' && (MOSAIC_METHODS as readonly string[]).includes(value)
}

/** A record's `mosaic` (or --mosaic's) value checked; the error names the methods. */
export function mosaicMethod (value: unknown): MosaicMethod {
  if (!isMosaicMethod(value)) throw new InvalidValue(`"mosaic": unknown method ${JSON.stringify(value)} (known: ${MOSAIC_METHODS.join(', ')})`)
  return value
}

/** Bytes per output pixel an accumulator holds for `items` items (median keeps every valid value). */
export function accumulatorBytesPerPixel (method: Combine, items: number): number {
  switch (method) {
    case 'first': case 'last': case 'min': case 'max': return 8 + 1
    case 'mean': return 8 + 4
    case 'count': return 4
    case 'median': return 8 * items + 4
  }
}

/** One output band's combine over `pixels` pixels, fed one item at a time in the group's order. */
export class Accumulator {
  private readonly values: Float64Array
  private readonly counts: Uint32Array
  private readonly seen: Uint8Array

  constructor (readonly method: Combine, readonly pixels: number, readonly items: number) {
    this.values = new Float64Array(method === 'count' ? 0 : method === 'median' ? pixels * items : pixels)
    this.counts = new Uint32Array(method === 'mean' || method === 'median' || method === 'count' ? pixels : 0)
    this.seen = new Uint8Array(method === 'first' || method === 'last' || method === 'min' || method === 'max' ? pixels : 0)
  }

  /** One item's values on the grid; `valid[i]` 0 where it gives none (outside it, its nodata). */
  add (values: ArrayLike<number>, valid: ArrayLike<number>): void {
    const { pixels, method } = this
    const v = this.values
    for (let i = 0; i < pixels; i++) {
      const x = values[i]
      if (valid[i] === 0 || Number.isNaN(x)) continue
      switch (method) {
        case 'first': if (this.seen[i] === 0) { v[i] = x; this.seen[i] = 1 } break
        case 'last': v[i] = x; this.seen[i] = 1; break
        case 'min': if (this.seen[i] === 0 || x < v[i]) v[i] = x; this.seen[i] = 1; break
        case 'max': if (this.seen[i] === 0 || x > v[i]) v[i] = x; this.seen[i] = 1; break
        case 'mean': v[i] += x; this.counts[i]++; break
        case 'count': this.counts[i]++; break
        case 'median': {
          const n = this.counts[i]
          if (n >= this.items) throw new Error(`more than the ${this.items} items the median was made for`)
          v[n * pixels + i] = x
          this.counts[i] = n + 1
          break
        }
      }
    }
  }

  /** The combined values, and whether each pixel has one (count: every pixel, 0 where none). */
  result (): { values: Float64Array, valid: Uint8Array } {
    const { pixels, method } = this
    if (method === 'count') return { values: Float64Array.from(this.counts), valid: new Uint8Array(pixels).fill(1) }
    if (method === 'first' || method === 'last' || method === 'min' || method === 'max') return { values: this.values, valid: this.seen }
    const out = new Float64Array(pixels)
    const valid = new Uint8Array(pixels)
    const column: number[] = []
    for (let i = 0; i < pixels; i++) {
      const n = this.counts[i]
      if (n === 0) continue
      valid[i] = 1
      if (method === 'mean') {
        out[i] = this.values[i] / n
        continue
      }
      column.length = 0
      for (let k = 0; k < n; k++) column.push(this.values[k * pixels + i])
      column.sort((a, b) => a - b)
      // numpy's median: the middle value, or the mean of the two middle ones.
      const h = n >> 1
      out[i] = n % 2 === 1 ? column[h] : (column[h - 1] + column[h]) / 2
    }
    return { values: out, valid }
  }
}
