// The library's surface: options checked at once (in JS as well as TS), types that catch a misspelt
// record field, and a fault inside the HTTP client that does not take the host process down.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { useServer } from './support/context.js'
import { ROOT, scratch } from './support/run.js'
import { rasterPipeline, UsageError, type PipelineOptions, type ResultRecord } from '../lib/index.js'

const run = promisify(execFile)
const ctx = useServer()

test('rasterPipeline() rejects invalid options at once, naming them by their keys', () => {
  const bad: [unknown, RegExp][] = [
    [{ window: [0, 0, 256, 256] }, /^window: must be \{col, row, width, height\}, got \[0,0,256,256\]/],
    [{ window: { col: 0, row: 0, width: 0, height: 5 } }, /^window: width and height must be more than 0/],
    [{ concurency: 4 }, /unknown option 'concurency' \(known: .*concurrency/],
    [{ concurrency: '4' }, /^concurrency: must be a whole number of at least 1, got "4"/],
    [{ fetch: 'ftp' }, /^fetch: must be one of auto, download, range/],
    [{ bands: [0] }, /^bands: .*not a band number/],
    [{ bboxCrs: 'EPSG:4326' }, /^bboxCrs: needs bbox$/],
    [{ bbox: [0, 0, 1, 1], bboxCrs: 'EPSG:99999999' }, /^bboxCrs: unknown CRS/],
    [{ creationOptions: 'COMPRESS=LZW' }, /^creationOptions: must be a list of NAME=VALUE strings/],
    [{ format: 'VRT' }, /^format: GDAL driver 'VRT' cannot write a single self-contained raster file/]
  ]
  for (const [options, pattern] of bad) {
    assert.throws(() => rasterPipeline(options as Partial<PipelineOptions>), (err: Error) => err instanceof UsageError && pattern.test(err.message), JSON.stringify(options))
  }
})

test('the README example type-checks under --strict; a misspelt record field does not (TS2353)', async () => {
  const dir = scratch('rp-types-')
  const tsconfig = (file: string): string => {
    const path = join(dir, `tsconfig-${file}.json`)
    writeFileSync(path, JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', skipLibCheck: true,
        types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
        paths: { rasterpipe: [join(ROOT, 'dist', 'lib', 'index.d.ts')] }
      },
      files: [join(ROOT, 'test', 'types', file)]
    }))
    return path
  }
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  await run(process.execPath, [tsc, '-p', tsconfig('readme-example.ts')])
  const failed = await run(process.execPath, [tsc, '-p', tsconfig('misspelt-field.ts')]).then(() => null, (err: { stdout: string }) => err)
  assert.ok(failed, 'a misspelt field must not type-check')
  assert.match(failed.stdout, /misspelt-field\.ts\(5,\d+\): error TS2353: .*'windw' does not exist in type/)
  rmSync(dir, { recursive: true, force: true })
})

test('an exception thrown inside the HTTP client becomes a warning, not a crash: every record still comes out', async () => {
  const out = join(ctx.dir, 'http-fault')
  const tempRoot = scratch('rp-fault-')
  const urls = Array.from({ length: 20 }, (_, i) => `${ctx.server.url('int16-small.tif')}?fault=${i}`)
  const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'test', 'support', 'http-fault.js'), out, tempRoot, ...urls])
  const result = JSON.parse(stdout) as { records: ResultRecord[], warnings: string[], dispatchers: number }
  assert.equal(result.records.length, 20, 'one record per input')
  assert.deepEqual(result.records.filter((r) => r.status !== 'ok').map((r) => r.error), [])
  assert.equal(result.warnings.length, 1)
  assert.match(result.warnings[0], /fault inside the HTTP client was recovered from.*injected fault/)
  assert.equal(result.dispatchers, 2, 'the dispatcher was replaced once')
  assert.deepEqual(readdirSync(tempRoot), [])
  rmSync(tempRoot, { recursive: true, force: true })
})
