// The run's private temp directory (mode 0700, from mkdtemp). Files in it are removed as their records
// finish; the directory goes at the end of the run, or on exit however the run ended.
import { mkdtempSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'

const live = new Set<string>()
let hooked = false

function removeAllSync (): void {
  for (const path of live) {
    try { rmSync(path, { recursive: true, force: true }) } catch { /* best effort on the way out */ }
  }
  live.clear()
}

function hookExit (): void {
  if (hooked) return
  hooked = true
  process.once('exit', removeAllSync)
}

/**
 * Files and directories that must not outlive the process, even when it exits in the middle of a record
 * (a second Ctrl-C): they are removed synchronously on exit unless forgotten first.
 */
export const removeOnExit = {
  add (path: string): void {
    hookExit()
    live.add(path)
  },
  forget (path: string): void {
    live.delete(path)
  },
  has (path: string): boolean {
    return live.has(path)
  }
}

/** Removes now what would go on exit: for an exit that runs no exit hooks (death by a re-raised signal). */
export function removeNow (): void {
  removeAllSync()
}

export class TempDir {
  readonly path: string
  private seq = 0

  constructor (root: string) {
    // Synchronous on purpose: it runs once, before any record, and must exist before the first fetch.
    this.path = mkdtempSync(join(root, 'rasterpipe-'))
    removeOnExit.add(this.path)
  }

  /** A fresh file name inside the directory; the caller creates the file. */
  file (hint: string): string {
    // A URL's user-info (a password) is no part of a file name, which GDAL's messages may print.
    const safe = hint.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#]*@/, '$1').replace(/[^A-Za-z0-9._-]+/g, '_').slice(-60)
    return join(this.path, `${++this.seq}-${safe}`)
  }

  async remove (): Promise<void> {
    live.delete(this.path)
    await rm(this.path, { recursive: true, force: true })
  }

  removeSync (): void {
    live.delete(this.path)
    rmSync(this.path, { recursive: true, force: true })
  }
}
