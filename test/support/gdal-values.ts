// GDAL's own answers for values records: gdallocationinfo -valonly at points (one process for all of a
// file's points, on stdin).
import { execFileSync } from 'node:child_process'

/** gdallocationinfo -valonly over stdin (one process for all points): per point its bands' text, or null off the file. */
export function locationInfo (path: string, args: string[], points: number[][], count: number): Array<string[] | null> {
  const out = execFileSync('gdallocationinfo', ['-valonly', ...args, path], { input: points.map((p) => `${p[0]} ${p[1]}`).join('\n') + '\n' }).toString()
  const lines = out.split('\n')
  const values: Array<string[] | null> = []
  let i = 0
  for (let k = 0; k < points.length; k++) {
    if (lines[i] === '') {
      values.push(null)
      i++
    } else {
      values.push(lines.slice(i, i + count))
      i += count
    }
  }
  return values
}
