// Which output encoding: CPU per chip, size and the readers that open it, for GeoTIFF codecs, levels and
// predictors, on four kinds of content. The figures behind the default creation options.
//
//   node dist/bench/encoding.js [--rounds N] [--out FILE]
//
// Each chip is first read into memory (MEM), so that only the encoding is timed; the encodings rotate
// within each round so that a shared machine's drift falls on all of them alike. CPU is the process's
// user + system time around GDAL's synchronous CreateCopy, which runs on this thread alone.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadGdal, type Dataset } from '../lib/raster/gdal.js'
import { makeNoisyTiff } from './data.js'
import { findPython } from './python.js'
import { median } from './stats.js'

const gdal = loadGdal()
const FIXTURES = new URL('../../fixtures/rasters/', import.meta.url).pathname

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    out: { type: 'string' }
  }
})
const ROUNDS = Number(values.rounds)

interface Content { name: string, what: string, float: boolean, chips: Dataset[] }
interface Encoding { name: string, co: (float: boolean) => string[] | null }

/** Predictor 2 (horizontal differencing) for integers, 3 (floating point) for floats. */
const pred = (float: boolean): string => `PREDICTOR=${float ? 3 : 2}`

export const ENCODINGS: Encoding[] = [
  { name: 'NONE', co: () => [] },
  ...[1, 6, 9].flatMap((level): Encoding[] => [
    { name: `DEFLATE ZLEVEL=${level}`, co: () => ['COMPRESS=DEFLATE', `ZLEVEL=${level}`] },
    { name: `DEFLATE ZLEVEL=${level} + predictor`, co: (f) => ['COMPRESS=DEFLATE', `ZLEVEL=${level}`, pred(f)] }
  ]),
  ...[1, 9].flatMap((level): Encoding[] => [
    { name: `ZSTD ZSTD_LEVEL=${level}`, co: () => ['COMPRESS=ZSTD', `ZSTD_LEVEL=${level}`] },
    { name: `ZSTD ZSTD_LEVEL=${level} + predictor`, co: (f) => ['COMPRESS=ZSTD', `ZSTD_LEVEL=${level}`, pred(f)] }
  ]),
  { name: 'LZW', co: () => ['COMPRESS=LZW'] },
  { name: 'LZW + predictor', co: (f) => ['COMPRESS=LZW', pred(f)] },
  { name: 'LERC_ZSTD (lossless)', co: (f) => f ? ['COMPRESS=LERC_ZSTD', 'MAX_Z_ERROR=0'] : null }
]

/** 512×512 windows of `path` at `offsets`, each read into memory. */
function chipsOf (path: string, offsets: Array<[number, number]>, side = 512): Dataset[] {
  const src = gdal.open(path)
  const chips = offsets.map(([x, y]) => gdal.translate('', src, ['-of', 'MEM', '-srcwin', String(x), String(y),
    String(Math.min(side, src.rasterSize.x - x)), String(Math.min(side, src.rasterSize.y - y))]))
  src.close()
  return chips
}

/** A smooth Float32 surface like a DEM: hills of a few hundred metres over a slope, full-precision values. */
function makeDem (path: string, side: number): string {
  const mem = gdal.drivers.get('MEM').create('', side, side, 1, 'Float32')
  mem.geoTransform = [500000, 30, 0, 4200000, 0, -30]
  mem.srs = gdal.SpatialReference.fromEPSG(32618)
  const row = new Float32Array(side)
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      row[x] = 800 + 0.35 * x - 0.2 * y + 240 * Math.sin(x / 97) * Math.cos(y / 131) + 35 * Math.sin((x + 2 * y) / 23) + 4 * Math.sin(x / 3.1 + y / 4.3)
    }
    mem.bands.get(1).pixels.write(0, y, side, 1, row)
  }
  gdal.drivers.get('GTiff').createCopy(path, mem, ['TILED=YES']).close()
  mem.close()
  return path
}

