// A small, strict TIFF/BigTIFF directory reader: enough to plan range reads, and no more trusting than
// that needs. It walks the IFD chain, reads where the blocks lie, and lists every byte range GDAL reads
// when it opens the file (header, IFDs, and every tag value stored out of line).
//
// Range mode is only as right as this reading: a block that libtiff finds somewhere else than we do is a
// hole in the sparse file, and holes decode as zeros. So anything libtiff would read by a rule of its own
// (missing or short byte counts it works out itself, duplicate tags, signed offset types, tile and strip
// tags mixed, counts that do not match the image) is refused here with NotTiff, naming what and where:
// under `--fetch auto` such a file is downloaded, under `range` it is a clear error. Every count is
// checked against the file's size before anything is read or allocated.
import type { Range, TiffIfd, TiffInfo } from '../core/fetched.js'

export type { TiffIfd, TiffInfo }

/** Reads `length` bytes at `offset`, fetching them when needed. */
export type ByteReader = (offset: number, length: number) => Promise<Buffer>

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 }
/** Directories followed; a longer chain is refused rather than half read. */
const MAX_IFDS = 64
const MAX_ENTRIES = 4096
/** Blocks of one directory: 2^22 is a gigapixel in 16×16 tiles; more is a hostile header, not an image. */
const MAX_BLOCKS = 1 << 22
const TAG = {
  subfile: 254, width: 256, height: 257, bitsPerSample: 258, compression: 259, stripOffsets: 273, samples: 277,
  rowsPerStrip: 278, stripByteCounts: 279, planar: 284, tileWidth: 322, tileHeight: 323, tileOffsets: 324, tileByteCounts: 325
} as const
/** Tags whose values are decoded; the rest are only located. */
const DECODED = new Set<number>(Object.values(TAG))
/** Unsigned integer types: BYTE, SHORT, LONG, LONG8 (and IFD, IFD8). libtiff reads signed offsets its own way. */
const UNSIGNED = new Set([1, 3, 4, 13, 16, 18])
/** Decoded tags with more values than this are not a sane scalar. */
const MAX_SCALAR_VALUES = 64

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

interface Entry { tag: number, type: number, count: number, inline: Buffer | null, at: number }

