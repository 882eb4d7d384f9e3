// A small TIFF/BigTIFF directory reader: enough to plan range reads. It walks the IFD chain, reads the
// block offsets and sizes, and lists every byte range GDAL reads when it opens the file (header, IFDs,
// and every tag value stored out of line), so that those and only the blocks under a window need fetching.
import type { Range } from './ranges.js'

export interface TiffIfd {
  width: number
  height: number
  /** Tile size, or for strips the image width and RowsPerStrip. */
  blockWidth: number
  blockHeight: number
  tiled: boolean
  samples: number
  /** 1 chunky (pixel-interleaved), 2 planar (band-interleaved). */
  planar: number
  /** NewSubfileType: bit 0 reduced resolution (overview), bit 2 transparency mask. */
  subfile: number
  offsets: number[]
  byteCounts: number[]
}

export interface TiffInfo {
  ifds: TiffIfd[]
  /** Every range GDAL reads on open: header, directories and out-of-line tag values. */
  structure: Range[]
}

/** Reads `length` bytes at `offset`, fetching them when needed. */
export type ByteReader = (offset: number, length: number) => Promise<Buffer>

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 }
const MAX_IFDS = 64
/** NewSubfileType, width, height, samples, planar configuration, and where the blocks lie. */
const DECODED = new Set([254, 256, 257, 273, 277, 278, 279, 284, 322, 323, 324, 325])
const MAX_ENTRIES = 4096

export class NotTiff extends Error {
  override name = 'NotTiff'
}

export function looksLikeTiff (head: Buffer): boolean {
  if (head.length < 8) return false
  const order = head.toString('latin1', 0, 2)
  if (order !== 'II' && order !== 'MM') return false
  const magic = order === 'II' ? head.readUInt16LE(2) : head.readUInt16BE(2)
  return magic === 42 || magic === 43
}

export async function readTiff (read: ByteReader): Promise<TiffInfo> {
  const head = await read(0, 16)
  if (!looksLikeTiff(head)) throw new NotTiff('not a TIFF')
  const le = head.toString('latin1', 0, 2) === 'II'
  const big = (le ? head.readUInt16LE(2) : head.readUInt16BE(2)) === 43
  const u16 = (b: Buffer, o: number): number => le ? b.readUInt16LE(o) : b.readUInt16BE(o)
  const u32 = (b: Buffer, o: number): number => le ? b.readUInt32LE(o) : b.readUInt32BE(o)
  const u64 = (b: Buffer, o: number): number => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o))
  const offsetAt = (b: Buffer, o: number): number => big ? u64(b, o) : u32(b, o)

  const structure: Range[] = [[0, big ? 16 : 8]]
  const ifds: TiffIfd[] = []
  let next = offsetAt(head, big ? 8 : 4)
  const seen = new Set<number>()
  while (next !== 0 && ifds.length < MAX_IFDS) {
    if (seen.has(next)) throw new NotTiff('IFD loop')
    seen.add(next)
    const countBytes = big ? 8 : 2
    const entrySize = big ? 20 : 12
    const countBuf = await read(next, countBytes)
    const count = big ? u64(countBuf, 0) : u16(countBuf, 0)
    if (count > MAX_ENTRIES) throw new NotTiff(`IFD with ${count} entries`)
    const size = countBytes + count * entrySize + (big ? 8 : 4)
    const dir = await read(next, size)
    structure.push([next, next + size])
    const tags = new Map<number, number[]>()
    for (let i = 0; i < count; i++) {
      const e = countBytes + i * entrySize
      const tag = u16(dir, e)
      const type = u16(dir, e + 2)
      const n = big ? u64(dir, e + 4) : u32(dir, e + 4)
      const bytes = (TYPE_SIZE[type] ?? 1) * n
      const inline = bytes <= (big ? 8 : 4)
      const valueAt = e + (big ? 12 : 8)
      const at = inline ? -1 : offsetAt(dir, valueAt)
      if (!inline) structure.push([at, at + bytes])
      // Only the tags that place blocks are decoded; the rest are just located.
      if (!DECODED.has(tag)) continue
      const values = inline ? dir.subarray(valueAt, valueAt + bytes) : await read(at, bytes)
      const list: number[] = []
      for (let k = 0; k < n; k++) {
        if (type === 3) list.push(u16(values, k * 2))
        else if (type === 4 || type === 13) list.push(u32(values, k * 4))
        else if (type === 16 || type === 18) list.push(u64(values, k * 8))
        else if (type === 1) list.push(values[k])
      }
      tags.set(tag, list)
    }
    next = offsetAt(dir, countBytes + count * entrySize)
    const width = tags.get(256)?.[0] ?? 0
    const height = tags.get(257)?.[0] ?? 0
    const tiled = tags.has(322)
    ifds.push({
      width,
      height,
      tiled,
      blockWidth: tiled ? tags.get(322)?.[0] ?? 0 : width,
      blockHeight: tiled ? tags.get(323)?.[0] ?? 0 : Math.min(tags.get(278)?.[0] ?? height, height),
      samples: tags.get(277)?.[0] ?? 1,
      planar: tags.get(284)?.[0] ?? 1,
      subfile: tags.get(254)?.[0] ?? 0,
      offsets: tags.get(tiled ? 324 : 273) ?? [],
      byteCounts: tags.get(tiled ? 325 : 279) ?? []
    })
  }
  return { ifds, structure }
}
