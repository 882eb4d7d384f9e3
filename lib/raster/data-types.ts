// One data type for bands of several: the smallest of GDAL's that holds every value of each (as
// GDALDataTypeUnion, which gdal-async does not expose). A stack of UInt16 bands and a Byte band is UInt16.

/** GDAL's integer types by the values they hold, smallest first (Int8 and 64-bit: GDAL 3.7+ only below). */
const INTEGERS: [string, number, number][] = [
  ['Byte', 0, 255], ['UInt16', 0, 65535], ['Int16', -32768, 32767], ['UInt32', 0, 4294967295], ['Int32', -2147483648, 2147483647]
]
const RANGES: Record<string, [number, number]> = {
  Int8: [-128, 127], UInt64: [0, 2 ** 64], Int64: [-(2 ** 63), 2 ** 63], ...Object.fromEntries(INTEGERS.map(([n, lo, hi]) => [n, [lo, hi]]))
}

export function unionType (types: string[]): string {
  const distinct = [...new Set(types)]
  if (distinct.length === 1) return distinct[0]
  if (distinct.some((t) => t.startsWith('C'))) return 'CFloat64'
  let lo = 0
  let hi = 0
  let float: 'Float32' | 'Float64' | null = null
  for (const t of distinct) {
    if (t === 'Float32' || t === 'Float64') {
      float = t === 'Float64' || float === 'Float64' ? 'Float64' : 'Float32'
      continue
    }
    const range = RANGES[t] ?? [-Infinity, Infinity]
    lo = Math.min(lo, range[0])
    hi = Math.max(hi, range[1])
  }
  // Float32 holds integers exactly up to 2^24: 16-bit ones, not 32-bit ones.
  if (float !== null) return float === 'Float32' && lo >= -32768 && hi <= 65535 ? 'Float32' : 'Float64'
  return INTEGERS.find(([, l, h]) => l <= lo && hi <= h)?.[0] ?? 'Float64'
}
