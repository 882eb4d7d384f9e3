// How a run ends when it is not by the last record: a signal while waiting on stdin, stdout closed early
// (`| head -1`), and a library consumer that stops reading. Each must leave no temp file, no partial
// output, no output written after the moment it stopped, and no alarming message.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { useServer } from './support/context.js'
import { FIXTURES, runCli, scratch } from './support/run.js'
import { rasterPipeline, type ResultRecord } from '../lib/index.js'
import { loadGdal } from '../lib/raster/gdal.js'
import type { StatsJson } from '../lib/cli/summary.js'

const ctx = useServer()
const gdal = loadGdal()
const SOURCE = join(FIXTURES, 'rgb-byte-tiled.tif')

/** Calls `then` once the child has printed `count` whole lines on stdout. */
function afterLines (count: number, then: (child: ChildProcess) => void) {
  return (child: ChildProcess): void => {
    let seen = 0
    let fired = false
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString().split('\n').length - 1
      if (seen >= count && !fired) { fired = true; then(child) }
    })
  }
}

for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  test(`${sig} while waiting on stdin: exit ${code}, with the summary and the --stats file`, async () => {
    const stats = join(ctx.dir, `stdin-${sig}.json`)
    // One record, then stdin stays open: once its result is out, rasterpipe is waiting for input.
    const run = await runCli(['-o', join(ctx.dir, `stdin-${sig}`), '--stats', stats, '--no-progress'], {
      stdin: ctx.server.url('int16-small.tif') + '\n',
      stdinOpen: true,
      started: afterLines(1, (child) => child.kill(sig)),
      timeoutMs: 20_000
    })
    assert.equal(run.code, code, run.stderr)
    assert.equal(run.records.length, 1)
    assert.equal(run.records[0].status, 'ok')
    assert.match(run.stderr, /1 record in .*1 ok, 0 failed, 0 skipped/)
    const s = JSON.parse(readFileSync(stats, 'utf8')) as StatsJson
    assert.equal(s.records, 1)
  })
}

test('stdout closed early (| head -1): exit 141, nothing on stderr, no temp or partial file, input no longer taken', async () => {
  const out = join(ctx.dir, 'head')
  const input = Array.from({ length: 400 }, (_, i) => JSON.stringify({ url: SOURCE, window: [i % 900, 0, 64, 64] })).join('\n') + '\n'
  const run = await runCli(['-o', out, '-c', '4'], {
    stdin: input,
    // As `head -1` does: read one line, then close the pipe.
    started: afterLines(1, (child) => child.stdout?.destroy())
  })
  assert.equal(run.code, 141, run.stderr)
  assert.equal(run.stderr, '', 'nothing alarming (nor anything else) on stderr')
  const written = existsSync(out) ? readdirSync(out) : []
  assert.deepEqual(written.filter((n) => n.includes('.part')), [])
  assert.ok(written.length < 100, `${written.length} of 400 outputs written after stdout closed`)
  for (const name of written) {
    const ds = gdal.open(join(out, name))
    assert.deepEqual(ds.rasterSize, { x: 64, y: 64 })
    ds.close()
  }
})

/** A library run over slow HTTP that the consumer leaves after `after` records, by `stop`. */
async function stopEarly (stop: 'break' | 'destroy'): Promise<void> {
  const outDir = join(ctx.dir, `consumer-${stop}`)
  const tempRoot = scratch('rp-consumer-')
  ctx.server.latency = 40
  try {
    const pipeline = rasterPipeline({ outDir, tempRoot, concurrency: 8, window: { col: 0, row: 0, width: 64, height: 64 }, fetch: 'download' })
    for (let i = 0; i < 60; i++) pipeline.write({ url: `${ctx.server.url('rgb-byte-tiled.tif')}?consumer=${stop}-${i}` })
    pipeline.end()
    let seen = 0
    let atStop: string[] = []
    const list = (): string[] => existsSync(outDir) ? readdirSync(outDir).filter((n) => !n.includes('.part')).sort() : []
    if (stop === 'break') {
      for await (const record of pipeline) {
        assert.equal(record.status, 'ok')
        if (++seen === 3) { atStop = list(); break }
      }
    } else {
      await new Promise<void>((resolve) => {
        pipeline.on('data', (record: ResultRecord) => {
          assert.equal(record.status, 'ok')
          if (++seen === 3) { atStop = list(); pipeline.destroy(); resolve() }
        })
      })
    }
    await pipeline.released
    assert.deepEqual(list(), atStop, 'no output appeared after the consumer stopped')
    assert.deepEqual(readdirSync(outDir).filter((n) => n.includes('.part')), [], 'no partial output left')
    assert.deepEqual(readdirSync(tempRoot), [], 'the run removed its temp directory')
  } finally {
    ctx.server.latency = 0
  }
}

test('library: a consumer that breaks out of for await cancels the run; no output appears after that', async () => {
  await stopEarly('break')
})

test('library: a consumer that destroys the stream cancels the run; no output appears after that', async () => {
  await stopEarly('destroy')
})

test('one Ctrl-C delivered twice (a wrapper passing it on, a process group) is one request: the records in flight finish, exit 130', async () => {
  const input = Array.from({ length: 40 }, (_, i) => JSON.stringify({ url: `${ctx.server.url('rgb-byte-tiled.tif')}?twice=${i}`, window: [0, 0, 64, 64] })).join('\n') + '\n'
  ctx.server.latency = 30
  try {
    const run = await runCli(['-o', join(ctx.dir, 'twice'), '-c', '4', '--no-progress'], {
      stdin: input,
      started: afterLines(3, (child) => { child.kill('SIGINT'); child.kill('SIGINT') })
    })
    assert.equal(run.code, 130, run.stderr)
    assert.doesNotMatch(run.stderr, /again: exiting now/)
    assert.match(run.stderr, /\d+ records? in .*ok/, 'the summary is printed')
    assert.deepEqual(run.records.filter((r) => r.status !== 'ok'), [], 'the records in flight finished')
  } finally {
    ctx.server.latency = 0
  }
})
