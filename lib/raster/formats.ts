// Output formats: which GDAL drivers may write outputs, their file extension, and creation options checked
// by GDAL itself before the first record, so that a bad `--co` is a usage error and not a silent default.
import { UsageError } from '../core/errors.js'
import type { Gdal } from './gdal.js'
import { option, words } from '../core/words.js'

/**
 * Drivers that write one self-contained file, renamed into place when whole. Not VRT (a file of
 * references), MEM (nothing on disk), nor formats that put the data or header beside the file (ENVI,
 * EHdr, AAIGrid's .prj, HFA's .ige for large files).
 */
export const OUTPUT_DRIVERS = ['GTiff', 'COG', 'PNG', 'JPEG', 'WEBP', 'GIF', 'BMP', 'JP2OpenJPEG', 'GPKG', 'netCDF', 'PCIDSK', 'KEA']

/**
 * Drivers whose own library opens the output by name (netCDF, HDF5 for KEA), never through GDAL's virtual
 * files: they write the file in place, and the write stage checks it pixel for pixel (lib/raster/write.ts).
 */
export const WRITES_BY_NAME = new Set(['netCDF', 'KEA'])

/** The driver that opens a format's output again (COG is a GeoTIFF, read by GTiff). */
export function readingDriver (format: string): string {
  return format === 'COG' ? 'GTiff' : format
}

/** Formats that hold no georeferencing inside the file (GDAL would put it in side files, which are off). */
export const UNGEOREFERENCED = new Set(['PNG', 'JPEG', 'WEBP', 'GIF', 'BMP'])

/** A driver's metadata if this GDAL has it and it writes rasters, else undefined. */
function writerMetadata (gdal: Gdal, name: string): Record<string, string> | undefined {
  try {
    const md = gdal.drivers.get(name)?.getMetadata() as Record<string, string> | undefined
    return md?.DCAP_RASTER === 'YES' && (md.DCAP_CREATECOPY === 'YES' || md.DCAP_CREATE === 'YES') ? md : undefined
  } catch {
    return undefined
  }
}

/** The drivers of OUTPUT_DRIVERS this GDAL has, able to write. */
export function outputDrivers (gdal: Gdal): string[] {
  return OUTPUT_DRIVERS.filter((name) => writerMetadata(gdal, name) !== undefined)
}

/**
 * The output file extension for a format, after checking that it may write outputs. Only the requested
 * driver's metadata is read on a run (some drivers build theirs when first asked, COG's at some cost);
 * every output driver's only for the error message.
 */
export function outputExtension (gdal: Gdal, format: string): string {
  const name = OUTPUT_DRIVERS.find((d) => d.toLowerCase() === format.toLowerCase())
  const md = name === undefined ? undefined : writerMetadata(gdal, name)
  if (name === undefined || md === undefined) {
    const allowed = outputDrivers(gdal)
    let known = false
    try { known = Boolean(gdal.drivers.get(format)) } catch { known = false }
    throw new UsageError(known
      ? words`${option('format')}: GDAL driver '${format}' cannot write a single self-contained raster file; use one of ${allowed.join(', ')}`
      : words`${option('format')}: unknown GDAL driver '${format}'; use one of ${allowed.join(', ')}`, { option: 'format' })
  }
  if (name === 'GTiff' || name === 'COG') return '.tif'
  const ext = (md.DMD_EXTENSION ?? md.DMD_EXTENSIONS ?? '').split(/\s+/)[0]
  return ext ? `.${ext}` : ''
}

/**
 * Creation options: the format's defaults, each overridden by a user's option of the same name. DEFLATE at
 * level 1 unless a level is given: far cheaper than 6 for nearly the same size, and read by every TIFF
 * reader, unlike ZSTD (bench/RESULTS.md, "Output encoding"). Other codecs keep their own default level.
 */
export function mergeCreationOptions (format: string, given: string[]): string[] {
  const defaults = format === 'GTiff' ? ['COMPRESS=DEFLATE', 'TILED=YES'] : format === 'COG' ? ['COMPRESS=DEFLATE'] : []
  const byName = new Map<string, string>()
  for (const co of [...defaults, ...given]) byName.set(co.slice(0, co.indexOf('=')).toUpperCase(), co)
  // GTiff names DEFLATE's level ZLEVEL, COG names it LEVEL.
  const level = format === 'GTiff' ? 'ZLEVEL' : format === 'COG' ? 'LEVEL' : null
  if (level && byName.get('COMPRESS')?.split('=')[1]?.toUpperCase() === 'DEFLATE' && !byName.has(level)) byName.set(level, `${level}=1`)
  return [...byName.values()]
}

/** A creation option's value as GDAL reads it (the last one given wins), or undefined. */
function optionValue (options: string[], name: string): string | undefined {
  const given = options.filter((co) => co.slice(0, co.indexOf('=')).toUpperCase() === name)
  return given.at(-1)?.slice(name.length + 1)
}

/**
 * Whether the output driver copies the source's overviews, which gdal_translate's window VRT exposes as
 * its own: then every overview under the window is read too, and range mode must fetch its blocks. The COG
 * driver does unless told to build its own (OVERVIEWS=IGNORE_EXISTING) or none; GTiff with
 * COPY_SRC_OVERVIEWS (a boolean as GDAL reads one: anything but NO, FALSE, OFF or 0); KEA always. The
 * other output drivers read full resolution only (measured with GDAL 3.6: a source whose overview blocks
 * are zeros gives them the same output).
 */
export function copiesOverviews (format: string, options: string[]): boolean {
  if (format === 'COG') return !['NONE', 'IGNORE_EXISTING'].includes((optionValue(options, 'OVERVIEWS') ?? 'AUTO').toUpperCase())
  if (format === 'GTiff') {
    const copy = optionValue(options, 'COPY_SRC_OVERVIEWS')
    return copy !== undefined && !['NO', 'FALSE', 'OFF', '0'].includes(copy.toUpperCase())
  }
  return format === 'KEA'
}

let checks = 0

/**
 * Lets GDAL validate the creation options on a 1×1 copy in memory, once, before any record: GDAL only
 * warns of an unknown option or value (`COMPRESS=BOGUS`) and writes with its default, which for a batch
 * means thousands of outputs that are not what was asked. Its validator's complaints are usage errors.
 * Other failures of this tiny copy (an option that needs another data type) are left to the records.
 * The driver's DMD_CREATIONOPTIONLIST would not do: drivers check values on their own as they write
 * (GTiff's JPEG_QUALITY=0 and PREDICTOR=9 pass the list). Only options a user gave need checking.
 */
export function checkCreationOptions (gdal: Gdal, format: string, options: string[]): void {
  if (options.length === 0) return
  const driver = gdal.drivers.get(format)
  const source = gdal.drivers.get('MEM').create('', 1, 1, 1, gdal.GDT_Byte)
  const path = `/vsimem/rasterpipe-check-${process.pid}-${++checks}`
  let complaint: string | undefined
  try {
    gdal.lastError = null
    try {
      driver.createCopy(path, source, options).close()
    } catch {
      // Judged below by what GDAL said, not by whether this particular copy worked.
    }
    const last = gdal.lastError as { message: string } | null
    complaint = last && /creation option|unexpected value|not support|not recogni[sz]ed/i.test(last.message) ? last.message.trim() : undefined
  } finally {
    gdal.lastError = null
    source.close()
    try { gdal.vsimem.release(path) } catch { /* nothing was written */ }
  }
  if (complaint) throw new UsageError(words`${option('creationOptions')}: GDAL's ${format} driver rejects the creation options: ${complaint}`, { option: 'creationOptions' })
}
