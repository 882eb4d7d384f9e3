// Which record of a run first named each output path, so that a record naming the same path for another
// request is refused before anything is fetched for it (input DUPLICATE_OUTPUT) instead of one output
// silently holding one of two rasters. Runs of millions of records: no strings are kept, only hashes in
// an open-addressing table of typed arrays.
import { createHash } from 'node:crypto'

/** Words (uint32) a slot: the path's hash (2), the request's hash, the headers' hash, the line, the input's index + 1 (0: empty). */
const WORDS = 6
/** Grown (doubled) past three quarters full, so a record costs 24 bytes / 0.75–0.375: about 32 to 64 bytes. */
const MAX_LOAD = 0.75
const INPUT = WORDS - 1

/** The record that has a path; `headersDiffer`: it asked the same request with other headers. */
export interface Claim { line: number, input?: string, headersDiffer?: true }

export class OutputClaims {
  private slots = new Uint32Array(1024 * WORDS)
  private count = 0
  /** Input file names by index (few: one per input file); undefined for stdin and the library's writes. */
  private readonly inputs: (string | undefined)[] = []
  private readonly inputIndex = new Map<string | undefined, number>()

  /**
   * Claims `path` for a record asking `request` with `headers` (as text, see headersKey): undefined when
   * the path is free or claimed for the same request and headers (the same record twice writes the same
   * file), else the record that has it. A 64-bit hash of the path mistakes two paths for one with odds of
   * about n²/2⁶⁵ (3 in a million at 10 million records); a 32-bit hash of the request (or headers), two
   * requests for one once in 4 billion duplicates.
   */
  claim (path: string, request: string, line: number, input?: string, headers = ''): Claim | undefined {
    const p = createHash('sha256').update(path).digest()
    const hi = p.readUInt32BE(0)
    const lo = p.readUInt32BE(4)
    const req = createHash('sha256').update(request).digest().readUInt32BE(0)
    const head = createHash('sha256').update(headers).digest().readUInt32BE(0)
    const mask = this.slots.length / WORDS - 1
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const at = i * WORDS
      if (this.slots[at + INPUT] === 0) {
        this.slots.set([hi, lo, req, head, line >>> 0, this.indexOf(input) + 1], at)
        if (++this.count > MAX_LOAD * (mask + 1)) this.grow()
        return undefined
      }
      if (this.slots[at] === hi && this.slots[at + 1] === lo) {
        if (this.slots[at + 2] === req && this.slots[at + 3] === head) return undefined
        const first: Claim = { line: this.slots[at + 4] }
        const name = this.inputs[this.slots[at + INPUT] - 1]
        if (name !== undefined) first.input = name
        if (this.slots[at + 2] === req) first.headersDiffer = true
        return first
      }
    }
  }

  private indexOf (input: string | undefined): number {
    let index = this.inputIndex.get(input)
    if (index === undefined) {
      index = this.inputs.length
      this.inputs.push(input)
      this.inputIndex.set(input, index)
    }
    return index
  }

  private grow (): void {
    const old = this.slots
    this.slots = new Uint32Array(old.length * 2)
    const mask = this.slots.length / WORDS - 1
    for (let at = 0; at < old.length; at += WORDS) {
      if (old[at + INPUT] === 0) continue
      let i = old[at + 1] & mask
      while (this.slots[i * WORDS + INPUT] !== 0) i = (i + 1) & mask
      this.slots.set(old.subarray(at, at + WORDS), i * WORDS)
    }
  }
}
