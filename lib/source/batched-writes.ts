// A response body's chunks into a local file: gathered into writes of up to WRITE_BATCH at their place in
// the file, one pool round trip per batch rather than per chunk of some 16–64 KiB (bench/RESULTS.md,
// "Figures behind the code"). Used for ranges into a sparse file, a probe's head and whole downloads.
import type { FileHandle } from 'node:fs/promises'

/** Bytes gathered before one write. */
export const WRITE_BATCH = 1024 * 1024

export class BatchedWrites {
  private batch: Buffer[] = []
  private batched = 0

  /** Writes into `file` from byte `at` on. */
  constructor (private readonly file: FileHandle, private at: number) {}

  /** Where the next byte goes: the bytes gathered so far are written when they fill a batch, or at flush(). */
  get end (): number {
    return this.at + this.batched
  }

  /** A chunk for `position`: a retried request starts again at its own offset, and what was gathered is
   * written first, where it belongs. */
  async add (chunk: Buffer, position = this.end): Promise<void> {
    if (position !== this.end) {
      await this.flush()
      this.at = position
    }
    this.batch.push(chunk)
    this.batched += chunk.length
    if (this.batched >= WRITE_BATCH) await this.flush()
  }

  async flush (): Promise<void> {
    const buffers = this.batch
    const length = this.batched
    this.batch = []
    this.batched = 0
    if (length > 0) await writeAllAt(this.file, buffers, this.at, length)
    this.at += length
  }
}

/** Writes `buffers` (`length` bytes in all) at `position`, going on after a short write. */
async function writeAllAt (file: FileHandle, buffers: Buffer[], position: number, length: number): Promise<void> {
  const { bytesWritten } = await file.writev(buffers, position)
  if (bytesWritten >= length) return
  const rest = Buffer.concat(buffers, length).subarray(bytesWritten)
  for (let done = 0; done < rest.length;) {
    done += (await file.write(rest, done, rest.length - done, position + bytesWritten + done)).bytesWritten
  }
}
