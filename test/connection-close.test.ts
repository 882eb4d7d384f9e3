// Servers that close connections: `Connection: close` on every response (HTTP/1.0 servers, some CDN
// edges). undici 7 asserted on these (its issue #5360) and took the process down; every record must now
// be ok and equal to gdal_translate's output. Idle keep-alive connections closed at random: idle-close.test.ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { useServer } from './support/context.js'
import { FIXTURES, runCli } from './support/run.js'
import { closingTests, FILE } from './support/closing.js'

const ctx = useServer()

closingTests(ctx, 'connection-close')

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
