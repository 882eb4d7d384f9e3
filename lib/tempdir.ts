// The run's private temp directory (mode 0700, from mkdtemp). Files in it are removed as their records
// finish; the directory goes at the end of the run, and on exit whatever the path to it was.
import { mkdtempSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'

const live = new Set<string>()
let hooked = false

function removeAllSync (): void {
  for (const dir of live) {
    try { rmSync(dir, { recursive: true, force: true }) } catch { /* best effort on the way out */ }
  }
  live.clear()
}

export class TempDir {
  readonly path: string
  private seq = 0

  constructor (root: string) {
    // Synchronous on purpose: it runs once, before any record, and must exist before the first fetch.
    this.path = mkdtempSync(join(root, 'rasterpipe-'))
    live.add(this.path)
    if (!hooked) {
      hooked = true
      process.once('exit', removeAllSync)
    }
  }

  /** A fresh file name inside the directory; the caller creates the file. */
  file (hint: string): string {
    const safe = hint.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-60)
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
