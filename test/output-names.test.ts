// Output names come from the real request: two URLs that differ only in a secret query parameter name
// two outputs, and two records that would write one path in the same run are refused before the second
// one's fetch (input DUPLICATE_OUTPUT), unless they are the same request.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { byLine, FIXTURES, runCli } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import { rasterPipeline, type ResultRecord } from '../lib/index.js'

const ctx = useServer()
const WINDOW = ['-w', '0,0,40,30']
/** What `scene.tif?key=…` serves: the server picks the file by its key, as signed-URL front ends do. */
const BY_KEY: Record<string, string> = { 'key-a': 'int16-small.tif', 'key-b': 'uint16-striped.tif', 'key-c': 'float64-small.tif' }

function routeByKey (): void {
  ctx.server.route = (path, query) => path === '/scene.tif' ? `/${BY_KEY[query.get('key') ?? ''] ?? 'none'}` : path
}

test('two rasters that differ only in key= (or token=) get two outputs, each with its own source\'s pixels; --skip-existing skips only what was written', async () => {
  routeByKey()
  const dir = join(ctx.dir, 'by-key')
  mkdirSync(dir)
  const urlFor = (key: string, param = 'key'): string => `${ctx.server.url('scene.tif')}?${param}=${key}${param === 'key' ? '' : `&key=${key}`}`
  const run = await runCli(['-o', dir, ...WINDOW, '--no-progress'], { stdin: [urlFor('key-a'), urlFor('key-b')].join('\n') + '\n' })
  assert.equal(run.code, 0, run.stderr)
  const [a, b] = [byLine(run.records).get(1), byLine(run.records).get(2)]
  assert.equal(a?.status, 'ok')
  assert.equal(b?.status, 'ok')
  assert.notEqual(a?.output, b?.output, 'two requests, two output names')
  assert.equal(readdirSync(dir).length, 2, 'two files written')
  for (const [r, key] of [[a, 'key-a'], [b, 'key-b']] as const) {
    const reference = gdalTranslate(join(FIXTURES, BY_KEY[key]), ['-srcwin', '0', '0', '40', '30'], ctx.dir, `ref-${key}.tif`)
    assertSameRaster(r?.output as string, reference, `key=${key}`)
  }
  // A later run: a and b were written (skipped), c never was (written now, from its own source).
  const again = await runCli(['-o', dir, ...WINDOW, '--no-progress', '--skip-existing'], { stdin: [urlFor('key-a'), urlFor('key-c'), urlFor('key-b')].join('\n') + '\n' })
  assert.equal(again.code, 0, again.stderr)
  const lines = byLine(again.records)
  assert.equal(lines.get(1)?.status, 'skipped')
  assert.equal(lines.get(3)?.status, 'skipped')
  assert.equal(lines.get(2)?.status, 'ok', 'key=key-c was never written: it is not skipped')
  assertSameRaster(lines.get(2)?.output as string, gdalTranslate(join(FIXTURES, BY_KEY['key-c']), ['-srcwin', '0', '0', '40', '30'], ctx.dir, 'ref-c.tif'), 'key=key-c')
  // token= is as much part of the request as key=.
  const tokens = await runCli(['-o', join(ctx.dir, 'by-token'), ...WINDOW, '--no-progress'], { stdin: [urlFor('key-a', 'token'), urlFor('key-b', 'token')].join('\n') + '\n' })
  assert.equal(tokens.code, 0, tokens.stderr)
  assert.notEqual(tokens.records[0].output, tokens.records[1].output)
  ctx.server.route = undefined
})

test('two different requests with one "out": the second is input DUPLICATE_OUTPUT naming line 1, never fetched; the first is written', async () => {
  ctx.server.reset()
  const dir = join(ctx.dir, 'dup')
  const first = ctx.server.url('int16-small.tif')
  const second = ctx.server.url('uint16-striped.tif')
  const third = ctx.server.url('int32-small.tif')
  const input = [
    JSON.stringify({ url: first, out: 'same.tif' }),
    JSON.stringify({ url: second, out: 'same.tif' }),
    // The same request twice (its own "out", or the default name): both run, both write the same file.
    JSON.stringify({ url: third, out: 'twice.tif' }),
    JSON.stringify({ url: third, out: 'twice.tif' }),
    first,
    first
  ].join('\n') + '\n'
  const run = await runCli(['-o', dir, ...WINDOW, '--no-progress'], { stdin: input })
  const lines = byLine(run.records)
  assert.equal(lines.get(1)?.status, 'ok')
  assert.equal(lines.get(2)?.status, 'error')
  assert.equal(lines.get(2)?.error?.stage, 'input')
  assert.equal(lines.get(2)?.error?.code, 'DUPLICATE_OUTPUT')
  assert.match(lines.get(2)?.error?.message ?? '', /\bline 1\b/, 'the message names the line that has the output')
  assert.equal(lines.get(2)?.attempts, 0)
  assert.match(run.stderr, /line 2: input DUPLICATE_OUTPUT: .*line 1/)
  for (const n of [3, 4, 5, 6]) assert.equal(lines.get(n)?.status, 'ok', `line ${n}: the same request again is no duplicate`)
  assert.equal(run.code, 1)
  assertSameRaster(join(dir, 'same.tif'), gdalTranslate(join(FIXTURES, 'int16-small.tif'), ['-srcwin', '0', '0', '40', '30'], ctx.dir, 'ref-dup.tif'), 'line 1\'s output')
  assert.equal(ctx.server.stats('uint16-striped.tif').requests, 0, 'line 2 made no request')
  // A rerun of the same input is no duplicate of the first run.
  const rerun = await runCli(['-o', dir, ...WINDOW, '--no-progress', '--skip-existing'], { stdin: input })
  assert.deepEqual(rerun.records.filter((r) => r.status === 'error').map((r) => r.line), [2])
  for (const n of [1, 3, 4, 5, 6]) assert.equal(byLine(rerun.records).get(n)?.status, 'skipped', `rerun line ${n}`)
})

