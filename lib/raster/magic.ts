// Which driver a downloaded file's first bytes name, so that GDAL opens it with that one driver: a list
// makes gdal-async start one open per driver on the pool at once, all but one bound to fail.
import { closeSync, openSync, readSync } from 'node:fs'

/** Bytes enough for every signature below (WebP's is at 8–11). */
export const MAGIC_BYTES = 12

const startsWith = (head: Uint8Array, bytes: readonly number[], at = 0): boolean =>
  head.length >= at + bytes.length && bytes.every((b, i) => head[at + i] === b)

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0))

const SIGNATURES: ReadonlyArray<{ driver: string, test: (head: Uint8Array) => boolean }> = [
  // TIFF and BigTIFF, either byte order: II*\0, MM\0*, II+\0, MM\0+.
  { driver: 'GTiff', test: (h) => [[0x49, 0x49, 42, 0], [0x4d, 0x4d, 0, 42], [0x49, 0x49, 43, 0], [0x4d, 0x4d, 0, 43]].some((m) => startsWith(h, m)) },
  { driver: 'PNG', test: (h) => startsWith(h, [0x89, ...ascii('PNG\r\n'), 0x1a, 0x0a]) },
  { driver: 'JPEG', test: (h) => startsWith(h, [0xff, 0xd8, 0xff]) },
  { driver: 'WEBP', test: (h) => startsWith(h, ascii('RIFF')) && startsWith(h, ascii('WEBP'), 8) }
]

/** The driver the signature names, if it is one of `allowed`; else undefined (the whole list is tried). */
export function driverByMagic (head: Uint8Array, allowed: readonly string[]): string | undefined {
  const driver = SIGNATURES.find((s) => s.test(head))?.driver
  return driver !== undefined && allowed.includes(driver) ? driver : undefined
}

/**
 * A local file's first bytes, read on this thread: a file just written (in the page cache), three quick
 * system calls, where an async read would be three round trips through libuv's pool. Empty if unreadable
 * (GDAL's open then says why).
 */
export function readHead (path: string): Uint8Array {
  const head = Buffer.alloc(MAGIC_BYTES)
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    return head.subarray(0, readSync(fd, head, 0, MAGIC_BYTES, 0))
  } catch {
    return head.subarray(0, 0)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
