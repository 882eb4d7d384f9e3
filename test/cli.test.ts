// The command line: help, usage errors, bad input lines among good ones, exit statuses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { byLine, ROOT, runCli } from './support/run.js'
import type { StatsJson } from '../lib/cli/summary.js'
import { resolveOptions } from '../lib/run/options.js'
import { inFlags } from '../lib/cli/flags.js'
import { UsageError } from '../lib/core/errors.js'
import type { FetchMode, PipelineInput } from '../lib/core/options.js'

const ctx = useServer()

test('--help lists every option with its default', async () => {
  const run = await runCli(['--help'])
  assert.equal(run.code, 0)
  const options = ['--out-dir', '--concurrency', '--window', '--bbox', '--bbox-crs', '--bands', '--boundless', '--out-size',
    '--max-pixels', '--fetch', '--retries', '--timeout', '--max-bytes', '--format', '--co', '--header', '--skip-existing', '--stats',
    '--progress', '--no-progress', '--assets', '--help', '--version']
  for (const o of options) assert.match(run.stdout, new RegExp(`${o}\\b`), `help lacks ${o}`)
  const defaults = ['[default: output]', '[default: 16]', '[default: 0,0,512,512]', '[default: auto]', '[default: 4]',
    '[default: 60]', '[default: 2.00 GiB]', '[default: GTiff]', '[default: all]']
  for (const d of defaults) assert.ok(run.stdout.includes(d), `help lacks ${d}`)
  const lines = run.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  const twice = lines.filter((l, i) => lines.indexOf(l) !== i)
  assert.deepEqual(twice, [], 'no line of the help is there twice')
})

test('an unknown option exits 2 with a message naming it', async () => {
  const run = await runCli(['--frobnicate'])
  assert.equal(run.code, 2)
  assert.match(run.stderr, /--frobnicate/)
  assert.equal(run.stdout, '')
})

test('bad option values exit 2 and name the option', async () => {
  for (const args of [['-c', '0'], ['--window', '1,2,3'], ['--fetch', 'ftp'], ['--max-bytes', 'lots'], ['--bands', '0'], ['--format', 'NoSuchDriver']]) {
    const run = await runCli(args, { stdin: ctx.server.url('int16-small.tif') + '\n' })
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, new RegExp(args[0].replace(/^-c$/, '--concurrency')), args.join(' '))
  }
})

test('a missing input file, or a directory, exits 2 naming it', async () => {
  const run = await runCli(['/no/such/list.txt'])
  assert.equal(run.code, 2)
  assert.match(run.stderr, /\/no\/such\/list\.txt/)
  const dirRun = await runCli([ctx.dir])
  assert.equal(dirRun.code, 2)
  assert.ok(dirRun.stderr.includes(`input '${ctx.dir}' is a directory`))
})

test('bad lines give one error record each with their line number; good lines around them succeed', async () => {
  const good = ctx.server.url('int16-small.tif')
  const lines = [
    good, // 1
    '{"url": "x.tif", ', // 2 invalid JSON
    '[1, 2, 3]', // 3 array
    '{"id": "no-url"}', // 4 no url
    'ftp://example.org/a.tif', // 5 ftp
    '', // 6 blank: skipped, no record
    JSON.stringify({ url: good, window: [10, 10, 64, 64] }) // 7
  ]
  const out = join(ctx.dir, 'badlines')
  const run = await runCli(['-o', out], { stdin: lines.join('\n') + '\n' })
  assert.equal(run.code, 1)
  assert.equal(run.records.length, 6)
  const r = byLine(run.records)
  assert.equal(r.get(1)?.status, 'ok')
  assert.equal(r.get(7)?.status, 'ok')
  assert.equal(r.has(6), false)
  for (const [line, pattern] of [[2, /invalid JSON/], [3, /array/], [4, /no "url"/], [5, /scheme 'ftp:'/]] as const) {
    const rec = r.get(line)
    assert.equal(rec?.status, 'error', `line ${line}`)
    assert.equal(rec?.error?.stage, 'input')
    assert.match(rec?.error?.message ?? '', pattern)
    assert.match(run.stderr, new RegExp(`line ${line}: input`), `stderr names line ${line}`)
  }
})

test('input files are read in order, and errors name the file and line', async () => {
  const a = join(ctx.dir, 'a.txt')
  const b = join(ctx.dir, 'b.txt')
  writeFileSync(a, ctx.server.url('int16-small.tif') + '\n')
  writeFileSync(b, 'not a url at all://\n')
  const run = await runCli(['-o', join(ctx.dir, 'files'), a, b])
  assert.equal(run.code, 1)
  assert.equal(run.records.length, 2)
  const bad = run.records.find((r) => r.status === 'error')
  assert.equal(bad?.input, b)
  assert.equal(bad?.line, 1)
  assert.ok(run.stderr.includes(`${b}:1:`))
})

test('records go to stdout only, and the summary to stderr', async () => {
  const run = await runCli(['-o', join(ctx.dir, 'summary'), '--no-progress'], { stdin: ctx.server.url('int16-small.tif') + '\n' })
  assert.equal(run.code, 0)
  assert.equal(run.stdout.trim().split('\n').length, 1)
  assert.match(run.stderr, /1 record in .*1 ok, 0 failed, 0 skipped/)
})

