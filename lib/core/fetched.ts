// What a fetch leaves a record, as data: the byte ranges a sparse local copy holds, the TIFF directories
// read from it, and the remote file it mirrors. The code that fills them is in lib/source/.
import type { FileHandle } from 'node:fs/promises'

/** A byte range as [start, end). */
export type Range = [number, number]

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

export interface SparseSource {
  url: string
  path: string
  /** The one handle rasterpipe writes and reads the file with, closed when the last record using it is done. */
  file: FileHandle
  size: number
  validator?: string
  info: TiffInfo
  held: Range[]
  /** Ranges being fetched now, by any record: a block in flight is awaited, never fetched twice. */
  inFlight: { range: Range, done: Promise<void> }[]
  /** Opened from a header cache: no response of this run has yet shown the file is still that version. */
  unverified?: boolean
  verifying?: Promise<void>
}
