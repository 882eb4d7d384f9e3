// The option table and what is made from it, in this process: every alias parses as its canonical
// option, the nearest option for a misspelt one, help's width and sections, the man page as committed,
// and GDAL's variables beneath the command line (optionsFromEnvironment's seam, with a fake).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ignoredWarning, parseCommandLine, type Parsed } from '../lib/cli/cli.js'
import { nearest, readArguments } from '../lib/cli/arguments.js'
import { OPTIONS, spellings } from '../lib/cli/option-table.js'
import { helpText } from '../lib/cli/help.js'
import { manPage } from '../lib/cli/manpage.js'
import { flagNames } from '../lib/cli/flags.js'
import { UsageError } from '../lib/core/errors.js'
import type { EnvironmentOptions } from '../lib/run/environment.js'
import type { CliConfig } from '../lib/cli/io.js'
import { ROOT } from './support/run.js'

/** What the environment gives when a test does not say: nothing (the real seam may read this machine's variables). */
const none = (): EnvironmentOptions => ({ options: {}, ignored: [] })

function parse (argv: string[], env: NodeJS.ProcessEnv = {}, fromEnvironment: (env: NodeJS.ProcessEnv) => EnvironmentOptions = none): CliConfig {
  const parsed: Parsed = parseCommandLine(argv, false, env, fromEnvironment)
  assert.equal(typeof parsed, 'object', argv.join(' '))
  return parsed as CliConfig
}

function usageError (argv: string[]): string {
  try {
    parseCommandLine(argv, false, {}, none)
  } catch (err) {
    assert.ok(err instanceof UsageError, String(err))
    return err.say(flagNames)
  }
  assert.fail(`${argv.join(' ')} parsed`)
}

test('each spelling belongs to one option; every option key is said as its canonical flag', () => {
  const seen = new Map<string, string>()
  for (const o of OPTIONS) {
    for (const name of [o.long, ...(o.aliases ?? []), ...(o.short ? [o.short] : [])]) {
      assert.equal(seen.get(name), undefined, `${name} is spelt by ${seen.get(name)} and ${o.long}`)
      seen.set(name, o.long)
    }
  }
  for (const [key, flag] of [['gdalConfig', '--config'], ['caBundle', '--cacert'], ['noProxy', '--noproxy'], ['netrcFile', '--netrc-file'],
    ['creationOptions', '--co'], ['format', '--format'], ['res', '--res'], ['outSize', '--out-size'], ['tap', '--tap']]) {
    assert.equal(flagNames(key), flag)
  }
})

test("GDAL 3.11's names parse as the options they alias, to the same options", () => {
  const pairs: Array<[string[], string[]]> = [
    [['--resolution', '10'], ['--res', '10']],
    [['--size', '64,32'], ['--out-size', '64,32']],
    [['--target-aligned-pixels', '--res', '10'], ['--tap', '--res', '10']],
    [['-f', 'PNG'], ['--format', 'PNG']],
    [['--of', 'PNG'], ['--format', 'PNG']],
    [['--output-format=PNG'], ['--format', 'PNG']],
    [['--creation-option', 'ZLEVEL=9', '--co', 'TILED=NO'], ['--co', 'ZLEVEL=9', '--co', 'TILED=NO']],
    [['-r', 'bilinear'], ['--resampling', 'bilinear']],
    [['-b', '0,0,10,10'], ['--bbox', '0,0,10,10']]
  ]
  for (const [alias, canonical] of pairs) {
    assert.deepEqual(parse(alias).options, parse(canonical).options, alias.join(' '))
  }
  // The new flags reach their keys.
  const net = parse(['--proxy', 'http://127.0.0.1:3128', '--noproxy', 'localhost,.internal', '--netrc', '--netrc-file', 'n.txt',
    '--cacert', 'ca.pem', '--config', 'GDAL_NUM_THREADS=2', '--config', 'CPL_DEBUG=ON']).options
  assert.equal(net.proxy, 'http://127.0.0.1:3128')
  assert.equal(net.noProxy, 'localhost,.internal')
  assert.equal(net.netrc, true)
  assert.equal(net.netrcFile, 'n.txt')
  assert.equal(net.caBundle, 'ca.pem')
  assert.deepEqual(net.gdalConfig, ['GDAL_NUM_THREADS=2', 'CPL_DEBUG=ON'])
})

