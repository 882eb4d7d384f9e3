// The band-math module (lib/core/expr.ts) on its own: its grammar (precedence, associativity, functions),
// its errors with their positions, hostile text that must stay data, and how nodata, masks, division by zero
// and NaN become the output's nodata.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveOptions } from '../lib/run/options.js'
import { UsageError } from '../lib/core/errors.js'
import { outputFor } from '../lib/output/names.js'
import { planExpr } from '../lib/raster/band-math.js'
import { newJob } from '../lib/input/parse.js'
import type { Job, WindowPlan } from '../lib/core/job.js'
import type { SourceInfo } from '../lib/core/records.js'
import { evaluateExpr, EXPR_LIMITS, ExprError, parseExpr, resolveBands, type ExprBand } from '../lib/core/expr.js'

/** Values of `text` over bands given as plain arrays (nodata null), one array per expression. */
function run (text: string, columns: number[][] = [[0]], type = 'Float32', names = new Map<string, number>(), extra: Partial<ExprBand>[] = []): number[][] {
  const program = parseExpr(text, (n) => names.has(n))
  const inputs = columns.map((data, i) => ({ data, nodata: null, ...extra[i] }))
  const out = evaluateExpr(program, resolveBands(program, inputs.length, names), inputs, columns[0].length, type)
  return out.bands.map((b) => [...b])
}

const one = (text: string): number => run(text)[0][0]

function throwsAt (text: string, message: RegExp, position?: number): void {
  assert.throws(() => run(text, [[1], [2]]), (err: unknown) => {
    assert.ok(err instanceof ExprError, `${String(err)} is an ExprError`)
    assert.match(err.message, message)
    assert.equal(err.position, position)
    return true
  })
}

test('precedence: * and / before + and -, comparisons last, unary minus binds tightest', () => {
  assert.equal(one('1 + 2 * 3'), 7)
  assert.equal(one('(1 + 2) * 3'), 9)
  assert.equal(one('1 + 2 < 2 * 2'), 1)
  assert.equal(one('1 + 2 > 2 * 2'), 0)
  assert.equal(one('-2 * 3'), -6)
  assert.equal(one('2 * -3'), -6)
  assert.equal(one('--2'), 2)
  assert.equal(one('2 - -2'), 4)
  assert.equal(one('1.5e1 + .5'), 15.5)
})

test('associativity: left to right', () => {
  assert.equal(one('10 - 4 - 3'), 3)
  assert.equal(one('64 / 4 / 2'), 8)
  assert.equal(one('3 > 2 > 0'), 1) // (3 > 2) > 0
  assert.equal(one('1 < 2 == 1'), 1)
})

test('comparisons give 1 or 0', () => {
  assert.deepEqual(['<', '<=', '>', '>=', '==', '!='].map((op) => one(`2 ${op} 2`)), [0, 1, 0, 1, 1, 0])
})

test('functions: where, min, max, abs, sqrt, log, clip', () => {
  assert.equal(one('where(1, 2, 3)'), 2)
  assert.equal(one('where(0, 2, 3)'), 3)
  assert.equal(one('min(4, 2, 9)'), 2)
  assert.equal(one('max(4, 2, 9, -1)'), 9)
  assert.equal(one('abs(-3)'), 3)
  assert.equal(one('sqrt(16)'), 4)
  assert.ok(Math.abs(one('log(10)') - Math.fround(Math.log(10))) === 0)
  assert.deepEqual([one('clip(5, 0, 3)'), one('clip(-5, 0, 3)'), one('clip(2, 0, 3)')], [3, 0, 2])
  // where's other branch is not evaluated: its division by zero does not make the pixel nodata.
  assert.equal(one('where(1, 5, 1 / 0)'), 5)
})

