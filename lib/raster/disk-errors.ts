// The write side's failures as record errors: a full disk (or quota) is NO_SPACE, anything else the
// file system refuses is WRITE_FAILED, each naming what was being written.
import { statfs } from 'node:fs/promises'
import { RecordError } from '../core/errors.js'

/** A system call's refusal (mkdir, write, rename), as the record's error. */
export function diskError (what: string, err: unknown): RecordError {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new RecordError('write', 'NO_SPACE', `${what}: no space left on the device (${code})`)
  return new RecordError('write', 'WRITE_FAILED', `${what}: ${(err as Error).message}`)
}

/**
 * A failure of GDAL writing a file itself on a pool thread, where no errno reaches us: a file system left
 * with less free than `needed` bytes says the disk was full (NO_SPACE), else `err` as it is.
 */
export async function spaceOr (dir: string, needed: number, err: RecordError): Promise<RecordError> {
  try {
    const fs = await statfs(dir)
    if (fs.bavail * fs.bsize < needed) {
      return new RecordError('write', 'NO_SPACE', /no space left/i.test(err.message) ? err.message : `${err.message}: no space left on the device`)
    }
  } catch { /* the error as it is */ }
  return err
}
