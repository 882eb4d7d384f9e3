// The library speaks its own words: a message names an option by its key (`maxBytes`), and the CLI says
// the same message with the option's flag (`--max-bytes`), through every wrapping a message meets on its
// way to a record. And the library never ends the process: a fault that is not its own is the host's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { asRecordError, RecordError, UsageError } from '../lib/core/errors.js'
import { messageOf, option, reword, say, words } from '../lib/core/words.js'
import { sourceError } from '../lib/core/each-source.js'
import { tooLarge } from '../lib/http/errors.js'
import { tooManyPixels } from '../lib/raster/window.js'
import { resolveOptions } from '../lib/run/options.js'
import { toResult } from '../lib/run/finalize.js'
import { flagNames, inFlags } from '../lib/cli/flags.js'
import { newJob } from '../lib/input/parse.js'
import { makeJob } from '../lib/core/job.js'

test('a message names an option by key for the library and by flag for the CLI, values as each takes them', () => {
  const m = words`over ${option('maxBytes')} 10; ${option('fetch', 'auto')} downloads it; needs ${option('boundless', true)}; ${option('tempRoot')}`
  assert.equal(String(m), "over maxBytes 10; fetch: 'auto' downloads it; needs boundless: true; tempRoot")
  assert.equal(inFlags(m), 'over --max-bytes 10; --fetch auto downloads it; needs --boundless; tempRoot', 'a library-only option keeps its key')
  assert.equal(say('plain text', flagNames), 'plain text')
})

test('an error keeps its words through the wrappings on its way to a record: moved to a stage, a source named, a note added', () => {
  const err = tooLarge('http://h/a.tif', 20, 10)
  assert.equal(err.message, 'http://h/a.tif: body of 20 bytes is over maxBytes 10')
  assert.equal(inFlags(err), 'http://h/a.tif: body of 20 bytes is over --max-bytes 10')
  reword(err, (m) => `${m} (after 3 attempts)`)
  assert.equal(inFlags(err), 'http://h/a.tif: body of 20 bytes is over --max-bytes 10 (after 3 attempts)')
  const moved = asRecordError(err, 'blocks')
  assert.equal(moved.stage, 'blocks')
  assert.equal(inFlags(moved), 'http://h/a.tif: body of 20 bytes is over --max-bytes 10 (after 3 attempts)')
  const part = makeJob({ ...newJob(1, 'http://h/b.tif'), stackSource: { url: 'http://h/b.tif', bands: [], entry: 'http://h/b.tif', index: 1 } })
  const named = sourceError(part, 3, tooManyPixels(5, 5, 20, 'open'), 'open')
  assert.equal(named.message, 'source 2 of 3: http://h/b.tif: window of 5×5 = 25 pixels is over maxPixels 20')
  assert.equal(inFlags(named), 'source 2 of 3: http://h/b.tif: window of 5×5 = 25 pixels is over --max-pixels 20')
  const wrapped = new RecordError('input', 'BAD_RECORD', words`STAC document ${messageOf(moved)}`)
  assert.match(inFlags(wrapped), /^STAC document .* over --max-bytes 10 \(after 3 attempts\)$/)
  // A plain error's text is said as it is, changes made to it included.
  const plain = new RecordError('fetch', 'HTTP_404', 'http://h/c.tif: HTTP 404')
  plain.message += ' (after 2 attempts)'
  assert.equal(inFlags(plain), 'http://h/c.tif: HTTP 404 (after 2 attempts)')
})