test('bands by number and by name, several expressions give several bands', () => {
  const names = new Map([['red', 0], ['nir', 1], ['nir-08', 1]])
  const cols = [[1, 2, 0], [3, 2, 0]]
  const [ndvi, diff, b2] = run('(nir - red) / (nir + red); nir-red; b2', cols, 'Float32', names)
  assert.deepEqual(ndvi, [0.5, 0, NaN])
  assert.deepEqual(diff, [2, 0, 0])
  assert.deepEqual(b2, [3, 2, 0])
  // A name with '-' is one name when a band is so called, else a difference.
  assert.deepEqual(run('nir-08', cols, 'Float32', names)[0], [3, 2, 0])
  assert.deepEqual(run('b2-1', cols)[0], [2, 1, -1])
  // A minus before a number with a fraction or an exponent ends the name.
  assert.deepEqual(run('b2-0.5', cols)[0], [2.5, 1.5, -0.5])
  assert.deepEqual(run('b2-1e-1', cols)[0].map((v) => Math.round(v * 10) / 10), [2.9, 1.9, -0.1])
  assert.deepEqual(run('b2-1E1', cols)[0], [-7, -8, -10])
  assert.deepEqual(run('1;2;', cols).length, 2)
})

test('nodata, masks and NaN inputs give nodata; so do division by zero, NaN and infinities', () => {
  const a = [1, -9999, 3, 4, 5, NaN]
  const b = [1, 1, 1, 0, 1, 1]
  const mask = [255, 255, 0, 255, 255, 255]
  const [q] = run('b1 / b2', [a, b], 'Float32', new Map(), [{ nodata: -9999 }, { mask }])
  assert.deepEqual(q, [1, NaN, NaN, NaN, 5, NaN])
  // A band the expression does not read does not mask it, even when another expression reads it.
  assert.deepEqual(run('b2', [a, b], 'Float32', new Map(), [{ nodata: -9999 }])[0], b)
  assert.deepEqual(run('b1; b2', [a, b], 'Float32', new Map(), [{ nodata: -9999 }])[1], b)
  assert.deepEqual(run('sqrt(b1); log(b1)', [[-1, 0, 1]]), [[NaN, 0, 1], [NaN, NaN, 0]])
  // Float32 overflow of a finite double is nodata too; a comparison with NaN is NaN, not 0.
  assert.deepEqual(run('b1 * 1e300; b1 / b1 < 1', [[1, 0]]), [[NaN, 0], [0, NaN]])
})

test('integer output types round, and a value outside the type (or its nodata) is nodata', () => {
  assert.deepEqual(run('b1 * 1000', [[1, 40, -40, 0.0014]], 'Int16'), [[1000, -32768, -32768, 1]])
  assert.deepEqual(run('b1', [[-1, 0, 254, 255, 2.5]], 'Byte'), [[255, 0, 254, 255, 3]])
  assert.deepEqual(run('b1 / 0', [[1]], 'UInt16'), [[65535]])
  assert.deepEqual(run('b1', [[1.25]], 'Float64'), [[1.25]])
  assert.throws(() => run('b1', [[1]], 'CFloat32'), /unknown output type 'CFloat32'/)
})

test('errors name what and where (1-based position)', () => {
  throwsAt('(b1 + 1))', /^expr: unexpected '\)' at 9$/, 9)
  throwsAt('b1 +', /unexpected end of expression at 5/, 5)
  throwsAt('b1 $ 2', /unexpected '\$' at 4/, 4)
  throwsAt('(b1', /unexpected end of expression at 4/, 4)
  throwsAt('b1 b2', /unexpected 'b2' at 4/, 4)
  throwsAt('b3 + 1', /unknown band 'b3' \(known: b1…b2\) at 1/, 1)
  throwsAt('b0', /unknown band 'b0'/, 1)
  throwsAt('1 + red', /unknown band 'red' .* at 5/, 5)
  throwsAt('foo(1)', /unknown function 'foo' at 1/, 1)
  throwsAt('clip(1, 2)', /clip\(\) takes 3 arguments, not 2 at 1/, 1)
  throwsAt('abs()', /abs\(\) takes 1 argument, not 0/, 1)
  throwsAt('where(1, 2, 3, 4)', /where\(\) takes 3 arguments, not 4/, 1)
  throwsAt('1 ;; 2', /unexpected ';' at 4/, 4)
  throwsAt('', /empty expression/)
  throwsAt('1e999', /number '1e999' out of range at 1/, 1)
})

