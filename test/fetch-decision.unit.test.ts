// The fetch decision, as a table: from the mode asked, the URL, the probe's answer and the directories to
// what is done next.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decideFetch, learnHost, probeSize, PROBE_BYTES, RANGE_MIN_SIZE, type DirectoryFacts, type FetchFacts, type HostFacts, type ProbeFacts, type ProbeOutcome } from '../lib/source/decision.js'

const MB = 1024 * 1024
type Step = ReturnType<typeof decideFetch>

test('before any request: download at once, or probe', () => {
  const rows: [FetchFacts, Step][] = [
    [{ mode: 'download', imageTile: false }, 'download'],
    [{ mode: 'download', imageTile: true }, 'download'],
    [{ mode: 'auto', imageTile: true }, 'download'], // an image tile: one request for the whole of it
    [{ mode: 'auto', imageTile: false }, 'probe'],
    [{ mode: 'range', imageTile: true }, 'probe'], // asked for ranges: the probe says whether it is a TIFF
    [{ mode: 'range', imageTile: false }, 'probe']
  ]
  for (const [facts, expected] of rows) assert.equal(decideFetch(facts), expected, JSON.stringify(facts))
})

test('after the probe: done, download the rest, or read the directories', () => {
  const probe: ProbeFacts = { ranges: true, size: 10 * MB, head: 65536, validator: true, tiff: true }
  const rows: [FetchFacts['mode'], Partial<ProbeFacts>, Step][] = [
    ['auto', {}, 'directories'], // a large TIFF with a validator: a COG's case
    ['auto', { ranges: false }, 'done'], // 200: the server ignored Range and sent the file
    ['auto', { size: 30000, head: 30000 }, 'done'], // it fitted in the probe
    ['auto', { size: undefined }, 'download'], // unknown total: only to its end
    ['auto', { tiff: false }, 'download'],
    ['auto', { validator: false }, 'download'], // no way to tie ranges to one version
    ['auto', { size: RANGE_MIN_SIZE - 1 }, 'download'], // too small for ranges to pay
    ['auto', { size: RANGE_MIN_SIZE }, 'directories'],
    ['range', { validator: false }, 'WEAK_VALIDATOR'], // asked, but ranges of two versions could not be told apart
    ['range', { size: 200000 }, 'directories'],
    ['range', { tiff: false }, 'download'],
    ['range', { size: undefined }, 'download'],
    ['range', { ranges: false }, 'RANGE_UNSUPPORTED'] // asked for ranges, given the whole file: refused, not a download
  ]
  for (const [mode, change, expected] of rows) {
    assert.equal(decideFetch({ mode, imageTile: false, probe: { ...probe, ...change } }), expected, `${mode} ${JSON.stringify(change)}`)
  }
})

test('after the directories: range, download under auto, or an error under range', () => {
  const probe: ProbeFacts = { ranges: true, size: 10 * MB, head: 65536, validator: true, tiff: true }
  const rows: [FetchFacts['mode'], DirectoryFacts, Step][] = [
    ['auto', { layout: 'ok', structureBytes: 100000 }, 'range'],
    ['auto', { layout: 'ok', structureBytes: 6 * MB }, 'download'], // the structure is most of the file
    ['range', { layout: 'ok', structureBytes: 6 * MB }, 'range'],
    ['auto', { layout: 'outside-head', structureBytes: 0 }, 'download'], // a request per directory does not pay
    ['range', { layout: 'outside-head', structureBytes: 0 }, 'directories'], // asked: fetch them
    ['auto', { layout: 'unreadable', structureBytes: 0 }, 'download'],
    ['range', { layout: 'unreadable', structureBytes: 0 }, 'BAD_TIFF']
  ]
  for (const [mode, directories, expected] of rows) {
    assert.equal(decideFetch({ mode, imageTile: false, probe, directories }), expected, `${mode} ${JSON.stringify(directories)}`)
  }
})

test('a source that changed again after a fresh probe (or whose validator changes on every answer): auto downloads it whole, range refuses', () => {
  const rows: [FetchFacts['mode'], Step][] = [
    ['auto', 'download'],
    ['range', 'SOURCE_CHANGED']
  ]
  for (const [mode, expected] of rows) assert.equal(decideFetch({ mode, imageTile: false, changedTwice: true }), expected, mode)
})

test('the first request\'s size: a MiB under auto (a small file comes whole), shrinking to what a host\'s COG headers need, back once a small file needs two', () => {
  const KB = 1024
  const rows: [FetchFacts['mode'], HostFacts, number][] = [
    ['auto', {}, RANGE_MIN_SIZE], // nothing known of the host: every file under a MiB in one request
    ['auto', { headNeeded: 20 * KB }, PROBE_BYTES], // large tiled files with small headers: never under 64 KiB
    ['auto', { headNeeded: 100 * KB }, 200 * KB], // twice what the headers reached
    ['auto', { headNeeded: 3 * MB }, RANGE_MIN_SIZE], // never more than a MiB
    ['range', {}, PROBE_BYTES], // ranges asked for: only a header's worth
    ['range', { headNeeded: 300 * KB }, PROBE_BYTES],
    ['download', {}, PROBE_BYTES]
  ]
  for (const [mode, host, expected] of rows) assert.equal(probeSize(mode, host), expected, `${mode} ${JSON.stringify(host)}`)

  const learned: [HostFacts, ProbeOutcome, HostFacts][] = [
    [{}, { size: 10 * MB, head: MB, headNeeded: 30 * KB }, { headNeeded: 30 * KB }], // a COG read by ranges
    [{ headNeeded: 30 * KB }, { size: 10 * MB, head: 64 * KB, headNeeded: 50 * KB }, { headNeeded: 50 * KB }], // the most any needed
    [{ headNeeded: 50 * KB }, { size: 10 * MB, head: 100 * KB, headNeeded: 20 * KB }, { headNeeded: 50 * KB }],
    [{ headNeeded: 30 * KB }, { size: 500 * KB, head: 500 * KB }, { headNeeded: 30 * KB }], // a small file that fitted
    [{ headNeeded: 30 * KB }, { size: 500 * KB, head: 64 * KB }, {}], // a small file that needed two: back to a MiB
    [{ headNeeded: 30 * KB }, { size: 10 * MB, head: 64 * KB }, { headNeeded: 30 * KB }], // a large file downloaded: nothing learned
    [{ headNeeded: 30 * KB }, { head: 64 * KB }, { headNeeded: 30 * KB }] // an unknown size
  ]
  for (const [host, seen, expected] of learned) assert.deepEqual(learnHost(host, seen), expected, `${JSON.stringify(host)} ${JSON.stringify(seen)}`)
})
