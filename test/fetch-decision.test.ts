// The fetch decision, as a table: from the mode asked, the URL and the probe's answer to what is done.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { afterDirectories, afterProbe, firstStep, RANGE_MIN_SIZE, type ProbeFacts } from '../lib/source/decision.js'

const MB = 1024 * 1024

test('before any request: download at once, or probe', () => {
  const rows: [Parameters<typeof firstStep>, ReturnType<typeof firstStep>][] = [
    [['download', false], 'download'],
    [['download', true], 'download'],
    [['auto', true], 'download'], // an image tile: one request for the whole of it
    [['auto', false], 'probe'],
    [['range', true], 'probe'], // asked for ranges: the probe says whether it is a TIFF
    [['range', false], 'probe']
  ]
  for (const [args, expected] of rows) assert.equal(firstStep(...args), expected, JSON.stringify(args))
})

test('after the probe: done, download the rest, or range', () => {
  const base: ProbeFacts = { mode: 'auto', ranges: true, size: 10 * MB, head: 65536, validator: true, tiff: true }
  const rows: [Partial<ProbeFacts>, ReturnType<typeof afterProbe>][] = [
    [{}, 'range'], // a large TIFF with a validator: a COG's case
    [{ ranges: false }, 'done'], // 200: the server ignored Range and sent the file
    [{ size: 30000, head: 30000 }, 'done'], // it fitted in the probe
    [{ size: undefined }, 'download'], // unknown total: only to its end
    [{ tiff: false }, 'download'],
    [{ validator: false }, 'download'], // no way to tie ranges to one version
    [{ size: RANGE_MIN_SIZE - 1 }, 'download'], // too small for ranges to pay
    [{ size: RANGE_MIN_SIZE }, 'range'],
    [{ mode: 'range', validator: false }, 'range'], // asked: size checks still guard every range
    [{ mode: 'range', size: 200000 }, 'range'],
    [{ mode: 'range', tiff: false }, 'download'],
    [{ mode: 'range', size: undefined }, 'download'],
    [{ mode: 'range', ranges: false }, 'done']
  ]
  for (const [change, expected] of rows) assert.equal(afterProbe({ ...base, ...change }), expected, JSON.stringify(change))
})

test('after the directories: range, download under auto, or an error under range', () => {
  assert.equal(afterDirectories('auto', 'ok', 100000, 10 * MB), 'range')
  assert.equal(afterDirectories('auto', 'ok', 6 * MB, 10 * MB), 'download') // structure is most of the file
  assert.equal(afterDirectories('range', 'ok', 6 * MB, 10 * MB), 'range')
  assert.equal(afterDirectories('auto', 'unreadable', 0, 10 * MB), 'download')
  assert.equal(afterDirectories('range', 'unreadable', 0, 10 * MB), 'error')
})
