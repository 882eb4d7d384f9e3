// The one place that loads gdal-async and sets GDAL's process-wide configuration, so that every other
// module sees the same settings and a missing binding becomes one clear setup error.
import { existsSync } from 'node:fs'
import { createRequire, Module } from 'node:module'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type * as GdalModule from 'gdal-async'
import type { Job } from '../core/job.js'
import { UsageError } from '../core/errors.js'
import { option, words } from '../core/words.js'

export type Gdal = typeof GdalModule
export type Dataset = GdalModule.Dataset
export type Band = GdalModule.RasterBand

/** GDAL's mask flags (gdal-async does not export them). */
export const GMF_ALL_VALID = 0x01
export const GMF_PER_DATASET = 0x02
export const GMF_ALPHA = 0x04
export const GMF_NODATA = 0x08

/**
 * The band's mask when it says more than its nodata value does (a per-dataset mask, an alpha band, the
 * NODATA_VALUES of all bands, flagged GMF_NODATA | GMF_PER_DATASET): null when every pixel is valid or the
 * mask is the band's own nodata value alone, which a value comparison covers.
 */
export function maskBeyondNodata (band: Band): Band | null {
  const flags = band.getMaskFlags()
  return (flags & GMF_ALL_VALID) !== 0 || flags === GMF_NODATA ? null : band.getMaskBand()
}

const require = createRequire(import.meta.url)

let loaded: Gdal | undefined

export class GdalMissingError extends Error {
  override name = 'GdalMissingError'
}

export function loadGdal (): Gdal {
  if (loaded) return loaded
  try {
    const restore = deferXmlBuilder()
    try {
      loaded = require('gdal-async') as Gdal
    } finally {
      restore()
    }
  } catch (err) {
    const root = fileURLToPath(new URL('../../..', import.meta.url))
    // Node's first line says what failed (no such file, another Node's ABI, no libgdal); its require stack is noise.
    throw new GdalMissingError(`cannot load gdal-async (GDAL bindings): ${(err as Error).message.split('\n')[0]}\n` +
      addonRepair(addonPlace(root, process.execPath)))
  }
  configure(loaded)
  return loaded
}

/** Where this copy of rasterpipe runs from: that decides how a missing or mismatched addon is repaired. */
export interface AddonPlace {
  /**
   * A checkout (its Makefile beside package.json; the npm package ships none): `make setup` repairs it.
   * An npm project whose node_modules holds rasterpipe. A global install: no project around node_modules.
   */
  kind: 'checkout' | 'project' | 'global'
  /** Where the repair runs: the checkout, the project, or the globally installed package itself. */
  dir: string
  /** The prefix of the Node running rasterpipe when its headers are there (include/node/node.h). */
  nodeDir?: string
}

/** `root` is rasterpipe's package directory, `execPath` the running Node's binary. */
export function addonPlace (root: string, execPath: string): AddonPlace {
  const nodePrefix = resolve(execPath, '../..')
  const nodeDir = existsSync(join(nodePrefix, 'include/node/node.h')) ? nodePrefix : undefined
  root = resolve(root)
  if (existsSync(join(root, 'Makefile'))) return { kind: 'checkout', dir: root, nodeDir }
  const parent = dirname(root)
  const project = dirname(parent)
  if (basename(parent) === 'node_modules' && existsSync(join(project, 'package.json'))) {
    return { kind: 'project', dir: project, nodeDir }
  }
  return { kind: 'global', dir: root, nodeDir }
}

/**
 * The repair, as the commands that were tried to work (README, "Install from npm"): npm 12 blocks
 * gdal-async's build unless the project allows it, and an npmrc `nodedir` (or no access to nodejs.org)
 * builds it for the wrong Node, so the rebuild names this Node's headers where it has them. A global
 * install is rebuilt inside the package, whose own package.json allows the build: `npm install -g` cannot
 * run it (its `npx yatag` step finds nothing in global mode).
 */
export function addonRepair (place: AddonPlace): string {
  if (place.kind === 'checkout') return 'run `make setup` (it installs libgdal-dev and builds gdal-async against it)'
  const env = ['npm_config_build_from_source=true', 'npm_config_shared_gdal=true']
  if (place.nodeDir) env.push(`npm_config_nodedir=${shellWord(place.nodeDir)}`)
  const why = 'gdal-async is compiled against the system\'s GDAL when it is installed (sudo apt-get install -y\n' +
    'libgdal-dev gdal-bin; macOS: brew install gdal), and npm 12 skips that build unless the project allows it'
  return why + (place.kind === 'global' ? ';\na global install cannot run it. To build it in the installed package:\n' : '.\nTo build it:\n') +
    `  cd ${shellWord(place.dir)}\n` +
    (place.kind === 'project' ? '  npm pkg set allowScripts.gdal-async=true --json\n' : '') +
    `  ${env.join(' ')} npm rebuild gdal-async`
}

