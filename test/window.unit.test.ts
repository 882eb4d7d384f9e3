// Unit tests of window arithmetic (clipping, bbox → pixel window as -projwin, refusals) and the request validators, property-based, with fixed cases checked against gdal_translate itself.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { bboxToWindow, checkPixels, clipWindow, CrsCatalog, resolveWindow, warpGridSize } from '../lib/raster/window.js'
import { loadGdal, type Dataset } from '../lib/raster/gdal.js'
import { parseBands, parseBbox, parseCrs, parseOutSize, parseWindow, InvalidValue, type Bbox, type PixelWindow, type WindowRequest } from '../lib/core/request.js'
import { RecordError } from '../lib/core/errors.js'
import type { Job } from '../lib/core/job.js'
import { FIXTURES, scratch } from './support/run.js'
import { bareJob } from './support/unit.js'

const gdal = loadGdal()
let dir: string

before(() => { dir = scratch('rp-window-') })
after(() => { rmSync(dir, { recursive: true, force: true }) })

/** Asserts that fn fails with a RecordError of this stage and code (a bare throw would pass anything). */
function recordError (stage: string, code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RecordError, `expected a RecordError, got ${String(err)}`)
    assert.equal(err.stage, stage, err.message)
    assert.equal(err.code, code, err.message)
    return true
  }
}

/** Asserts an InvalidValue whose message matches. */
function invalid (pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof InvalidValue, `expected InvalidValue, got ${String(err)}`)
    assert.match(err.message, pattern)
    return true
  }
}

const coord = fc.integer({ min: -5000, max: 5000 })
const size = fc.integer({ min: 1, max: 5000 })
// Plain objects: fast-check's records have a null prototype, which deepStrictEqual tells apart.
const windowArb = fc.record({ col: coord, row: coord, width: size, height: size }).map((w): PixelWindow => ({ ...w }))
const rasterArb = fc.tuple(fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 1, max: 4000 }))

const inside = (w: PixelWindow, width: number, height: number): boolean =>
  w.col >= 0 && w.row >= 0 && w.width > 0 && w.height > 0 && w.col + w.width <= width && w.row + w.height <= height

// ---- clipWindow ----

test('clipWindow: a clipped window lies inside the raster and inside the asked window', () => {
  fc.assert(fc.property(windowArb, rasterArb, (w, [width, height]) => {
    const c = clipWindow(w, width, height)
    if (c === null) return
    assert.ok(inside(c, width, height), JSON.stringify(c))
    assert.ok(c.col >= w.col && c.row >= w.row && c.col + c.width <= w.col + w.width && c.row + c.height <= w.row + w.height)
  }))
})

test('clipWindow: null exactly when the window shares no pixel with the raster', () => {
  fc.assert(fc.property(windowArb, rasterArb, (w, [width, height]) => {
    const overlaps = w.col < width && w.col + w.width > 0 && w.row < height && w.row + w.height > 0
    assert.equal(clipWindow(w, width, height) !== null, overlaps)
  }))
})

test('clipWindow: idempotent, and a window inside the raster is unchanged', () => {
  fc.assert(fc.property(windowArb, rasterArb, (w, [width, height]) => {
    const c = clipWindow(w, width, height)
    if (c !== null) assert.deepEqual(clipWindow(c, width, height), c)
    if (inside(w, width, height)) assert.deepEqual(c, w)
  }))
})

// ---- bboxToWindow ----

/** A north-up geotransform with a pixel size that need not be a round number. */
const gtArb = fc.record({
  x0: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  y0: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  px: fc.double({ min: 0.01, max: 1000, noNaN: true }),
  py: fc.double({ min: 0.01, max: 1000, noNaN: true })
}).map(({ x0, y0, px, py }) => [x0, px, 0, y0, 0, -py])

/** The bbox whose edges are exactly those of a pixel window. */
function bboxOf (w: PixelWindow, gt: number[]): Bbox {
  return [gt[0] + w.col * gt[1], gt[3] + (w.row + w.height) * gt[5], gt[0] + (w.col + w.width) * gt[1], gt[3] + w.row * gt[5]]
}

test('bboxToWindow: the bbox of a pixel window gives that window back, whatever the pixel size', () => {
  fc.assert(fc.property(windowArb, gtArb, (w, gt) => {
    assert.deepEqual(bboxToWindow(bboxOf(w, gt), gt), w)
  }))
})

