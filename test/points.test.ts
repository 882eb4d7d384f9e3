// Point samples against GDAL's own gdallocationinfo -valonly on the local file: every fixture type (nodata,
// a mask, alpha), points inside, exactly on pixel edges, outside, and in EPSG:4326 against a projected
// raster, over HTTP in range and download mode; a 10,000-point record against a 4096² COG fetches only the
// blocks the points fall in; bad points are record errors naming the field.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { openSync, readFileSync, readSync, closeSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { makeNoisyTiff } from '../bench/data.js'
import { locationInfo } from './support/gdal-values.js'

const gdal = loadGdal()
const ctx = useServer()
let cogPath: string

const FIXTURE_NAMES = ['rgb-byte-tiled.tif', 'uint16-striped.tif', 'float32-band-interleaved.tif', 'int16-small.tif',
  'int32-small.tif', 'uint32-small.tif', 'float64-small.tif', 'palette-byte.tif', 'mask-byte.tif', 'rgba-alpha.tif']


type Value = Array<number | null> | null

interface BandInfo { band: number, noDataValue?: number, mask?: { flags: string[] } }

/**
 * What our values must be, from GDAL's tools alone: gdallocationinfo's value of each band, null where it is
 * the band's nodata (a NODATA mask) or where the band's per-dataset mask or alpha (gdal_translate -b mask)
 * is 0.
 */
function expected (name: string, args: string[], points: number[][], bands: number[]): Value[] {
  const path = join(FIXTURES, name)
  const info = JSON.parse(execFileSync('gdalinfo', ['-json', path]).toString()) as { bands: BandInfo[] }
  const values = locationInfo(path, [...args, ...bands.flatMap((b) => ['-b', String(b)])], points, bands.length)
  const masks = bands.map((b) => {
    const flags = info.bands[b - 1].mask?.flags ?? ['ALL_VALID']
    if (!flags.includes('PER_DATASET')) return null
    const maskFile = join(ctx.dir, `${name}-mask-${b}.tif`)
    if (!existsSync(maskFile)) execFileSync('gdal_translate', ['-q', '-b', `mask,${b}`, path, maskFile])
    return locationInfo(maskFile, args, points, 1)
  })
  return values.map((v, i) => v && v.map((text, k) => {
    const band = info.bands[bands[k] - 1]
    const n = Number(text)
    if (band.noDataValue !== undefined && n === band.noDataValue) return null
    const mask = masks[k]?.[i]
    if (mask && Number(mask[0]) === 0) return null
    return n
  }))
}

/** Equal as gdallocationinfo prints them (%.15g): floats to its 15 digits, the rest exactly. */
function assertValues (ours: unknown, ref: Value[], what: string): void {
  assert.ok(Array.isArray(ours), `${what}: no values`)
  assert.equal(ours.length, ref.length, what)
  ref.forEach((r, i) => {
    const o = (ours as Value[])[i]
    if (r === null) return assert.equal(o, null, `${what}: point ${i} should be outside`)
    assert.ok(Array.isArray(o), `${what}: point ${i} is ${JSON.stringify(o)}, GDAL gives ${JSON.stringify(r)}`)
    assert.equal(o.length, r.length, what)
    r.forEach((v, k) => {
      const got = o[k]
      if (v === null || got === null) return assert.equal(got, v, `${what}: point ${i} band ${k + 1}`)
      assert.ok(got === v || Math.abs(got - v) <= 1e-14 * Math.abs(v), `${what}: point ${i} band ${k + 1}: ${got}, GDAL ${v}`)
    })
  })
}

interface Case { name: string, points: number[][], crs?: string, bands?: number[], args: string[] }

