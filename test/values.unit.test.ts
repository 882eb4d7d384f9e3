// Unit tests of the values records' own seams: --points and --geometry files, the checks of points,
// geometries and --zonal-stats, the statistics' arithmetic (numpy's definitions, figures numpy gives),
// GDAL's inverse geotransform, and a values record's retry record.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parsePoints, pointsFromText } from '../lib/core/points.js'
import { geometryFromText, parseGeometry, parseZonalStats } from '../lib/core/zones.js'
import { InvalidValue } from '../lib/core/request.js'
import { invertGeoTransform, pixelOf } from '../lib/raster/points.js'
import { summarise } from '../lib/raster/zonal.js'
import { parseItem } from '../lib/input/parse.js'
import { resolveOptions } from '../lib/run/options.js'
import { retryRecord } from '../lib/input/retry.js'

const square = [[[0, 0], [1, 0], [1, 1], [0, 0]]]

test('--points files: GeoJSON points and multipoints in order, CSV with or without a header; a bad row is named', () => {
  const fc = { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [1, 2, 9] } }, { type: 'Feature', geometry: { type: 'MultiPoint', coordinates: [[3, 4], [5, 6]] } }] }
  assert.deepEqual(pointsFromText(JSON.stringify(fc), 'points'), [[1, 2], [3, 4], [5, 6]])
  assert.deepEqual(pointsFromText('x,y\n1.5,2\n-3,4e2\n', 'points'), [[1.5, 2], [-3, 400]])
  assert.deepEqual(pointsFromText('1;2\r\n3;4', 'points'), [[1, 2], [3, 4]])
  assert.throws(() => pointsFromText('x,y\n1,2\n3,abc\n', 'points'), /CSV row 2 \("3,abc"\) is not x,y numbers/)
  assert.throws(() => pointsFromText(JSON.stringify({ type: 'Feature', geometry: { type: 'LineString', coordinates: [] } }), 'points'), /a "LineString" is not a Point feature/)
  assert.throws(() => pointsFromText('x,y\n', 'points'), /non-empty array/)
  assert.throws(() => parsePoints([[1, Infinity]]), InvalidValue)
})

test('geometries: Polygon, MultiPolygon, a Feature of one; a FeatureCollection is one MultiPolygon; bad ones are named', () => {
  assert.deepEqual(parseGeometry({ type: 'Feature', geometry: { type: 'Polygon', coordinates: square } }), { type: 'Polygon', coordinates: square })
  const fc = { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Polygon', coordinates: square } }, { type: 'Feature', geometry: { type: 'MultiPolygon', coordinates: [square, square] } }] }
  assert.deepEqual(geometryFromText(JSON.stringify(fc), 'geometry'), { type: 'MultiPolygon', coordinates: [square, square, square] })
  assert.throws(() => parseGeometry({ type: 'MultiPolygon', coordinates: [] }), /at least one polygon/)
  assert.throws(() => parseGeometry({ type: 'MultiPolygon', coordinates: [square, [[[0, 0], [1, 1], [0, 0]]]] }), /polygon 2 ring 1 must have at least 4 positions/)
  assert.throws(() => parseGeometry(null), /must be a GeoJSON Polygon or MultiPolygon, got null/)
  assert.throws(() => geometryFromText('{', 'geometry'), /geometry: not JSON/)
})

test('--zonal-stats: known names and p0…p100, in the order given, once each', () => {
  assert.deepEqual(parseZonalStats('mean, p90,count,mean,p0,p100,majority', 'zonalStats'), ['mean', 'p90', 'count', 'p0', 'p100', 'majority'])
  assert.throws(() => parseZonalStats('p101', 'zonalStats'), /unknown statistic "p101"/)
  assert.throws(() => parseZonalStats('', 'zonalStats'), /needs a list/)
  assert.throws(() => parseZonalStats(['mean', 3], 'zonalStats'), /unknown statistic 3/)
})

test('zonal statistics as numpy computes them: population std, linear percentiles, the smallest of a tied majority; nothing valid gives nulls', () => {
  const all = ['count', 'nodata_count', 'min', 'max', 'mean', 'std', 'sum', 'median', 'p10', 'p90', 'majority', 'unique']
  // numpy: np.std([4., 1, 3, 2, 2]) = 1.019803902718557, np.percentile(.., 10) = 1.4, (.., 90) = 3.6 (numpy 2.4.6)
  assert.deepEqual(summarise(2, [4, 1, 3, 2, 2], 7, all), {
    band: 2, count: 5, nodata_count: 7, min: 1, max: 4, mean: 2.4, std: 1.019803902718557, sum: 12, median: 2, p10: 1.4, p90: 3.6, majority: 2, unique: 4
  })
  assert.equal(summarise(1, [3, 1, 3, 1], 0, ['majority']).majority, 1)
  assert.deepEqual(summarise(1, [], 3, all), { band: 1, count: 0, nodata_count: 3, min: null, max: null, mean: null, std: null, sum: 0, median: null, p10: null, p90: null, majority: null, unique: 0 })
})

test('GDAL\'s inverse geotransform: a north-up one as GDAL special-cases it, a rotated one, none for a degenerate one; edges floor right and below', () => {
  const gt = [500000, 10, 0, 4200000, 0, -10]
  assert.deepEqual(invertGeoTransform(gt), [-50000, 0.1, 0, 420000, 0, -0.1])
  assert.deepEqual(pixelOf(invertGeoTransform(gt) as number[], 500010, 4199990, 100, 100), { col: 1, row: 1 })
  assert.equal(pixelOf(invertGeoTransform(gt) as number[], 501000, 4199990, 100, 100), null)
  const rotated = invertGeoTransform([0, 1, 1, 0, -1, 1]) as number[]
  // (x, y) = (c + r, -c + r): pixel (2.5, 1.5) is at (4, -1).
  assert.deepEqual(pixelOf(rotated, 4, -1, 10, 10), { col: 2, row: 1 })
  assert.equal(invertGeoTransform([0, 1, 1, 0, 1, 1]), null)
})

test('a values record\'s retry record carries its points or geometry and bands, and no window', () => {
  const options = resolveOptions({ window: { col: 5, row: 5, width: 9, height: 9 } })
  const points = parseItem(JSON.stringify({ url: 'https://example.org/a.tif', points: [[1, 2]], points_crs: 'EPSG:4326', bands: [2] }), 1, options, '.tif')
  assert.ok(points && !points.error, JSON.stringify(points?.error))
  assert.equal(points.outputPath, undefined, 'a values record names no output')
  assert.deepEqual(retryRecord(points), { url: 'https://example.org/a.tif', points: [[1, 2]], points_crs: 'EPSG:4326', bands: [2] })
  const zone = parseItem(JSON.stringify({ url: 'https://example.org/a.tif', geometry: { type: 'Polygon', coordinates: square }, all_touched: true }), 2, options, '.tif')
  assert.ok(zone && !zone.error)
  assert.deepEqual(retryRecord(zone), { url: 'https://example.org/a.tif', geometry: { type: 'Polygon', coordinates: square }, geometry_crs: 'EPSG:4326', all_touched: true })
  const both = parseItem(JSON.stringify({ url: 'https://example.org/a.tif', urls: undefined, points: [[1, 2]], window: [0, 0, 1, 1] }), 3, options, '.tif')
  assert.match(both?.error?.message ?? '', /"points" and "window" cannot be used together/)
})
