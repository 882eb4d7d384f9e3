// Interruption: the first SIGINT stops reading input, finishes or aborts what is in flight, prints every
// record, removes temp files and exits 130; a rerun with --skip-existing completes the rest.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { startServer, type RasterServer } from './support/server.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { loadGdal } from '../lib/raster/gdal.js'

const gdal = loadGdal()
let server: RasterServer
let dir: string

before(async () => {
  server = await startServer(FIXTURES)
  server.latency = 60
  dir = scratch()
})
after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

const N = 200
const batch = (): string => Array.from({ length: N }, (_, i) => `${server.url('int16-small.tif')}?n=${i}`).join('\n') + '\n'
const args = (out: string): string[] => ['-o', out, '-c', '4', '-w', '0,0,128,128']

function outputs (out: string): string[] {
  return (readdirSync(out) as string[]).sort()
}

function interruptAfter (records: number, signals: NodeJS.Signals[]) {
  let signalledAt = 0
  return {
    get signalledAt () { return signalledAt },
    started: (child: import('node:child_process').ChildProcess) => {
      let seen = 0
      child.stdout?.on('data', (d: Buffer) => {
        seen += d.toString().split('\n').length - 1
        if (seen >= records && signalledAt === 0) {
          signalledAt = Date.now()
          signals.forEach((s, i) => setTimeout(() => child.kill(s), i * 100))
        }
      })
    }
  }
}

test('SIGINT mid-batch: exit 130 within 5 s, whole records and outputs; --skip-existing finishes the rest', async () => {
  const clean = join(dir, 'clean')
  const cleanRun = await runCli(args(clean), { stdin: batch() })
  assert.equal(cleanRun.code, 0, cleanRun.stderr)
  assert.equal(outputs(clean).length, N)

  const out = join(dir, 'interrupted')
  const trigger = interruptAfter(20, ['SIGINT'])
  const run = await runCli(args(out), { stdin: batch(), started: trigger.started })
  const exitedAfter = Date.now() - trigger.signalledAt
  assert.equal(run.code, 130, run.stderr)
  assert.ok(exitedAfter < 5000, `exited ${exitedAfter} ms after SIGINT`)
  assert.ok(run.records.length >= 20 && run.records.length < N, `${run.records.length} records`)
  assert.ok(run.stdout.endsWith('\n'), 'the last record is a whole line')
  assert.match(run.stderr, /SIGINT/)
  const present = outputs(out)
  assert.deepEqual(present.filter((n) => n.includes('.part')), [])
  for (const name of present) {
    const ds = gdal.open(join(out, name))
    assert.deepEqual(ds.rasterSize, { x: 128, y: 128 }, name)
    ds.close()
  }
  const okOutputs = run.records.filter((r) => r.status === 'ok').map((r) => (r.output as string).split('/').pop()).sort()
  assert.deepEqual(okOutputs, present, 'every ok record has its output, and every output its record')

  const rerun = await runCli([...args(out), '--skip-existing'], { stdin: batch() })
  assert.equal(rerun.code, 0, rerun.stderr)
  assert.equal(rerun.records.length, N)
  assert.equal(rerun.records.filter((r) => r.status === 'skipped').length, present.length)
  assert.equal(rerun.records.filter((r) => r.status === 'skipped' && r.bytes > 0).length, 0, 'skipped records fetch nothing')
  assert.deepEqual(outputs(out), outputs(clean))
  for (const name of outputs(clean)) {
    assert.ok(readFileSync(join(out, name)).equals(readFileSync(join(clean, name))), `${name} differs from the clean run's`)
  }
})

test('a second signal exits at once, still leaving no temp or partial file', async () => {
  const out = join(dir, 'twice')
  const trigger = interruptAfter(10, ['SIGTERM', 'SIGTERM'])
  const run = await runCli(args(out), { stdin: batch(), started: trigger.started })
  assert.equal(run.code, 143, `code ${run.code}, signal ${run.signal}: ${run.stderr}`)
  // Not by closing datasets under GDAL's calls (gdal-async blocks on them; GDAL could crash under them).
  assert.doesNotMatch(run.stderr, /Closing a dataset while background async operations/)
  assert.ok(Date.now() - trigger.signalledAt < 3000)
  assert.deepEqual(outputs(out).filter((n) => n.includes('.part')), [])
  for (const line of run.stdout.split('\n').filter((l) => l !== '')) JSON.parse(line)
})
