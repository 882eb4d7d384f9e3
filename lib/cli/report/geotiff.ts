// An output's grid read from its GeoTIFF tags alone (first directory: size, ModelPixelScale +
// ModelTiepoint or ModelTransformation, and the EPSG code of its GeoKeys), for the map's footprints: the
// report opens every output of a run, and GDAL's open with its CRS took most of a 10,000-record report's
// time (bench/RESULTS.md, "Report"). Anything else (another format, a CRS without an EPSG code, a
// rotated grid) answers undefined, and GDAL opens the file instead.
import { closeSync, openSync, readSync } from 'node:fs'

export interface TiffGrid {
  transform: number[]
  width: number
  height: number
  /** `EPSG:n` */
  crs: string
}

/** Bytes read first: a GeoTIFF's first directory and its geo tags lie within them, as GDAL writes it. */
const HEAD = 4096
/** One buffer for every file's head (the report reads them one at a time). */
const head = Buffer.allocUnsafe(HEAD)
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 }

export function tiffGrid (path: string): TiffGrid | undefined {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const file = fd
    const read = (offset: number, length: number): Buffer => {
      const b = offset === 0 && length === HEAD ? head : Buffer.allocUnsafe(length)
      const n = readSync(file, b, 0, length, offset)
      return b.subarray(0, n)
    }
    return parse(read)
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** The grid from a reader of the file's bytes. */
export function parse (read: (offset: number, length: number) => Buffer): TiffGrid | undefined {
  const first = read(0, HEAD)
  if (first.length < 16) return undefined
  const le = first.toString('latin1', 0, 2) === 'II'
  if (!le && first.toString('latin1', 0, 2) !== 'MM') return undefined
  const u16 = (b: Buffer, o: number): number => le ? b.readUInt16LE(o) : b.readUInt16BE(o)
  const u32 = (b: Buffer, o: number): number => le ? b.readUInt32LE(o) : b.readUInt32BE(o)
  const u64 = (b: Buffer, o: number): number => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o))
  const f64 = (b: Buffer, o: number): number => le ? b.readDoubleLE(o) : b.readDoubleBE(o)
  const magic = u16(first, 2)
  const big = magic === 43
  if (magic !== 42 && !big) return undefined
  const ifd = big ? u64(first, 8) : u32(first, 4)
  const at = (offset: number, length: number): Buffer => offset + length <= first.length ? first.subarray(offset, offset + length) : read(offset, length)
  const countSize = big ? 8 : 2
  const entrySize = big ? 20 : 12
  const count = big ? u64(at(ifd, 8), 0) : u16(at(ifd, 2), 0)
  if (count > 4096) return undefined
  const entries = at(ifd + countSize, count * entrySize)
  const tags = new Map<number, number[]>()
  const inline = big ? 8 : 4
  for (let i = 0; i < count; i++) {
    const e = i * entrySize
    const tag = u16(entries, e)
    if (![256, 257, 33550, 33922, 34264, 34735].includes(tag)) continue
    const type = u16(entries, e + 2)
    const n = big ? u64(entries, e + 4) : u32(entries, e + 4)
    const size = TYPE_SIZE[type]
    if (!size || n > 100_000) return undefined
    const valueAt = e + (big ? 12 : 8)
    const bytes = n * size <= inline ? entries.subarray(valueAt, valueAt + n * size) : at(big ? u64(entries, valueAt) : u32(entries, valueAt), n * size)
    const values: number[] = []
    for (let k = 0; k < n; k++) {
      const o = k * size
      values.push(type === 3 ? u16(bytes, o) : type === 4 ? u32(bytes, o) : type === 16 ? u64(bytes, o) : type === 12 ? f64(bytes, o) : NaN)
    }
    if (values.some(Number.isNaN)) return undefined
    tags.set(tag, values)
  }
  const width = tags.get(256)?.[0]
  const height = tags.get(257)?.[0]
  const keys = tags.get(34735)
  if (!width || !height || !keys) return undefined
  // GeoKeyDirectory: a header of 4 shorts, then (key, location, count, value) quadruples.
  const geo = new Map<number, number>()
  for (let k = 4; k + 3 < keys.length; k += 4) if (keys[k + 1] === 0) geo.set(keys[k], keys[k + 3])
  const model = geo.get(1024)
  const code = model === 1 ? geo.get(3072) : model === 2 ? geo.get(2048) : undefined
  // 32767: user-defined, described by other keys: GDAL reads those.
  if (code === undefined || code === 32767 || code === 0) return undefined
  let transform: number[]
  const scale = tags.get(33550)
  const tie = tags.get(33922)
  const matrix = tags.get(34264)
  if (scale && tie && tie.length === 6 && scale.length >= 2) {
    transform = [tie[3] - tie[0] * scale[0], scale[0], 0, tie[4] + tie[1] * scale[1], 0, -scale[1]]
  } else if (matrix && matrix.length === 16) {
    transform = [matrix[3], matrix[0], matrix[1], matrix[7], matrix[4], matrix[5]]
  } else {
    return undefined
  }
  // PixelIsPoint (GTRasterTypeGeoKey 2): the tie point is a pixel's centre; GDAL moves it half a pixel.
  if (geo.get(1025) === 2) {
    transform[0] -= (transform[1] + transform[2]) / 2
    transform[3] -= (transform[4] + transform[5]) / 2
  }
  return { transform, width, height, crs: `EPSG:${code}` }
}
