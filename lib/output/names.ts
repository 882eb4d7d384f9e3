// Where a record's output goes. The default name is deterministic and distinct for distinct requests
// (the URL as given, query and all, and the window, bands, grid and sources), so reruns find their
// outputs (`--skip-existing`) and no two requests share one.
import { createHash } from 'node:crypto'
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path'
import type { PipelineOptions } from '../core/options.js'
import type { ExprAsk } from '../core/job.js'
import { InvalidValue, isWarp, type WindowRequest } from '../core/request.js'
import { redactUrl } from '../http/redact.js'
import { isStoreUri } from '../core/url.js'
import { option, words } from '../core/words.js'

export interface OutputName { display: string, path: string }

/**
 * `sources`: a multi-source record's entries (URLs as given, no headers), part of what its default name hashes. Such a
 * record's default name starts with its `id` when it has one (a STAC item's id): its first source's file
 * name (B04 of every item) would say nothing.
 */
export function outputFor (url: string, request: WindowRequest, out: unknown, o: PipelineOptions, ext: string, sources?: unknown[], id?: string, expr?: ExprAsk, values?: unknown): OutputName {
  const root = resolve(o.outDir)
  let name: string
  if (out !== undefined) {
    if (typeof out !== 'string' || out.trim() === '') throw new InvalidValue('"out" must be a relative file path')
    if (isAbsolute(out) || /^[a-zA-Z]:[\\/]/.test(out)) throw new InvalidValue(words`"out" must be relative to ${option('outDir')}, got absolute '${out}'`)
    checkFileName(out, !isStoreUri(o.outDir))
    name = out
  } else {
    name = defaultName(url, request, o, ext, sources, sources && id, expr, values)
  }
  if (isStoreUri(o.outDir)) return storeOutput(o.outDir, name, out)
  const path = resolve(root, name)
  const rel = relative(root, path)
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) {
    throw new InvalidValue(words`"out" may not leave ${option('outDir')}: '${String(out)}'`)
  }
  return { display: join(o.outDir, rel), path }
}

/** A file name's part longest on most file systems (ext4, XFS, tmpfs, APFS: 255 bytes). */
const NAME_MAX = 255

/**
 * What the file system would refuse only at the write, after the fetch: refused at input instead. A NUL
 * ends the name where the system reads it (GDAL wrote `.a` for `a\0b.tif`); a trailing slash names a
 * directory; a local file's part over NAME_MAX bytes cannot be made (the temporary name beside it is short, see
 * lib/raster/write.ts temporaryName, so that a name of 255 bytes is legal).
 */
function checkFileName (out: string, local: boolean): void {
  if (out.includes('\0')) throw new InvalidValue(`"out" may not contain a NUL character: ${JSON.stringify(out)}`)
  if (/[\\/]$/.test(out)) throw new InvalidValue(`"out" must name a file, not a directory (it ends in a slash): '${out}'`)
  const long = local ? out.split(/[\\/]/).find((part) => Buffer.byteLength(part) > NAME_MAX) : undefined
  if (long !== undefined) throw new InvalidValue(`"out": the name '${long.slice(0, 40)}…' is ${Buffer.byteLength(long)} bytes, over the ${NAME_MAX} a file name may have`)
}

/** The object an output becomes under a store's --out-dir; `out` may not leave that prefix. */
function storeOutput (outDir: string, name: string, out: unknown): OutputName {
  const rel = posix.normalize(name.replace(/\\/g, '/'))
  if (rel.startsWith('/') || rel === '.' || rel.split('/').includes('..')) throw new InvalidValue(words`"out" may not leave ${option('outDir')}: '${String(out)}'`)
  const uri = `${outDir.replace(/\/+$/, '')}/${rel}`
  return { display: uri, path: uri }
}

/**
 * What a record asks for, as text: the URL as given (a server may pick the file by a `key=` or `token=`
 * parameter, so a redacted URL could name two rasters alike), the window or bbox, bands, grid, output
 * format, and a multi-source record's entries. Equal keys ask for the same pixels.
 */
export function requestKey (url: string, request: WindowRequest, o: PipelineOptions, sources?: unknown[], expr?: ExprAsk, values?: unknown): string {
  return JSON.stringify([url, request.window, request.bbox ?? null, request.bboxCrs ?? null, request.bands ?? null,
    request.boundless, request.outSize ?? null, o.format, o.creationOptions,
    // Only warps add their fields, so that the names of plain windows stay as they were.
    ...(isWarp(request) ? [[request.dstCrs ?? null, request.res ?? null, request.resampling ?? null, request.tap ?? false]] : []),
    ...(sources ? [sources] : []),
    // Band math writes other pixels: its own name (and no name changes without it).
    ...(expr ? [['expr', expr.text, expr.type]] : []),
    // A values record's window (--write) is its points' or zone's: they name it.
    ...(values !== undefined ? [['values', values]] : [])])
}

function defaultName (url: string, request: WindowRequest, o: PipelineOptions, ext: string, sources?: unknown[], id?: string, expr?: ExprAsk, values?: unknown): string {
  // A hash, so that no secret of the URL shows in the name.
  const hash = createHash('sha256').update(requestKey(url, request, o, sources, expr, values)).digest('hex').slice(0, 12)
  // From the URL as printed: a URL without a path would otherwise give its user-info as the name.
  let base = redactUrl(url).replace(/[?#].*$/, '').replace(/\/+$/, '')
  base = id ?? base.slice(base.lastIndexOf('/') + 1).replace(/\.[A-Za-z0-9]{1,5}$/, '')
  base = base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 60) || 'raster'
  return `${base}-${hash}${ext}`
}
