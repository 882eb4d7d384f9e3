// Human sizes for options (`500MB`, `2GiB`) and for messages.
import { UsageError } from './errors.js'
import { option, words } from './words.js'

const units: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4
}

/** A size given as text; `key`: the option it is for, named in the messages. */
export function parseSize (text: string, key: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m ? units[m[2].toLowerCase()] : undefined
  if (!m || unit === undefined) throw new UsageError(words`${option(key)}: '${text}' is not a size (e.g. 500MB, 2GiB, 1048576)`, { option: key })
  const bytes = Math.floor(Number(m[1]) * unit)
  if (bytes <= 0) throw new UsageError(words`${option(key)}: must be more than 0 bytes`, { option: key })
  return bytes
}

export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const names = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < names.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${names[i]}`
}
