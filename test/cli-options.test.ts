// The command's options as a user meets them, with the real bin/rasterpipe: help's width, the nearest
// option for a misspelt one, GDAL's names giving the same records as ours, -q, --version (and a broken
// GDAL install), --stats' versions, --overwrite, and the bash completion run by bash itself.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { ROOT, runCli } from './support/run.js'
import type { ResultRecord } from '../lib/core/records.js'
import type { StatsJson } from '../lib/cli/summary.js'
import { OPTIONS } from '../lib/cli/option-table.js'

const ctx = useServer()
const require = createRequire(import.meta.url)

test('--help fits 80 columns (a test of every line; none over 100) and has an Environment section', async () => {
  const run = await runCli(['--help'])
  assert.equal(run.code, 0)
  const lines = run.stdout.split('\n')
  for (const line of lines) assert.ok(line.length <= 100, `over 100 columns: ${line}`)
  assert.deepEqual(lines.filter((l) => l.length > 80), [])
  assert.match(run.stdout, /\nEnvironment:\n {2}HTTPS_PROXY, HTTP_PROXY, NO_PROXY\n/)
  for (const name of ['GDAL_HTTP_', 'GDAL_CACHEMAX', 'UV_THREADPOOL_SIZE', 'JOB_COMPLETION_INDEX', 'NETRC']) assert.ok(run.stdout.includes(name), name)
})

test("an unknown option: rasterpipe's words, the nearest known option, exit 2; the same for a missing value and a switch given one", async () => {
  const cases: Array<[string[], string]> = [
    [['--concurency', '4'], "rasterpipe: unknown option '--concurency' (did you mean --concurrency?)"],
    [['--out-dir'], "rasterpipe: option '--out-dir' needs a value (DIR)"],
    [['--boundless=yes'], "rasterpipe: option '--boundless' takes no value"],
    [['-of', 'PNG'], "rasterpipe: unknown option '-of' (did you mean --of?)"]
  ]
  for (const [args, first] of cases) {
    const run = await runCli(args)
    assert.equal(run.code, 2, args.join(' '))
    assert.equal(run.stderr, `${first}\nTry 'rasterpipe --help' for the options.\n`)
    assert.equal(run.stdout, '')
  }
  const summarize = await runCli(['summarize', '--retry-lst'])
  assert.equal(summarize.code, 2)
  assert.equal(summarize.stderr, "rasterpipe: unknown option '--retry-lst' (did you mean --retry-list?)\nTry 'rasterpipe summarize --help'.\n")
})

/** A record without what differs between two runs of the same work: timings and the output's directory. */
function comparable (r: ResultRecord, outDir: string): unknown {
  const { ms: _ms, ...rest } = r as ResultRecord & { ms: unknown }
  void _ms
  return { ...rest, output: r.output?.replace(outDir, 'OUT') }
}

test("GDAL 3.11's names give the records and outputs their canonical options give", async () => {
  const input = ctx.server.url('rgb-byte-tiled.tif') + '\n'
  const pairs: Array<[string[], string[]]> = [
    [['--of', 'PNG', '--size', '32,32', '-r', 'bilinear', '--creation-option', 'ZLEVEL=9'],
      ['--format', 'PNG', '--out-size', '32,32', '--resampling', 'bilinear', '--co', 'ZLEVEL=9']],
    [['-f', 'GTiff', '--dst-crs', 'utm', '--resolution', '45', '--target-aligned-pixels', '-w', '0,0,64,64'],
      ['--output-format', 'GTiff', '--dst-crs', 'utm', '--res', '45', '--tap', '-w', '0,0,64,64']]
  ]
  for (const [i, [alias, canonical]] of pairs.entries()) {
    const dirs = [join(ctx.dir, `alias-${i}`), join(ctx.dir, `canonical-${i}`)]
    const runs = [await runCli([...alias, '-o', dirs[0], '--no-progress'], { stdin: input }), await runCli([...canonical, '-o', dirs[1], '--no-progress'], { stdin: input })]
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr)
      assert.equal(run.records[0].status, 'ok')
    }
    assert.deepEqual(comparable(runs[0].records[0], dirs[0]), comparable(runs[1].records[0], dirs[1]), alias.join(' '))
    assert.deepEqual(readFileSync(runs[0].records[0].output as string), readFileSync(runs[1].records[0].output as string), `${alias.join(' ')}: the same output`)
  }
})

