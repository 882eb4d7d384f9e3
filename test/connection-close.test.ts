// Servers that close connections: `Connection: close` on every response (HTTP/1.0 servers, some CDN
// edges) and idle keep-alive connections closed at random. undici 7 asserted on these (its issue #5360)
// and took the process down; every record must now be ok and equal to gdal_translate's output.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { assertSameRaster, gdalTranslate } from './support/compare.js'
import type { ResultRecord } from '../lib/index.js'

const ctx = useServer()
const FILE = 'rgb-byte-tiled.tif'
const RECORDS = 500
/** A few windows, so that each output is checked against gdal_translate once and the rest against it. */
const WINDOWS = [[0, 0, 64, 64], [300, 200, 64, 64], [960, 960, 64, 64], [513, 700, 40, 70]]

function batch (url: (i: number) => string): string {
  return Array.from({ length: RECORDS }, (_, i) => JSON.stringify({ url: url(i), window: WINDOWS[i % WINDOWS.length] })).join('\n') + '\n'
}

const references = new Map<string, string>()
function reference (window: number[]): string {
  const key = window.join(',')
  let path = references.get(key)
  if (!path) {
    path = gdalTranslate(join(FIXTURES, FILE), ['-srcwin', ...window.map(String)], ctx.dir, `ref-${key.replaceAll(',', '_')}.tif`)
    references.set(key, path)
  }
  return path
}

/** Every record ok; per window, the first output equals gdal_translate's and every other is byte-identical to it. */
function checkOutputs (records: ResultRecord[], what: string): void {
  assert.equal(records.length, RECORDS, `${what}: one record per input`)
  const bad = records.filter((r) => r.status !== 'ok')
  assert.deepEqual(bad.map((r) => `${r.line}: ${r.error?.code} ${r.error?.message}`), [], `${what}: records not ok`)
  const first = new Map<string, Buffer>()
  for (const r of records) {
    const window = WINDOWS[(r.line - 1) % WINDOWS.length]
    const key = window.join(',')
    const bytes = readFileSync(r.output as string)
    const seen = first.get(key)
    if (!seen) {
      assertSameRaster(r.output as string, reference(window), `${what} window ${key}`)
      first.set(key, bytes)
    } else {
      assert.ok(bytes.equals(seen), `${what}: line ${r.line} differs from the first output of window ${key}`)
    }
  }
}

for (const fault of ['connection-close', 'idle-close'] as const) {
  for (const mode of ['download', 'range', 'auto']) {
    test(`${fault}: ${RECORDS} records at -c 1, 16 and 64, --fetch ${mode}: every record ok and equal to gdal_translate`, async () => {
      ctx.server.connectionClose = fault === 'connection-close'
      ctx.server.idleClose = fault === 'idle-close' ? 0.3 : 0
      try {
        for (const c of [1, 16, 64]) {
          const out = join(ctx.dir, `${fault}-${mode}-${c}`)
          const input = batch((i) => `${ctx.server.url(FILE)}?${fault}=${mode}-${c}-${i}`)
          const run = await runCli(['-o', out, '-c', String(c), '--fetch', mode, '--no-progress'], {
            stdin: input, env: { RASTERPIPE_RETRY_BASE_MS: '5' }
          })
          assert.equal(run.code, 0, `-c ${c}: ${run.stderr.slice(-2000)}`)
          checkOutputs(run.records, `${fault} ${mode} -c ${c}`)
        }
      } finally {
        ctx.server.connectionClose = false
        ctx.server.idleClose = 0
      }
    })
  }
}

test('python3 -m http.server (HTTP/1.0, closes every connection): 100 of 100 ok', async () => {
  // The first server a new user reaches for, exactly as the issue ran it.
  const server = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1'], { cwd: FIXTURES, stdio: ['ignore', 'pipe', 'ignore'] })
  try {
    const lines = createInterface({ input: server.stdout })
    let port = 0
    for await (const line of lines) {
      const m = /port (\d+)/.exec(line)
      if (m) { port = Number(m[1]); break }
    }
    assert.ok(port > 0, 'python3 http.server did not say its port')
    const input = Array.from({ length: 100 }, (_, i) => `http://127.0.0.1:${port}/${FILE}?i=${i}`).join('\n') + '\n'
    const run = await runCli(['-o', join(ctx.dir, 'python'), '-w', '0,0,64,64', '--no-progress'], { stdin: input })
    assert.equal(run.code, 0, run.stderr.slice(-2000))
    assert.equal(run.records.filter((r) => r.status === 'ok').length, 100)
  } finally {
    server.kill()
    await once(server, 'close')
  }
})