test('two spellings of one option that disagree are a usage error; agreeing ones, and a spelling repeated, are not', () => {
  assert.equal(usageError(['--res', '10', '--resolution', '20']), '--res and --resolution are one option, given different values: give it once')
  assert.match(usageError(['-f', 'PNG', '--of', 'COG']), /^-f and --of are one option/)
  assert.deepEqual(parse(['--res', '10', '--resolution', '10']).options.res, parse(['--res', '10']).options.res)
  assert.equal(parse(['-c', '4', '-c', '8']).options.concurrency, 8)
  assert.equal(usageError(['--overwrite', '--skip-existing']), '--overwrite and --skip-existing cannot be used together')
  assert.equal(usageError(['--json']), '--json goes with --version (records are JSON already)')
  assert.equal(parseCommandLine(['--version', '--json'], false, {}, none), 'version-json')
})

test('unknown options get the nearest known one; missing values and values given to switches are said plainly', () => {
  assert.equal(nearest('--concurency'), '--concurrency')
  assert.equal(nearest('--conc'), '--concurrency')
  assert.equal(nearest('--ouput-format'), '--output-format')
  assert.equal(nearest('--skip-exisitng'), '--skip-existing')
  assert.equal(nearest('--frobnicate'), undefined)
  assert.equal(nearest('--stat', ['--retry-list', '--stats', '--help', '-h']), '--stats', "summarize's own")
  assert.equal(usageError(['--concurency', '4']), "unknown option '--concurency' (did you mean --concurrency?)")
  assert.equal(usageError(['--frobnicate']), "unknown option '--frobnicate'")
  assert.equal(usageError(['-Z']), "unknown option '-Z'")
  assert.equal(usageError(['-v']), "unknown option '-v' (did you mean -V?)")
  // GDAL's one-dash spellings, which would otherwise read as a letter and its value (-o 'f').
  assert.equal(usageError(['-of', 'PNG']), "unknown option '-of' (did you mean --of?)")
  assert.equal(usageError(['-co', 'TILED=NO']), "unknown option '-co' (did you mean --co?)")
  assert.equal(usageError(['-tr', '10', '10']), "unknown option '-tr' (did you mean --res?)")
  assert.equal(usageError(['-t_srs', 'EPSG:4326']), "unknown option '-t_srs' (did you mean --dst-crs?)")
  assert.equal(usageError(['-srcwin', '0', '0', '8', '8']), "unknown option '-srcwin' (did you mean --window?)")
  assert.equal(usageError(['--out-dir']), "option '--out-dir' needs a value (DIR)")
  assert.equal(usageError(['-o', '--tap']), "option '-o' needs a value (DIR); one that starts with '-' goes as --out-dir=DIR")
  assert.equal(usageError(['--tap=yes']), "option '--tap' takes no value")
  // A negative number is a value, and so is anything after --.
  assert.deepEqual(parse(['--bbox', '-75.1,39.9,-75,40']).options.bbox, [-75.1, 39.9, -75, 40])
  assert.deepEqual(parse(['--', '-o']).inputs, ['-o'])
  // -b is --bbox here, a band in GDAL's tools: a band given to it says where bands go.
  assert.match(usageError(['-b', '3']), /needs 4 numbers, got "3" \(-b is --bbox here; bands are --bands/)
  assert.deepEqual(readArguments(['-qc4', 'in.txt']).positionals, ['in.txt'])
})

test('-q: quiet, and no progress even if asked for', () => {
  const quiet = parse(['-q', '--progress'])
  assert.equal(quiet.quiet, true)
  assert.equal(quiet.progress, false)
  assert.equal(parse([]).quiet, false)
})

test("GDAL's variables lie beneath the command line: a flag given wins, headers merge per name, --config's pairs count as variables", () => {
  let seen: NodeJS.ProcessEnv | undefined
  const fake = (env: NodeJS.ProcessEnv): EnvironmentOptions => {
    seen = env
    return {
      options: { retries: 9, timeout: 7, headers: { 'X-A': 'from-env', 'X-B': 'from-env' }, proxy: 'http://127.0.0.1:1' },
      ignored: ['GDAL_HTTP_COOKIEFILE', 'GDAL_HTTP_AUTH']
    }
  }
  const config = parse(['--retries', '2', '-H', 'x-b: from-flag', '--config', 'GDAL_HTTP_TIMEOUT=5'], { PATH: '/bin', GDAL_HTTP_MAX_RETRY: '9' }, fake)
  assert.equal(seen?.GDAL_HTTP_MAX_RETRY, '9')
  assert.equal(seen?.GDAL_HTTP_TIMEOUT, '5', "--config's pair is read as the variable")
  assert.equal(config.options.retries, 2, 'the flag wins')
  assert.equal(config.options.timeout, 7, 'the environment fills what no flag gives')
  assert.equal(config.options.proxy, 'http://127.0.0.1:1')
  assert.deepEqual(config.options.headers, { 'x-a': 'from-env', 'x-b': 'from-flag' })
  assert.deepEqual(config.ignored, ['GDAL_HTTP_COOKIEFILE', 'GDAL_HTTP_AUTH'])
  assert.equal(ignoredWarning(config.ignored), 'rasterpipe: warning: ignoring GDAL_HTTP_COOKIEFILE, GDAL_HTTP_AUTH (no equivalent in rasterpipe)\n')
  assert.equal(ignoredWarning([]), undefined)
  // No flag for them: the environment's headers pass as they are.
  assert.deepEqual(parse([], {}, fake).options.headers, { 'X-A': 'from-env', 'X-B': 'from-env' })
})

test('--help: every line within 80 columns (never over 100), every option, an Environment section, each example once', () => {
  const help = helpText()
  const lines = help.split('\n')
  for (const line of lines) assert.ok(line.length <= 100, `over 100 columns: ${line}`)
  assert.deepEqual(lines.filter((l) => l.length > 80), [], 'every line within 80 columns')
  for (const o of OPTIONS) {
    for (const name of [`--${o.long}`, ...(o.aliases ?? []).map((a) => `--${a}`)]) assert.match(help, new RegExp(`${name}\\b`), `help lacks ${name}`)
  }
  const environment = help.slice(help.indexOf('\nEnvironment:\n'), help.indexOf('\nExit status:\n'))
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'NETRC', 'AWS_', 'AZURE_', 'GS_', 'GDAL_HTTP_', 'GDAL_CACHEMAX',
    'UV_THREADPOOL_SIZE', 'JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX']) {
    assert.ok(environment.includes(name), `Environment lacks ${name}`)
  }
  const commands = lines.filter((l) => /^ {2}\S/.test(l) && l.includes('rasterpipe '))
  assert.deepEqual(commands.filter((l, i) => commands.indexOf(l) !== i), [], 'no example twice')
})

test('man/rasterpipe.1 is what the option table makes (remake it with the command in lib/cli/manpage.ts)', () => {
  const committed = readFileSync(join(ROOT, 'man', 'rasterpipe.1'), 'utf8')
  assert.equal(committed, manPage())
  for (const name of spellings().keys()) assert.ok(committed.includes(name.replace(/-/g, '\\-')), `the man page lacks ${name}`)
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man: string[], files: string[] }
  assert.deepEqual(pkg.man, ['./man/rasterpipe.1'])
  assert.ok(pkg.files.includes('man'))
})