test('--stats writes the run summary as JSON; --progress draws a bar on stderr', async () => {
  const stats = join(ctx.dir, 'stats.json')
  const input = [ctx.server.url('int16-small.tif'), ctx.server.url('missing.tif')].join('\n')
  const run = await runCli(['-o', join(ctx.dir, 'stats'), '--stats', stats, '--progress', '--fetch', 'download'], { stdin: input })
  assert.equal(run.code, 1)
  const s = JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
  assert.equal(s.records, 2)
  assert.equal(s.ok, 1)
  assert.equal(s.failed, 1)
  assert.equal(s.skipped, 0)
  assert.equal(s.bytes, run.records.reduce((sum, r) => sum + r.bytes, 0))
  assert.ok(s.wall_s > 0 && s.bytes_per_s > 0)
  for (const stage of ['fetch', 'open', 'read', 'write', 'total']) assert.ok(s.stage_ms[stage]?.p95 >= s.stage_ms[stage]?.p50, stage)
  assert.ok(s.event_loop_delay_ms.max >= s.event_loop_delay_ms.p99)
  assert.ok(s.peak_rss_mb > 0)
  assert.deepEqual(s.errors, { HTTP_404: 1 })
  assert.match(run.stderr, /rasterpipe \[2\/2\] records/)
  assert.match(run.stderr, /line 2: fetch HTTP_404/)
})

test('--format: only drivers that write one self-contained file; --co values GDAL rejects are usage errors', async () => {
  const input = ctx.server.url('int16-small.tif') + '\n'
  for (const format of ['VRT', 'MEM']) {
    const run = await runCli(['--format', format], { stdin: input })
    assert.equal(run.code, 2, `${format}: ${run.stderr}`)
    assert.match(run.stderr, new RegExp(`--format: GDAL driver '${format}' cannot write a single self-contained raster file; use one of GTiff, COG`))
    assert.match(run.stderr, /Try 'rasterpipe --help'/)
    assert.equal(run.stdout, '')
  }
  const bogus = await runCli(['--co', 'COMPRESS=BOGUS'], { stdin: input })
  assert.equal(bogus.code, 2, bogus.stderr)
  assert.match(bogus.stderr, /--co: GDAL's GTiff driver rejects the creation options: .*BOGUS/)
  assert.equal(bogus.stdout, '')
  const unknown = await runCli(['--co', 'NO_SUCH_OPTION=1'], { stdin: input })
  assert.equal(unknown.code, 2, unknown.stderr)
  assert.match(unknown.stderr, /NO_SUCH_OPTION/)
  // A valid option of another format is fine, and a format without georeferencing says so once.
  const png = await runCli(['--format', 'PNG', '--co', 'ZLEVEL=9', '-w', '0,0,32,32', '-o', join(ctx.dir, 'png'), '--no-progress'], { stdin: input })
  assert.equal(png.code, 0, png.stderr)
  assert.equal(png.records[0].status, 'ok')
  assert.match(png.records[0].output ?? '', /\.png$/)
  assert.match(png.stderr, /warning: --format PNG keeps no georeferencing/)
})

test('small things: input file errors say why; option errors name the option and point to --help', async () => {
  const missing = await runCli(['/no/such/list.txt'])
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /cannot read input file '\/no\/such\/list\.txt': no such file \(ENOENT\)/)
  const notDir = await runCli([join(ROOT, 'package.json', 'list.txt')])
  assert.equal(notDir.code, 2)
  assert.match(notDir.stderr, /\(ENOTDIR\)/)
  for (const [args, pattern] of [
    [['--co', 'FOO'], /^rasterpipe: --co: 'FOO' is not NAME=VALUE\nTry 'rasterpipe --help' for the options\.\n$/],
    [['-c', '0'], /^rasterpipe: --concurrency: must be a whole number of at least 1, got 0\nTry 'rasterpipe --help'/],
    [['--timeout', '0'], /^rasterpipe: --timeout: .*\nTry 'rasterpipe --help'/],
    [['--bbox', '0,0,1,1', '--bbox-crs', 'EPSG:99999999'], /^rasterpipe: --bbox-crs: unknown CRS 'EPSG:99999999'.*\nTry 'rasterpipe --help'/],
    [['--format', 'NoSuchDriver'], /^rasterpipe: --format: unknown GDAL driver 'NoSuchDriver'; use one of GTiff/]
  ] as const) {
    const run = await runCli([...args], { stdin: ctx.server.url('int16-small.tif') + '\n' })
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, pattern, args.join(' '))
    assert.equal(run.stdout, '', `${args.join(' ')}: no record before the usage error`)
  }
})

