// Input handling: the line splitter and the record parser, on their own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { LineSplitter, type RawLine } from '../lib/input/lines.js'
import { parseItem } from '../lib/input/parse.js'
import { resolveOptions } from '../lib/run/options.js'

async function split (chunks: Buffer[], max = 64): Promise<RawLine[]> {
  const out: RawLine[] = []
  for await (const l of Readable.from(chunks).pipe(new LineSplitter(max))) out.push(l as RawLine)
  return out
}

test('lines: numbered, CRLF stripped, last line without newline kept, split chunks joined', async () => {
  const lines = await split([Buffer.from('a\r\nb'), Buffer.from('c\n\nd')])
  assert.deepEqual(lines, [{ line: 1, text: 'a' }, { line: 2, text: 'bc' }, { line: 3, text: '' }, { line: 4, text: 'd' }])
})

test('lines: an over-long line becomes a problem naming its length; the next line is still read', async () => {
  const lines = await split([Buffer.from('x'.repeat(50)), Buffer.from('y'.repeat(50) + '\nok\n')], 64)
  assert.equal(lines.length, 2)
  assert.match(lines[0].problem ?? '', /longer than the maximum of 64 bytes \(100 bytes\)/)
  assert.deepEqual(lines[1], { line: 2, text: 'ok' })
})

test('lines: invalid UTF-8 is a problem, not mojibake', async () => {
  const lines = await split([Buffer.from([0x61, 0xff, 0xfe, 0x0a, 0x62, 0x0a])])
  assert.match(lines[0].problem ?? '', /UTF-8/)
  assert.deepEqual(lines[1], { line: 2, text: 'b' })
})

test('parse: blank lines are skipped; bare URLs, paths and records become jobs', () => {
  const o = resolveOptions({ outDir: 'out' })
  assert.equal(parseItem('   ', 1, o, '.tif'), null)
  const bare = parseItem('https://example.org/a/scene.tif', 2, o, '.tif')
  assert.equal(bare?.error, undefined)
  assert.equal(bare?.url, 'https://example.org/a/scene.tif')
  assert.match(bare?.output ?? '', /^out\/scene-[0-9a-f]{12}\.tif$/)
  const rec = parseItem('{"url": "b.tif", "id": 7, "window": [1, 2, 3, 4], "bands": [2], "out": "x/y.tif"}', 3, o, '.tif')
  assert.equal(rec?.id, '7')
  assert.deepEqual(rec?.request.window, { col: 1, row: 2, width: 3, height: 4 })
  assert.deepEqual(rec?.request.bands, [2])
  assert.equal(rec?.output, 'out/x/y.tif')
})

test('parse: default names differ for different windows of one URL and repeat for the same', () => {
  const o = resolveOptions({ outDir: 'out' })
  const name = (w: number[]): string | undefined => parseItem(JSON.stringify({ url: 'http://h/a.tif', window: w }), 1, o, '.tif')?.output
  assert.notEqual(name([0, 0, 8, 8]), name([8, 0, 8, 8]))
  assert.equal(name([0, 0, 8, 8]), name([0, 0, 8, 8]))
})

test('parse: every bad record becomes an input error naming the problem', () => {
  const o = resolveOptions({ outDir: 'out' })
  const cases: [string, RegExp][] = [
    ['{"url": ', /invalid JSON/],
    ['[1]', /array/],
    ['"a string"', /not string/],
    ['{"id": 1}', /no "url"/],
    ['ftp://h/a.tif', /scheme 'ftp:'/],
    ['javascript:alert(1)', /scheme 'javascript:'/],
    ['data:image/tiff;base64,AAAA', /scheme 'data:'/],
    ['{"url": "a.tif", "out": "../escape.tif"}', /may not leave/],
    ['{"url": "a.tif", "out": "/etc/passwd"}', /absolute/],
    ['{"url": "a.tif", "window": [-1, 0, 5, 5]}', /offsets must be 0 or more/],
    ['{"url": "a.tif", "window": [0, 0, 0, 5]}', /more than 0/],
    ['{"url": "a.tif", "window": [0.5, 0, 5, 5]}', /whole number/],
    ['{"url": "a.tif", "bands": [0]}', /not a band number/],
    ['{"url": "a.tif", "bbox": [10, 10, 0, 20]}', /MINX < MAXX/],
    ['{"url": "a.tif", "colour": "red"}', /unknown field "colour"/]
  ]
  for (const [text, pattern] of cases) {
    const job = parseItem(text, 9, o, '.tif')
    assert.equal(job?.line, 9)
    assert.equal(job?.error?.stage, 'input', text)
    assert.match(job?.error?.message ?? '', pattern, text)
  }
})
