// The fetch decision, as a table: from the mode asked, the URL, the probe's answer and the directories to
// what is done next.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decideFetch, learnHost, probeSize, PROBE_BYTES, RANGE_MIN_SIZE, WHOLE_FIRST_MAX, type DirectoryFacts, type FetchFacts, type HostFacts, type ProbeFacts, type ProbeOutcome } from '../lib/source/decision.js'

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
    [{}, { size: 10 * MB, head: MB, headNeeded: 30 * KB }, { sizes: [10 * MB], headNeeded: 30 * KB }], // a COG read by ranges
    [{ headNeeded: 30 * KB }, { size: 10 * MB, head: 64 * KB, headNeeded: 50 * KB }, { sizes: [10 * MB], headNeeded: 50 * KB }], // the most any needed
    [{ headNeeded: 50 * KB }, { size: 10 * MB, head: 100 * KB, headNeeded: 20 * KB }, { sizes: [10 * MB], headNeeded: 50 * KB }],
    [{ headNeeded: 30 * KB }, { size: 500 * KB, head: 500 * KB }, { sizes: [500 * KB], headNeeded: 30 * KB }], // a small file that fitted
    [{ headNeeded: 30 * KB }, { size: 500 * KB, head: 64 * KB }, { sizes: [500 * KB] }], // a small file that needed two: back to a MiB
    [{ headNeeded: 30 * KB }, { size: 10 * MB, head: 64 * KB }, { sizes: [10 * MB], headNeeded: 30 * KB }], // a large file downloaded: no header learned
    [{ headNeeded: 30 * KB }, { head: 64 * KB }, { headNeeded: 30 * KB }], // an unknown size
    // Times: the wait for the answer always; the speed only of a body of at least PROBE_BYTES.
    [{}, { size: 2 * MB, head: MB, answerMs: 50, bodyMs: 4 }, { sizes: [2 * MB], answerMs: [50], bytesPerMs: [MB / 4] }],
    [{}, { size: 2 * MB, head: 10 * KB, answerMs: 50, bodyMs: 1 }, { sizes: [2 * MB], answerMs: [50] }],
    // Eight of each remembered, the oldest dropped.
    [{ sizes: [1, 2, 3, 4, 5, 6, 7, 8] }, { size: 9, head: 9 }, { sizes: [2, 3, 4, 5, 6, 7, 8, 9] }]
  ]
  for (const [host, seen, expected] of learned) assert.deepEqual(learnHost(host, seen), expected, `${JSON.stringify(host)} ${JSON.stringify(seen)}`)
})

test('a whole file in the first request where its bytes cost less than the round trip a second would: files of a few MB far away, not near, never large ones', () => {
  const KB = 1024
  // 2.5 MB at 250 bytes/ms (250 MB/s): 10 ms on the wire and 7.5 ms of CPU, against a 50 ms round trip.
  const far: HostFacts = { sizes: [2 * MB, 2.5 * MB], answerMs: [80, 50, 60], bytesPerMs: [100 * KB, 250 * KB] }
  const rows: [string, FetchFacts['mode'], HostFacts, number][] = [
    ['50 ms away, files of 2.5 MB: the largest whole', 'auto', far, 2.5 * MB],
    ['the same with a COG header known: still whole', 'auto', { ...far, headNeeded: 30 * KB }, 2.5 * MB],
    ['1 ms away: the round trip is cheaper than the bytes', 'auto', { ...far, answerMs: [1, 40] }, RANGE_MIN_SIZE],
    ['under WHOLE_FIRST_MIN_MS, however fast the host', 'auto', { sizes: [300 * KB], answerMs: [15], bytesPerMs: [100 * MB] }, RANGE_MIN_SIZE],
    ['a slow host (10 MB/s): 250 ms of transfer', 'auto', { ...far, bytesPerMs: [10 * KB] }, RANGE_MIN_SIZE],
    ['files over WHOLE_FIRST_MAX: never whole', 'auto', { ...far, sizes: [2 * MB, 14 * MB], answerMs: [10000] }, RANGE_MIN_SIZE],
    ['small files whole: the first request is still a MiB', 'auto', { ...far, sizes: [300 * KB] }, RANGE_MIN_SIZE],
    ['no speed known yet', 'auto', { sizes: [2 * MB], answerMs: [50] }, RANGE_MIN_SIZE],
    ['under range: only a header', 'range', far, PROBE_BYTES]
  ]
  for (const [what, mode, host, expected] of rows) assert.equal(probeSize(mode, host), expected, what)
  assert.ok(WHOLE_FIRST_MAX >= 4 * MB)
})
