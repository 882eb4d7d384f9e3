// Servers that would make range reads return wrong pixels, or hold a record forever: a file replaced
// during the read behind a server that ignores If-Range, a compressed 206, a probe answered with the
// whole file, a body that trickles in forever. Each ends as the right error, or as a correct output.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type Fault, type RasterServer } from './support/server.js'
import { bytesKept, FIXTURES, runCli, scratch } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { makeNoisyTiff } from '../bench/data.js'

let server: RasterServer
let dir: string
let cog: string
let other: Buffer
const ENV = { RASTERPIPE_RETRY_BASE_MS: '5' }
const WINDOW = [300, 300, 200, 200]

before(async () => {
  dir = scratch()
  cog = makeNoisyTiff(dir, 'cog.tif', 1024, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=256'], 'COG')
  // Another version of it: other pixels, so other bytes.
  other = readFileSync(makeNoisyTiff(dir, 'other.tif', 1024, 3, ['COMPRESS=DEFLATE', 'BLOCKSIZE=256', 'PREDICTOR=2'], 'COG'))
  server = await startServer()
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

async function read (mode: string, args: string[] = [], env: Record<string, string> = {}): Promise<Awaited<ReturnType<typeof runCli>>> {
  const input = JSON.stringify({ url: server.url('cog.tif'), window: WINDOW }) + '\n'
  return runCli(['-o', join(dir, `out-${mode}-${Math.random().toString(36).slice(2)}`), '--fetch', mode, '--no-progress', ...args], { stdin: input, env: { ...ENV, ...env } })
}

/** A download of cog.tif reset half-way, once it has kept part of the body (so that the retry resumes), however slowly it reads. */
async function readReset (): Promise<Awaited<ReturnType<typeof runCli>>> {
  const tmp = scratch('rp-reset-')
  try {
    server.fault('cog.tif', { kind: 'reset', after: 200_000, when: async () => await bytesKept(tmp, 'cog.tif') })
    const run = await read('download', [], { TMPDIR: tmp })
    assert.deepEqual(readdirSync(tmp), [], 'rasterpipe left temp files behind')
    return run
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

function serveCog (): void {
  server.reset()
  server.file('cog.tif', readFileSync(cog))
}

test('a file replaced during the read, by a server that ignores If-Range: the record restarts once and reads the new version whole', async () => {
  const otherPath = join(dir, 'other.tif')
  // The new version without an ETag has no validator to read ranges by: auto downloads it after the restart.
  for (const [what, version, mode] of [
    ['another ETag', { kind: 'version', body: other, etag: '"v2"' }, 'range'],
    ['no ETag, another size', { kind: 'version', body: other, etag: null }, 'auto']
  ] as const) {
    serveCog()
    // The probe sees the first version; every later request, the second (with its own size).
    server.fault('cog.tif', { kind: 'delay', ms: 0 })
    server.always('cog.tif', version)
    const run = await read(mode)
    const r = run.records[0]
    assert.equal(r.status, 'ok', `${what}: ${JSON.stringify(r)}`)
    // Every pixel from the new version: never a mix of the two.
    assertSameRaster(r.output as string, gdalTranslate(otherPath, ['-srcwin', ...WINDOW.map(String)], dir, 'ref-other.tif'), what)
  }
})

test('a file that changes again after the restart: SOURCE_CHANGED', async () => {
  serveCog()
  // v1 to the probe, v2 to the block (the window needs one tile); v1 to the second probe, v2 to its block.
  const v2 = { kind: 'version', body: other, etag: '"v2"' } as const
  server.fault('cog.tif', { kind: 'delay', ms: 0 }, v2, { kind: 'delay', ms: 0 }, v2)
  const run = await read('range')
  assert.equal(run.records[0].status, 'error', JSON.stringify(run.records[0]))
  assert.equal(run.records[0].error?.code, 'SOURCE_CHANGED')
  assert.match(run.records[0].error?.message ?? '', /changed on the server during the run/)
})

test('a server that sends no validator: auto downloads instead of reading ranges it cannot tie to one version', async () => {
  serveCog()
  server.always('cog.tif', { kind: 'version', body: readFileSync(cog), etag: null })
  const run = await read('auto')
  assert.equal(run.records[0].status, 'ok', run.stderr)
  assert.equal(run.records[0].fetch, 'download')
  assert.equal(run.records[0].ms.blocks, undefined, 'the blocks stage has no work for a download, and no time in its record')
})

test('a compressed 206 is an error that says so', async () => {
  serveCog()
  server.fault('cog.tif', { kind: 'delay', ms: 0 })
  server.always('cog.tif', { kind: 'encoding', encoding: 'gzip' })
  const run = await read('range')
  assert.equal(run.records[0].error?.code, 'BAD_ENCODING', JSON.stringify(run.records[0]))
  // Met by the block request: the error says the stage that was running.
  assert.equal(run.records[0].error?.stage, 'blocks')
  assert.match(run.records[0].error?.message ?? '', /Content-Encoding 'gzip'/)
})

test('a probe answered with the whole file reads only what it asked for, and the record is right', async () => {
  serveCog()
  server.fault('cog.tif', { kind: 'whole-206' })
  const run = await read('range')
  const r = run.records[0]
  assert.equal(r.status, 'ok', run.stderr)
  assertSameRaster(r.output as string, gdalTranslate(cog, ['-srcwin', ...WINDOW.map(String)], dir, 'ref-whole.tif'), 'whole-206 probe')
})

test('--max-time ends a record whose body trickles in, although it is never idle for --timeout; a record sharing its URL fails the same way', async () => {
  server.reset()
  server.file('slow.tif', readFileSync(join(FIXTURES, 'int16-small.tif')))
  server.file('fast.tif', readFileSync(join(FIXTURES, 'int16-small.tif')))
  server.always('slow.tif', { kind: 'trickle', ms: 50 })
  const run = await runCli(['-o', join(dir, 'out-trickle'), '--timeout', '5', '--max-time', '1', '--no-progress'], {
    stdin: server.url('slow.tif') + '\n' + server.url('fast.tif') + '\n' + server.url('slow.tif') + '\n', env: ENV
  })
  assert.equal(run.code, 1)
  for (const line of [1, 3]) {
    const slow = run.records.find((r) => r.line === line)
    assert.equal(slow?.error?.code, 'MAX_TIME', JSON.stringify(slow))
    assert.match(slow?.error?.message ?? '', /not fetched within --max-time 1 s/)
  }
  assert.equal(run.records.find((r) => r.line === 2)?.status, 'ok', 'its neighbour is not held up')
})

test("a failed download's partial file is removed as its record fails, while the run goes on", async () => {
  server.reset()
  const bytes = readFileSync(cog)
  server.file('fails.tif', bytes)
  server.file('slow2.tif', readFileSync(join(FIXTURES, 'int16-small.tif')))
  // Half the file, then silence until --timeout; meanwhile the second record trickles on.
  server.always('fails.tif', { kind: 'stall', after: Math.floor(bytes.length / 2) })
  server.always('slow2.tif', { kind: 'trickle', ms: 20 })
  const tmp = scratch('rp-partial-')
  let leftAtFailure: string[] | undefined
  const run = await runCli(['-o', join(dir, 'out-partial'), '--fetch', 'download', '--timeout', '1', '--retries', '0', '--max-time', '4', '--no-progress'], {
    stdin: server.url('fails.tif') + '\n' + server.url('slow2.tif') + '\n',
    env: { ...ENV, TMPDIR: tmp },
    started: (child) => {
      child.stdout?.once('data', () => {
        // The first record out is the failed one; the run's temp directory holds only the other's file.
        leftAtFailure = readdirSync(tmp).flatMap((d) => readdirSync(join(tmp, d)))
      })
    }
  })
  const failed = run.records.find((r) => r.line === 1)
  assert.equal(failed?.error?.code, 'TIMEOUT', JSON.stringify(failed))
  assert.equal(run.records[0].line, 1, 'the failed record came out first, while the other was still fetching')
  assert.ok(leftAtFailure !== undefined)
  assert.deepEqual(leftAtFailure.filter((n) => n.includes('fails')), [], `left: ${leftAtFailure.join(', ')}`)
  assert.deepEqual(readdirSync(tmp), [], 'the run removed its temp directory at the end')
  rmSync(tmp, { recursive: true, force: true })
})

test('a download resumed after a reset, from a server that ignores If-Range and now has another version, starts again: never a splice', async () => {
  serveCog()
  const otherPath = join(dir, 'other.tif')
  // Half the first version, a reset; from then on the second version, Range honoured, If-Range ignored.
  server.always('cog.tif', { kind: 'version', body: other, etag: '"v2"' })
  const run = await readReset()
  const r = run.records[0]
  assert.equal(r.status, 'ok', JSON.stringify(r))
  assertSameRaster(r.output as string, gdalTranslate(otherPath, ['-srcwin', ...WINDOW.map(String)], dir, 'ref-other-download.tif'), 'resumed download')
})

/** Both versions' windows by gdal_translate; the output must equal exactly one of them. */
function assertOneVersion (output: string, versions: string[], what: string): void {
  const refs = versions.map((v, i) => gdalTranslate(v, ['-srcwin', ...WEAK_WINDOW.map(String)], dir, `ref-${what.replace(/\W+/g, '-')}-${i}.tif`))
  const equal = refs.map((ref) => { try { assertSameRaster(output, ref, what); return true } catch { return false } })
  assert.equal(equal.filter(Boolean).length, 1, `${what}: the output equals neither version's pixels (a mix of the two)`)
}

// Four tiles of an uncompressed COG, two block requests apart (tiles 0–1 of rows 0 and 1).
const WEAK_WINDOW = [200, 200, 112, 112]
const LAST_MODIFIED = 'Sat, 05 Dec 2026 21:00:00 GMT'
let versions: [string, string] | undefined

/** Two versions of one size and layout, other pixels: a mix of their bytes would pass every size check. */
function sameSizeVersions (): [string, string] {
  if (versions) return versions
  const v1 = makeNoisyTiff(dir, 'weak-v1.tif', 1024, 3, ['COMPRESS=NONE', 'BLOCKSIZE=256'], 'COG')
  const v2 = gdalTranslate(v1, ['-of', 'COG', '-co', 'COMPRESS=NONE', '-co', 'BLOCKSIZE=256', '-scale', '0', '255', '255', '0'], dir, 'weak-v2.tif')
  assert.equal(readFileSync(v1).length, readFileSync(v2).length)
  return (versions = [v1, v2])
}

type VersionFault = Extract<Fault, { kind: 'version' }>

/** `name` served as `first` to the probe and the next request, as `second` to every later one; WEAK_WINDOW read. */
async function readSwapped (name: string, first: VersionFault, second: VersionFault, mode: string): Promise<Awaited<ReturnType<typeof runCli>>> {
  server.reset()
  server.fault(name, first, first)
  server.always(name, second)
  return await runCli(['-o', join(dir, `out-${name}-${mode}`), '--fetch', mode, '--no-progress'], {
    stdin: JSON.stringify({ url: server.url(name), window: WEAK_WINDOW }) + '\n', env: ENV
  })
}

test('no ETag and Last-Modified equal to Date (a weak validator), the file replaced between two block requests: auto gives one version exactly, range refuses WEAK_VALIDATOR', async () => {
  const [v1, v2] = sameSizeVersions()
  const first = { kind: 'version', body: readFileSync(v1), etag: null, lastModified: LAST_MODIFIED } as const
  const second = { kind: 'version', body: readFileSync(v2), etag: null, lastModified: LAST_MODIFIED } as const
  for (const mode of ['auto', 'range']) {
    // The probe and the next request see the first version; every later one, the second.
    const run = await readSwapped('weak.tif', first, second, mode)
    const r = run.records[0]
    if (mode === 'auto') {
      assert.equal(r.status, 'ok', JSON.stringify(r))
      assertOneVersion(r.output as string, [v1, v2], 'auto, weak validator')
      assert.equal(r.fetch, 'download')
    } else {
      assert.equal(r.error?.code, 'WEAK_VALIDATOR', JSON.stringify(r))
      assert.match(r.error?.message ?? '', /weak.tif.*Last-Modified.*Date/)
      assert.equal(run.code, 1)
    }
  }
})

test('a strong ETag at the probe, then a file of the same size answered 206 with no ETag by a server that ignores If-Match and If-Range: never ok with a mix of the two versions', async () => {
  const [v1, v2] = sameSizeVersions()
  const first = { kind: 'version', body: readFileSync(v1), etag: '"v1"' } as const
  const second = { kind: 'version', body: readFileSync(v2), etag: null } as const
  for (const mode of ['auto', 'range']) {
    // The probe and the first block request see the first version with its ETag; every later one, the
    // second, without an ETag (a node that drops it), Range honoured, If-Match and If-Range ignored.
    const r = (await readSwapped('dropped.tif', first, second, mode)).records[0]
    if (r.status === 'ok') {
      assertOneVersion(r.output as string, [v1, v2], `${mode}, no ETag on a block's 206`)
    } else {
      assert.ok(['SOURCE_CHANGED', 'WEAK_VALIDATOR'].includes(r.error?.code ?? ''), JSON.stringify(r))
    }
    // The 206 without the probe's ETag is refused: the record restarts from a fresh probe, which finds no validator.
    if (mode === 'auto') assert.equal(r.status, 'ok', JSON.stringify(r))
  }
})

/** Runs `fn` against a server whose ETag changes on every answer. */
async function withChangingEtag (fn: () => Promise<void>): Promise<void> {
  serveCog()
  server.changingEtag = true
  try {
    await fn()
  } finally {
    server.changingEtag = false
  }
}

test('a server whose ETag changes on every answer (several nodes): auto downloads the file once and is right; range fails with an error that says why', async () => {
  await withChangingEtag(async () => {
    const auto = await read('auto')
    const r = auto.records[0]
    assert.equal(r.status, 'ok', JSON.stringify(r))
    assert.equal(r.fetch, 'download')
    assertSameRaster(r.output as string, gdalTranslate(cog, ['-srcwin', ...WINDOW.map(String)], dir, 'ref-changing-etag.tif'), 'changing ETag, auto')
    const ranged = await read('range')
    assert.equal(ranged.records[0].error?.code, 'SOURCE_CHANGED', JSON.stringify(ranged.records[0]))
    assert.match(ranged.records[0].error?.message ?? '', /changed again .*--fetch auto/)
  })
})

test('a download resumed from a server whose ETag changes on every answer starts again whole: never a splice', async () => {
  await withChangingEtag(async () => {
    const run = await readReset()
    const r = run.records[0]
    assert.equal(r.status, 'ok', JSON.stringify(r))
    assertSameRaster(r.output as string, gdalTranslate(cog, ['-srcwin', ...WINDOW.map(String)], dir, 'ref-changing-resume.tif'), 'resumed download, changing ETag')
  })
})

test('a download resumed after a cut, answered 206 with no validator by a server that ignores If-Range and now has another version of the same size, starts again: never a splice', async () => {
  const [v1, v2] = sameSizeVersions()
  server.reset()
  server.file('same.tif', readFileSync(v1))
  // The first version (with its ETag) cut short cleanly between the window's two rows of tiles (at 1.18 MB and
  // 1.97 MB in the file); then the second version, Range honoured, If-Range ignored, no ETag.
  server.fault('same.tif', { kind: 'truncate', after: 1_600_000 })
  server.always('same.tif', { kind: 'version', body: readFileSync(v2), etag: null })
  const run = await runCli(['-o', join(dir, 'out-same-resume'), '--fetch', 'download', '--no-progress'], {
    stdin: JSON.stringify({ url: server.url('same.tif'), window: WEAK_WINDOW }) + '\n', env: ENV
  })
  const r = run.records[0]
  assert.equal(r.status, 'ok', JSON.stringify(r))
  assertOneVersion(r.output as string, [v1, v2], 'resumed download, no validator on the 206')
  assert.equal(server.stats('same.tif').requests, 3, 'the first version cut short, the resume refused, the whole second version')
})

test('--fetch range against a server that answers 200 to a Range request: RANGE_UNSUPPORTED, the file not downloaded; auto downloads it', async () => {
  serveCog()
  server.noRanges = true
  try {
    const size = readFileSync(cog).length
    const run = await read('range')
    const r = run.records[0]
    assert.equal(r.error?.code, 'RANGE_UNSUPPORTED', JSON.stringify(r))
    assert.match(r.error?.message ?? '', /cog\.tif.*HTTP 200/)
    assert.equal(r.attempts, 1, 'not retried')
    assert.ok(r.bytes < size / 2, `the body was not read: ${r.bytes} of ${size} bytes`)
    const auto = await read('auto')
    assert.equal(auto.records[0].status, 'ok', JSON.stringify(auto.records[0]))
    assert.equal(auto.records[0].fetch, 'download')
  } finally {
    server.noRanges = false
  }
})
