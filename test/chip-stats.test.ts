// --chip-stats and --min-valid: the statistics in the record equal GDAL's own (gdalinfo -stats) on the
// written output, and --min-valid keeps exactly the chips whose valid fraction, as GDAL counts it, is
// not under the threshold.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { runCli, type RunResult } from './support/run.js'

const ctx = useServer()

interface GdalBandStats { min: number, max: number, mean: number, std: number, valid: number }

/**
 * GDAL's statistics of a file (exact, nodata honoured), and its valid percentage, per band: from the
 * STATISTICS_* metadata, which carries them to 14 digits (the JSON's own fields are rounded to 3 decimals).
 */
function gdalStats (path: string): GdalBandStats[] {
  const info = JSON.parse(execFileSync('gdalinfo', ['-json', '-stats', '--config', 'GDAL_PAM_ENABLED', 'NO', path], { encoding: 'utf8' })) as {
    bands: { metadata: { '': Record<string, string> } }[]
  }
  return info.bands.map(({ metadata: { '': m } }) => ({
    min: Number(m.STATISTICS_MINIMUM),
    max: Number(m.STATISTICS_MAXIMUM),
    mean: Number(m.STATISTICS_MEAN),
    std: Number(m.STATISTICS_STDDEV),
    valid: Number(m.STATISTICS_VALID_PERCENT) / 100
  }))
}

function close (a: number | null | undefined, b: number, what: string, tolerance = 1e-9): void {
  assert.ok(a !== null && a !== undefined && Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(b)), `${what}: ${a} against GDAL's ${b}`)
}

/** The records run with --chip-stats into their own folder; every record must succeed. */
async function runWithStats (name: string, records: object[]): Promise<RunResult> {
  const run = await runCli(['-o', join(ctx.dir, name), '--chip-stats', '--no-progress'], { stdin: records.map((r) => JSON.stringify(r)).join('\n') + '\n' })
  assert.equal(run.code, 0, run.stderr)
  return run
}

/** GDAL prints the valid percentage to 4 significant digits: a fraction agrees to half its last digit. */
const PERCENT_DIGITS = 5e-5

test('--chip-stats: per band min, max, mean, std and valid fraction equal gdalinfo -stats on the output', async () => {
  const run = await runWithStats('stats', [
    { url: ctx.server.url('int16-small.tif'), window: [10, 20, 150, 100] },
    { url: ctx.server.url('float32-band-interleaved.tif'), window: [100, 100, 300, 250] },
    { url: ctx.server.url('float64-small.tif'), window: [200, 200, 100, 100], boundless: true }
  ])
  for (const r of run.records) {
    assert.equal(r.status, 'ok')
    const ours = r.stats ?? []
    const theirs = gdalStats(r.output as string)
    assert.equal(ours.length, theirs.length, `${r.url}: one entry per band`)
    theirs.forEach((t, i) => {
      const o = ours[i]
      assert.equal(o.band, i + 1)
      for (const k of ['min', 'max', 'mean', 'std'] as const) close(o[k], t[k], `${r.url} band ${i + 1} ${k}`)
      close(o.valid, t.valid, `${r.url} band ${i + 1} valid`, PERCENT_DIGITS)
    })
  }
})

test('--min-valid 0.5: exactly the chips under half valid (as GDAL counts) are skipped, with the fraction, and not written', async () => {
  // 100×100 windows reaching past the right edge of the 300-pixel raster, boundless: the part outside is
  // nodata, so the valid fraction runs from 0.2 to 0.8 across the batch.
  const cols = [220, 240, 249, 250, 251, 260, 280, 300 - 45, 300 - 55]
  const input = cols.map((c, i) => JSON.stringify({ url: ctx.server.url('int16-small.tif'), id: `c${i}`, window: [c, 50, 100, 100], boundless: true })).join('\n') + '\n'
  const all = await runCli(['-o', join(ctx.dir, 'all'), '--no-progress'], { stdin: input })
  assert.equal(all.code, 0, all.stderr)
  const fraction = new Map(all.records.map((r) => [r.id, gdalStats(r.output as string)[0].valid]))
  assert.ok([...fraction.values()].some((f) => f < 0.5) && [...fraction.values()].some((f) => f >= 0.5), 'the batch has chips on both sides')

  const kept = await runCli(['-o', join(ctx.dir, 'kept'), '--min-valid', '0.5', '--no-progress'], { stdin: input })
  assert.equal(kept.code, 0, kept.stderr)
  for (const r of kept.records) {
    const f = fraction.get(r.id) as number
    if (f < 0.5) {
      assert.equal(r.status, 'skipped', `${r.id}: ${f}`)
      assert.equal(r.reason, 'min-valid')
      close(r.valid, f, `${r.id} valid`, PERCENT_DIGITS)
      assert.equal(r.output, undefined, 'no output named')
      assert.equal(existsSync(join(ctx.dir, 'kept', all.records.find((a) => a.id === r.id)?.output?.split('/').pop() ?? '')), false, `${r.id} not written`)
    } else {
      assert.equal(r.status, 'ok', `${r.id}: ${f}`)
      assert.ok(existsSync(r.output as string))
    }
  }
  const refused = await runCli(['--min-valid', '1.5'], { stdin: '' })
  assert.equal(refused.code, 2)
  assert.match(refused.stderr, /--min-valid: must be a fraction from 0 to 1, got 1\.5/)
})

/** numpy's statistics of band `b` of a file, valid by GDAL's mask band (read with gdal_translate -b mask,B). */
function numpyStats (path: string, b: number, dir: string): GdalBandStats {
  const values = join(dir, `v${b}.bin`)
  const mask = join(dir, `m${b}.bin`)
  execFileSync('gdal_translate', ['-q', '-of', 'ENVI', '-ot', 'Float64', '-b', String(b), path, values])
  execFileSync('gdal_translate', ['-q', '-of', 'ENVI', '-b', `mask,${b}`, path, mask])
  const script = [
    'import json, sys, numpy as np',
    'v = np.fromfile(sys.argv[1], dtype="<f8"); m = np.fromfile(sys.argv[2], dtype=np.uint8)',
    'ok = (m != 0) & ~np.isnan(v); x = v[ok]',
    'print(json.dumps({"min": float(x.min()), "max": float(x.max()), "mean": float(x.mean()), "std": float(x.std()), "valid": float(ok.sum() / v.size)}))'
  ].join('\n')
  return JSON.parse(execFileSync('python3', ['-c', script, values, mask], { encoding: 'utf8' })) as GdalBandStats
}

const hasNumpy = ((): boolean => {
  try { execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }); return true } catch { return false }
})()

test('--chip-stats with masks and alpha: equal to numpy on the output read with GDAL (values and mask band)', { skip: hasNumpy ? false : 'python3 with numpy is not installed' }, async () => {
  const run = await runWithStats('numpy', [
    { url: ctx.server.url('mask-byte.tif'), window: [50, 40, 300, 200] },
    { url: ctx.server.url('rgba-alpha.tif'), window: [0, 0, 300, 300] },
    { url: ctx.server.url('int16-small.tif'), window: [250, 50, 100, 100], boundless: true }
  ])
  for (const r of run.records) {
    for (const o of r.stats ?? []) {
      const n = numpyStats(r.output as string, o.band, ctx.dir)
      for (const k of ['min', 'max', 'mean', 'std', 'valid'] as const) close(o[k], n[k], `${r.url} band ${o.band} ${k} (numpy)`)
    }
  }
})