test('a usage error names its option by key and says which option it is; the CLI says the flag', () => {
  const cases: Array<[Record<string, unknown>, string, string, string]> = [
    [{ maxBytes: 'lots' }, 'maxBytes', "maxBytes: 'lots' is not a size", "--max-bytes: 'lots' is not a size"],
    [{ creationOptions: ['nope'] }, 'creationOptions', "creationOptions: 'nope' is not NAME=VALUE", "--co: 'nope' is not NAME=VALUE"],
    [{ bboxCrs: 'EPSG:4326' }, 'bboxCrs', 'bboxCrs: needs bbox', '--bbox-crs: needs --bbox'],
    [{ window: { col: -1, row: 0, width: 1, height: 1 } }, 'window', 'window: negative offsets reach outside the raster and need boundless: true', '--window: negative offsets reach outside the raster and need --boundless'],
    [{ outSize: [0, 1] }, 'outSize', 'outSize: width and height must be more than 0, got 0,1', '--out-size: width and height must be more than 0, got 0,1']
  ]
  for (const [options, key, byKey, byFlag] of cases) {
    assert.throws(() => resolveOptions(options), (err: unknown) => {
      assert.ok(err instanceof UsageError)
      assert.equal(err.option, key)
      assert.ok(err.message.startsWith(byKey), err.message)
      assert.ok(inFlags(err).startsWith(byFlag), inFlags(err))
      return true
    })
  }
  assert.throws(() => resolveOptions({ res: [1, 1], outSize: [2, 2] }), (err: unknown) => err instanceof UsageError && err.message.startsWith('res and outSize cannot be used together') && inFlags(err).startsWith('--res and --out-size cannot'))
  assert.throws(() => resolveOptions({ optionNames: 'flags' as never }), /^UsageError: optionNames: must be a function/)
})

test('a result record names options as the run was asked to: by key unless told otherwise', () => {
  const job = newJob(4, 'http://h/a.tif')
  job.error = new RecordError('fetch', 'RANGE_UNSUPPORTED', words`${job.url}: ${option('fetch', 'range')} reads only ranges`)
  assert.equal(toResult(job).error?.message, "http://h/a.tif: fetch: 'range' reads only ranges")
  assert.equal(toResult(job, [], flagNames).error?.message, 'http://h/a.tif: --fetch range reads only ranges')
})

// A child process: an uncaught exception ends it, which is what is asked here.
function child (source: string): { status: number | null, stderr: string, stdout: string } {
  const guard = fileURLToPath(new URL('../lib/http/guard.js', import.meta.url))
  const script = `import { GuardedDispatcher } from ${JSON.stringify(guard)}\nimport { Agent } from 'undici'\n${source}`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) })
  return { status: r.status, stderr: r.stderr, stdout: r.stdout }
}

test('an exception that is not the HTTP client\'s ends a host with no handler of its own as Node would: printed, exit 1', () => {
  const r = child(`new GuardedDispatcher(() => new Agent(), () => undefined)
setImmediate(() => { throw new Error('the host failed on its own') })`)
  assert.equal(r.status, 1, r.stderr)
  assert.match(r.stderr, /Error: the host failed on its own/)
})

test('an exception that is not the HTTP client\'s goes to the host\'s own handler, and the host goes on', () => {
  const r = child(`const guard = new GuardedDispatcher(() => new Agent(), () => undefined)
process.on('uncaughtException', (err) => {
  process.stdout.write('host: ' + err.message + '\\n')
  setImmediate(() => { process.stdout.write('still running\\n'); void guard.close() })
})
setImmediate(() => { throw new Error('the host failed on its own') })`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, 'host: the host failed on its own\nstill running\n')
})

test('a host\'s own handler can tell the HTTP client\'s faults (the guard recovers from them) from its own', () => {
  const r = child(`import { isGuardedFault } from ${JSON.stringify(fileURLToPath(new URL('../lib/http/guard.js', import.meta.url)))}
const seen = []
let guard
process.on('uncaughtException', (err) => {
  seen.push(isGuardedFault() ? 'guarded: ' + err.message : 'host: ' + err.message)
  if (seen.length === 3) { process.stdout.write(JSON.stringify(seen)); void guard.close() }
})
// A client that throws from its own callback, as undici's parser did.
const client = () => ({ dispatch: () => { setImmediate(() => { throw new Error('inside') }); return true }, close: async () => {}, destroy: async () => {} })
guard = new GuardedDispatcher(client, () => { seen.push('recovered') })
guard.dispatch({ origin: 'http://127.0.0.1:9', path: '/', method: 'GET' }, {})
setImmediate(() => { throw new Error('outside') })`)
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), ['guarded: inside', 'recovered', 'host: outside'])
})
