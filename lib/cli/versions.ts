// The versions a run depends on: rasterpipe, Node, undici, and GDAL with its PROJ and libtiff, for
// --version (which loads GDAL, so that a broken install shows at once) and for --stats.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { GdalMissingError, loadGdal, type Gdal } from '../raster/gdal.js'
import { printable } from '../http/redact.js'
import type { CliIo } from './io.js'
import { packageVersion, version } from './help.js'

const require = createRequire(import.meta.url)

export interface Versions {
  rasterpipe: string
  node: string
  undici: string
  gdal?: string
  proj?: string
  libtiff?: string
}

/** What needs no GDAL: read from package files, not loaded (undici is not needed to say its version). */
export function baseVersions (): Pick<Versions, 'rasterpipe' | 'node' | 'undici'> {
  let undici = 'unknown'
  try { undici = packageVersion(require.resolve('undici/package.json')) } catch { /* not installed: said as unknown */ }
  return {
    rasterpipe: version(),
    node: process.versions.node,
    undici
  }
}

/**
 * PROJ's version as the loaded library says it: gdal-async does not expose PROJ's proj_info(), so the
 * library's own release string ("Rel. 9.1.1, December 1st, 2022", PROJ's pj_release) is read from the file
 * the process loaded (process.report lists the shared objects, on every platform): libproj, or gdal.node
 * when gdal-async bundles its own GDAL and PROJ. Undefined when neither is found.
 */
function projVersion (gdal: Gdal): string | undefined {
  const objects = (process.report.getReport() as { sharedObjects?: string[] }).sharedObjects ?? []
  const file = objects.find((p) => /(^|\/)libproj[.\-_\d]/.test(p)) ?? (gdal.bundled ? objects.find((p) => /gdal\.node$/.test(p)) : undefined)
  if (!file) return undefined
  let bytes: Buffer
  try { bytes = readFileSync(file) } catch { return undefined }
  for (let at = bytes.indexOf('Rel. '); at >= 0; at = bytes.indexOf('Rel. ', at + 5)) {
    const m = /^Rel\. (\d+\.\d+\.\d+),/.exec(bytes.subarray(at, at + 24).toString('latin1'))
    if (m) return m[1]
  }
  return undefined
}

/** libtiff's, from the GTiff driver's metadata ("LIBTIFF, Version 4.5.0 …", or "INTERNAL"). */
function libtiffVersion (gdal: Gdal): string | undefined {
  try {
    const text = gdal.drivers.get('GTiff').getMetadata().LIBTIFF as string | undefined
    if (!text) return undefined
    return /Version (\S+)/.exec(text)?.[1] ?? text.trim().toLowerCase()
  } catch {
    return undefined
  }
}

let cached: Versions | undefined

/** Every version, GDAL's loaded: throws GdalMissingError when gdal-async cannot be loaded. */
export function versions (): Versions {
  if (cached) return cached
  const gdal = loadGdal()
  cached = { ...baseVersions(), gdal: gdal.version, proj: projVersion(gdal), libtiff: libtiffVersion(gdal) }
  return cached
}

/** Every version that can be said: without GDAL's when gdal-async cannot be loaded. */
export function knownVersions (): Partial<Versions> {
  try {
    return versions()
  } catch (err) {
    if (err instanceof GdalMissingError) return baseVersions()
    throw err
  }
}

export function versionLines (v: Partial<Versions>): string {
  const names: Array<[keyof Versions, string]> = [['node', 'Node.js'], ['undici', 'undici'], ['gdal', 'GDAL'], ['proj', 'PROJ'], ['libtiff', 'libtiff']]
  return `rasterpipe ${v.rasterpipe ?? 'unknown'}\n` +
    names.filter(([key]) => key in v).map(([key, name]) => `${name} ${v[key] ?? 'unknown'}\n`).join('')
}

/** Every key, null where unknown (GDAL not loaded, PROJ's release string not found). */
export function versionsJson (v: Partial<Versions>): Record<keyof Versions, string | null> {
  return { rasterpipe: v.rasterpipe ?? null, node: v.node ?? null, undici: v.undici ?? null, gdal: v.gdal ?? null, proj: v.proj ?? null, libtiff: v.libtiff ?? null }
}

/** --version: the versions, or what can be said without GDAL and why GDAL cannot be loaded (exit 2). */
export function printVersions (io: CliIo, json: boolean): number {
  let v: Partial<Versions>
  let missing: GdalMissingError | undefined
  try {
    v = versions()
  } catch (err) {
    if (!(err instanceof GdalMissingError)) throw err
    missing = err
    v = baseVersions()
  }
  io.stdout.write(json ? JSON.stringify(versionsJson(v)) + '\n' : versionLines(v))
  if (missing) {
    io.stderr.write(`rasterpipe: ${missing.message.split('\n').map((line) => printable(line)).join('\n')}\n`)
    return 2
  }
  return 0
}