test('bboxToWindow: GDAL\'s rounding: offset floored (with 0.001 px slack), size rounded to the nearest pixel', () => {
  // In pixel units the bbox spans [a, b) across and [c, d) down; -projwin keeps the size it asks for
  // (rounded) and starts at the pixel holding its corner, so the window may miss up to a pixel at the far edge.
  const span = fc.tuple(fc.double({ min: -2000, max: 2000, noNaN: true }), fc.double({ min: 0.6, max: 2000, noNaN: true }))
  fc.assert(fc.property(span, span, ([a, da], [c, dc]) => {
    const gt = [1000, 2, 0, 5000, 0, -2]
    const bbox: Bbox = [gt[0] + a * gt[1], gt[3] - (c + dc) * 2, gt[0] + (a + da) * gt[1], gt[3] - c * 2]
    const w = bboxToWindow(bbox, gt)
    // Pixel coordinates as computed from the bbox, so that float error in building it does not count.
    const [pa, pb] = [(bbox[0] - gt[0]) / gt[1], (bbox[2] - gt[0]) / gt[1]]
    const [pc, pd] = [(bbox[3] - gt[3]) / gt[5], (bbox[1] - gt[3]) / gt[5]]
    assert.ok(w.col <= pa + 0.001 && pa + 0.001 < w.col + 1, `col ${w.col} for ${pa}`)
    assert.ok(w.row <= pc + 0.001 && pc + 0.001 < w.row + 1, `row ${w.row} for ${pc}`)
    assert.ok(Math.abs(w.width - (pb - pa)) <= 0.5, `width ${w.width} for ${pb - pa}`)
    assert.ok(Math.abs(w.height - (pd - pc)) <= 0.5, `height ${w.height} for ${pd - pc}`)
  }))
})

test('bboxToWindow: moving the bbox by whole pixels moves the window by as many', () => {
  fc.assert(fc.property(windowArb, fc.integer({ min: -100, max: 100 }), fc.integer({ min: -100, max: 100 }), (w, dx, dy) => {
    const gt = [500000, 10, 0, 4200000, 0, -10]
    const [x0, y0, x1, y1] = bboxOf(w, gt)
    const moved = bboxToWindow([x0 + dx * 10, y0 - dy * 10, x1 + dx * 10, y1 - dy * 10], gt)
    assert.deepEqual(moved, { ...w, col: w.col + dx, row: w.row + dy })
  }))
})

test('bboxToWindow: under half a pixel across is EMPTY_WINDOW; a rotated geotransform is ROTATED', () => {
  const gt = [0, 10, 0, 100, 0, -10]
  fc.assert(fc.property(fc.double({ min: -500, max: 500, noNaN: true }), fc.double({ min: 1e-6, max: 4.99, noNaN: true }), (x, dx) => {
    assert.throws(() => bboxToWindow([x, 0, x + dx, 50], gt), recordError('open', 'EMPTY_WINDOW'))
  }))
  assert.throws(() => bboxToWindow([0, 0, 50, 50], [0, 10, 0.5, 100, 0, -10]), recordError('open', 'ROTATED'))
  assert.throws(() => bboxToWindow([0, 0, 50, 50], [0, 10, 0, 100, 0.5, -10]), recordError('open', 'ROTATED'))
})

test('bboxToWindow: a south-up raster (positive pixel height) counts rows from MINY', () => {
  fc.assert(fc.property(windowArb, (w) => {
    const gt = [0, 10, 0, -50000, 0, 10]
    const bbox: Bbox = [w.col * 10, -50000 + w.row * 10, (w.col + w.width) * 10, -50000 + (w.row + w.height) * 10]
    assert.deepEqual(bboxToWindow(bbox, gt), w)
  }))
})

// ---- against gdal_translate -projwin ----

/** The -srcwin gdal_translate chose for a -projwin, read back from its output's size and geotransform. */
function gdalSrcwin (src: string, gt: number[], bbox: Bbox, name: string): PixelWindow {
  // GDALTranslate in this process (the library behind the gdal_translate program), not a program start per case.
  const out = `/vsimem/rp-window-${process.pid}-${name}.tif`
  const ds = gdal.open(src)
  try {
    // -projwin ulx uly lrx lry, north-up: the corners are (minx, maxy) and (maxx, miny).
    const made = gdal.translate(out, ds, ['-projwin', ...[bbox[0], bbox[3], bbox[2], bbox[1]].map(String)])
    const [x0, , , y0] = made.geoTransform as number[]
    const { x: width, y: height } = made.rasterSize
    made.close()
    return {
      // + 0: Math.round gives -0 for a small negative, which deepStrictEqual tells from 0.
      col: Math.round((x0 - gt[0]) / gt[1]) + 0,
      row: Math.round((y0 - gt[3]) / gt[5]) + 0,
      width,
      height
    }
  } finally {
    ds.close()
    gdal.vsimem.release(out)
  }
}