test('--max-pixels: one code, TOO_MANY_PIXELS, for a pixel window (refused at input, stage input), a bbox and a warp\'s grid (refused once open, stage open), before GDAL sees a grid too large for it', async () => {
  const url = ctx.server.url('rgb-byte-tiled.tif')
  const input = [
    JSON.stringify({ url, window: [0, 0, 200, 200] }),
    JSON.stringify({ url, bbox: [500000, 4190000, 502000, 4192000] }),
    // 10 pixels at 1e-12 m: a grid 1e13 wide, past GDAL's int (it used to make a -2147483648-wide one).
    JSON.stringify({ url, window: [0, 0, 10, 10], res: 1e-12 }),
    JSON.stringify({ url, window: [0, 0, 10, 10], res: 1e-12, tap: true }),
    JSON.stringify({ url, window: [0, 0, 10, 10], res: 0.01, dst_crs: 'EPSG:32618' })
  ].join('\n') + '\n'
  const run = await runCli(['--max-pixels', '10000', '-o', join(ctx.dir, 'maxpx'), '--no-progress'], { stdin: input })
  assert.equal(run.code, 1)
  const r = byLine(run.records)
  assert.equal(r.get(1)?.error?.code, 'TOO_MANY_PIXELS')
  assert.equal(r.get(1)?.error?.stage, 'input')
  assert.equal(r.get(1)?.bytes, 0)
  assert.equal(r.get(2)?.error?.code, 'TOO_MANY_PIXELS')
  assert.equal(r.get(2)?.error?.stage, 'open')
  for (const line of [3, 4, 5]) {
    assert.equal(r.get(line)?.error?.code, 'TOO_MANY_PIXELS', JSON.stringify(r.get(line)))
    assert.equal(r.get(line)?.error?.stage, 'open')
    assert.match(r.get(line)?.error?.message ?? '', /grid of [\d.e+]+×[\d.e+]+ = [\d.e+]+ pixels is over --max-pixels 10000/)
  }
  // At the default --max-pixels too: GDAL is never handed the grid.
  const plain = await runCli(['-o', join(ctx.dir, 'maxpx-default'), '--no-progress'], { stdin: JSON.stringify({ url, window: [0, 0, 10, 10], res: 1e-12 }) + '\n' })
  assert.equal(plain.records[0]?.error?.code, 'TOO_MANY_PIXELS', plain.stdout)
  assert.doesNotMatch(plain.stderr, /ERROR \d/, 'no GDAL error')
  // Under a --max-pixels raised past GDAL's int: an out_size or a boundless window wider than GDAL can make.
  const wide = [
    JSON.stringify({ url, window: [0, 0, 10, 10], out_size: [3e9, 1] }),
    JSON.stringify({ url, window: [0, 0, 3e9, 1], boundless: true })
  ].join('\n') + '\n'
  const huge = await runCli(['--max-pixels', '10000000000', '--max-memory', '100000000000', '-o', join(ctx.dir, 'maxpx-wide'), '--no-progress'], { stdin: wide })
  assert.equal(huge.records.length, 2, huge.stderr)
  for (const rec of huge.records) {
    assert.equal(rec.error?.code, 'TOO_MANY_PIXELS', JSON.stringify(rec))
    assert.equal(rec.error?.stage, 'input')
    assert.match(rec.error?.message ?? '', /window of 3000000000×1 pixels is larger than GDAL can make \(2147483647 a side\)/)
  }
  assert.doesNotMatch(huge.stderr, /ERROR \d/, 'no GDAL error')
})

test('skipped records carry their output', async () => {
  const out = join(ctx.dir, 'skipped')
  const input = ctx.server.url('int16-small.tif') + '\n'
  const first = await runCli(['-o', out, '--no-progress'], { stdin: input })
  assert.equal(first.records[0].status, 'ok')
  const again = await runCli(['-o', out, '--skip-existing', '--no-progress'], { stdin: input })
  assert.equal(again.records[0].status, 'skipped')
  assert.equal(again.records[0].output, first.records[0].output)
})

test('options are checked in one place: the CLI gives the message the library gives for the same value, naming the option by its flag', async () => {
  const cases: [string[], PipelineInput][] = [
    [['-c', '0'], { concurrency: 0 }],
    [['-c', 'many'], { concurrency: 'many' as unknown as number }],
    [['--retries', '1.5'], { retries: 1.5 }],
    [['--max-pixels', '0'], { maxPixels: 0 }],
    [['--timeout', '0'], { timeout: 0 }],
    [['--max-time', 'soon'], { maxTime: 'soon' as unknown as number }],
    [['--max-bytes', 'lots'], { maxBytes: 'lots' }],
    [['--max-memory', '0'], { maxMemory: '0' }],
    [['--fetch', 'ftp'], { fetch: 'ftp' as FetchMode }]
  ]
  for (const [args, options] of cases) {
    const expected = (() => {
      try { resolveOptions(options) } catch (err) { return err instanceof UsageError ? inFlags(err) : (err as Error).message }
      return 'no error'
    })()
    assert.ok(expected.startsWith(args[0].startsWith('--') ? args[0] : '--concurrency'), expected)
    const run = await runCli(args, { stdin: '' })
    assert.equal(run.code, 2, args.join(' '))
    assert.equal(run.stderr.split('\n')[0], `rasterpipe: ${expected}`, args.join(' '))
  }
})