test('the same URL and window with other headers (a server picking the file by X-Api-Key) is DUPLICATE_OUTPUT under one default name, the headers never printed; the same headers again are no duplicate', async () => {
  ctx.server.reset()
  ctx.server.route = (path, _query, headers) => path === '/scene.tif' ? `/${BY_KEY[String(headers['x-api-key'])] ?? 'none'}` : path
  try {
    const dir = join(ctx.dir, 'by-header')
    const url = ctx.server.url('scene.tif')
    const input = [
      url,
      // -H's value again, as the record's own: the same request.
      JSON.stringify({ url, headers: { 'x-api-key': 'key-a' } }),
      // Another value: another file from the same URL.
      JSON.stringify({ url, headers: { 'X-Api-Key': 'key-b' } })
    ].join('\n') + '\n'
    const run = await runCli(['-o', dir, ...WINDOW, '--no-progress', '-H', 'X-Api-Key: key-a'], { stdin: input })
    const lines = byLine(run.records)
    assert.equal(lines.get(1)?.status, 'ok', run.stderr)
    assert.equal(lines.get(2)?.status, 'ok', 'the same headers in another case and place: the same request')
    assert.equal(lines.get(3)?.status, 'error')
    assert.equal(lines.get(3)?.error?.code, 'DUPLICATE_OUTPUT')
    assert.match(lines.get(3)?.error?.message ?? '', /\bline 1\b.*headers/, 'the message says the headers differ')
    assert.equal(lines.get(3)?.attempts, 0)
    assert.ok(!run.stdout.includes('key-b') && !run.stderr.includes('key-b'), 'no header value printed')
    assert.equal(ctx.server.stats('uint16-striped.tif').requests, 0, 'line 3 made no request')
    assertSameRaster(lines.get(1)?.output as string, gdalTranslate(join(FIXTURES, BY_KEY['key-a']), ['-srcwin', '0', '0', '40', '30'], ctx.dir, 'ref-header.tif'), 'line 1\'s output')
  } finally {
    ctx.server.route = undefined
  }
})

test('with several input files, DUPLICATE_OUTPUT names the first record\'s file and line', async () => {
  const dir = join(ctx.dir, 'dup-files')
  mkdirSync(dir)
  const a = join(dir, 'a.ndjson')
  const b = join(dir, 'b.ndjson')
  writeFileSync(a, JSON.stringify({ url: ctx.server.url('int16-small.tif'), out: 'x.tif' }) + '\n')
  writeFileSync(b, '\n' + JSON.stringify({ url: ctx.server.url('uint16-striped.tif'), out: 'x.tif' }) + '\n')
  const run = await runCli(['-o', join(dir, 'out'), ...WINDOW, '--no-progress', a, b])
  const failed = run.records.find((r) => r.status === 'error')
  assert.equal(failed?.input, b)
  assert.equal(failed?.line, 2)
  assert.equal(failed?.error?.code, 'DUPLICATE_OUTPUT')
  assert.ok(failed?.error?.message.includes(`line 1 of ${a}`), failed?.error?.message)
})

test('an output directory is made once per run; removed mid-run, it is made again for the next record into it', async () => {
  const outDir = join(ctx.dir, 'removed-mid-run')
  const pipeline = rasterPipeline({ outDir, concurrency: 1, window: { col: 0, row: 0, width: 16, height: 16 } })
  const records = (pipeline as AsyncIterable<ResultRecord>)[Symbol.asyncIterator]()
  const written = async (out: string): Promise<void> => {
    pipeline.write(JSON.stringify({ url: ctx.server.url('int16-small.tif'), out }))
    const { value } = await records.next()
    assert.equal((value as ResultRecord).status, 'ok', JSON.stringify(value))
    assert.ok(existsSync(join(outDir, out)), out)
  }
  await written('sub/a.tif')
  await written('sub/b.tif')
  rmSync(join(outDir, 'sub'), { recursive: true })
  await written('sub/c.tif')
  assert.deepEqual(readdirSync(join(outDir, 'sub')), ['c.tif'])
  pipeline.end()
  assert.equal((await records.next()).done, true)
})