test('-q: nothing on stderr though records fail, warn and a bar is asked for; records and exit status unchanged; a usage error still speaks', async () => {
  const input = [ctx.server.url('int16-small.tif'), ctx.server.url('missing.tif'), 'not a url at all://'].join('\n') + '\n'
  const stats = join(ctx.dir, 'quiet-stats.json')
  // PNG makes a warning (no georeferencing); --progress would draw a line on stderr.
  const loud = await runCli(['--format', 'PNG', '-w', '0,0,32,32', '-o', join(ctx.dir, 'loud'), '--progress'], { stdin: input })
  assert.match(loud.stderr, /warning: --format PNG/)
  assert.match(loud.stderr, /HTTP_404/)
  assert.match(loud.stderr, /3 records in/)
  const quiet = await runCli(['-q', '--format', 'PNG', '-w', '0,0,32,32', '-o', join(ctx.dir, 'quiet'), '--progress', '--stats', stats], { stdin: input })
  assert.equal(quiet.stderr, '')
  assert.equal(quiet.code, loud.code)
  assert.equal(quiet.code, 1)
  assert.deepEqual(quiet.records.map((r) => [r.line, r.status, r.error?.code]).sort(), loud.records.map((r) => [r.line, r.status, r.error?.code]).sort())
  assert.equal((JSON.parse(readFileSync(stats, 'utf8')) as StatsJson).failed, 2, '--stats is still written')
  const usage = await runCli(['--quiet', '-c', '0'])
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /^rasterpipe: --concurrency: must be a whole number/)
  const unreadable = await runCli(['-q', '/no/such/list.txt'])
  assert.equal(unreadable.code, 2)
  assert.match(unreadable.stderr, /cannot read input file/)
})

/** What this machine's tools say, where they are installed: GDAL's gdalinfo and PROJ's projinfo. */
function toolSays (command: string, args: string[], pattern: RegExp): string | undefined {
  const out = spawnSync(command, args, { encoding: 'utf8' })
  return pattern.exec(`${out.stdout ?? ''}${out.stderr ?? ''}`)?.[1]
}

test('--version: rasterpipe, Node, undici, GDAL, PROJ and libtiff; --json the same as one object; --stats carries it', async () => {
  const run = await runCli(['--version'])
  assert.equal(run.code, 0, run.stderr)
  const m = /^rasterpipe (\S+)\nNode\.js (\S+)\nundici (\S+)\nGDAL (\S+)\nPROJ (\S+)\nlibtiff (\S+)\n$/.exec(run.stdout)
  assert.ok(m, run.stdout)
  const [, rasterpipe, node, undici, gdal, proj, libtiff] = m
  assert.equal(rasterpipe, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version)
  assert.equal(node, process.versions.node)
  assert.equal(undici, (JSON.parse(readFileSync(require.resolve('undici/package.json'), 'utf8')) as { version: string }).version)
  for (const v of [gdal, proj, libtiff]) assert.match(v, /^\d+\.\d+(\.\d+)?$/)
  // Against the tools of the same installation, where they are there (Debian's gdal-bin, proj-bin).
  const gdalinfo = toolSays('gdalinfo', ['--version'], /^GDAL (\d+\.\d+\.\d+)/)
  if (gdalinfo) assert.equal(gdal, gdalinfo)
  const projinfo = toolSays('projinfo', [], /^Rel\. (\d+\.\d+\.\d+),/)
  if (projinfo) assert.equal(proj, projinfo)
  const json = await runCli(['--version', '--json'])
  assert.equal(json.code, 0)
  const object = JSON.parse(json.stdout) as Record<string, string>
  assert.deepEqual(object, { rasterpipe, node, undici, gdal, proj, libtiff })
  const stats = join(ctx.dir, 'version-stats.json')
  const withStats = await runCli(['-o', join(ctx.dir, 'version-run'), '-w', '0,0,16,16', '--stats', stats], { stdin: ctx.server.url('int16-small.tif') + '\n' })
  assert.equal(withStats.code, 0, withStats.stderr)
  assert.deepEqual((JSON.parse(readFileSync(stats, 'utf8')) as StatsJson).versions, object)
  // Shards' --stats merged keep the build they agree on.
  const merged = await runCli(['summarize', '--stats', stats, stats])
  assert.deepEqual((JSON.parse(merged.stdout) as StatsJson).versions, object)
})

