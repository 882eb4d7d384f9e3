// Unit tests of Stage: its concurrency limit, backpressure on both sides, out-of-order output, errors, pass-through and cancellation, driven by deferreds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { Stage, type StageOptions } from '../lib/run/stage.js'
import { RecordError } from '../lib/core/errors.js'
import type { Job } from '../lib/core/job.js'
import { Arrivals, bareJob, deferred, type Deferred } from './support/unit.js'

/** A stage whose every job waits on a deferred the test settles; `started` reports jobs as work begins. */
function controlled (options: Partial<StageOptions> & { limit: number }) {
  const work = new Map<number, Deferred<void>>()
  const started = new Arrivals<Job>()
  let active = 0
  let maxActive = 0
  const stage = new Stage({ name: 'read', ...options }, async (job) => {
    const d = deferred()
    work.set(job.line, d)
    active++
    maxActive = Math.max(maxActive, active)
    started.push(job)
    try {
      await d.promise
    } finally {
      active--
    }
  })
  const emitted = new Arrivals<Job>()
  const consume = (): void => { stage.on('data', (job: Job) => emitted.push(job)) }
  return {
    stage,
    started,
    emitted,
    /** Reads the stage's output as it comes (flowing mode). */
    consume,
    /** Reads the output, writes jobs 1..count and ends the input, then waits until `starts` of them are at work. */
    async feed (count: number, starts: number): Promise<void> {
      consume()
      for (let i = 1; i <= count; i++) stage.write(bareJob(i))
      stage.end()
      for (let i = 0; i < starts; i++) await started.next()
    },
    finish: (line: number) => work.get(line)?.resolve(),
    fail: (line: number, err: unknown) => work.get(line)?.reject(err),
    get maxActive () { return maxActive }
  }
}

const lines = (jobs: Job[]): number[] => jobs.map((j) => j.line)

test('never more than `limit` jobs at work; a finished job frees its slot for the next', async () => {
  const c = controlled({ limit: 3 })
  c.consume()
  for (let i = 1; i <= 10; i++) c.stage.write(bareJob(i))
  c.stage.end()
  for (let i = 1; i <= 3; i++) assert.equal((await c.started.next()).line, i)
  assert.equal(c.started.seen.length, 3, 'a fourth job waits for a slot')
  for (let i = 1; i <= 10; i++) {
    c.finish(i)
    assert.equal((await c.emitted.next()).line, i)
    if (i + 3 <= 10) assert.equal((await c.started.next()).line, i + 3, 'the freed slot takes the next job')
  }
  await once(c.stage, 'end')
  assert.equal(c.maxActive, 3)
})

test('while full it takes no input: the write callback is held until a job finishes', async () => {
  const c = controlled({ limit: 2 })
  c.consume()
  // Each write's callback reports its line: that is the stage taking the job off the input side.
  const taken = new Arrivals<number>()
  for (let i = 1; i <= 5; i++) c.stage.write(bareJob(i), () => taken.push(i))
  c.stage.end()
  assert.equal(await taken.next(), 1)
  await c.started.next()
  await c.started.next()
  assert.deepEqual(taken.seen, [1], 'job 2 took the last slot: its callback, and so all input after it, waits')
  assert.equal(c.started.seen.length, 2)
  c.finish(2)
  assert.equal((await c.emitted.next()).line, 2)
  assert.equal(await taken.next(), 2, 'a finished job lets the held write go')
  assert.equal((await c.started.next()).line, 3, 'and the slot freed takes job 3')
  for (const [line, next] of [[1, 4], [3, 5]]) {
    c.finish(line)
    await c.emitted.next()
    assert.equal((await c.started.next()).line, next)
  }
  c.finish(4)
  c.finish(5)
  await once(c.stage, 'end')
  assert.deepEqual(lines(c.emitted.seen), [2, 1, 3, 4, 5])
})

test('finished jobs are emitted in the order they finish, not the order they came', async () => {
  const c = controlled({ limit: 4 })
  await c.feed(4, 4)
  for (const line of [3, 1, 4, 2]) {
    c.finish(line)
    assert.equal((await c.emitted.next()).line, line)
  }
  await once(c.stage, 'end')
})

