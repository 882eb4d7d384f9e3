// Byte ranges as [start, end) pairs: merging what is close, and knowing what is held.

import type { Range } from '../core/fetched.js'

export type { Range }

/** Sorts and merges ranges that overlap or lie within `gap` bytes of each other. */
export function mergeRanges (ranges: Range[], gap = 0): Range[] {
  const sorted = ranges.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0])
  const out: Range[] = []
  for (const [a, b] of sorted) {
    const last = out[out.length - 1]
    if (last && a <= last[1] + gap) last[1] = Math.max(last[1], b)
    else out.push([a, b])
  }
  return out
}

/** The parts of `wanted` not yet in `held` (both merged). */
export function missingRanges (wanted: Range[], held: Range[]): Range[] {
  const out: Range[] = []
  for (const [a0, b] of wanted) {
    let a = a0
    for (const [h0, h1] of held) {
      if (h1 <= a || h0 >= b) continue
      if (h0 > a) out.push([a, h0])
      a = Math.max(a, h1)
      if (a >= b) break
    }
    if (a < b) out.push([a, b])
  }
  return out
}

export function totalBytes (ranges: Range[]): number {
  return ranges.reduce((sum, [a, b]) => sum + (b - a), 0)
}