/** A small GTiff made by GDAL's own gdal_create. */
function gdalRaster (name: string, width: number, height: number, ullr: number[]): string {
  const path = join(dir, name)
  execFileSync('gdal_create', ['-q', '-of', 'GTiff', '-outsize', String(width), String(height), '-bands', '1', '-ot', 'Byte',
    '-a_srs', 'EPSG:32618', '-a_ullr', ...ullr.map(String), path])
  return path
}

test('bboxToWindow matches gdal_translate -projwin on fixed cases', () => {
  // 10 m pixels, and 0.3 m ones, which no binary float holds exactly.
  const rasters = [
    { path: gdalRaster('ten.tif', 100, 80, [500000, 4200000, 501000, 4199200]), gt: [500000, 10, 0, 4200000, 0, -10] },
    { path: gdalRaster('third.tif', 100, 100, [0, 30, 30, 0]), gt: [0, 0.3, 0, 30, 0, -0.3] }
  ]
  const px = (r: typeof rasters[number], a: number, c: number, b: number, d: number): Bbox =>
    [r.gt[0] + a * r.gt[1], r.gt[3] + d * r.gt[5], r.gt[0] + b * r.gt[1], r.gt[3] + c * r.gt[5]]
  // Pixel-unit bboxes [a, c] to [b, d] (a, b across; c, d down).
  const cases: Array<[string, number, number, number, number]> = [
    ['aligned', 10, 20, 42, 36],
    ['a fraction in, kept size', 0.9, 0.9, 2.0, 2.0],
    ['just under an edge (0.001 slack)', 2.9995, 4.9995, 7.9995, 9.9995],
    ['rounding the size up', 3.2, 3.2, 8.8, 8.8],
    ['rounding the size down', 3.0, 3.0, 8.4, 8.4],
    ['crossing the raster\'s edge', -5, -5, 10, 10],
    ['beyond the far edge', 90, 70, 130, 95]
  ]
  for (const [k, r] of rasters.entries()) {
    for (const [i, [label, a, c, b, d]] of cases.entries()) {
      const bbox = px(r, a, c, b, d)
      assert.deepEqual(bboxToWindow(bbox, r.gt), gdalSrcwin(r.path, r.gt, bbox, `c${k}-${i}`), `${label} on ${r.path}`)
    }
  }
})

// ---- resolveWindow: the window a job reads, with a real dataset ----

function jobFor (ds: Dataset, request: Partial<WindowRequest>, georeferenced = true): Job {
  const source = { driver: ds.driver.description, width: ds.rasterSize.x, height: ds.rasterSize.y, count: ds.bands.count(), dtype: 'Byte', crs: null }
  const job = bareJob(1, { url: ds.description, opened: { dataset: ds, source, georeferenced } })
  return { ...job, request: { ...job.request, ...request } }
}

/** The job's window as open resolves it. */
async function resolveFor (crs: CrsCatalog, job: Job, maxPixels: number): Promise<PixelWindow> {
  return await resolveWindow(gdal, crs, job.opened, job.request, maxPixels)
}

test('resolveWindow: clipped unless boundless, OUTSIDE when no pixel is left, refusals by code', async () => {
  const ds = gdal.open(gdalRaster('resolve.tif', 100, 80, [500000, 4200000, 501000, 4199200]))
  const crs = new CrsCatalog(gdal)
  try {
    await fc.assert(fc.asyncProperty(windowArb, fc.boolean(), async (window, boundless) => {
      const job = jobFor(ds, { window, boundless })
      const clipped = clipWindow(window, 100, 80)
      if (boundless) assert.deepEqual(await resolveFor(crs, job, Infinity), window)
      else if (clipped) assert.deepEqual(await resolveFor(crs, job, Infinity), clipped)
      else await assert.rejects(resolveFor(crs, job, Infinity), recordError('open', 'OUTSIDE'))
    }), { numRuns: 200 })

    // --max-pixels counts the output's pixels: the clipped window's, or --out-size's.
    const window = { col: 90, row: 70, width: 100, height: 100 }
    assert.deepEqual(await resolveFor(crs, jobFor(ds, { window }), 100), { col: 90, row: 70, width: 10, height: 10 })
    await assert.rejects(resolveFor(crs, jobFor(ds, { window }), 99), recordError('open', 'TOO_MANY_PIXELS'))
    await assert.rejects(resolveFor(crs, jobFor(ds, { window, outSize: [20, 20] }), 399), recordError('open', 'TOO_MANY_PIXELS'))
    await assert.rejects(resolveFor(crs, jobFor(ds, { bands: [1, 2] }), Infinity), recordError('open', 'BAD_BANDS'))
    await assert.rejects(resolveFor(crs, jobFor(ds, { bbox: [500000, 4199900, 500100, 4200000] }, false), Infinity), recordError('open', 'NOT_GEOREFERENCED'))
    await assert.rejects(resolveFor(crs, jobFor(ds, { bbox: [500000, 4199900, 500100, 4200000], bboxCrs: 'EPSG:999999' }), Infinity), recordError('input', 'BAD_CRS'))
    await assert.rejects(resolveFor(crs, { ...jobFor(ds, {}), opened: undefined }, Infinity), recordError('open', 'NOT_OPEN'))
  } finally {
    ds.close()
  }
})

