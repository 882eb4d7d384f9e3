// The per-host limit (lib/http/host-limit.ts) against simulated servers, in simulated milliseconds (ticks,
// no clock): records go through the limit as the dispatcher sends them, a throttled request is retried
// after a backoff, and the server answers as its model says. Each scenario bounds the throttling answers
// and checks that the limit settles near the server's level: a hard limit on requests in flight (503
// beyond it), a soft knee (no refusal, but requests beyond it queue, so answers slow down) and a hard
// limit that changes mid-run.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HostLimit } from '../lib/http/host-limit.js'

interface Answer { at: number, status: number }

/** A server model: when a request sent at `now` is answered, and how. */
interface Server { arrive: (now: number) => Answer }

/** 503 at once beyond `capacity(now)` requests in flight; the others served after `latency` ticks. */
function hardLimit (capacity: (now: number) => number, latency = 20): Server {
  let ends: number[] = []
  return {
    arrive: (now) => {
      ends = ends.filter((end) => end > now)
      if (ends.length >= capacity(now)) return { at: now + 1, status: 503 }
      ends.push(now + latency)
      return { at: now + latency, status: 200 }
    }
  }
}

/** Never refuses: `workers` requests at a time take `latency` ticks each, the others wait their turn. */
function softKnee (workers: number, latency = 20): Server {
  const free = new Array<number>(workers).fill(0)
  return {
    arrive: (now) => {
      const w = free.indexOf(Math.min(...free))
      free[w] = Math.max(now, free[w]) + latency
      return { at: free[w], status: 200 }
    }
  }
}

interface Run { throttled: number, host: HostLimit, limits: number[] }

/**
 * `records` records, `cap` at a time (-c), each one request, retried `backoff` ticks after a 503. The
 * limit is sampled every `latency` ticks into `limits`.
 */
function simulate (server: Server, { records = 500, cap = 64, backoff = 50, sample = 20 } = {}): Run {
  const host = new HostLimit({ cap, adaptive: true })
  const events = new Map<number, Array<() => void>>()
  let now = 0
  const at = (tick: number, fn: () => void): void => {
    const list = events.get(tick)
    if (list) list.push(fn)
    else events.set(tick, [fn])
  }
  let waiting = records
  let done = 0
  const send = (): void => {
    host.enqueue((seq) => {
      const sentAt = now
      const answer = server.arrive(now)
      at(answer.at, () => {
        host.respond(answer.status, undefined, undefined, { seq, rttMs: now - sentAt })
        host.release()
        if (answer.status === 503) at(now + backoff, send)
        else if (waiting > 0) { waiting--; send() } else done++
      })
    }, () => assert.fail('nothing is dropped'))
  }
  for (; waiting > records - cap && waiting > 0;) { waiting--; send() }
  const limits: number[] = []
  while (done < Math.min(cap, records)) {
    for (const fn of events.get(now) ?? []) fn()
    events.delete(now)
    if (now % sample === 0) limits.push(host.limit)
    now++
    assert.ok(now < 10_000_000, 'the run ends')
  }
  return { throttled: host.figures().throttled, host, limits }
}

const tail = (limits: number[]): number[] => limits.slice(Math.floor(limits.length / 2))
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

test('a hard limit of 8 in flight, -c 64, 500 records: few 503s, and the limit stays near 8', () => {
  const run = simulate(hardLimit(() => 8))
  const late = tail(run.limits)
  console.log(`hard 8: ${run.throttled} throttled, ${JSON.stringify(run.host.figures())}, late limit ${Math.min(...late)}–${Math.max(...late)} (mean ${mean(late).toFixed(1)})`)
  assert.ok(run.throttled < 40, `${run.throttled} throttled`)
  assert.ok(Math.min(...late) >= 4 && Math.max(...late) <= 12, `late limits ${late.join(' ')}`)
})

test('a hard limit of 30, -c 64, 2000 records: the limit stays near 30', () => {
  const run = simulate(hardLimit(() => 30), { records: 2000 })
  const late = tail(run.limits)
  console.log(`hard 30: ${run.throttled} throttled, ${JSON.stringify(run.host.figures())}, late limit ${Math.min(...late)}–${Math.max(...late)} (mean ${mean(late).toFixed(1)})`)
  assert.ok(run.throttled < 100, `${run.throttled} throttled`)
  assert.ok(Math.min(...late) >= 18 && Math.max(...late) <= 36, `late limits ${late.join(' ')}`)
})

test('a soft knee at 20 (beyond it requests queue): no refusal, and the limit stops growing near the knee, not at the cap', () => {
  const run = simulate(softKnee(20), { records: 2000, cap: 256 })
  const late = tail(run.limits)
  console.log(`knee 20: ${JSON.stringify(run.host.figures())}, late limit ${Math.min(...late)}–${Math.max(...late)} (mean ${mean(late).toFixed(1)})`)
  assert.equal(run.throttled, 0)
  assert.ok(Math.min(...late) >= 20 && Math.max(...late) <= 48, `late limits ${late.join(' ')}`)
})

test('a hard limit that falls from 32 to 8 and rises to 24 mid-run: the limit follows it each way', () => {
  const capacity = (now: number): number => now < 2000 ? 32 : now < 5000 ? 8 : 24
  const run = simulate(hardLimit(capacity), { records: 10_000 })
  const phase = (from: number, to: number): number[] => run.limits.slice(from / 20, to / 20)
  const [high, low, again] = [phase(1000, 2000), phase(4000, 5000), phase(7000, 8000)]
  console.log(`32→8→24: ${run.throttled} throttled, ${JSON.stringify(run.host.figures())}, means ${[high, low, again].map((p) => mean(p).toFixed(1)).join(', ')}`)
  assert.ok(run.throttled < 300, `${run.throttled} throttled`)
  assert.ok(mean(high) >= 22 && mean(high) <= 36, `at 32: ${high.join(' ')}`)
  assert.ok(mean(low) >= 5 && mean(low) <= 11, `at 8: ${low.join(' ')}`)
  assert.ok(mean(again) >= 16 && mean(again) <= 28, `at 24: ${again.join(' ')}`)
})