test('--version with a broken GDAL install: the versions it can say, then why GDAL does not load, exit 2', async () => {
  // A libgdal that is no library, found first: what a half-removed or mismatched install looks like.
  const lib = join(ctx.dir, 'broken-lib')
  mkdirSync(lib)
  for (const name of ['libgdal.so', 'libgdal.so.32', 'libgdal.so.33', 'libgdal.so.34', 'libgdal.so.35', 'libgdal.so.36']) writeFileSync(join(lib, name), '')
  for (const json of [false, true]) {
    const run = await runCli(json ? ['--version', '--json'] : ['--version'], { env: { LD_LIBRARY_PATH: lib } })
    assert.equal(run.code, 2, run.stdout)
    if (json) {
      assert.deepEqual(Object.keys(JSON.parse(run.stdout) as object), ['rasterpipe', 'node', 'undici', 'gdal', 'proj', 'libtiff'])
      assert.equal((JSON.parse(run.stdout) as { gdal: unknown }).gdal, null)
    } else {
      assert.match(run.stdout, /^rasterpipe \S+\nNode\.js \S+\nundici \S+\n$/)
    }
    assert.match(run.stderr, /^rasterpipe: cannot load gdal-async/)
    assert.doesNotMatch(run.stderr, /\\n/, 'the message\'s lines are lines')
  }
})

test('--overwrite is what a run does (outputs replaced), and contradicts --skip-existing', async () => {
  const out = join(ctx.dir, 'overwrite')
  const url = ctx.server.url('int16-small.tif')
  const record = (size: number): string => JSON.stringify({ url, out: 'chip.tif', window: [0, 0, size, size] }) + '\n'
  const first = await runCli(['-o', out], { stdin: record(16) })
  assert.equal(first.records[0].status, 'ok')
  const before = readFileSync(first.records[0].output as string)
  const again = await runCli(['-o', out, '--overwrite'], { stdin: record(32) })
  assert.equal(again.records[0].status, 'ok')
  assert.equal(again.records[0].output, first.records[0].output)
  assert.notDeepEqual(readFileSync(again.records[0].output as string), before, 'the 32×32 window replaced the 16×16')
  const both = await runCli(['--overwrite', '--skip-existing'])
  assert.equal(both.code, 2)
  assert.match(both.stderr, /--overwrite and --skip-existing cannot be used together/)
})

test('bash completion, run by bash: options by prefix, values from the table, subcommands', async () => {
  const script = await runCli(['completion', 'bash'])
  assert.equal(script.code, 0, script.stderr)
  const file = join(ctx.dir, 'rasterpipe.bash')
  writeFileSync(file, script.stdout)
  const complete = (words: string[]): string[] => {
    const program = `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rasterpipe; printf '%s\\n' "\${COMPREPLY[@]}"`
    const out = spawnSync('bash', ['-c', program, 'bash', file], { encoding: 'utf8', cwd: ctx.dir })
    assert.equal(out.status, 0, out.stderr)
    return out.stdout.split('\n').filter((l) => l !== '')
  }
  assert.deepEqual(complete(['rasterpipe', '--conc']), ['--concurrency'])
  assert.deepEqual(complete(['rasterpipe', '--fetch', 'r']), ['range'])
  assert.deepEqual(complete(['rasterpipe', '--of', 'CO']), ['COG'])
  assert.deepEqual(complete(['rasterpipe', '-r', 'cubic']), ['cubic', 'cubicspline'])
  assert.deepEqual(complete(['rasterpipe', 'completion', '']), ['bash', 'zsh'])
  assert.deepEqual(complete(['rasterpipe', 'summ']), ['summarize'])
  assert.ok(complete(['rasterpipe', '--']).includes('--target-aligned-pixels'))
  assert.deepEqual(complete(['rasterpipe', '-c', '']), [], 'a number: nothing to offer')
  const zsh = await runCli(['completion', 'zsh'])
  assert.equal(zsh.code, 0)
  for (const o of OPTIONS) assert.ok(zsh.stdout.includes(`--${o.long}`), `zsh completion lacks --${o.long}`)
  if (existsSync('/bin/zsh') || existsSync('/usr/bin/zsh')) assert.equal(spawnSync('zsh', ['-n'], { input: zsh.stdout }).status, 0)
  const wrong = await runCli(['completion', 'fish'])
  assert.equal(wrong.code, 2)
  assert.match(wrong.stderr, /completion needs one shell, bash or zsh, got 'fish'/)
})