test('an unread output side stalls the stage at its highWaterMark, and reading resumes it', async () => {
  // Work that finishes at once: only the unread output can hold the stage back.
  const started: number[] = []
  const stage = new Stage({ name: 'write', limit: 2 }, async (job) => { started.push(job.line) })
  for (let i = 1; i <= 10; i++) stage.write(bareJob(i))
  stage.end()
  await stage.idle()
  assert.ok(stage.readableLength >= stage.readableHighWaterMark, `${stage.readableLength} outputs buffered`)
  assert.ok(started.length <= stage.readableHighWaterMark + 1, `${started.length} jobs started with nobody reading`)
  const stalledAt = started.length
  const out: number[] = []
  for await (const job of stage as AsyncIterable<Job>) out.push(job.line)
  assert.ok(stalledAt < 10)
  assert.deepEqual(out, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
})

test('errors become RecordErrors of the stage: a plain one with the stage\'s own code (READ_FAILED), another stage\'s keeping its code', async () => {
  const c = controlled({ limit: 2 })
  await c.feed(2, 2)
  c.fail(1, new Error('boom'))
  const fetchErr = new RecordError('fetch', 'HTTP_503', 'service unavailable', true)
  fetchErr.retryAfter = 7
  c.fail(2, fetchErr)
  const jobs = [await c.emitted.next(), await c.emitted.next()].sort((a, b) => a.line - b.line)
  assert.deepEqual(jobs[0].error?.toJSON(), { stage: 'read', code: 'READ_FAILED', message: 'boom', retryable: false })
  assert.deepEqual(jobs[1].error?.toJSON(), { stage: 'read', code: 'HTTP_503', message: 'service unavailable', retryable: true })
  assert.equal(jobs[1].error?.retryAfter, 7)
  // Timed all the same.
  for (const job of jobs) assert.equal(typeof job.ms.read, 'number')
  await once(c.stage, 'end')
})

test('job.ms[name] records how long the work took', async () => {
  const c = controlled({ limit: 1 })
  // Bounds the test sees itself, whatever the machine's load: the work ran for at least the span from
  // its start being seen to its finish being raised, and at most from before the feed to the record.
  const beforeFeed = performance.now()
  await c.feed(1, 1)
  const started = performance.now()
  // The work ends on an event the test raises after a known interval, not on a guessed sleep.
  await new Promise<void>((resolve) => setTimeout(resolve, 30))
  const finishing = performance.now()
  c.finish(1)
  const job = await c.emitted.next()
  const least = finishing - started
  const most = performance.now() - beforeFeed
  // ms.read is rounded to a whole millisecond: half of one either way.
  assert.ok(typeof job.ms.read === 'number' && job.ms.read >= least - 0.5 && job.ms.read <= most + 0.5, `ms.read ${job.ms.read}, between ${least} and ${most}`)
  await once(c.stage, 'end')
})

test('jobs that do not apply, already failed, or were skipped pass through untimed, with no work', async () => {
  const c = controlled({ limit: 1, applies: (job) => job.line !== 2 })
  c.consume()
  const failed = new RecordError('fetch', 'HTTP_404', 'not found')
  c.stage.write(bareJob(1, { error: failed }))
  c.stage.write(bareJob(2))
  c.stage.write(bareJob(3, { status: 'skipped' }))
  c.stage.write(bareJob(4))
  c.stage.end()
  assert.equal((await c.started.next()).line, 4)
  // The three ask for no work: they are out while job 4 still holds the only slot.
  assert.deepEqual(lines([await c.emitted.next(), await c.emitted.next(), await c.emitted.next()]), [1, 2, 3])
  c.finish(4)
  assert.equal((await c.emitted.next()).line, 4)
  await once(c.stage, 'end')
  const [j1, j2, j3, j4] = [...c.emitted.seen].sort((a, b) => a.line - b.line)
  assert.equal(j1.error, failed, 'an earlier error is kept as it was')
  for (const j of [j1, j2, j3]) assert.deepEqual(j.ms, {}, `job ${j.line} untimed`)
  assert.equal(j3.status, 'skipped')
  assert.equal(typeof j4.ms.read, 'number')
})

test('once the signal aborts, jobs not started pass as CANCELLED errors; those at work finish', async () => {
  const abort = new AbortController()
  const c = controlled({ limit: 1, signal: abort.signal })
  await c.feed(3, 1)
  abort.abort()
  c.finish(1)
  const out = [await c.emitted.next(), await c.emitted.next(), await c.emitted.next()]
  await once(c.stage, 'end')
  assert.deepEqual(lines(out), [1, 2, 3])
  assert.equal(out[0].error, undefined, 'the job at work when the run was cancelled finishes')
  for (const job of out.slice(1)) {
    assert.ok(job.error instanceof RecordError)
    assert.equal(job.error.stage, 'read')
    assert.equal(job.error.code, 'CANCELLED')
    assert.deepEqual(job.ms, {}, 'no work, no timing')
  }
  assert.equal(c.started.seen.length, 1)
})

test('end() waits for the jobs at work: "end" comes after the last of them', async () => {
  const c = controlled({ limit: 2 })
  await c.feed(2, 2)
  let ended = false
  const end = once(c.stage, 'end').then(() => { ended = true })
  c.finish(2)
  await c.emitted.next()
  assert.equal(ended, false, 'one job is still at work')
  c.finish(1)
  await end
  assert.deepEqual(lines(c.emitted.seen), [2, 1])
})
