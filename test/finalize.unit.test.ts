// The last stage: a job whose release fails still leaves as its one record, and says so through the
// run's warnings (printed as `rasterpipe: warning: …`), not as a Node process warning.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { Finalize } from '../lib/run/finalize.js'
import { newJob } from '../lib/input/parse.js'
import type { LocalSource } from '../lib/core/job.js'

test('a release that fails is a run warning (redacted), not a process warning, and the record still comes out', async () => {
  const warnings: string[] = []
  const processWarnings: Error[] = []
  const onProcessWarning = (w: Error): void => { processWarnings.push(w) }
  process.on('warning', onProcessWarning)
  try {
    const finalize = new Finalize(() => undefined, ['Zq9headerXw'], (m) => warnings.push(m))
    const job = newJob(7, 'http://127.0.0.1:9/a.tif?token=Zq9tokenXw')
    job.fetched = { kind: 'download', local: { release: () => Promise.reject(new Error('EBUSY: cannot remove (Zq9headerXw)')) } as unknown as LocalSource }
    finalize.write(job)
    const [record] = await once(finalize, 'data') as [{ line: number, status: string }]
    assert.equal(record.line, 7)
    assert.deepEqual(warnings, ['could not release line 7: EBUSY: cannot remove (REDACTED)'])
    // A process warning is emitted on the next tick: give it the chance to arrive before looking.
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(processWarnings, [])
  } finally {
    process.off('warning', onProcessWarning)
  }
})

test('destroyed before its end, it calls onCancel inside destroy() itself; a normal end does not', async () => {
  const early = new Finalize(() => undefined)
  let cancels = 0
  early.onCancel = () => { cancels++ }
  early.write(newJob(1, '/tmp/a.tif'))
  early.destroy()
  assert.equal(cancels, 1, 'within destroy(), not a tick later')

  const whole = new Finalize(() => undefined)
  whole.onCancel = () => { cancels++ }
  whole.end(newJob(2, '/tmp/b.tif'))
  const records: unknown[] = []
  // The iteration destroys the stream after its end, as a consumer's for await does.
  for await (const r of whole) records.push(r)
  assert.ok(whole.destroyed)
  assert.equal(records.length, 1)
  assert.equal(cancels, 1, 'no cancel after the last record')
})
