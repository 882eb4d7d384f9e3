// How many lines the input files hold, counted on their bytes (newlines, without parsing a line), so
// that --progress can show an ETA. Unknown (undefined) for stdin, a pipe, or a file that cannot be read.
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
      let last = 0x0a
      for await (const chunk of createReadStream(name, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        let at = chunk.indexOf(0x0a)
        while (at !== -1) { lines++; at = chunk.indexOf(0x0a, at + 1) }
        if (chunk.length > 0) last = chunk[chunk.length - 1]
      }
      // A last line without its newline.
      if (last !== 0x0a) lines++
    }
  } catch {
    return undefined
  }
  return lines
}