test('resolveWindow: a bbox in the raster\'s CRS, and the same bbox given in EPSG:4326', async () => {
  const ds = gdal.open(gdalRaster('resolve-bbox.tif', 100, 80, [500000, 4200000, 501000, 4199200]))
  const crs = new CrsCatalog(gdal)
  try {
    const bbox: Bbox = [500100, 4199500, 500300, 4199800]
    const want = { col: 10, row: 20, width: 20, height: 30 }
    assert.deepEqual(await resolveFor(crs, jobFor(ds, { bbox }), Infinity), want)
    assert.deepEqual(await resolveFor(crs, jobFor(ds, { bbox, bboxCrs: 'EPSG:32618' }), Infinity), want)
    // Carried into lon/lat and back, the densified bbox bounds the original: it can only grow, by under a pixel.
    const to4326 = new gdal.CoordinateTransformation(gdal.SpatialReference.fromEPSG(32618), gdal.SpatialReference.fromEPSG(4326))
    const corners = [[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[0], bbox[3]], [bbox[2], bbox[3]]].map(([x, y]) => to4326.transformPoint(x, y))
    // EPSG:4326 is lat/lon in axis order: GDAL's transform gives x = lat, y = lon.
    const lons = corners.map((p) => p.y)
    const lats = corners.map((p) => p.x)
    const geo: Bbox = [Math.min(...lats), Math.min(...lons), Math.max(...lats), Math.max(...lons)]
    const got = await resolveFor(crs, jobFor(ds, { bbox: geo, bboxCrs: 'EPSG:4326' }), Infinity)
    assert.ok(got.col <= want.col && got.row <= want.row, JSON.stringify(got))
    assert.ok(got.col + got.width >= want.col + want.width - 1 && got.row + got.height >= want.row + want.height - 1, JSON.stringify(got))
    assert.ok(got.width <= want.width + 2 && got.height <= want.height + 2, JSON.stringify(got))
  } finally {
    ds.close()
  }
})

// ---- validators ----

test('parseWindow: the string, array and object forms agree; sizes must be whole and positive', () => {
  fc.assert(fc.property(windowArb, (w) => {
    const { col, row, width, height } = w
    assert.deepEqual(parseWindow(`${col}, ${row},${width} ,${height}`), w)
    assert.deepEqual(parseWindow([col, row, width, height]), w)
    assert.deepEqual(parseWindow([String(col), String(row), String(width), String(height)]), w)
    assert.deepEqual(parseWindow({ ...w }), w)
  }))
  fc.assert(fc.property(coord, coord, fc.integer({ min: -100, max: 0 }), size, (col, row, bad, good) => {
    assert.throws(() => parseWindow([col, row, bad, good]), invalid(/width and height must be more than 0/))
    assert.throws(() => parseWindow([col, row, good, bad]), invalid(/width and height must be more than 0/))
  }))
  fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n)), (n) => {
    assert.throws(() => parseWindow([0, 0, n, 1]), invalid(/is not a whole number/))
  }))
  assert.throws(() => parseWindow('1,2,3'), invalid(/needs 4 numbers/))
  assert.throws(() => parseWindow('1,2,3,x'), invalid(/value 4 \("x"\) is not a finite number/))
  assert.throws(() => parseWindow('1,2,,4'), invalid(/value 3 \(""\) is not a finite number/))
  assert.throws(() => parseWindow([0, 0, Infinity, 1]), invalid(/value 3 \(Infinity\) is not a finite number/))
  assert.throws(() => parseWindow({ col: 0, row: 0, width: 1, height: 1, depth: 1 }), invalid(/unknown key "depth"/))
  assert.throws(() => parseWindow({ col: 0, row: 0, width: 1 }), invalid(/value 4 \(missing\) is not a finite number/))
  assert.throws(() => parseWindow(null), invalid(/needs 4 numbers/))
})

