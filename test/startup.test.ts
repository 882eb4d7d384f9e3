// Startup: --help and usage errors answer without loading GDAL (gdal-async), undici or the run's
// modules (--version loads GDAL alone, to say its version); a real run loads GDAL (the check can fail),
// but neither the object stores' SDKs (no store URL) nor xmlbuilder2 (which gdal-async loads for wrapVRT
// alone); undici's client only once it makes a
// request (a run of local files makes none). Which modules a process
// loaded is recorded by a module hook preloaded with --import (test/support/module-log.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, FIXTURES, ROOT, scratch } from './support/run.js'
import { loadGdal } from '../lib/raster/gdal.js'
import { startServer } from './support/server.js'

const HOOK = join(ROOT, 'dist', 'test', 'support', 'module-log.js')

interface Loaded { code: number | null, stdout: string, stderr: string, modules: string[] }

/** Runs bin/rasterpipe with the module hook; the URLs of the modules it loaded. */
async function withModuleLog (args: string[], stdin = ''): Promise<Loaded> {
  const dir = scratch('rp-modules-')
  try {
    const log = join(dir, 'modules.json')
    const child = spawn(process.execPath, ['--import', HOOK, BIN, ...args], {
      cwd: dir,
      env: { ...process.env, RASTERPIPE_MODULE_LOG: log, TMPDIR: dir },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.stdin.end(stdin)
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    return { code, stdout, stderr, modules: JSON.parse(readFileSync(log, 'utf8')) as string[] }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const GDAL = /\/node_modules\/gdal-async\//
const UNDICI = /\/node_modules\/undici\//
/** undici's index, which loads all of undici (fetch, WebSocket, caches, mocks). */
const UNDICI_INDEX = /\/node_modules\/undici\/index\.js$/
/** undici's client (its Agent): the run's own classes extend two of undici's small files alone. */
const UNDICI_CLIENT = /\/node_modules\/undici\/lib\/dispatcher\/agent\.js$/
const RUN = /\/dist\/lib\/cli\/run\.js$/
const STORE_SDKS = /\/node_modules\/(@aws-sdk|@smithy|@azure)\//
const XMLBUILDER = /\/node_modules\/xmlbuilder2\//

function loads (modules: string[], pattern: RegExp): string[] {
  return modules.filter((m) => pattern.test(m))
}

test('--help and usage errors load neither GDAL nor undici nor the run; --version loads GDAL alone', async () => {
  const cases: Array<[string[], number, RegExp]> = [
    [['--help'], 0, /Usage: rasterpipe/],
    [['-h'], 0, /Usage: rasterpipe/],
    [['-c', '0'], 2, /--concurrency: must be a whole number/],
    [['--frobnicate'], 2, /--frobnicate/],
    [['--window', '1,2,3'], 2, /--window/],
    [['--max-bytes', 'lots'], 2, /--max-bytes/],
    [['/no/such/list.txt'], 2, /cannot read input file/]
  ]
  for (const [args, code, said] of cases) {
    const run = await withModuleLog(args)
    assert.equal(run.code, code, `${args.join(' ')}: ${run.stderr}`)
    assert.match(code === 0 ? run.stdout : run.stderr, said, args.join(' '))
    for (const pattern of [GDAL, UNDICI, RUN]) {
      assert.deepEqual(loads(run.modules, pattern), [], `${args.join(' ')} loaded ${pattern}`)
    }
  }
  // --version says GDAL's version, so a broken install shows at once; undici's it reads from its package.json.
  const version = await withModuleLog(['--version'])
  assert.equal(version.code, 0, version.stderr)
  assert.match(version.stdout, /^rasterpipe \d/)
  assert.notDeepEqual(loads(version.modules, GDAL), [], '--version loads GDAL')
  for (const pattern of [UNDICI, RUN]) assert.deepEqual(loads(version.modules, pattern), [], `--version loaded ${pattern}`)
})

test('a run loads GDAL, but not the stores\' SDKs nor xmlbuilder2; undici\'s client only when it makes a request; its record is ok', async () => {
  const local = await withModuleLog(['-o', 'out', '-w', '0,0,64,64'], join(FIXTURES, 'int16-small.tif') + '\n')
  assert.equal(local.code, 0, local.stderr)
  assert.equal((JSON.parse(local.stdout) as { status: string }).status, 'ok')
  for (const pattern of [GDAL, RUN]) assert.notDeepEqual(loads(local.modules, pattern), [], `a run loads ${pattern}`)
  assert.deepEqual(loads(local.modules, UNDICI_CLIENT), [], 'a run of local files loads no HTTP client')
  assert.deepEqual(loads(local.modules, STORE_SDKS), [])
  assert.deepEqual(loads(local.modules, XMLBUILDER), [])
  const server = await startServer(FIXTURES)
  try {
    const remote = await withModuleLog(['-o', 'out', '-w', '0,0,64,64'], server.url('int16-small.tif') + '\n')
    assert.equal(remote.code, 0, remote.stderr)
    assert.equal((JSON.parse(remote.stdout) as { status: string }).status, 'ok')
    assert.notDeepEqual(loads(remote.modules, UNDICI_CLIENT), [], 'a run over HTTP loads undici\'s client')
    assert.deepEqual(loads(remote.modules, UNDICI_INDEX), [], 'only the parts of undici a run uses')
    assert.deepEqual(loads(remote.modules, STORE_SDKS), [])
  } finally {
    await server.close()
  }
})

test('gdal.wrapVRT still works: xmlbuilder2 is loaded when first used', () => {
  const gdal = loadGdal()
  const ds = gdal.open(join(FIXTURES, 'int16-small.tif'))
  try {
    const xml = gdal.wrapVRT({ bands: [{ sources: [ds.bands.get(1)] }] })
    assert.match(xml, /^<VRTDataset rasterXSize="\d+"/)
    const vrt = gdal.open(xml)
    assert.deepEqual(vrt.rasterSize, ds.rasterSize)
    vrt.close()
  } finally {
    ds.close()
  }
})
