// The header cache across runs (--cache-dir): per source, the bytes range mode reads on open (the head
// the probe brought, the TIFF's directories and out-of-line tag values), with the file's size and
// validator, so that a later run reads a chip with one request, guarded by If-Match.
//
// One file per source, named by a hash of its key (URL and the headers that may change the answer, so no
// secret is in a name): a JSON line, then the ranges' bytes one after the other. An entry is written to a
// temp name in the same directory and renamed into place, so concurrent runs see an old entry or a new
// one, never a torn one; one that does not check out (its header, its ranges, the SHA-256 of its bytes,
// the key it names) is a miss, and the next write replaces it. Entries are used least recently first
// evicted (their mtime is touched on use) when the directory grows past --cache-max.
//
// The directory may be shared, or tampered with: only a regular file this user owns is read, opened
// without following a link and without blocking (a FIFO would block the open forever), checked on the
// opened handle, and read within READ_LIMIT_MS. Anything else is a miss with a warning, never a hang.
import { createHash, randomBytes } from 'node:crypto'
import { accessSync, constants, mkdirSync, statSync, type Stats } from 'node:fs'
import { lstat, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { UsageError } from '../core/errors.js'
import { option, words, Words, type Message } from '../core/words.js'
import { redactUrl } from '../http/redact.js'
import { totalBytes, type Range } from './ranges.js'

const FORMAT = 'rasterpipe-header-cache'
/**
 * 2: version 1's entries may hold a Last-Modified now judged weak (too close to its Date), which they would
 * replay as strong. An entry of another version is a plain miss, without a warning; the next write replaces it.
 */
const VERSION = 2
const ENTRY = /^[0-9a-f]{64}\.head$/
const TEMP = /^\.[0-9a-f]{64}\.\d+\.[0-9a-f]+\.tmp$/
/** A temp file this old is a crashed writer's: no write takes this long. */
const STALE_TEMP_MS = 60 * 60 * 1000
/** The JSON line is small (a URL, a few numbers and the ranges); past this it is not ours. */
const MAX_HEADER = 1024 * 1024
/** Evicting goes this far below the bound, so that the directory is listed again only every so often. */
const EVICT_TO = 0.9
/**
 * The most a cache read may take: an entry is a local file of a few MB at most, so a read this slow is a
 * stalled disk or mount, and the probe it would have spared is cheaper than waiting on.
 */
const READ_LIMIT_MS = 10_000
/** Opening an entry: no link followed, no wait on a FIFO's writer (no effect on a regular file's reads). */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK
/** A temp file: made anew (never an existing file or link), by this run alone. */
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/** What range mode learnt on opening a source: enough to open it again without a request. */
export interface HeadEntry {
  size: number
  /** A strong ETag (quoted) or a Last-Modified date: what If-Match or If-Unmodified-Since carries. */
  validator: string
  /** Bytes the probe brought (the head); the decisions are replayed on them. */
  head: number
  /** The structure's bytes as the probe's decision weighed them (lib/source/decision.ts). */
  structureBytes: number
  /** The ranges held once the source was opened: sorted, disjoint, the first from byte 0 past the head. */
  ranges: Range[]
  /** Their bytes, one range after the other. */
  bytes: Buffer
}

interface Header {
  format: string
  version: number
  key: string
  url: string
  size: number
  validator: string
  head: number
  structureBytes: number
  ranges: Range[]
  sha256: string
}

/** The bytes of `ranges` of the open `file` (at `path`, named in an error), one range after the other. */
export async function readRanges (file: FileHandle, ranges: Range[], path: string): Promise<Buffer> {
  const out = Buffer.alloc(totalBytes(ranges))
  let at = 0
  for (const [a, b] of ranges) {
    const { bytesRead } = await file.read(out, at, b - a, a)
    if (bytesRead !== b - a) throw new Error(`${path}: only ${bytesRead} of bytes ${a}-${b - 1} could be read`)
    at += b - a
  }
  return out
}

/** Milliseconds, finer than Date.now(): entries used within one millisecond still have an order. */
const clock = (): number => performance.timeOrigin + performance.now()

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

/** Why a file is not one this cache may read, or undefined when it is a regular file of this user's. */
function notOurs (st: Stats): string | undefined {
  if (st.isSymbolicLink()) return 'a symbolic link'
  if (st.isFIFO()) return 'a named pipe (FIFO)'
  if (st.isDirectory()) return 'a directory'
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device'
  if (st.isSocket()) return 'a socket'
  if (!st.isFile()) return 'not a regular file'
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid) return `owned by another user (uid ${st.uid})`
  return undefined
}