function shellWord (text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`
}

/**
 * gdal-async loads xmlbuilder2 for gdal.wrapVRT alone, which rasterpipe never calls (a third of its load
 * time): a stand-in holds its place in the module cache while gdal-async loads, loading the real module
 * if `fragment` is ever called, and leaves the cache after. Returns what puts the cache back.
 */
function deferXmlBuilder (): () => void {
  let path: string
  try {
    path = require.resolve('xmlbuilder2', { paths: [dirname(require.resolve('gdal-async'))] })
  } catch {
    return () => undefined
  }
  if (require.cache[path]) return () => undefined
  const standIn = new Module(path)
  standIn.filename = path
  standIn.loaded = true
  standIn.exports = {
    fragment: (...args: unknown[]): unknown => (require(path) as { fragment: (...a: unknown[]) => unknown }).fragment(...args)
  }
  require.cache[path] = standIn
  return () => {
    if (require.cache[path] === standIn) delete require.cache[path]
  }
}

/** GDAL's levels (CPLErr): CE_Warning 2, CE_Failure 3, CE_Fatal 4. */
const CE_WARNING = 2
const CE_FAILURE = 3

/**
 * A synchronous GDAL step on the main thread, with GDAL's error state read after it: GDAL keeps that state
 * per thread, and only what ran on this thread can be read back (gdal-async's pool threads' messages are
 * not: an async call tells its failure by rejecting, with GDAL's message). A failure GDAL reported throws
 * (with its message), even where the step itself returned; a warning goes to `warnings`.
 */
export function checkedStep<T> (gdal: Gdal, warnings: string[], fn: () => T): T {
  gdal.lastError = null
  const value = fn()
  const last = gdal.lastError as { level: number, message: string } | null
  gdal.lastError = null
  if (last && last.level >= CE_FAILURE) throw new Error(last.message.trim())
  if (last && last.level === CE_WARNING && last.message.trim() !== '') warnings.push(`GDAL: ${last.message.trim()}`)
  return value
}

/**
 * GDAL settings rasterpipe makes for the run and depends on, with why: neither the environment nor
 * --config may change them (configure() sets them after GDAL has read its environment).
 */
export const OWN_CONFIG: Readonly<Record<string, { value: string, why: string }>> = {
  GDAL_PAM_ENABLED: { value: 'NO', why: '.aux.xml side files would appear beside outputs and under their temporary names' },
  GDAL_TIFF_INTERNAL_MASK: { value: 'YES', why: 'a mask would go to a .msk side file, which the rename into place leaves behind' },
  GDAL_DISABLE_READDIR_ON_OPEN: { value: 'EMPTY_DIR', why: 'sources are single files in private directories; listing them for side files would find none' },
  OSR_DEFAULT_AXIS_MAPPING_STRATEGY: { value: 'TRADITIONAL_GIS_ORDER', why: '--bbox and --bbox-crs take x (easting, longitude) first, as GDAL\'s tools do' },
  GDAL_VALIDATE_CREATION_OPTIONS: { value: 'YES', why: '--co values are checked by GDAL\'s validator before the first record' }
}

/**
 * A run's GDAL configuration (--config KEY=VALUE), set process-wide once its pipeline starts; keys
 * rasterpipe depends on (OWN_CONFIG) are a usage error naming the key and why. GDAL_CACHEMAX and the
 * rest are GDAL's to take as given.
 */
export function applyGdalConfig (gdal: Gdal, config: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(config)) {
    const own = OWN_CONFIG[key.toUpperCase()]
    if (own) throw new UsageError(words`${option('gdalConfig')}: ${key} is rasterpipe's own (${own.value}): ${own.why}`, { option: 'gdalConfig' })
  }
  for (const [key, value] of Object.entries(config)) gdal.config.set(key, value)
}

function configure (gdal: Gdal): void {
  // GDAL's messages never go to stderr on their own: they belong to records (an async call's rejection,
  // checkedStep after a synchronous one). gdal-async loads quiet; said here, as the run depends on it.
  gdal.quiet()
  // Block cache in MB, outside the --max-memory budget: small, as windows are read once and the allocator
  // keeps freed cache blocks per pool thread (bench/RESULTS.md, "Figures behind the code").
  if (!process.env.GDAL_CACHEMAX) gdal.config.set('GDAL_CACHEMAX', '16')
  // No .aux.xml side files: they would appear beside outputs (under their temporary names too).
  gdal.config.set('GDAL_PAM_ENABLED', 'NO')
  // Masks inside the output TIFF, never as a .msk side file that the rename would leave behind.
  gdal.config.set('GDAL_TIFF_INTERNAL_MASK', 'YES')
  // Sources are single files in private directories: never list directories looking for side files.
  gdal.config.set('GDAL_DISABLE_READDIR_ON_OPEN', 'EMPTY_DIR')
  // x = easting/longitude everywhere, as GDAL's command-line tools take coordinates (GDAL >= 3.5).
  gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', 'TRADITIONAL_GIS_ORDER')
  // --co typos are refused by what GDAL's validator says (formats.ts): a NO in the environment would hush it.
  gdal.config.set('GDAL_VALIDATE_CREATION_OPTIONS', 'YES')
}

/**
 * Closes a dataset (idle: no async call of it running), once; one that GDAL keeps in memory (/vsimem/, as
 * a warped VRT is) is freed as well, or each record would leave its few KB there for the run's length.
 */
export function closeDataset (ds: Dataset | undefined): void {
  if (!ds) return
  let path = ''
  try {
    path = ds.description
    ds.close()
  } catch { /* already closed */ }
  if (path.startsWith('/vsimem/')) {
    try { loadGdal().vsimem.release(path) } catch { /* nothing was written there */ }
  }
}

/** A job's datasets, the window (a VRT) before the sources it reads from. */
export function closeJobDatasets (job: Job): void {
  closeDataset(job.pixels)
  job.pixels = undefined
  const plan = job.plan
  if (plan?.kind === 'warp') {
    closeDataset(plan.vrt)
    closeDataset(plan.source)
    plan.vrt = undefined
    plan.source = undefined
  }
  if (job.opened) {
    closeDataset(job.opened.dataset)
    job.opened.dataset = undefined
  }
}