function contents (work: string): Content[] {
  const grid: Array<[number, number]> = [[0, 0], [512, 0], [0, 512], [512, 512], [1024, 1024], [1536, 512], [512, 1536], [1536, 1536]]
  return [
    {
      name: 'noisy RGB uint8',
      what: 'the bench\'s sources: a gradient with 6 bits of xorshift noise per pixel, 3 bands (about the worst case for a lossless codec)',
      float: false,
      chips: chipsOf(makeNoisyTiff(work, 'noisy.tif', 2048, 3, ['TILED=YES']), grid)
    },
    {
      name: 'smooth RGB uint8',
      what: 'fixtures/rasters/rgb-byte-tiled.tif: smooth patterns with a little structure, 3 bands (1024², 4 chips)',
      float: false,
      chips: chipsOf(join(FIXTURES, 'rgb-byte-tiled.tif'), [[0, 0], [512, 0], [0, 512], [512, 512]])
    },
    {
      name: 'UInt16 striped',
      what: 'fixtures/rasters/uint16-striped.tif: 1 band UInt16 from 100 to 4000 (900×700, 4 overlapping chips)',
      float: false,
      chips: chipsOf(join(FIXTURES, 'uint16-striped.tif'), [[0, 0], [388, 0], [0, 188], [388, 188]])
    },
    {
      name: 'DEM float32',
      what: 'a smooth Float32 DEM-like surface (slope, hills, ripples; 1 band, full-precision values)',
      float: true,
      chips: chipsOf(makeDem(join(work, 'dem.tif'), 2048), grid)
    }
  ]
}

interface Cell { cpuMs: number[], bytes: number, sample: string, error?: string }

function encodeAll (work: string, content: Content, enc: Encoding, round: number, cell: Cell): void {
  const co = enc.co(content.float)
  if (!co) return
  const options = ['TILED=YES', ...co]
  let bytes = 0
  const c0 = process.cpuUsage()
  for (let i = 0; i < content.chips.length; i++) {
    const path = join(work, `chip-${i}.tif`)
    gdal.drivers.get('GTiff').createCopy(path, content.chips[i], options).close()
    bytes += statSync(path).size
  }
  const c = process.cpuUsage(c0)
  cell.cpuMs.push((c.user + c.system) / 1000 / content.chips.length)
  cell.bytes = bytes
  if (round === 0) {
    // One sample per cell for the readers: the first chip, kept under a name of its own.
    cell.sample = join(work, `sample-${content.name.replace(/\W+/g, '_')}-${enc.name.replace(/\W+/g, '_')}.tif`)
    gdal.drivers.get('GTiff').createCopy(cell.sample, content.chips[0], options).close()
  }
  for (let i = 0; i < content.chips.length; i++) rmSync(join(work, `chip-${i}.tif`), { force: true })
}