test('parseBbox: any four finite numbers with MINX < MAXX and MINY < MAXY, else refused', () => {
  const n = fc.double({ min: -1e9, max: 1e9, noNaN: true })
  fc.assert(fc.property(n, n, n, n, (a, b, c, d) => {
    const bbox = [a, b, c, d]
    if (a < c && b < d) {
      assert.deepEqual(parseBbox(bbox), bbox)
      // Through text -0 becomes 0, as it would typed on a command line.
      assert.deepEqual(parseBbox(bbox.join(',')), bbox.map((v) => Number(String(v))))
    }
    else assert.throws(() => parseBbox(bbox), invalid(/needs MINX < MAXX and MINY < MAXY/))
  }))
  assert.throws(() => parseBbox([0, 0, NaN, 1]), invalid(/value 3 \(NaN\) is not a finite number/))
  assert.throws(() => parseBbox('0,0,1'), invalid(/needs 4 numbers/))
  // JSON reads 1e400 as Infinity: said as such, not as JSON.stringify's null.
  assert.throws(() => parseBbox(JSON.parse('[0, 0, 1e400, 1]')), invalid(/^bbox \(MINX,MINY,MAXX,MAXY\): value 3 \(Infinity\) is not a finite number$/))
  assert.throws(() => parseBbox('0,0,1e400,1'), invalid(/value 3 \("1e400"\) is not a finite number/))
})

test('parseBands, parseOutSize, parseCrs', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 20 }), (bands) => {
    assert.deepEqual(parseBands(bands.join(',')), bands)
    assert.deepEqual(parseBands(bands), bands)
  }))
  for (const bad of ['0', '1,-2', '1.5', 'red', '']) assert.throws(() => parseBands(bad), invalid(/is not a band number/), bad)
  assert.throws(() => parseBands([]), invalid(/needs a list of band numbers/))
  fc.assert(fc.property(size, size, (w, h) => { assert.deepEqual(parseOutSize(`${w},${h}`), [w, h]) }))
  assert.throws(() => parseOutSize('0,5'), invalid(/must be more than 0/))
  assert.throws(() => parseOutSize('5'), invalid(/needs 2 numbers/))
  assert.equal(parseCrs('  EPSG:4326 '), 'EPSG:4326')
  for (const bad of ['', '   ', 4326, null]) assert.throws(() => parseCrs(bad), invalid(/needs a CRS/), String(bad))
})

test('warpGridSize: gdalwarp\'s own grid size for -te and -tr (with and without -tap), computed in doubles', () => {
  const source = gdal.open(join(FIXTURES, 'rgb-byte-tiled.tif'))
  // Extents of 3 to 970 m, pixels of 0.3 to 2.9 m: at least one pixel a side, at most a few thousand.
  const n = fc.double({ min: 0.3, max: 97, noNaN: true })
  const r = fc.double({ min: 0.3, max: 2.9, noNaN: true })
  fc.assert(fc.property(fc.double({ min: 499000, max: 501000, noNaN: true }), fc.double({ min: 4189000, max: 4191000, noNaN: true }), n, n, r, r, fc.boolean(), (x, y, w, h, rx, ry, tap) => {
    const te: Bbox = [x, y, x + w * 10, y + h * 10]
    const res: [number, number] = [rx, ry]
    const ds = gdal.warp('/vsimem/grid-size.vrt', null, [source], ['-of', 'VRT', '-te', ...te.map(String), '-tr', String(rx), String(ry), ...(tap ? ['-tap'] : [])])
    const size = ds.rasterSize
    ds.close()
    assert.deepEqual(warpGridSize(te, res, tap), [size.x, size.y], `-te ${te.join(' ')} -tr ${rx} ${ry}${tap ? ' -tap' : ''}`)
  }), { numRuns: 60 })
  source.close()
  // Past GDAL's int: still a number, which checkPixels refuses.
  assert.deepEqual(warpGridSize([0, 0, 10, 10], [1e-12, 1e-12], false), [1e13, 1e13])
  assert.throws(() => checkPixels(1e13, 1e13, 4096 * 4096, 'open', 'grid'), (err: unknown) => err instanceof RecordError && err.code === 'TOO_MANY_PIXELS' && err.stage === 'open' && /^grid of 10000000000000×10000000000000 = 1e\+26 pixels is over maxPixels 16777216$/.test(err.message))
  assert.throws(() => checkPixels(3e9, 1, 1e10), (err: unknown) => err instanceof RecordError && err.code === 'TOO_MANY_PIXELS' && /larger than GDAL can make \(2147483647 a side\)/.test(err.message))
  assert.doesNotThrow(() => checkPixels(2 ** 31 - 1, 1, 1e10))
})
