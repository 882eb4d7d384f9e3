// Per-chip statistics of a written output, read back with GDAL: per band the min, max, mean, standard
// deviation (population) and the fraction of valid pixels, valid meaning what GDAL's mask band says
// (nodata, an alpha band or an internal mask all make a pixel invalid) and not NaN. GDAL 3.6's own
// ComputeStatistics honours nodata only, not masks or alpha, so the sums are made here, in rows.
import type { Dataset, Gdal } from './gdal.js'
import type { ChipStats } from '../core/records.js'

/** Pixels read at once per band: bounds the memory of the pass whatever the chip's size. */
const CHUNK_PIXELS = 1 << 20

export async function chipStats (gdal: Gdal, path: string): Promise<ChipStats[]> {
  const ds: Dataset = await gdal.openAsync(path)
  try {
    const { x: width, y: height } = await ds.rasterSizeAsync
    const out: ChipStats[] = []
    for (let b = 1, n = await ds.bands.countAsync(); b <= n; b++) {
      const band = await ds.bands.getAsync(b)
      const mask = band.getMaskBand()
      let count = 0
      let mean = 0
      let m2 = 0
      let min = Infinity
      let max = -Infinity
      const rows = Math.max(1, Math.floor(CHUNK_PIXELS / width))
      for (let y = 0; y < height; y += rows) {
        const h = Math.min(rows, height - y)
        const values = await band.pixels.readAsync(0, y, width, h) as ArrayLike<number>
        // GDAL always gives a mask band (all valid when the band has no nodata, alpha or mask).
        const valid = mask ? await mask.pixels.readAsync(0, y, width, h) as ArrayLike<number> : null
        for (let i = 0; i < values.length; i++) {
          const v = values[i]
          if (valid?.[i] === 0 || Number.isNaN(v)) continue
          // Welford: a stable mean and variance in one pass.
          count++
          const d = v - mean
          mean += d / count
          m2 += d * (v - mean)
          if (v < min) min = v
          if (v > max) max = v
        }
      }
      out.push(count === 0
        ? { band: b, min: null, max: null, mean: null, std: null, valid: 0 }
        : { band: b, min, max, mean, std: Math.sqrt(m2 / count), valid: count / (width * height) })
    }
    return out
  } finally {
    ds.close()
  }
}

/** A chip's valid fraction for --min-valid: its least valid band's. */
export function validFraction (stats: ChipStats[]): number {
  return stats.reduce((f, s) => Math.min(f, s.valid), 1)
}
