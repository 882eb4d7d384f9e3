// How many lines the input files hold, counted on their bytes (newlines, without parsing a line; blank
// lines, which make no record, not counted), so that --progress can show an ETA. Unknown (undefined) for stdin, a pipe, or a file that cannot be read.
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'

export async function countLines (inputs: string[]): Promise<number | undefined> {
  if (inputs.length === 0 || inputs.includes('-')) return undefined
  let lines = 0
  try {
    for (const name of inputs) {
      const info = await stat(name)
      // A pipe (`<(cmd)`) would be read here and lost to the run.
      if (!info.isFile()) return undefined
      // Lines with something on them: a blank line makes no record.
      let content = false
      for await (const chunk of createReadStream(name, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        let start = 0
        for (;;) {
          const at = chunk.indexOf(0x0a, start)
          const end = at === -1 ? chunk.length : at
          // Stops at a line's first character that is not white space: most lines cost a byte or two.
          for (let k = start; !content && k < end; k++) {
            const c = chunk[k]
            if (c !== 0x20 && c !== 0x09 && c !== 0x0d) content = true
          }
          if (at === -1) break
          if (content) lines++
          content = false
          start = at + 1
        }
      }
      // A last line without its newline.
      if (content) lines++
    }
  } catch {
    return undefined
  }
  return lines
}