/** Reads every sample with each reader and compares its pixels with the uncompressed sample's. */
function readers (samples: Array<{ file: string, reference: string }>): Record<string, Record<string, string>> {
  const result: Record<string, Record<string, string>> = {}
  for (const { file, reference } of samples) {
    result[file] = {}
    try {
      const sum = (p: string): string => execFileSync('gdalinfo', ['-checksum', p], { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
        .split('\n').filter((l) => l.includes('Checksum=')).join(',')
      result[file].gdal = sum(file) === sum(reference) ? 'ok' : 'different pixels'
    } catch (err) {
      result[file].gdal = `fails: ${(err as Error).message.split('\n')[0]}`
    }
  }
  const python = findPython(['rasterio'])
  const script = `
import json, sys
pairs = json.load(sys.stdin)
out = {}
def check(name, read):
    for p in pairs:
        try:
            out.setdefault(p['file'], {})[name] = 'ok' if (read(p['file']) == read(p['reference'])).all() else 'different pixels'
        except Exception as e:
            out.setdefault(p['file'], {})[name] = 'fails: ' + (str(e).split('\\n')[0][:80] or type(e).__name__)
try:
    import rasterio
    def rio(path):
        with rasterio.open(path) as ds:
            return ds.read()
    check('rasterio ' + rasterio.__version__, rio)
except ImportError:
    pass
try:
    import tifffile
    check('tifffile ' + tifffile.__version__, tifffile.imread)
except ImportError:
    pass
print(json.dumps(out))
`
  if (python) {
    const out = execFileSync(python, ['-c', script], { input: JSON.stringify(samples) }).toString()
    for (const [file, byReader] of Object.entries(JSON.parse(out) as Record<string, Record<string, string>>)) Object.assign(result[file], byReader)
  }
  return result
}

function main (): void {
  const work = mkdtempSync(join(tmpdir(), 'rasterpipe-encoding-'))
  const load0 = loadavg()
  const lines: string[] = []
  try {
    const all = contents(work)
    const cells = new Map<string, Cell>()
    const key = (c: Content, e: Encoding): string => `${c.name}\u0000${e.name}`
    for (const c of all) for (const e of ENCODINGS) cells.set(key(c, e), { cpuMs: [], bytes: 0, sample: '' })
    for (let round = 0; round < ROUNDS; round++) {
      const order = ENCODINGS.map((_, i) => ENCODINGS[(i + round * 5) % ENCODINGS.length])
      for (const c of all) for (const e of order) encodeAll(work, c, e, round, cells.get(key(c, e)) as Cell)
      process.stderr.write(`encoding: round ${round + 1}/${ROUNDS} done\n`)
    }
    const load1 = loadavg()
    const samples = all.flatMap((c) => ENCODINGS.filter((e) => e.co(c.float)).map((e) => ({
      file: (cells.get(key(c, e)) as Cell).sample, reference: (cells.get(key(c, ENCODINGS[0])) as Cell).sample
    })))
    const read = readers(samples)
    const readerNames = [...new Set(Object.values(read).flatMap((r) => Object.keys(r)))]
    const gdalVersion = execFileSync('gdal-config', ['--version']).toString().trim()
    lines.push('## Output encoding', '',
      `Command: \`node dist/bench/encoding.js --rounds ${ROUNDS}\`. Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ` +
      `Node ${process.version}, GDAL ${gdalVersion}; load average ${load0[0].toFixed(2)} before, ${load1[0].toFixed(2)} after the timing.`,
      'CPU: ms of user + system time to encode and write one chip (GDAL CreateCopy from a chip in memory to a tiled GeoTIFF, ' +
      `TILED=YES, 256×256 blocks), median of ${ROUNDS} rounds over every chip; size: the chips' bytes against NONE's. ` +
      '"+ predictor" is PREDICTOR=2 on integers, 3 on floats. Readers: the first chip of each cell read whole and compared ' +
      'with the uncompressed chip (gdalinfo -checksum for GDAL; numpy equality for the Python readers).', '')
    for (const c of all) {
      const none = cells.get(key(c, ENCODINGS[0])) as Cell
      lines.push(`### ${c.name}: ${c.what}; ${c.chips.length} chips of ${c.chips[0].rasterSize.x}×${c.chips[0].rasterSize.y}×${c.chips[0].bands.count()}`, '',
        `| encoding | CPU ms per chip | runs | size (% of NONE) | ${readerNames.join(' | ')} |`,
        `| --- | --- | --- | --- |${readerNames.map(() => ' --- |').join('')}`)
      for (const e of ENCODINGS) {
        const cell = cells.get(key(c, e)) as Cell
        if (!e.co(c.float)) continue
        lines.push(`| ${e.name} | ${median(cell.cpuMs).toFixed(1)} | ${cell.cpuMs.map((x) => x.toFixed(1)).join(', ')} | ` +
          `${(100 * cell.bytes / none.bytes).toFixed(1)} | ${readerNames.map((r) => read[cell.sample]?.[r] ?? 'not run').join(' | ')} |`)
      }
      lines.push('')
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  const text = lines.join('\n')
  if (values.out) writeFileSync(values.out, text + '\n')
  process.stdout.write(text + '\n')
}

main()