function casesFor (name: string): Case[] {
  // The raster's shape as gdalinfo says it.
  const info = JSON.parse(execFileSync('gdalinfo', ['-json', join(FIXTURES, name)]).toString()) as { size: number[], geoTransform: number[], coordinateSystem: { wkt: string }, bands: unknown[] }
  const [W, H] = info.size
  const gt = info.geoTransform
  const wkt = info.coordinateSystem.wkt
  const count = info.bands.length
  const at = (c: number, r: number): number[] => [gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5]]
  const inside: number[][] = []
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) inside.push(at((i + 0.37) * W / 6, (j + 0.61) * H / 6))
  // Exactly on pixel edges and corners: the pixel right of and below the edge is GDAL's; the right and
  // bottom edges of the raster lie outside it.
  const edges = [at(0, 0), at(1, 1), at(W / 2, H / 3), at(Math.floor(W / 3), 7.5), at(W - 1, H - 1), at(W, H - 1), at(W - 1, H), at(W, H), at(5.5, 0), at(0, 9.25)]
  const outside = [at(-1, 5), at(5, -0.5), at(W + 3, 2), at(2, H + 100), at(-1e6, -1e6)]
  const cases: Case[] = [{ name: 'raster-crs', points: [...inside, ...edges, ...outside], args: ['-geoloc'] }]
  // Lon/lat of some interior points (by GDAL's gdaltransform), asked in EPSG:4326 (gdallocationinfo -wgs84).
  const pts = inside.slice(0, 12).map((p) => `${p[0]} ${p[1]}`).join('\n') + '\n'
  const ll = execFileSync('gdaltransform', ['-s_srs', wkt, '-t_srs', 'EPSG:4326', '-output_xy'], { input: pts }).toString()
    .trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number))
  cases.push({ name: 'wgs84', points: [...ll, [-170, -80]], crs: 'EPSG:4326', args: ['-wgs84'] })
  if (count > 1) cases.push({ name: 'bands', points: inside, bands: [count, 1], args: ['-geoloc'] })
  return cases
}

// GDAL's answers depend on the fixture and points alone: asked once, for both modes.
const references = new Map<string, Value[]>()

for (const mode of ['range', 'download']) {
  test(`points (--fetch ${mode}): every fixture's values equal gdallocationinfo -valonly's, inside, on edges, outside, in EPSG:4326`, async () => {
    const all: Array<{ id: string, name: string, k: Case }> = []
    for (const name of FIXTURE_NAMES) for (const k of casesFor(name)) all.push({ id: `${name} ${k.name}`, name, k })
    const input = all.map(({ id, name, k }) => JSON.stringify({
      url: ctx.server.url(name), id, points: k.points, ...(k.crs ? { points_crs: k.crs } : {}), ...(k.bands ? { bands: k.bands } : {})
    })).join('\n')
    const out = join(ctx.dir, `out-${mode}`)
    const run = await runCli(['-o', out, '--fetch', mode, '-c', '4'], { stdin: input })
    assert.equal(run.code, 0, run.stderr + run.stdout)
    assert.equal(run.records.length, all.length)
    let nulls = 0
    for (const { id, name, k } of all) {
      const rec = run.records.find((r) => r.id === id)
      assert.equal(rec?.status, 'ok', JSON.stringify(rec))
      assert.equal(rec.output, undefined, 'a points record names no output')
      const count = rec.source?.count as number
      let ref = references.get(id)
      if (!ref) references.set(id, ref = expected(name, k.args, k.points, k.bands ?? Array.from({ length: count }, (_, i) => i + 1)))
      assertValues(rec.values, ref, `${id} (${mode})`)
      nulls += ref.filter((v) => v?.includes(null)).length
    }
    // The mask's and nodata's nulls were met, not only assumed.
    assert.ok(nulls > 0, 'no point fell on a masked or nodata pixel')
    // No file is written for a points record.
    assert.equal(existsSync(out) ? readdirSync(out).length : 0, 0)
  })
}

