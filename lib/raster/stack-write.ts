// A multi-source record's pixels: each source's bands on the output grid in a temp file of its own (a
// window as gdal_translate -srcwin, a warp as gdalwarp), then a VRT written as XML (gdal-async cannot set a
// band's description) stacks their bands with names, nodata, scale and offset, in one data type for all.
// Temp files, not /vsimem/: gdal-async frees those only with the garbage collector (bench/RESULTS.md).
import { RecordError } from '../core/errors.js'
import { closeDataset, type Dataset, type Gdal } from './gdal.js'
import type { Job, StackPlan } from '../core/job.js'
import type { Grid } from '../core/records.js'
import { sourceError } from '../core/each-source.js'
import { openDataset, outputNodata, outputScaleOffset, partBands } from './stack.js'
import { partArgs } from './plan.js'
import { unionType } from './data-types.js'
import type { TempDir } from '../core/tempdir.js'
import { removeOnExit } from '../core/tempdir.js'
import { rmSync, writeFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { diskError, spaceOr } from './disk-errors.js'
import { dirname } from 'node:path'
import { windowBytes } from '../core/budget.js'

let seq = 0

export interface OutBand {
  file: string
  band: number
  dtype: string
  description: string
  nodata: number | null
  scale: number | null
  offset: number | null
  interpretation: string
}

export interface StackPixels {
  dataset: Dataset
  /** Closes the stack and frees its files in memory; the dataset must be idle. */
  release: () => void
}

/** Temp files of a record's pixels, each removed by `drop`, or all that are left by `dropAll` (and at exit). */
export function tempFiles (temp: TempDir, prefix: string): { file: (ext: string) => string, drop: (path: string) => void, dropAll: () => void } {
  const files = new Set<string>()
  const file = (ext: string): string => {
    const path = temp.file(`${prefix}-${++seq}${ext}`)
    files.add(path)
    removeOnExit.add(path)
    return path
  }
  const drop = (path: string): void => {
    rmSync(path, { force: true })
    removeOnExit.forget(path)
    files.delete(path)
  }
  return { file, drop, dropAll: () => { for (const f of [...files]) drop(f) } }
}

export async function stackPixels (gdal: Gdal, job: Job, plan: StackPlan, temp: TempDir): Promise<StackPixels> {
  const parts = job.parts ?? []
  let dataset: Dataset | undefined
  const { file, dropAll } = tempFiles(temp, 'stack')
  const release = (): void => {
    closeDataset(dataset)
    dropAll()
  }
  try {
    const bands: OutBand[] = []
    for (const part of parts) {
      try {
        bands.push(...await sourcePixels(gdal, part, file('.tif')))
      } catch (err) {
        // GDAL both reads the source and writes the temp file: a temp directory left full says which failed.
        const failed = err instanceof RecordError ? err : await spaceOr(temp.path, part.plan?.bytes ?? 1, new RecordError('write', 'READ_FAILED', (err as Error).message))
        throw sourceError(part, parts.length, failed, 'write')
      }
    }
    dataset = await openBands(gdal, job, plan.grid, bands, file('.vrt'), 'stack')
    return { dataset, release }
  } catch (err) {
    release()
    throw err
  }
}

/** `bands` stacked by a VRT written at `path` (a stack's or a mosaic's, `what`), opened. */
export async function openBands (gdal: Gdal, job: Job, grid: Grid, bands: OutBand[], path: string, what: string): Promise<Dataset> {
  try {
    writeFileSync(path, stackVrt(grid, gridWkt(gdal, grid), bands))
  } catch (err) {
    throw diskError(`${job.output as string}: the ${what}'s VRT in the temp directory`, err)
  }
  return await gdal.openAsync(path)
}

/** One source's bands on the grid, written to `file`; what each output band of it says. */
async function sourcePixels (gdal: Gdal, part: Job, file: string): Promise<OutBand[]> {
  const src = openDataset(part)
  const plan = part.plan
  if (!plan || plan.kind === 'stack' || plan.kind === 'points' || plan.kind === 'zonal') throw new RecordError('write', 'NO_PIXELS', `${part.url}: the source was not planned`)
  const ds = plan.kind === 'window'
    ? await gdal.translateAsync(file, src, partArgs(plan))
    : await gdal.warpAsync(file, null, [plan.source ?? src], partArgs(plan))
  const size = await ds.rasterSizeAsync
  let pixelBytes = 0
  for (let b = 1, n = await ds.bands.countAsync(); b <= n; b++) {
    pixelBytes += windowBytes(size.x, size.y, 1, (await (await ds.bands.getAsync(b)).dataTypeAsync) ?? 'Byte')
  }
  closeDataset(ds)
  await checkPart(file, pixelBytes)
  const entry = part.stackSource
  const read = partBands(part)
  const out: OutBand[] = []
  for (const [i, b] of read.entries()) {
    const band = await src.bands.getAsync(b)
    out.push({
      file,
      band: i + 1,
      dtype: (await band.dataTypeAsync) ?? 'Float64',
      // A one-band source's bands take the name as it is; several, the name and their band number.
      description: entry?.name !== undefined ? (read.length === 1 ? entry.name : `${entry.name}_${b}`) : await band.descriptionAsync,
      nodata: await outputNodata(part, b),
      ...await outputScaleOffset(part, b),
      interpretation: await band.colorInterpretationAsync ?? 'Undefined'
    })
  }
  return out
}

/**
 * A source's file in the temp directory, written by GDAL on a pool thread (its write errors unseen):
 * uncompressed, so it holds at least its pixels' bytes, or the disk refused some of them.
 */
export async function checkPart (file: string, pixelBytes: number): Promise<void> {
  const { size } = await stat(file)
  if (size >= pixelBytes) return
  throw await spaceOr(dirname(file), pixelBytes - size, new RecordError('write', 'WRITE_FAILED', `the source's pixels in the temp directory hold ${size} of at least ${pixelBytes} bytes`))
}

export function gridWkt (gdal: Gdal, grid: Grid): string {
  return grid.crs === null ? '' : gdal.SpatialReference.fromUserInput(grid.crs).toWKT()
}

function xml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** A number as GDAL's VRT reads it back: NaN and infinities by name. */
function vrtNumber (n: number): string {
  return Number.isNaN(n) ? 'nan' : n === Infinity ? 'inf' : n === -Infinity ? '-inf' : String(n)
}

function stackVrt (grid: Grid, wkt: string, bands: OutBand[]): string {
  const dtype = unionType(bands.map((b) => b.dtype))
  const lines = [`<VRTDataset rasterXSize="${grid.width}" rasterYSize="${grid.height}">`]
  if (wkt) lines.push(`  <SRS>${xml(wkt)}</SRS>`)
  lines.push(`  <GeoTransform>${grid.transform.map(vrtNumber).join(', ')}</GeoTransform>`)
  bands.forEach((b, i) => {
    lines.push(`  <VRTRasterBand dataType="${dtype}" band="${i + 1}">`)
    if (b.description) lines.push(`    <Description>${xml(b.description)}</Description>`)
    if (b.nodata !== null) lines.push(`    <NoDataValue>${vrtNumber(b.nodata)}</NoDataValue>`)
    if (b.offset !== null) lines.push(`    <Offset>${vrtNumber(b.offset)}</Offset>`)
    if (b.scale !== null) lines.push(`    <Scale>${vrtNumber(b.scale)}</Scale>`)
    lines.push(`    <ColorInterp>${xml(b.interpretation)}</ColorInterp>`)
    lines.push('    <SimpleSource>')
    lines.push(`      <SourceFilename relativeToVRT="0">${xml(b.file)}</SourceFilename>`)
    lines.push(`      <SourceBand>${b.band}</SourceBand>`)
    lines.push('    </SimpleSource>')
    lines.push('  </VRTRasterBand>')
  })
  lines.push('</VRTDataset>')
  return lines.join('\n')
}
