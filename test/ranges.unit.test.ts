// Byte-range arithmetic and the TIFF directory reader, on their own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { mergeRanges, missingRanges, totalBytes } from '../lib/source/ranges.js'
import { readTiff, looksLikeTiff } from '../lib/source/tiff.js'
import { planBlocks } from '../lib/source/blocks.js'
import { FIXTURES, scratch } from './support/run.js'
import { makeNoisyTiff } from '../bench/data.js'

test('ranges: merged when they overlap or lie within the gap; missing parts found', () => {
  assert.deepEqual(mergeRanges([[10, 20], [0, 5], [18, 30], [40, 50]]), [[0, 5], [10, 30], [40, 50]])
  assert.deepEqual(mergeRanges([[0, 5], [8, 10]], 3), [[0, 10]])
  assert.deepEqual(missingRanges([[0, 100]], [[10, 20], [50, 60]]), [[0, 10], [20, 50], [60, 100]])
  assert.deepEqual(missingRanges([[10, 20]], [[0, 100]]), [])
  assert.equal(totalBytes([[0, 10], [20, 25]]), 15)
})

test('tiff: directories, blocks and out-of-line values of a tiled and a striped fixture', async () => {
  for (const [name, tiled, planar] of [['rgb-byte-tiled.tif', true, 1], ['uint16-striped.tif', false, 1], ['float32-band-interleaved.tif', true, 2]] as const) {
    const buf = readFileSync(join(FIXTURES, name))
    assert.ok(looksLikeTiff(buf))
    const info = await readTiff(async (offset, length) => buf.subarray(offset, offset + length), buf.length)
    const ifd = info.ifds[0]
    assert.equal(ifd.tiled, tiled, name)
    assert.equal(ifd.planar, planar, name)
    assert.equal(ifd.offsets.length, ifd.byteCounts.length)
    // Every block lies inside the file, and the blocks plus the structure account for the whole file.
    for (let i = 0; i < ifd.offsets.length; i++) assert.ok(ifd.offsets[i] + ifd.byteCounts[i] <= buf.length)
    const blocks = ifd.offsets.map((o, i): [number, number] => [o, o + ifd.byteCounts[i]])
    const all = mergeRanges([...blocks, ...info.structure])
    assert.ok(totalBytes(all) > buf.length * 0.99, `${name}: ${totalBytes(all)} of ${buf.length} bytes placed`)
  }
})

test('blocks: a window on one tile plans one tile; across four tiles, four', async () => {
  const buf = readFileSync(join(FIXTURES, 'rgb-byte-tiled.tif'))
  const info = await readTiff(async (offset, length) => buf.subarray(offset, offset + length), buf.length)
  assert.equal(planBlocks(info, { col: 0, row: 0, width: 256, height: 256 }, undefined).length, 1)
  assert.equal(planBlocks(info, { col: 200, row: 200, width: 100, height: 100 }, undefined).length, 4)
  assert.equal(planBlocks(info, { col: 2000, row: 0, width: 10, height: 10 }, undefined).length, 0)
})

test('blocks: for an output that copies overviews, each overview level under the window is planned too, a pixel more on each side', async () => {
  const dir = scratch()
  try {
    // 1024² in 256² tiles: overviews of 512² (2×2 tiles) and 256² (one tile).
    const path = makeNoisyTiff(dir, 'cog.tif', 1024, 1, ['BLOCKSIZE=256', 'COMPRESS=DEFLATE'], 'COG')
    const buf = readFileSync(path)
    const info = await readTiff(async (offset, length) => buf.subarray(offset, offset + length), buf.length)
    assert.deepEqual(info.ifds.map((i) => i.width), [1024, 512, 256])
    const levelOf = ([start]: [number, number]): number => info.ifds.findIndex((i) => i.offsets.some((o) => Math.abs(o - start) <= 4))
    const window = { col: 512, row: 100, width: 388, height: 100 }
    // Full resolution only: the tiles of columns 2–3, row 0.
    assert.deepEqual(planBlocks(info, window, undefined).map(levelOf), [0, 0])
    // And the 512² level's tiles under 255–451 × 49–101 (its window 256–450 × 50–100 and a pixel on each
    // side, for GDAL's rounding: columns 0 and 1 of row 0), and the 256² level's one tile.
    const all = planBlocks(info, window, undefined, undefined, true)
    assert.deepEqual(all.map(levelOf), [0, 0, 1, 1, 2])
    assert.deepEqual(all.slice(2, 4).map(([start]) => start + 4), info.ifds[1].offsets.slice(0, 2))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('tiff: a directory with SubIFDs (tag 330) is refused: GDAL reads overviews and masks there too', async () => {
  // A classic little-endian TIFF, 16×16, one uncompressed strip, and a SubIFDs entry.
  const buf = Buffer.alloc(512)
  buf.write('II', 0, 'latin1')
  buf.writeUInt16LE(42, 2)
  buf.writeUInt32LE(8, 4)
  const entries: [number, number, number, number][] = [[256, 3, 1, 16], [257, 3, 1, 16], [273, 4, 1, 256], [277, 3, 1, 1], [278, 3, 1, 16], [279, 4, 1, 256], [330, 4, 1, 300]]
  buf.writeUInt16LE(entries.length, 8)
  entries.forEach(([tag, type, count, value], i) => {
    const at = 10 + i * 12
    buf.writeUInt16LE(tag, at)
    buf.writeUInt16LE(type, at + 2)
    buf.writeUInt32LE(count, at + 4)
    if (type === 3) buf.writeUInt16LE(value, at + 8)
    else buf.writeUInt32LE(value, at + 8)
  })
  const read = async (offset: number, length: number): Promise<Buffer> => buf.subarray(offset, offset + length)
  await assert.rejects(readTiff(read, buf.length), /IFD 0 has SubIFDs \(tag 330\)/)
  // The same directory without the SubIFDs entry reads.
  buf.writeUInt16LE(entries.length - 1, 8)
  buf.writeUInt32LE(0, 10 + (entries.length - 1) * 12)
  const info = await readTiff(read, buf.length)
  assert.equal(info.ifds[0].offsets[0], 256)
})
