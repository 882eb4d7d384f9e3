// Every code a record can carry is in the README's "Error codes" table, and every row there is a code the
// code can give: the table stays the list scripts can rely on. The codes are read from lib/ itself: the
// second argument of each `new RecordError(`, the network table's codes, HTTP_<status>, and the stages'
// fallback codes (lib/core/errors.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './support/run.js'
import { STAGE_CODES } from '../lib/core/errors.js'

const CODE = /^[A-Z][A-Z0-9_]*[A-Z0-9]$|^HTTP_<status>$/

function sources (dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((n) => n.endsWith('.ts')).map((n) => join(dir, n))
}

/** The codes a piece of lib's text gives records, with where each is given. */
export function codesIn (text: string): string[] {
  const codes: string[] = []
  // new RecordError(stage, CODE, …): the second argument, up to the comma before the message.
  for (const m of text.matchAll(/new RecordError\(\s*[^,]+,\s*([^,]+?),\s*(?:`|'|"|[a-z])/g)) {
    const arg = m[1]
    if (/^`HTTP_\$\{[a-z]+\}`$/.test(arg)) codes.push('HTTP_<status>')
    // A literal, or the literals a conditional picks between (not the ones it tests against).
    for (const lit of arg.matchAll(/(?:^|\?|:)\s*'([A-Z][A-Z0-9_]*[A-Z0-9])'/g)) codes.push(lit[1])
  }
  // A table of errors to codes: ['CODE', 'message', retryable].
  for (const m of text.matchAll(/\[\s*'([A-Z][A-Z0-9_]*[A-Z0-9])',\s*'[^']*',\s*(?:true|false)\s*\]/g)) codes.push(m[1])
  return codes
}

function libCodes (): Map<string, string[]> {
  const found = new Map<string, string[]>()
  const add = (code: string, where: string): void => { found.set(code, [...(found.get(code) ?? []), where]) }
  for (const file of sources(join(ROOT, 'lib'))) {
    for (const code of codesIn(readFileSync(file, 'utf8'))) add(code, file.slice(ROOT.length))
  }
  for (const [stage, code] of Object.entries(STAGE_CODES)) add(code, `lib/core/errors.ts (${stage})`)
  return found
}

/** The README's "Error codes" table: code to its stages. */
function readmeCodes (): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('\n### Error codes\n')
  assert.ok(start >= 0, 'README has a "### Error codes" section')
  const section = readme.slice(start + 1).split(/\n#{2,3} /)[0]
  const rows = new Map<string, string>()
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+)` \| ([^|]+) \| [^|]+ \|$/.exec(line)
    if (m) {
      assert.ok(!rows.has(m[1]), `README lists ${m[1]} twice`)
      rows.set(m[1], m[2].trim())
    }
  }
  return rows
}

test('the scan finds codes where lib gives them: literals, conditionals, HTTP_<status>, the network table', () => {
  assert.deepEqual(codesIn("throw new RecordError('fetch', 'NOT_FOUND', `x`)"), ['NOT_FOUND'])
  assert.deepEqual(codesIn("new RecordError('fetch', err.code === 'ENOENT' ? 'NOT_FOUND' : 'READ_FAILED', `${a}`)"), ['NOT_FOUND', 'READ_FAILED'])
  assert.deepEqual(codesIn("new RecordError('open', 'NOT_A_RASTER',\n  `${url}`)"), ['NOT_A_RASTER'])
  assert.deepEqual(codesIn('new RecordError(\'fetch\', `HTTP_${status}`, `${url}: …`, true)'), ['HTTP_<status>'])
  assert.deepEqual(codesIn("  ECONNRESET: ['CONNECTION_RESET', 'connection reset', true],"), ['CONNECTION_RESET'])
  // A code passed on (a moved error) is not a code of its own.
  assert.deepEqual(codesIn('new RecordError(stage, err.code, err.message, err.retryable)'), [])
})

test('every code lib/ gives a record is in the README\'s "Error codes" table, and every row is a code lib/ gives', () => {
  const lib = libCodes()
  const readme = readmeCodes()
  for (const code of lib.keys()) assert.match(code, CODE)
  assert.ok(lib.size > 40, `only ${lib.size} codes found in lib/: the scan is broken`)
  const missing = [...lib.keys()].filter((c) => !readme.has(c)).map((c) => `${c} (${lib.get(c)?.join(', ')})`)
  assert.deepEqual(missing, [], 'codes missing from the README\'s table')
  const stale = [...readme.keys()].filter((c) => !lib.has(c))
  assert.deepEqual(stale, [], 'rows of the README\'s table no code in lib/ gives')
  assert.ok(!lib.has('FAILED'), 'FAILED says nothing: each stage has its own code')
})
