// Big files by ranges: a 59 MB COG and a sparse 3 GiB BigTIFF (over the 2 GiB default --max-bytes) give
// windows equal to gdal_translate's while moving under 10 MB a record, and whole downloads are refused.
import { test, before, after, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, ftruncateSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { runCli, scratch } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { readTiff } from '../lib/source/tiff.js'

type Window = [col: number, row: number, width: number, height: number]

/** What every record may move: the acceptance bound, and --max-bytes in the bounded runs. */
const UNDER = 10_000_000
const TILE = 512

let server: RasterServer
let dir: string

before(async () => {
  dir = scratch('rp-big-')
  server = await startServer(dir)
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Float32 values that differ from pixel to pixel and tile to tile, so a block put in the wrong place shows. */
function pattern (x: number, y: number): number {
  return (x * 7 + y * 13 + ((x ^ y) & 0xff)) / 8
}

/** A Float32 COG of 512×512 uncompressed tiles with overviews, made by gdal_translate from a raw file. */
function makeCog (name: string, width: number, height: number): string {
  const raw = join(dir, 'cog-source.bil')
  const data = new Float32Array(width * height)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = pattern(x, y)
  writeFileSync(raw, data)
  writeFileSync(join(dir, 'cog-source.hdr'), [`NROWS ${height}`, `NCOLS ${width}`, 'NBANDS 1', 'NBITS 32', 'PIXELTYPE FLOAT',
    'BYTEORDER I', 'LAYOUT BIL', 'ULXMAP 500005', 'ULYMAP 4199995', 'XDIM 10', 'YDIM 10', ''].join('\n'))
  const path = join(dir, name)
  try {
    execFileSync('gdal_translate', ['-q', '-of', 'COG', '-co', 'COMPRESS=NONE', '-co', `BLOCKSIZE=${TILE}`, '-a_srs', 'EPSG:32618', raw, path],
      { stdio: ['ignore', 'ignore', 'pipe'] })
  } finally {
    rmSync(raw, { force: true })
    rmSync(join(dir, 'cog-source.hdr'), { force: true })
  }
  return path
}

/** A directory entry of a BigTIFF: SHORT (3), LONG (4), DOUBLE (12) or LONG8 (16) values. */
interface Entry { tag: number, type: 3 | 4 | 12 | 16, values: number[] }

const SIZES = { 3: 2, 4: 4, 12: 8, 16: 8 } as const

function putValue (buf: Buffer, at: number, type: Entry['type'], v: number): void {
  if (type === 3) buf.writeUInt16LE(v, at)
  else if (type === 4) buf.writeUInt32LE(v, at)
  else if (type === 12) buf.writeDoubleLE(v, at)
  else buf.writeBigUInt64LE(BigInt(v), at)
}

/**
 * A little-endian BigTIFF head: the header, one directory right after it and its out-of-line values
 * (tile offsets and byte counts among them) after that, all within `size` bytes, as a COG has them.
 */
function bigTiffHead (entries: Entry[], size: number): Buffer {
  const head = Buffer.alloc(size)
  head.write('II', 0, 'latin1')
  head.writeUInt16LE(43, 2)
  head.writeUInt16LE(8, 4)
  head.writeBigUInt64LE(16n, 8)
  head.writeBigUInt64LE(BigInt(entries.length), 16)
  let outside = 16 + 8 + entries.length * 20 + 8
  entries.forEach((e, i) => {
    const at = 16 + 8 + i * 20
    head.writeUInt16LE(e.tag, at)
    head.writeUInt16LE(e.type, at + 2)
    head.writeBigUInt64LE(BigInt(e.values.length), at + 4)
    const bytes = SIZES[e.type] * e.values.length
    let valueAt = at + 12
    if (bytes > 8) {
      head.writeBigUInt64LE(BigInt(outside), at + 12)
      valueAt = outside
      outside += bytes + (8 - bytes % 8) % 8
    }
    e.values.forEach((v, k) => putValue(head, valueAt + k * SIZES[e.type], e.type, v))
  })
  assert.ok(outside <= size, `the directory's values end at byte ${outside}, past the ${size}-byte head`)
  return head
}

/**
 * A Float32 BigTIFF of uncompressed 512×512 tiles laid out one after another past a 64 KiB head. Only the
 * tiles listed are written; the file is then extended to its full size, so the others are holes on disk
 * (zeros to whoever reads them, GDAL and the server alike).
 */
function makeSparseBigTiff (path: string, across: number, down: number, written: Array<[number, number]>): number {
  const headSize = 64 * 1024
  const tileBytes = TILE * TILE * 4
  const tiles = across * down
  const size = headSize + tiles * tileBytes
  const head = bigTiffHead([
    { tag: 256, type: 4, values: [across * TILE] },
    { tag: 257, type: 4, values: [down * TILE] },
    { tag: 258, type: 3, values: [32] },
    { tag: 259, type: 3, values: [1] }, // no compression
    { tag: 262, type: 3, values: [1] }, // BlackIsZero
    { tag: 277, type: 3, values: [1] },
    { tag: 284, type: 3, values: [1] },
    { tag: 322, type: 3, values: [TILE] },
    { tag: 323, type: 3, values: [TILE] },
    { tag: 324, type: 16, values: Array.from({ length: tiles }, (_, i) => headSize + i * tileBytes) },
    { tag: 325, type: 16, values: new Array<number>(tiles).fill(tileBytes) },
    { tag: 339, type: 3, values: [3] }, // IEEE floating point
    { tag: 33550, type: 12, values: [10, 10, 0] }, // ModelPixelScale
    { tag: 33922, type: 12, values: [0, 0, 0, 500000, 4200000, 0] }, // ModelTiepoint
    // GeoKeyDirectory: projected, pixel is area, EPSG:32618.
    { tag: 34735, type: 3, values: [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32618] }
  ], headSize)
  const fd = openSync(path, 'w')
  try {
    writeSync(fd, head, 0, head.length, 0)
    const block = new Float32Array(TILE * TILE)
    for (const [tx, ty] of written) {
      for (let y = 0; y < TILE; y++) for (let x = 0; x < TILE; x++) block[y * TILE + x] = pattern(tx * TILE + x, ty * TILE + y)
      writeSync(fd, new Uint8Array(block.buffer), 0, tileBytes, headSize + (ty * across + tx) * tileBytes)
    }
    ftruncateSync(fd, size)
  } finally {
    closeSync(fd)
  }
  return size
}

/**
 * Runs the windows of one file in `auto` and `range` mode, with the default --max-bytes and with 10MB:
 * every record ok, by ranges, under 10 MB, and equal to gdal_translate -srcwin of the local file.
 */
async function assertRangeReads (t: TestContext, name: string, windows: Window[]): Promise<void> {
  const local = join(dir, name)
  const refs = windows.map((w, i) => gdalTranslate(local, ['-srcwin', ...w.map(String)], dir, `${name}-ref-${i}.tif`))
  const input = windows.map((window, i) => JSON.stringify({ url: server.url(name), window, out: `${i}.tif` })).join('\n') + '\n'
  for (const mode of ['auto', 'range']) {
    for (const limit of [[], ['--max-bytes', '10MB']]) {
      const what = `${name} --fetch ${mode} ${limit.length > 0 ? limit.join(' ') : 'with the default --max-bytes'}`
      const out = join(dir, `out-${name}-${mode}-${limit.length}`)
      server.reset()
      const run = await runCli(['-o', out, '--fetch', mode, '--no-progress', ...limit], { stdin: input })
      assert.equal(run.code, 0, `${what}: ${run.stderr}`)
      assert.equal(run.records.length, windows.length, what)
      for (const rec of run.records) {
        assert.equal(rec.status, 'ok', `${what}: ${JSON.stringify(rec)}`)
        assert.equal(rec.fetch, 'range', what)
        assert.ok(rec.bytes > 0 && rec.bytes < UNDER, `${what}: line ${rec.line} moved ${rec.bytes} bytes`)
        assertSameRaster(join(out, `${rec.line - 1}.tif`), refs[rec.line - 1], `${what}, window ${windows[rec.line - 1].join(',')}`)
      }
      const sent = server.stats(name).bytes
      assert.equal(run.records.reduce((sum, r) => sum + r.bytes, 0), sent, `${what}: the records count the bytes the server sent`)
      t.diagnostic(`${what}: ${run.records.length} ok, record bytes ${run.records.map((r) => r.bytes).join(', ')}; server sent ${sent}`)
      rmSync(out, { recursive: true, force: true })
    }
  }
}

/** A whole download of the file over --max-bytes is refused before its body. */
async function assertDownloadRefused (t: TestContext, name: string, size: number, limit: string[]): Promise<void> {
  const what = `${name} --fetch download ${limit.length > 0 ? limit.join(' ') : 'with the default --max-bytes'}`
  server.reset()
  const out = join(dir, `out-${name}-download`)
  const run = await runCli(['-o', out, '--fetch', 'download', '--no-progress', ...limit], { stdin: server.url(name) + '\n' })
  assert.equal(run.code, 1, `${what}: ${run.stderr}`)
  const rec = run.records[0]
  assert.equal(rec.status, 'error', what)
  assert.equal(rec.error?.code, 'TOO_LARGE', `${what}: ${JSON.stringify(rec.error)}`)
  assert.equal(rec.bytes, 0, `${what}: no body byte is taken`)
  // What the server pushed into the socket before the client hung up: its buffers' worth, not the file.
  await server.idle()
  const sent = server.stats(name).bytes
  assert.ok(sent < Math.min(size / 2, 64 * 1024 ** 2), `${what}: the server sent ${sent} of ${size} bytes`)
  t.diagnostic(`${what}: ${rec.error?.code}, record bytes ${rec.bytes}, server sent ${sent} of ${size} bytes`)
  rmSync(out, { recursive: true, force: true })
}

test('a 59 MB COG: 512×512 windows by ranges in auto and range mode, with the default --max-bytes and 10MB', async (t) => {
  // 4096×2560 Float32 in 1 MiB tiles, with overviews: 57 tiles, 59.8 MB.
  const path = makeCog('cog.tif', 4096, 2560)
  const size = statSync(path).size
  assert.ok(size > 55e6 && size < 65e6, `the COG is ${size} bytes`)
  t.diagnostic(`COG: ${size} bytes`)
  await assertRangeReads(t, 'cog.tif', [[1024, 1024, 512, 512], [2300, 1800, 512, 512]])
  await assertDownloadRefused(t, 'cog.tif', size, ['--max-bytes', '10MB'])
})

test('a sparse 3 GiB BigTIFF: windows by ranges although the file is over --max-bytes; a download is refused', async (t) => {
  const path = join(dir, 'sparse.tif')
  t.after(() => rmSync(path, { force: true }))
  const across = 64
  const down = 48
  // Window 1 is one tile in the middle; window 2 crosses four tiles at the end of the file (offsets past
  // 2^31); window 3 straddles a written tile and three holes.
  const windows: Window[] = [[10 * TILE, 20 * TILE, 512, 512], [across * TILE - 700, down * TILE - 700, 512, 512], [31 * TILE + 256, 256, 512, 512]]
  const written: Array<[number, number]> = [[10, 20], [62, 46], [63, 46], [62, 47], [63, 47], [31, 0], [0, 0], [5, 40]]
  const size = makeSparseBigTiff(path, across, down, written)
  const st = statSync(path)
  assert.equal(st.size, size)
  assert.ok(size > 3 * 1024 ** 3, `the file is ${size} bytes`)
  t.diagnostic(`sparse BigTIFF: ${size} bytes, ${st.blocks * 512} on disk`)
  if (st.blocks * 512 > size / 10) {
    t.skip(`the filesystem under ${dir} did not make the file sparse: ${st.blocks * 512} of ${size} bytes are on disk`)
    return
  }

  // Our strict reader takes it as the plain tiled image it is, whose structure sits in the probe's head.
  const fd = openSync(path, 'r')
  try {
    const info = await readTiff(async (offset, length) => {
      const buf = Buffer.alloc(length)
      return buf.subarray(0, readSync(fd, buf, 0, length, offset))
    }, size)
    assert.equal(info.ifds.length, 1)
    assert.deepEqual([info.ifds[0].width, info.ifds[0].height, info.ifds[0].blockWidth, info.ifds[0].tiled], [across * TILE, down * TILE, TILE, true])
    assert.ok(info.structure.every(([, end]) => end <= 64 * 1024), 'header, directory and tag values lie in the first 64 KiB')
  } finally {
    closeSync(fd)
  }

  await assertRangeReads(t, 'sparse.tif', windows)
  await assertDownloadRefused(t, 'sparse.tif', size, [])
  await assertDownloadRefused(t, 'sparse.tif', size, ['--max-bytes', '10MB'])
})