test('hostile text is data: no names but bands and the functions, and limits on size and depth', () => {
  for (const [text, pos] of [['process.exit()', 8], ['constructor', 1], ['__proto__', 1], ['toString', 1], ['this', 1], ['hasOwnProperty', 1], ['b1.constructor', 3]] as const) {
    assert.throws(() => run(text, [[1]]), (err: unknown) => err instanceof ExprError && err.position !== undefined && err.position <= pos + 1, text)
  }
  assert.throws(() => run('constructor(1)'), /unknown function 'constructor'/)
  assert.throws(() => run('__proto__(1)'), /unknown function '__proto__'/)
  assert.throws(() => run('toString'), /unknown band 'toString'/)
  // A name map from a caller resolves only its own keys, never inherited ones.
  assert.throws(() => run('valueOf', [[1]], 'Float32', new Map([['nir', 0]])), /unknown band 'valueOf'/)
  const started = performance.now()
  assert.throws(() => run('b1+'.repeat(350_000) + 'b1'), /longer than 4096 characters \(1050002\)/)
  assert.throws(() => run('('.repeat(1_000_000)), /longer than 4096/)
  assert.ok(performance.now() - started < 1000, 'a 1 MB expression is refused before it is read')
  assert.throws(() => run('('.repeat(100) + '1' + ')'.repeat(100)), /nested deeper than 64/)
  assert.throws(() => run('-'.repeat(100) + '1'), /nested deeper than 64/)
  assert.throws(() => run('1' + '+1'.repeat(100)), /nested deeper than 64/)
  assert.throws(() => run('1;'.repeat(40)), /more than 32 expressions/)
  assert.equal(EXPR_LIMITS.length, 4096)
  assert.equal(one('('.repeat(30) + '1' + ')'.repeat(30)), 1)
})

test('the library\'s options: a 1 MB expr, or one that does not parse, is a UsageError naming expr', () => {
  for (const expr of ['b1 + '.repeat(200_000) + 'b1', 'process.exit()', 'constructor()']) {
    assert.throws(() => resolveOptions({ expr }), (err: unknown) => err instanceof UsageError && err.option === 'expr' && /^expr: /.test(err.message))
  }
  assert.throws(() => resolveOptions({ expr: 'b1', exprType: 'CInt16' }), (err: unknown) => err instanceof UsageError && err.option === 'exprType')
  assert.equal(resolveOptions({ expr: '(nir - red) / (nir + red)' }).expr, '(nir - red) / (nir + red)')
})

test('band math has an output name of its own: another expression or type, another name; none, the name as before', () => {
  const o = resolveOptions({})
  const name = (expr?: { text: string, type: string }): string => outputFor('https://h/a.tif', { window: o.window, boundless: false }, undefined, o, '.tif', undefined, undefined, expr).display
  const names = [name(), name({ text: 'b1', type: 'Float32' }), name({ text: 'b1', type: 'Int16' }), name({ text: 'b1 * 2', type: 'Float32' })]
  assert.equal(new Set(names).size, 4)
  assert.equal(name(), outputFor('https://h/a.tif', { window: o.window, boundless: false }, undefined, o, '.tif').display)
})

test('at open: band math\'s arrays join the plan\'s bytes, and a band past the raster\'s is the record\'s BAD_EXPR', () => {
  const job: Job = { ...newJob(1, 'a.tif'), expr: { text: '(b1 - b2) / (b1 + b2); b3', type: 'Float32' } }
  job.opened = { source: { count: 3 } as SourceInfo, georeferenced: true }
  const plan: WindowPlan = { kind: 'window', window: { col: 0, row: 0, width: 100, height: 50 }, bytes: 100 * 50 * 3 }
  planExpr(job, plan)
  // The window's bytes twice (read again as arrays), a validity byte and one per band read, two Float32 outputs twice.
  assert.equal(plan.bytes, 2 * 15000 + 5000 * (1 + 3 + 2 * 2 * 4))
  const past: Job = { ...job, expr: { text: 'b4', type: 'Float32' } }
  assert.throws(() => planExpr(past, { ...plan }), (err: unknown) => err instanceof Error && 'code' in err && err.code === 'BAD_EXPR' && /unknown band 'b4' \(known: b1…b3\) at 1/.test(err.message))
})
