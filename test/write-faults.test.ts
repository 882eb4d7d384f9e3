// The write side under faults, for real: a full disk (a small tmpfs as -o, or as TMPDIR), a symlink out of
// -o, names the file system refuses, a read-only -o, an upload cut off. A record is `ok` only with an output
// equal to gdal_translate's; anything else is an error record naming the cause, with no file left behind.
// Mounting needs root: where it is refused, those tests skip and say so.
import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { basename, join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { awsEnv, startS3, type S3Fixture } from './support/s3.js'
import { makeNoisyTiff } from '../bench/data.js'
import { loadGdal } from '../lib/raster/gdal.js'

const gdal = loadGdal()

let server: RasterServer
let dir: string
let cogPath: string
const mounts: string[] = []
const ENV = { RASTERPIPE_RETRY_BASE_MS: '5' }

before(async () => {
  dir = scratch('rp-wfault-')
  // Noise compresses poorly: the whole raster's output is far over the 200 KiB disk in every format, a
  // 64² window far under it. Over 1 MiB, so that auto and range read it by ranges. Without overviews: a
  // COG output of 1024² reads its source's overviews, which range mode does not fetch (another matter).
  cogPath = makeNoisyTiff(dir, 'noise-cog.tif', 1024, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=256', 'OVERVIEWS=NONE'], 'COG')
  server = await startServer(FIXTURES)
  server.file('noise-cog.tif', readFileSync(cogPath))
})
after(async () => {
  for (const m of mounts.splice(0)) unmount(m)
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A tmpfs of `size` at a fresh directory (unmounted by the suite's after hook), or null where mounting is refused. */
function tmpfs (name: string, options: string): string | null {
  const at = join(dir, name)
  mkdirSync(at, { recursive: true })
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', at], { stdio: 'pipe' })
  } catch {
    return null
  }
  mounts.push(at)
  return at
}

function unmount (at: string): void {
  try {
    execFileSync('umount', [at], { stdio: 'pipe' })
  } catch {
    execFileSync('umount', ['-l', at], { stdio: 'pipe' })
  }
}

function mountedOrSkip (t: TestContext, at: string | null): at is string {
  if (at === null) t.skip('cannot mount a tmpfs here (needs root): the full-disk test did not run')
  return at !== null
}

const FORMATS: Array<[string, string]> = [['GTiff', '.tif'], ['COG', '.tif'], ['GPKG', '.gpkg'], ['PNG', '.png'], ['netCDF', '.nc']]
const WINDOWS = [[0, 0, 64, 64], [0, 0, 1024, 1024], [128, 64, 64, 64]]

for (const [format, ext] of FORMATS) {
  for (const mode of ['auto', 'range', 'download']) {
    test(`a full disk (-o on a 200 KiB tmpfs), --format ${format}, --fetch ${mode}: ok only with gdal_translate's file, else NO_SPACE and no file, exit 1`, async (t) => {
      const out = tmpfs(`full-${format}-${mode}`, 'size=200k')
      if (!mountedOrSkip(t, out)) return
      const input = WINDOWS.map((w, i) => JSON.stringify({ url: server.url('noise-cog.tif'), window: w, out: `w${i + 1}${ext}` })).join('\n') + '\n'
      const run = await runCli(['-o', out, '--format', format, '--fetch', mode, '--no-progress'], { stdin: input, env: ENV })
      assert.equal(run.records.length, 3, run.stderr)
      assert.equal(run.code, 1, 'a failed record: exit 1')
      assert.doesNotMatch(run.stderr, /^ERROR \d+:/m, 'no raw GDAL error lines: its messages belong to records')
      const ok: string[] = []
      for (const r of run.records) {
        const name = `w${r.line}${ext}`
        if (r.status === 'ok') {
          ok.push(name)
          const w = WINDOWS[r.line - 1].map(String)
          const ref = gdalTranslate(cogPath, ['--config', 'GDAL_PAM_ENABLED', 'NO', '-of', format, '-srcwin', ...w], dir, `ref-${format}-${mode}-${r.line}${ext}`)
          // netCDF keeps each band as a variable of its own, opened as a subdataset.
          const parts = format === 'netCDF' ? [1, 2, 3].map((b) => (path: string) => `NETCDF:"${path}":Band${b}`) : [(path: string) => path]
          for (const part of parts) assertSameRaster(part(join(out, name)), part(ref), `${format} ${mode} line ${r.line}`)
        } else {
          assert.equal(r.error?.stage, 'write', JSON.stringify(r))
          assert.equal(r.error?.code, 'NO_SPACE', JSON.stringify(r))
        }
      }
      assert.notEqual(run.records.find((r) => r.line === 2)?.status, 'ok', 'the whole raster cannot fit on 200 KiB')
      assert.deepEqual(readdirSync(out).sort(), ok.sort(), 'only the ok outputs, no partial or hidden file')
    })
  }
}

test('a full TMPDIR during a download is NO_SPACE at once, not a network error tried again', async (t) => {
  const tmp = tmpfs('full-tmpdir', 'size=200k')
  if (!mountedOrSkip(t, tmp)) return
  const out = join(dir, 'out-full-tmpdir')
  const run = await runCli(['-o', out, '--fetch', 'download', '-w', '0,0,64,64', '--no-progress'], { stdin: server.url('noise-cog.tif') + '\n', env: { ...ENV, TMPDIR: tmp } })
  assert.equal(run.code, 1, run.stderr)
  const r = run.records[0]
  assert.equal(r.status, 'error')
  assert.equal(r.error?.code, 'NO_SPACE', JSON.stringify(r))
  assert.equal(r.attempts, 1, 'a full disk is not retried')
  assert.deepEqual(readdirSync(tmp), [], 'the partial download is gone')
})

test('a stack whose sources\' pixels fill TMPDIR is NO_SPACE with no output; a small one in the same run is ok and equal to gdal_translate\'s', async (t) => {
  const tmp = tmpfs('full-tmpdir-stack', 'size=100k')
  if (!mountedOrSkip(t, tmp)) return
  const out = join(dir, 'out-stack')
  const src = join(FIXTURES, 'uint16-striped.tif')
  // Local sources: nothing is downloaded, only the stack's own files go to TMPDIR (2 × 80 KB for the first).
  const [first, second] = [[0, 0, 200, 200], [10, 20, 30, 30]].map((w, i) => JSON.stringify({ urls: [src, src], window: w, out: `s${i + 1}.tif` }) + '\n')
  // The small one is given once the big one's record is out (its files freed): stages overlap records, so
  // given at once it could be writing beside the big one, and -c bounds fetches, not GDAL's work.
  const run = await runCli(['-o', out, '-c', '1', '--no-progress'], {
    stdin: first,
    stdinOpen: true,
    env: { ...ENV, TMPDIR: tmp },
    started: (child) => { child.stdout?.once('data', () => child.stdin?.end(second)) }
  })
  assert.equal(run.code, 1, run.stderr)
  const [big, small] = [run.records.find((r) => r.line === 1), run.records.find((r) => r.line === 2)]
  assert.equal(big?.error?.code, 'NO_SPACE', JSON.stringify(big))
  assert.equal(small?.status, 'ok', JSON.stringify(small))
  const ref = gdalTranslate(src, ['-srcwin', '10', '20', '30', '30'], dir, 'ref-stack.tif')
  const [ours, theirs] = [gdal.open(join(out, 's2.tif')), gdal.open(ref)]
  try {
    const pixels = (ds: typeof ours, b: number): number[] => Array.from(ds.bands.get(b).pixels.read(0, 0, 30, 30) as ArrayLike<number>)
    assert.equal(ours.bands.count(), 2)
    for (const b of [1, 2]) assert.deepEqual(pixels(ours, b), pixels(theirs, 1), `band ${b} is the source's window`)
  } finally {
    ours.close()
    theirs.close()
  }
  assert.deepEqual(readdirSync(out), ['s2.tif'])
  assert.deepEqual(readdirSync(tmp), [], 'the stack\'s files are gone')
})

test('"out" through a symlink out of -o, however deep, is refused before any directory is made: nothing written or made outside', async () => {
  const out = join(dir, 'out-symlink')
  const elsewhere = join(dir, 'elsewhere')
  mkdirSync(out, { recursive: true })
  mkdirSync(elsewhere, { recursive: true })
  symlinkSync(elsewhere, join(out, 'subdir'))
  const input = JSON.stringify({ url: server.url('uint16-striped.tif'), window: [0, 0, 32, 32], out: 'subdir/x.tif' }) + '\n' +
    JSON.stringify({ url: server.url('uint16-striped.tif'), window: [0, 0, 32, 32], out: 'inside/y.tif' }) + '\n' +
    JSON.stringify({ url: server.url('uint16-striped.tif'), window: [0, 0, 32, 32], out: 'subdir/new/deeper/z.tif' }) + '\n'
  const run = await runCli(['-o', out, '--no-progress'], { stdin: input, env: ENV })
  assert.equal(run.code, 1, run.stderr)
  const [bad, good, deeper] = [1, 2, 3].map((line) => run.records.find((r) => r.line === line))
  for (const r of [bad, deeper]) {
    assert.equal(r?.status, 'error')
    assert.equal(r?.error?.code, 'BAD_OUTPUT', JSON.stringify(r))
    assert.match(r?.error?.message ?? '', /outside --out-dir/)
  }
  assert.deepEqual(readdirSync(elsewhere), [], 'nothing written or made through the symlink, not even a directory')
  assert.equal(good?.status, 'ok', 'a plain subdirectory is fine')
  assert.ok(statSync(join(out, 'inside', 'y.tif')).size > 0)
})

test('temp names beside one output differ between two runs of the same pid and sequence (containers sharing -o), and stay short', async () => {
  const first = await import('../lib/raster/write.js')
  // A second instance of the module: its sequence starts again, as a second process's does (pid 1 in each container).
  const second = await import(`../lib/raster/write.js?as-another-process=${Date.now()}`) as typeof first
  const path = join(dir, 'o', 'a'.repeat(245) + '.tif')
  const names = [first.temporaryName(path), second.temporaryName(path)]
  assert.notEqual(names[0], names[1], 'two runs writing one output never share a temp name')
  for (const n of names) {
    assert.ok(Buffer.byteLength(basename(n)) <= 255, `${basename(n)} is a legal name`)
    assert.match(basename(n), /^\.rasterpipe-.*\.part\.tif$/)
  }
})

test('"out" with a NUL, a trailing slash or a name over 255 bytes is input BAD_RECORD before any fetch; a 249-character name is written', async () => {
  const out = join(dir, 'out-names')
  const url = server.url('uint16-striped.tif')
  const long = 'a'.repeat(245) + '.tif'
  const outs = ['a\u0000b.tif', 'sub/', 'b'.repeat(252) + '.tif', long]
  // The refused records name paths the server does not have: fetched, they would fail HTTP_404.
  const input = outs.map((o, i) => JSON.stringify({ url: i < 3 ? server.url(`never-${i}.tif`) : url, window: [0, 0, 32, 32], out: o })).join('\n') + '\n'
  const run = await runCli(['-o', out, '-c', '1', '--no-progress'], { stdin: input, env: ENV })
  assert.equal(run.code, 1, run.stderr)
  for (const line of [1, 2, 3]) {
    const r = run.records.find((x) => x.line === line)
    assert.equal(r?.error?.stage, 'input', JSON.stringify(r))
    assert.equal(r?.error?.code, 'BAD_RECORD', JSON.stringify(r))
    assert.match(r?.error?.message ?? '', /"out"/)
  }
  assert.equal(run.records.find((x) => x.line === 4)?.status, 'ok', run.stderr)
  for (const i of [0, 1, 2]) assert.equal(server.stats(`never-${i}.tif`).requests, 0, 'nothing fetched for a refused record')
  assert.deepEqual(readdirSync(out), [long], 'no hidden leftovers')
})

test('a read-only -o is a usage error before the first record (exit 2)', async (t) => {
  const ro = tmpfs('readonly', 'size=64k,ro')
  if (!mountedOrSkip(t, ro)) return
  for (const o of [ro, join(ro, 'sub')]) {
    const before = server.totalRequests()
    const run = await runCli(['-o', o, '--no-progress'], { stdin: server.url('uint16-striped.tif') + '\n', env: ENV })
    assert.equal(run.code, 2, run.stderr)
    assert.equal(run.records.length, 0)
    assert.match(run.stderr, /--out-dir/)
    assert.equal(server.totalRequests(), before, 'nothing fetched')
  }
})

test('an upload whose PUT is cut off mid-way is an error record, and the store has no object', async () => {
  const s3: S3Fixture = await startS3({ buckets: ['results'] })
  try {
    s3.always('results/cut/x.tif', { kind: 'reset', on: 'PUT' })
    const input = JSON.stringify({ url: server.url('uint16-striped.tif'), window: [0, 0, 64, 64], out: 'x.tif' }) + '\n'
    const run = await runCli(['-o', 's3://results/cut', '--retries', '1', '--no-progress'], { stdin: input, env: awsEnv(s3, ENV) })
    assert.equal(run.code, 1, run.stderr)
    assert.equal(run.records[0].status, 'error')
    assert.equal(run.records[0].error?.stage, 'write')
    assert.deepEqual(await s3.list('results', 'cut/'), [], 'no object')
  } finally {
    await s3.close()
  }
})
