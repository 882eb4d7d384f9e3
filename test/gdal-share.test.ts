// The library sizes GDAL's share of libuv's pool itself: a host that sets nothing (a pool of 4) gets at
// most 3 GDAL calls at once across open, read and write, and fetches and fs calls go on meanwhile.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { useServer } from './support/context.js'
import { ROOT, scratch } from './support/run.js'
import { gdalShare, Slots } from '../lib/core/slots.js'

const run = promisify(execFile)

function gate (): { opened: Promise<void>, open: () => void } {
  let open = (): void => undefined
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { opened, open }
}
const ctx = useServer()

test('GDAL\'s share of the pool: UV_THREADPOOL_SIZE less one, at least one; 4 less one when unset', () => {
  assert.equal(gdalShare({}), 3)
  assert.equal(gdalShare({ UV_THREADPOOL_SIZE: '9' }), 8)
  assert.equal(gdalShare({ UV_THREADPOOL_SIZE: '1' }), 1)
  assert.equal(gdalShare({ UV_THREADPOOL_SIZE: 'lots' }), 3)
})

test('slots: at most `size` holders, first come first served, a failure frees its slot', async () => {
  const slots = new Slots(2)
  const order: number[] = []
  const gates = [0, 1, 2, 3].map(() => gate())
  const runs = gates.map((g, i) => slots.run(async () => { order.push(i); await g.opened; if (i === 1) throw new Error('one fails') }))
  assert.deepEqual([slots.active, slots.waiting], [2, 2])
  gates[1].open()
  await assert.rejects(runs[1], /one fails/)
  assert.deepEqual(order, [0, 1, 2], 'the first in line took the freed slot')
  for (const g of gates) g.open()
  await Promise.allSettled(runs)
  assert.deepEqual([slots.active, slots.waiting, slots.peak], [0, 0, 2])
  assert.deepEqual(order, [0, 1, 2, 3])
})

test('a library program that sets nothing runs 50 records with at most 3 GDAL calls at once, fetches and fs going on while GDAL work is queued', async (t) => {
  const out = scratch('rp-share-')
  const tempRoot = scratch('rp-share-tmp-')
  t.after(() => { rmSync(out, { recursive: true, force: true }); rmSync(tempRoot, { recursive: true, force: true }) })
  // Distinct URLs: every record downloads its own copy (records of one URL would share one).
  const urls = Array.from({ length: 50 }, (_, i) => ctx.server.url(`rgb-byte-tiled.tif?n=${i}`))
  const env = { ...process.env }
  delete env.UV_THREADPOOL_SIZE
  const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'test', 'support', 'gdal-share.js'), out, tempRoot, ...urls], { env, maxBuffer: 1 << 24 })
  const r = JSON.parse(stdout) as { pool: string | null, ok: number, errors: string[], size: number, peak: number, fetchesWhileQueued: number, fsCalls: number, fsWhileGdalFull: number }
  t.diagnostic(JSON.stringify(r))
  assert.equal(r.pool, null, 'the child ran with the pool unset')
  assert.deepEqual(r.errors, [])
  assert.equal(r.ok, 50)
  assert.equal(r.size, 3, 'a pool of 4 less one for fs')
  assert.equal(r.peak, 3, 'GDAL used its share and never more')
  assert.ok(r.fetchesWhileQueued > 0, 'downloads (fs writes) finished while GDAL calls waited for a slot')
  assert.ok(r.fsWhileGdalFull > 0, 'fs calls completed while every GDAL slot was busy and more were queued')
})
