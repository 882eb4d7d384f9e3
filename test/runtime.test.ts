// The runtime the suite runs on: Node 22.19 or newer (undici 8 needs it), printed so a CI log shows it,
// and the same Node in the rasterpipe processes the other suites start.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { runCli } from './support/run.js'

const require = createRequire(import.meta.url)

test('runs on Node 22.19+ with undici 8', async (t) => {
  t.diagnostic(`node --version: ${process.version} (${process.execPath})`)
  const [major, minor] = process.versions.node.split('.').map(Number)
  assert.ok(major > 22 || (major === 22 && minor >= 19), `Node ${process.version} is older than 22.19`)
  const undici = require('undici/package.json') as { version: string }
  t.diagnostic(`undici ${undici.version}`)
  assert.equal(Number(undici.version.split('.')[0]), 8)
  const gdal = require('gdal-async') as { version: string }
  t.diagnostic(`GDAL ${gdal.version}`)
  const run = await runCli(['--version'])
  assert.equal(run.code, 0)
  assert.match(run.stdout, /^rasterpipe \d+\.\d+\.\d+/)
})