/** TileOffsets and TileByteCounts of a classic TIFF's first directory, read here without GDAL or our TIFF reader. */
function firstTiles (path: string): { offsets: number[], counts: number[] } {
  const fd = openSync(path, 'r')
  const read = (at: number, n: number): Buffer => {
    const b = Buffer.alloc(n)
    readSync(fd, b, 0, n, at)
    return b
  }
  try {
    const head = read(0, 8)
    assert.equal(head.toString('latin1', 0, 2), 'II')
    assert.equal(head.readUInt16LE(2), 42, 'a classic TIFF')
    const ifd = head.readUInt32LE(4)
    const n = read(ifd, 2).readUInt16LE(0)
    const entries = read(ifd + 2, n * 12)
    const tag = (id: number): number[] => {
      for (let i = 0; i < n; i++) {
        if (entries.readUInt16LE(i * 12) !== id) continue
        const type = entries.readUInt16LE(i * 12 + 2)
        const count = entries.readUInt32LE(i * 12 + 4)
        assert.equal(type, 4, 'LONG offsets and counts')
        const data = count === 1 ? entries.subarray(i * 12 + 8, i * 12 + 12) : read(entries.readUInt32LE(i * 12 + 8), count * 4)
        return Array.from({ length: count }, (_, k) => data.readUInt32LE(k * 4))
      }
      throw new Error(`no tag ${id}`)
    }
    return { offsets: tag(324), counts: tag(325) }
  } finally {
    closeSync(fd)
  }
}

