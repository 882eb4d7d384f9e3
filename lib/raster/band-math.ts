// Band math in the write path: the record's expressions (lib/core/expr.ts) over the pixels the write stage
// would copy (a window's VRT, a warp in memory, a stack's VRT), evaluated into a MEM dataset of one band per
// expression on the same grid, which the write stage then copies and checks as it does any output. Bands
// are read in their own type, masked by their nodata and mask, then scale and offset are applied.
import { RecordError } from '../core/errors.js'
import { evaluateExpr, EXPR_TYPES, ExprError, exprBytesPerPixel, exprNames, parseExpr, resolveBands, type ExprBand, type ExprProgram } from '../core/expr.js'
import type { ExprAsk, Job, Plan } from '../core/job.js'
import { maskBeyondNodata, type Dataset, type Gdal } from './gdal.js'
import { partBands } from './stack.js'


/** Types a band is read in as its own typed array; any other (64-bit, complex) is read as Float64. */
const NATIVE = new Set(['Byte', 'UInt16', 'Int16', 'UInt32', 'Int32', 'Float32', 'Float64'])

/** The output's band names a stack gives (lib/raster/stack-write.ts): `name` for a one-band source, `name_<b>` for each band of several. */
function stackNames (job: Job): Map<string, number> {
  const names = new Map<string, number>()
  let at = 0
  for (const part of job.parts ?? []) {
    const read = partBands(part)
    const { name, commonName } = part.stackSource ?? {}
    if (name !== undefined) {
      if (read.length === 1) names.set(name, at)
      else read.forEach((b, i) => names.set(`${name}_${b}`, at + i))
    }
    // A common name never hides a source's own name (two assets may share one: the first keeps it).
    if (commonName !== undefined && read.length === 1 && !names.has(commonName)) names.set(commonName, at)
    at += read.length
  }
  return names
}

/** The bands the output would have without band math: the stack's, or the window's (`bands`, else all). */
function bandCount (job: Job): number {
  if (job.parts) return job.parts.reduce((n, p) => n + (p.request.bands?.length ?? p.opened?.source.count ?? 0), 0)
  return job.request.bands?.length ?? job.opened?.source.count ?? 0
}

export function resolved (job: Job, expr: ExprAsk): { program: ExprProgram, bands: Map<string, number> } {
  const names = job.parts ? stackNames(job) : new Map<string, number>()
  const program = parseExpr(expr.text, (n) => names.has(n))
  return { program, bands: resolveBands(program, bandCount(job), names) }
}

/**
 * At open, once the bands are known: the expressions' names resolved (an unknown `b5` of a 3-band raster is
 * the record's error before anything is fetched), and the plan's bytes grown by what evaluation holds: the
 * bands it reads (at most the window's bytes), a byte per pixel for validity and for each band's mask, and
 * each output band twice (the evaluated array and the MEM dataset it is written into).
 */
export function planExpr (job: Job, plan: Plan): void {
  const expr = job.expr
  if (!expr) return
  let program: ExprProgram
  try {
    program = resolved(job, expr).program
  } catch (err) {
    throw new RecordError('open', 'BAD_EXPR', err instanceof ExprError ? err.message : String(err))
  }
  // At points or in a zone (lib/raster/expr-values.ts): the bands read there (as doubles, with a validity
  // byte) are held already; each expression's results as doubles and their validity besides.
  if (plan.kind === 'points' || plan.kind === 'zonal') {
    const n = plan.kind === 'points' ? plan.pixels.length : plan.window ? plan.window.width * plan.window.height : 0
    plan.bytes += n * (9 * bandCount(job) + 9 * program.exprs.length)
    return
  }
  const pixels = plan.kind === 'window'
    ? (plan.outSize ? plan.outSize[0] * plan.outSize[1] : plan.window.width * plan.window.height)
    : plan.grid.width * plan.grid.height
  plan.bytes += plan.bytes + pixels * (1 + exprNames(program).size + 2 * exprBytesPerPixel(program, expr.type))
}

/**
 * The record's expressions over `from`, as a MEM dataset of one band per expression (the caller closes it),
 * on `from`'s grid, with the type's nodata set.
 */
export async function exprDataset (gdal: Gdal, job: Job, from: Dataset): Promise<Dataset> {
  const expr = job.expr as ExprAsk
  const out = EXPR_TYPES.get(expr.type)
  if (!out) throw new RecordError('write', 'BAD_EXPR', `expr: unknown output type '${expr.type}'`)
  let program: ExprProgram
  let bands: Map<string, number>
  try {
    ({ program, bands } = resolved(job, expr))
  } catch (err) {
    throw new RecordError('write', 'BAD_EXPR', err instanceof ExprError ? err.message : String(err))
  }
  const size = await from.rasterSizeAsync
  const inputs: ExprBand[] = []
  for (const index of new Set(bands.values())) {
    const band = await from.bands.getAsync(index + 1)
    const type = (await band.dataTypeAsync) ?? 'Float64'
    const data = NATIVE.has(type) ? await band.pixels.readAsync(0, 0, size.x, size.y) : await band.pixels.readAsync(0, 0, size.x, size.y, new Float64Array(size.x * size.y))
    // A mask of nodata alone says nothing the nodata value does not; any other (a mask band, alpha) is read.
    const maskBand = maskBeyondNodata(band)
    const mask = maskBand ? await maskBand.pixels.readAsync(0, 0, size.x, size.y, new Uint8Array(size.x * size.y)) : null
    const scale = await band.scaleAsync
    const offset = await band.offsetAsync
    // GDAL compares a Float32 band's pixels with its nodata in Float32: -3.4e38 is stored as fround(-3.4e38).
    const nodata = await band.noDataValueAsync
    inputs[index] = { data: data as ArrayLike<number>, nodata: data instanceof Float32Array && typeof nodata === 'number' ? Math.fround(nodata) : nodata, mask, scale: scale ?? 1, offset: offset ?? 0 }
  }
  const result = evaluateExpr(program, bands, inputs, size.x * size.y, expr.type)
  const mem = await gdal.drivers.get('MEM').createAsync('', size.x, size.y, result.bands.length, expr.type)
  try {
    const gt = await from.geoTransformAsync
    if (gt) mem.geoTransform = gt
    const srs = await from.srsAsync
    if (srs) mem.srs = srs
    for (const [i, data] of result.bands.entries()) {
      const band = await mem.bands.getAsync(i + 1)
      band.noDataValue = result.nodata
      await band.pixels.writeAsync(0, 0, size.x, size.y, data)
    }
    return mem
  } catch (err) {
    mem.close()
    throw err
  }
}
