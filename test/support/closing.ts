// Runs for servers that close connections (test/connection-close.test.ts, test/idle-close.test.ts): 500
// records at -c 1, 16 and 64 in each fetch mode, every record ok and equal to gdal_translate's output.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SuiteContext } from './context.js'
import { FIXTURES, runCli } from './run.js'
import { assertSameRaster, gdalTranslate, memo } from './compare.js'
import type { ResultRecord } from '../../lib/index.js'

export const FILE = 'rgb-byte-tiled.tif'
const RECORDS = 500
/** A few windows, so that each output is checked against gdal_translate once and the rest against it. */
const WINDOWS = [[0, 0, 64, 64], [300, 200, 64, 64], [960, 960, 64, 64], [513, 700, 40, 70]]

function batch (url: (i: number) => string): string {
  return Array.from({ length: RECORDS }, (_, i) => JSON.stringify({ url: url(i), window: WINDOWS[i % WINDOWS.length] })).join('\n') + '\n'
}

/** Every record ok; per window, the first output equals gdal_translate's and every other is byte-identical to it. */
function checkOutputs (ctx: SuiteContext, references: ReturnType<typeof memo<string>>, records: ResultRecord[], what: string): void {
  const reference = (window: number[]): string => {
    const key = window.join(',')
    return references(key, () => gdalTranslate(join(FIXTURES, FILE), ['-srcwin', ...window.map(String)], ctx.dir, `ref-${key.replaceAll(',', '_')}.tif`))
  }
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

/** The three tests of one fault, one per --fetch mode. */
export function closingTests (ctx: SuiteContext, fault: 'connection-close' | 'idle-close'): void {
  const references = memo<string>()
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
          checkOutputs(ctx, references, run.records, `${fault} ${mode} -c ${c}`)
        }
      } finally {
        ctx.server.connectionClose = false
        ctx.server.idleClose = 0
      }
    })
  }
}
