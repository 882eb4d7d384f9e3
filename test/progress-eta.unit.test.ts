// --progress's ETA: input files' lines counted on their bytes (none for stdin or a pipe), and the plain
// progress line with the total and an ETA once a record is done.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { countLines } from '../lib/cli/count-lines.js'
import { Progress } from '../lib/cli/progress.js'

test('countLines: lines with something on them in every file, a last line without its newline, nothing for stdin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rp-count-'))
  try {
    // The blank line and the one of spaces make no record: not counted.
    writeFileSync(join(dir, 'a'), 'x\ny\n\n \t\r\nz\n')
    writeFileSync(join(dir, 'b'), 'x\ny')
    writeFileSync(join(dir, 'c'), '')
    writeFileSync(join(dir, 'big'), 'r\n'.repeat(3_000_000))
    assert.equal(await countLines([join(dir, 'a')]), 3)
    assert.equal(await countLines([join(dir, 'a'), join(dir, 'b'), join(dir, 'c')]), 5)
    assert.equal(await countLines([join(dir, 'big')]), 3_000_000)
    assert.equal(await countLines([]), undefined)
    assert.equal(await countLines([join(dir, 'a'), '-']), undefined)
    assert.equal(await countLines([join(dir, 'missing')]), undefined)
    assert.equal(await countLines([dir]), undefined)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('Progress: the counted total and an ETA on the plain line; none without a count', () => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb() } })
  const p = new Progress(stream)
  p.expect(10)
  p.update(1, 1)
  assert.match(lines[0], /^rasterpipe \[1\/10\] records, ETA \d+s\n$/)
  p.update(10, 10)
  p.stop()
  assert.equal(lines.at(-1), 'rasterpipe [10/10] records\n')
  const other: string[] = []
  const q = new Progress(new Writable({ write (chunk: Buffer, _e, cb) { other.push(chunk.toString()); cb() } }))
  q.update(1, 3)
  assert.equal(other[0], 'rasterpipe [1/3] records\n')
})