export class HeaderCache {
  readonly dir: string
  readonly maxBytes: number
  private readonly now: () => number
  private readonly warn: (message: Message) => void
  /** Entries found bad this run: each is warned about once. */
  private readonly warned = new Set<string>()
  /** Bytes in the directory as last listed, plus what this run wrote since. */
  private estimate: number | undefined
  /** Keys whose entry this run found out of date: not read again until this run has written them anew. */
  private readonly distrusted = new Set<string>()
  /** Writes, drops and evictions of a key, in order: a drop never lands after the write that follows it. */
  private readonly queues = new Map<string, Promise<void>>()
  private evicting: Promise<void> | undefined

  /**
   * Makes the directory when missing and checks that entries can be written there: the user asked for a
   * cache, so one that cannot work is a usage error now, not a run that is silently cold every time.
   * `warn` hears of entries that are not the cache's to read (they are misses).
   */
  static open (dir: string, maxBytes: number, now: () => number = clock, warn: (message: Message) => void = () => undefined): HeaderCache {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      if (!statSync(dir).isDirectory()) throw new Error('not a directory')
      accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      throw new UsageError(words`${option('cacheDir')}: cannot use '${dir}' for the cache: ${e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'not a directory' : e.message}`, { option: 'cacheDir' })
    }
    return new HeaderCache(dir, maxBytes, now, warn)
  }

  private constructor (dir: string, maxBytes: number, now: () => number, warn: (message: Message) => void) {
    this.dir = dir
    this.maxBytes = maxBytes
    this.now = now
    this.warn = warn
  }

  /** The entry's file: a hash of the key, which may hold credentials (a pre-signed URL, a header's value). */
  pathOf (key: string): string {
    return join(this.dir, `${sha256(key)}.head`)
  }

  /**
   * The entry for `key`, or null when there is none that checks out (a bad one is warned about). A hit
   * counts as a use for eviction. Never throws, and never waits longer than READ_LIMIT_MS.
   */
  async read (key: string): Promise<HeadEntry | null> {
    if (this.distrusted.has(key)) return null
    const path = this.pathOf(key)
    let timer: NodeJS.Timeout | undefined
    const reading = this.readEntry(path, sha256(key))
    const limit = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`not read within ${READ_LIMIT_MS / 1000} s`), READ_LIMIT_MS)
      timer.unref()
    })
    try {
      const found = await Promise.race([reading, limit])
      if (typeof found === 'string' || found instanceof Words) {
        this.badEntry(path, found)
        return null
      }
      return found
    } finally {
      clearTimeout(timer)
    }
  }

  /** The entry at `path`, null when there is none, or why the file there is not one. */
  private async readEntry (path: string, keyHash: string): Promise<HeadEntry | null | string | Words> {
    // A look before opening, so that a device is never opened; the opened handle is what is trusted.
    const before = await lstat(path).catch(() => null)
    if (!before) return null
    const refused = notOurs(before)
    if (refused !== undefined) return refused
    let file: FileHandle
    try {
      file = await open(path, READ_FLAGS)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'ENOENT') return null // removed since (another run's eviction)
      return e.code === 'ELOOP' ? 'a symbolic link' : `cannot be opened: ${e.code ?? e.message}`
    }
    try {
      const st = await file.stat()
      const other = notOurs(st)
      if (other !== undefined) return other
      // Larger than any entry this cache would keep: not ours (and not to be read into memory).
      if (st.size > this.maxBytes) return words`${st.size} bytes, over ${option('cacheMax')} ${this.maxBytes}`
      const data = Buffer.alloc(st.size)
      const { bytesRead } = await file.read(data, 0, st.size, 0)
      const read = data.subarray(0, bytesRead)
      const entry = parseEntry(read, keyHash)
      if (!entry) return ofAnotherVersion(read) ? null : 'not a whole entry of this cache (torn, corrupt or foreign)'
      const at = this.now() / 1000
      // On the handle: the use is recorded on the file read, whatever the name points to by now.
      await file.utimes(at, at).catch(() => undefined)
      return entry
    } catch (err) {
      return `cannot be read: ${(err as Error).message}`
    } finally {
      await file.close().catch(() => undefined)
    }
  }

  /** An entry that is not the cache's to use: a miss, and a warning once a run (the next write replaces it). */
  private badEntry (path: string, why: string | Words): void {
    if (this.warned.has(path)) return
    this.warned.add(path)
    this.warn(words`${option('cacheDir')} ${this.dir}: the entry ${path} is ${why}; not used (read as a miss)`)
  }

  /** Stores `entry` for `key` (under its URL, redacted, for people who look), then evicts past the bound. */
  async write (key: string, url: string, entry: HeadEntry): Promise<void> {
    const hash = sha256(key)
    const header: Header = {
      format: FORMAT,
      version: VERSION,
      key: hash,
      url: redactUrl(url),
      size: entry.size,
      validator: entry.validator,
      head: entry.head,
      structureBytes: entry.structureBytes,
      ranges: entry.ranges,
      sha256: sha256(entry.bytes)
    }
    const data = Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), entry.bytes])
    // An entry the bound could not hold would only push out every other one.
    if (data.length > this.maxBytes) return
    await this.serial(key, async () => {
      const temp = join(this.dir, `.${hash}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
      try {
        // Written by this run's own handle to a name it made (never through a link), then renamed over
        // whatever is at the entry's name: a link there is replaced, not followed.
        const file = await open(temp, WRITE_FLAGS, 0o600)
        try {
          await file.writeFile(data)
          const at = this.now() / 1000
          await file.utimes(at, at)
        } finally {
          await file.close()
        }
        await rename(temp, this.pathOf(key))
      } catch (err) {
        await rm(temp, { force: true })
        // A directory in the entry's place: this one entry cannot be kept; the rest of the cache still can.
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
          this.badEntry(this.pathOf(key), 'a directory')
          return
        }
        throw err
      }
      this.distrusted.delete(key)
    })
    if (this.estimate !== undefined) this.estimate += data.length
    if (this.estimate === undefined || this.estimate > this.maxBytes) await this.evict()
  }

  /** The entry is out of date (the file changed on the server): not used again, and removed. */
  async drop (key: string): Promise<void> {
    this.distrusted.add(key)
    await this.serial(key, async () => { await rm(this.pathOf(key), { force: true }) })
  }

  /** Lists the directory and removes the least recently used entries until it is under the bound. */
  async evict (): Promise<void> {
    this.evicting ??= this.evictNow().finally(() => { this.evicting = undefined })
    await this.evicting
  }

  private async evictNow (): Promise<void> {
    const found: { path: string, size: number, mtime: number, name: string }[] = []
    for (const name of await readdir(this.dir)) {
      const isEntry = ENTRY.test(name)
      if (!isEntry && !TEMP.test(name)) continue // not ours: left alone, and not counted
      const path = join(this.dir, name)
      // Not followed: a link or anything but a regular file is not counted (nor read); removing one is safe.
      const st = await lstat(path).catch(() => null)
      if (!st?.isFile()) continue
      if (isEntry) found.push({ path, size: st.size, mtime: st.mtimeMs, name })
      else if (this.now() - st.mtimeMs > STALE_TEMP_MS) await rm(path, { force: true })
    }
    let total = found.reduce((sum, f) => sum + f.size, 0)
    if (total > this.maxBytes) {
      found.sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name))
      for (const f of found) {
        if (total <= this.maxBytes * EVICT_TO) break
        // Another run may have removed it first: then it is gone all the same.
        await rm(f.path, { force: true })
        total -= f.size
      }
    }
    this.estimate = total
  }

  private async serial (key: string, work: () => Promise<void>): Promise<void> {
    const before = this.queues.get(key) ?? Promise.resolve()
    const mine = before.then(work)
    const tail = mine.catch(() => undefined)
    this.queues.set(key, tail)
    void tail.then(() => { if (this.queues.get(key) === tail) this.queues.delete(key) })
    await mine
  }
}

/** An entry's first line, its JSON header (unchecked), and where that line ends; null if it has none. */
function headerOf (data: Buffer): { h: Partial<Header>, newline: number } | null {
  const newline = data.subarray(0, MAX_HEADER).indexOf(0x0a)
  if (newline < 0) return null
  try {
    const h = JSON.parse(data.subarray(0, newline).toString('utf8')) as Partial<Header> | null
    return h !== null && typeof h === 'object' ? { h, newline } : null
  } catch {
    return null
  }
}

/** A file this cache wrote in another format version: not bad, only not ours to read. */
function ofAnotherVersion (data: Buffer): boolean {
  const h = headerOf(data)?.h
  return h !== undefined && h.format === FORMAT && h.version !== VERSION
}

/** An entry's file, checked through: anything torn, foreign or inconsistent is null, never trusted. */
export function parseEntry (data: Buffer, keyHash: string): HeadEntry | null {
  const found = headerOf(data)
  if (!found) return null
  const newline = found.newline
  const h = found.h as Header
  if (h.format !== FORMAT || h.version !== VERSION || h.key !== keyHash) return null
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
  if (!whole(h.size) || !whole(h.head) || !whole(h.structureBytes) || typeof h.validator !== 'string' || h.validator === '') return null
  if (!Array.isArray(h.ranges) || h.ranges.length === 0) return null
  let end = 0
  for (const r of h.ranges as unknown[]) {
    if (!Array.isArray(r) || r.length !== 2 || !whole(r[0]) || !whole(r[1])) return null
    const [a, b] = r as Range
    // Sorted and disjoint (as merged), within the file.
    if (a < end || (end > 0 && a === end) || b <= a || b > h.size) return null
    end = b
  }
  if (h.ranges[0][0] !== 0 || h.ranges[0][1] < h.head || h.head === 0) return null
  const bytes = data.subarray(newline + 1)
  if (bytes.length !== totalBytes(h.ranges) || sha256(bytes) !== h.sha256) return null
  return { size: h.size, validator: h.validator, head: h.head, structureBytes: h.structureBytes, ranges: h.ranges, bytes }
}