export async function readTiff (read: ByteReader, size: number): Promise<TiffInfo> {
  // Every read is checked against the file's size first: a directory or value past the end is a
  // truncated or broken file, said so, not a Node RangeError.
  const readChecked = async (offset: number, length: number, what: string): Promise<Buffer> => {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > size) {
      throw new NotTiff(`${what} at byte ${offset} (${length} bytes) lies past the end of the ${size}-byte file`)
    }
    const buf = await read(offset, length)
    if (buf.length < length) throw new NotTiff(`${what} at byte ${offset}: only ${buf.length} of ${length} bytes could be read`)
    return buf
  }
  const head = await readChecked(0, Math.min(16, size), 'header')
  if (!looksLikeTiff(head)) throw new NotTiff('not a TIFF')
  const le = head.toString('latin1', 0, 2) === 'II'
  const big = (le ? head.readUInt16LE(2) : head.readUInt16BE(2)) === 43
  if (big && head.length < 16) throw new NotTiff('BigTIFF header is truncated')
  const u16 = (b: Buffer, o: number): number => le ? b.readUInt16LE(o) : b.readUInt16BE(o)
  const u32 = (b: Buffer, o: number): number => le ? b.readUInt32LE(o) : b.readUInt32BE(o)
  const u64 = (b: Buffer, o: number): number => {
    const v = le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new NotTiff(`a 64-bit value of ${v} is beyond any file`)
    return Number(v)
  }
  const offsetAt = (b: Buffer, o: number): number => big ? u64(b, o) : u32(b, o)
  const valueOf = (b: Buffer, type: number, k: number): number => {
    if (type === 3) return u16(b, k * 2)
    if (type === 4 || type === 13) return u32(b, k * 4)
    if (type === 16 || type === 18) return u64(b, k * 8)
    return b[k]
  }

  const structure: Range[] = [[0, big ? 16 : 8]]
  const ifds: TiffIfd[] = []
  let next = offsetAt(head, big ? 8 : 4)
  const seen = new Set<number>()
  while (next !== 0) {
    if (ifds.length === MAX_IFDS) throw new NotTiff(`more than ${MAX_IFDS} directories`)
    if (seen.has(next)) throw new NotTiff(`IFD loop: directory ${ifds.length} points back to byte ${next}`)
    seen.add(next)
    const where = `IFD ${ifds.length}`
    const countBytes = big ? 8 : 2
    const entrySize = big ? 20 : 12
    const count = big ? u64(await readChecked(next, 8, `${where} entry count`), 0) : u16(await readChecked(next, 2, `${where} entry count`), 0)
    if (count === 0 || count > MAX_ENTRIES) throw new NotTiff(`${where} has ${count} entries`)
    const dirSize = countBytes + count * entrySize + (big ? 8 : 4)
    const dir = await readChecked(next, dirSize, where)
    structure.push([next, next + dirSize])

    const entries = new Map<number, Entry>()
    for (let i = 0; i < count; i++) {
      const e = countBytes + i * entrySize
      const tag = u16(dir, e)
      const type = u16(dir, e + 2)
      const n = big ? u64(dir, e + 4) : u32(dir, e + 4)
      // libtiff keeps the first of duplicate tags and GDAL then reads its own way: not ours to guess.
      if (entries.has(tag)) throw new NotTiff(`${where} has tag ${tag} twice`)
      const typeSize = TYPE_SIZE[type]
      if (typeSize === undefined) {
        if (DECODED.has(tag)) throw new NotTiff(`${where} tag ${tag} has unknown type ${type}`)
        continue // libtiff skips entries of unknown types
      }
      const bytes = typeSize * n
      if (bytes > size) throw new NotTiff(`${where} tag ${tag} claims ${n} values (${bytes} bytes), more than the ${size}-byte file`)
      const valueAt = e + (big ? 12 : 8)
      const inline = bytes <= (big ? 8 : 4)
      const at = inline ? -1 : offsetAt(dir, valueAt)
      if (!inline) {
        if (at + bytes > size) throw new NotTiff(`${where} tag ${tag}: its ${bytes} bytes at ${at} lie past the end of the ${size}-byte file`)
        structure.push([at, at + bytes])
      }
      entries.set(tag, { tag, type, count: n, inline: inline ? dir.subarray(valueAt, valueAt + bytes) : null, at })
    }
    next = offsetAt(dir, countBytes + count * entrySize)
    // GDAL also reads overviews and masks from SubIFDs (tag 330), which this reader does not follow.
    if (entries.has(330)) throw new NotTiff(`${where} has SubIFDs (tag 330), whose overviews and masks GDAL reads too`)

    const values = async (tag: number, max: number): Promise<number[] | undefined> => {
      const e = entries.get(tag)
      if (!e) return undefined
      if (!UNSIGNED.has(e.type)) throw new NotTiff(`${where} tag ${tag} has type ${e.type}, not an unsigned integer`)
      if (e.count > max) throw new NotTiff(`${where} tag ${tag} has ${e.count} values where ${max} are expected`)
      const buf = e.inline ?? await readChecked(e.at, TYPE_SIZE[e.type] * e.count, `${where} tag ${tag}`)
      return Array.from({ length: e.count }, (_, k) => valueOf(buf, e.type, k))
    }
    const scalar = async (tag: number, fallback?: number): Promise<number> => {
      const list = await values(tag, MAX_SCALAR_VALUES)
      const v = list?.[0] ?? fallback
      if (v === undefined) throw new NotTiff(`${where} lacks tag ${tag}`)
      return v
    }

    const width = await scalar(TAG.width)
    const height = await scalar(TAG.height)
    const samples = await scalar(TAG.samples, 1)
    const planar = await scalar(TAG.planar, 1)
    const subfile = await scalar(TAG.subfile, 0)
    const compression = await scalar(TAG.compression, 1)
    if (!(width > 0 && height > 0 && samples > 0)) throw new NotTiff(`${where} is ${width}×${height} with ${samples} samples`)
    if (planar !== 1 && planar !== 2) throw new NotTiff(`${where} has PlanarConfiguration ${planar}`)
    const hasTiles = [TAG.tileWidth, TAG.tileHeight, TAG.tileOffsets, TAG.tileByteCounts].filter((t) => entries.has(t)).length
    const hasStrips = [TAG.stripOffsets, TAG.stripByteCounts].filter((t) => entries.has(t)).length
    const tiled = hasTiles > 0
    // libtiff reads a tiled image's blocks from its tile tags, even when strip tags are there too (and
    // the reverse): mixed, or incomplete, is refused rather than guessed.
    if (tiled && (hasTiles !== 4 || hasStrips > 0)) throw new NotTiff(`${where} mixes or lacks tile and strip tags (${hasTiles} tile tags, ${hasStrips} strip tags)`)
    if (!tiled && hasStrips !== 2) throw new NotTiff(`${where} lacks StripOffsets or StripByteCounts`)
    const blockWidth = tiled ? await scalar(TAG.tileWidth) : width
    const blockHeight = tiled ? await scalar(TAG.tileHeight) : Math.min(await scalar(TAG.rowsPerStrip, height), height)
    if (!(blockWidth > 0 && blockHeight > 0)) throw new NotTiff(`${where} has blocks of ${blockWidth}×${blockHeight}`)
    const across = Math.ceil(width / blockWidth)
    const down = Math.ceil(height / blockHeight)
    const blocks = across * down * (planar === 2 ? samples : 1)
    if (blocks > MAX_BLOCKS) throw new NotTiff(`${where} has ${blocks} blocks, more than ${MAX_BLOCKS} are read by ranges`)
    const offsets = await values(tiled ? TAG.tileOffsets : TAG.stripOffsets, blocks)
    const byteCounts = await values(tiled ? TAG.tileByteCounts : TAG.stripByteCounts, blocks)
    if (!offsets || !byteCounts || offsets.length !== blocks || byteCounts.length !== blocks) {
      throw new NotTiff(`${where} has ${offsets?.length ?? 0} block offsets and ${byteCounts?.length ?? 0} byte counts for ${blocks} blocks`)
    }
    // Uncompressed blocks have a known size; libtiff works a short or zero count out by itself.
    const bits = await values(TAG.bitsPerSample, MAX_SCALAR_VALUES) ?? [1]
    const pixelBits = planar === 2 ? bits[0] : Array.from({ length: samples }, (_, s) => bits[Math.min(s, bits.length - 1)]).reduce((a, b) => a + b, 0)
    for (let i = 0; i < blocks; i++) {
      const offset = offsets[i]
      const count = byteCounts[i]
      if (offset === 0 && count === 0) continue // sparse: GDAL fills it without reading
      if (offset === 0 || count === 0) throw new NotTiff(`${where} block ${i} has offset ${offset} and byte count ${count}`)
      if (offset + count > size) throw new NotTiff(`${where} block ${i} (bytes ${offset}-${offset + count - 1}) lies past the end of the ${size}-byte file`)
      if (compression === 1) {
        const rows = tiled ? blockHeight : Math.min(blockHeight, height - (i % down) * blockHeight)
        const expected = Math.ceil(blockWidth * pixelBits / 8) * rows
        if (count < expected) throw new NotTiff(`${where} uncompressed block ${i} has ${count} bytes, less than the ${expected} it holds`)
      }
    }
    ifds.push({ width, height, tiled, blockWidth, blockHeight, samples, planar, subfile, offsets, byteCounts })
  }
  if (ifds.length === 0) throw new NotTiff('no image directory')
  // GDAL opens the first directory as the image, whatever its flags; the plan takes the first non-mask one.
  if ((ifds[0].subfile & 4) !== 0) throw new NotTiff('IFD 0 is flagged as a transparency mask')
  return { ifds, structure }
}