test('10,000 points against a 4096² COG fetch only the blocks they fall in, each once, and equal gdallocationinfo', async () => {
  cogPath = makeNoisyTiff(ctx.dir, 'big-cog.tif', 4096, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=512'], 'COG')
  ctx.server.file('big-cog.tif', readFileSync(cogPath))
  const ds = gdal.open(cogPath)
  const gt = ds.geoTransform as number[]
  ds.close()
  // Five 512² tiles, no two next to each other in the file (so that no request merges across a tile not wanted).
  const tiles = [[1, 0], [4, 2], [6, 3], [2, 5], [5, 7]]
  let state = 12345
  const rand = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
  const points = Array.from({ length: 10_000 }, (_, i) => {
    const [tx, ty] = tiles[i % tiles.length]
    return [gt[0] + (tx * 512 + rand() * 512) * gt[1], gt[3] + (ty * 512 + rand() * 512) * gt[5]]
  })
  ctx.server.reset()
  const run = await runCli(['-o', join(ctx.dir, 'cog-out'), '--fetch', 'range'], { stdin: JSON.stringify({ url: ctx.server.url('big-cog.tif'), points }) + '\n' })
  assert.equal(run.code, 0, run.stderr)
  const rec = run.records[0]
  assert.equal(rec.fetch, 'range')
  assertValues(rec.values, expected0(points), '4096² COG')
  const s = ctx.server.stats('big-cog.tif')
  const { offsets, counts } = firstTiles(cogPath)
  const across = 4096 / 512
  const want = tiles.map(([tx, ty]) => ty * across + tx)
  // After the probe (the file's first bytes), each request is one wanted tile (GDAL's COG puts 4 bytes of
  // size before each and may repeat its last 4 after), and every wanted tile is asked once.
  const asked = s.ranges.slice(1).flatMap((r) => r.replace(/^bytes=/, '').split(',').map((p) => p.split('-').map(Number)))
  const covered = asked.map(([a, b]) => {
    const hit = want.filter((t) => a <= offsets[t] && b + 1 >= offsets[t] + counts[t])
    assert.equal(hit.length, 1, `range ${a}-${b} holds ${hit.length} wanted tiles`)
    assert.ok(b + 1 - a <= counts[hit[0]] + 8, `range ${a}-${b} is more than its tile (${counts[hit[0]]} bytes)`)
    return hit[0]
  })
  assert.deepEqual([...covered].sort((a, b) => a - b), [...want].sort((a, b) => a - b))
  const probe = Number(s.ranges[0].replace(/^bytes=/, '').split('-')[1]) + 1
  assert.ok(probe < offsets[Math.min(...want)], 'the probe holds none of the tiles')
  assert.ok(s.bytes <= probe + want.reduce((sum, t) => sum + counts[t] + 8, 0), `${s.bytes} bytes moved`)
  assert.equal(rec.bytes, s.bytes)
  assert.ok(s.bytes < statSync(cogPath).size / 10)
})

function expected0 (points: number[][]): Value[] {
  return locationInfo(cogPath, ['-geoloc'], points, 3).map((v) => v && v.map(Number))
}

test('--points FILE (GeoJSON, CSV with and without a header) applies to records without points; bad points are record errors naming the field', async () => {
  const name = 'rgb-byte-tiled.tif'
  const ds = gdal.open(join(FIXTURES, name))
  const gt = ds.geoTransform as number[]
  ds.close()
  const pts = [[gt[0] + 15.5 * gt[1], gt[3] + 20.25 * gt[5]], [gt[0] + 300 * gt[1], gt[3] + 411 * gt[5]]]
  const ref = expected(name, ['-geoloc'], pts, [1, 2, 3])
  const geojson = join(ctx.dir, 'points.geojson')
  writeFileSync(geojson, JSON.stringify({ type: 'FeatureCollection', features: pts.map((p) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: p } })) }))
  const csv = join(ctx.dir, 'points.csv')
  writeFileSync(csv, 'x,y\n' + pts.map((p) => p.join(',')).join('\n') + '\n')
  const bare = join(ctx.dir, 'bare.csv')
  writeFileSync(bare, pts.map((p) => p.join(',')).join('\n'))
  const own = [[gt[0] + 1.5 * gt[1], gt[3] + 1.5 * gt[5]]]
  for (const file of [geojson, csv, bare]) {
    const input = [ctx.server.url(name), JSON.stringify({ url: ctx.server.url(name), points: own })].join('\n')
    const run = await runCli(['-o', join(ctx.dir, 'file-out'), '--points', file], { stdin: input })
    assert.equal(run.code, 0, run.stderr)
    assertValues(run.records.find((r) => r.line === 1)?.values, ref, file)
    assertValues(run.records.find((r) => r.line === 2)?.values, expected(name, ['-geoloc'], own, [1, 2, 3]), `${file}: a record's own points win`)
  }
  const bad: Array<[object, string, RegExp]> = [
    [{ points: [['a', 1]] }, 'BAD_RECORD', /"points": point 1 .* not a finite number/],
    [{ points: [[1, 2, 3]] }, 'BAD_RECORD', /"points": point 1 must be \[x, y\]/],
    [{ points: [1, 2] }, 'BAD_RECORD', /"points": point 1 must be \[x, y\]/],
    [{ points: [] }, 'BAD_RECORD', /"points" must be a non-empty array/],
    [{ points: 'here' }, 'BAD_RECORD', /"points" must be a non-empty array/],
    [{ points: [[1, 2]], points_crs: 'EPSG:99999' }, 'BAD_CRS', /points_crs/],
    [{ points: [[1, 2]], points_crs: 4326 }, 'BAD_RECORD', /"points_crs"/],
    [{ points_crs: 'EPSG:4326' }, 'BAD_RECORD', /"points_crs" needs "points"/],
    [{ points: [[1, 2]], window: [0, 0, 4, 4] }, 'BAD_RECORD', /"points" and "window"/]
  ]
  const run = await runCli(['-o', join(ctx.dir, 'bad-out')], { stdin: bad.map(([r]) => JSON.stringify({ url: ctx.server.url(name), ...r })).join('\n') })
  assert.equal(run.code, 1)
  bad.forEach(([, code, message], i) => {
    const rec = run.records.find((r) => r.line === i + 1)
    assert.equal(rec?.error?.stage, 'input', JSON.stringify(rec))
    assert.equal(rec?.error?.code, code, JSON.stringify(rec))
    assert.match(rec?.error?.message ?? '', message)
  })
  const usage = await runCli(['--points', join(ctx.dir, 'missing.csv')], { stdin: ctx.server.url(name) })
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /--points: cannot read/)
})
