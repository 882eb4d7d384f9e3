// Splits a byte stream into numbered lines. split2 decodes before it splits and either throws or silently
// drops a line that is too long; a batch tool needs both problems as records naming their line, so this
// splitter works on bytes, checks UTF-8 itself and never holds more than `maxLength` bytes of one line.
import { Transform, type TransformCallback } from 'node:stream'
import { isUtf8 } from 'node:buffer'
import type { RecordError } from '../core/errors.js'
import type { RawLine, StacRecord } from '../core/records.js'

export type { RawLine }

/** A line from LineSplitter (as the library may write them too): a number, and no "url" of a record. */
export function isRawLine (item: unknown): item is RawLine {
  return item !== null && typeof item === 'object' && typeof (item as RawLine).line === 'number' && !('url' in item)
}

const NL = 0x0a
const CR = 0x0d

export class LineSplitter extends Transform {
  private readonly maxLength: number
  private readonly input?: string
  private parts: Buffer[] = []
  private length = 0
  private overflow = false
  private lineNo = 0

  constructor (maxLength: number, input?: string) {
    super({ readableObjectMode: true, readableHighWaterMark: 16 })
    this.maxLength = maxLength
    this.input = input
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let start = 0
    for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, start)) {
      this.collect(chunk.subarray(start, nl))
      this.emitLine()
      start = nl + 1
    }
    this.collect(chunk.subarray(start))
    done()
  }

  override _flush (done: TransformCallback): void {
    if (this.length > 0 || this.overflow) this.emitLine()
    done()
  }

  private collect (piece: Buffer): void {
    if (piece.length === 0) return
    if (this.overflow) { this.length += piece.length; return }
    this.length += piece.length
    if (this.length > this.maxLength) {
      this.overflow = true
      this.parts = []
      return
    }
    this.parts.push(piece)
  }

  private emitLine (): void {
    const line = ++this.lineNo
    const out: RawLine = { line }
    if (this.input !== undefined) out.input = this.input
    if (this.overflow) {
      out.problem = `line is longer than the maximum of ${this.maxLength} bytes (${this.length} bytes)`
    } else {
      let buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length)
      if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1)
      if (isUtf8(buf)) out.text = buf.toString('utf8')
      else out.problem = 'line is not valid UTF-8'
    }
    this.parts = []
    this.length = 0
    this.overflow = false
    this.push(out)
  }
}

/**
 * What one input item became before it is parsed: the item as written (an object, or a record one STAC
 * line expanded into, lib/input/expand.ts) with the number and file of the line it came from, so that
 * however many records a line becomes, each names it; `error` when the line could not give a record.
 */
export class LineRecord {
  constructor (
    readonly line: number,
    readonly input: string | undefined,
    readonly value: unknown,
    readonly error?: RecordError,
    /** The id to print with an error (the item's, when one item of a line failed). */
    readonly id?: string,
    /** A `{"stac": …}` record whose document could not be read: the record to run again, as printed. */
    readonly retry?: StacRecord
  ) {}
}
