// Band math (--expr, record `expr`): a hand-written tokenizer and precedence-climbing parser into an AST,
// names resolved through a Map (never eval/Function, never an object's prototype), and an evaluator that
// walks the AST per pixel as closures over the input bands' typed arrays.
//
//   program    := expression (';' expression)*
//   expression := comparison
//   comparison := additive (('<' | '<=' | '>' | '>=' | '==' | '!=') additive)*    (left-assoc, gives 1 or 0)
//   additive   := term (('+' | '-') term)*
//   term       := unary (('*' | '/') unary)*
//   unary      := '-' unary | primary
//   primary    := number | name | name '(' args ')' | '(' expression ')'
//
// Per pixel: any nodata (or masked) input the expression names gives nodata; so do division by zero,
// NaN or an infinity (sqrt/log of a negative, overflow), and, for integer types, a value outside the type.

/** Limits that make a hostile expression a quick usage error rather than a long parse or a deep stack. */
export const EXPR_LIMITS = { length: 4096, depth: 64, expressions: 32 }

export class ExprError extends Error {
  override name = 'ExprError'
  /** 1-based character position in the expression text, when the error has one. */
  readonly position?: number

  constructor (message: string, position?: number) {
    super(position === undefined ? `expr: ${message}` : `expr: ${message} at ${position}`)
    if (position !== undefined) this.position = position
  }
}

type Token =
  | { t: 'num', value: number, pos: number, text: string }
  | { t: 'name', name: string, pos: number, text: string }
  | { t: 'op', op: string, pos: number, text: string }
  | { t: 'end', pos: number, text: string }

export type ExprNode =
  | { k: 'num', value: number, pos: number }
  | { k: 'name', name: string, pos: number }
  | { k: 'neg', a: ExprNode, pos: number }
  | { k: 'bin', op: string, a: ExprNode, b: ExprNode, pos: number }
  | { k: 'call', fn: string, args: ExprNode[], pos: number }

const OPERATORS = ['<=', '>=', '==', '!=', '<', '>', '+', '-', '*', '/', '(', ')', ',', ';']

function tokenize (text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i]
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue }
    const pos = i + 1
    const number = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 64))
    if (number) {
      tokens.push({ t: 'num', value: Number(number[0]), pos, text: number[0] })
      i += number[0].length
      continue
    }
    const rest = text.slice(i, i + 256)
    const head = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest)
    if (head) {
      // A name may hold '-' as some asset keys do: `nir-red` is one name only when a band is so called
      // (splitNames), else a difference. A '-' before a number with a fraction or an exponent
      // (`b1-0.5`, `b1-1e-3`) is a minus: the name ends there.
      let end = head[0].length
      for (let seg = /^-([A-Za-z0-9_]+)/.exec(rest.slice(end)); seg; seg = /^-([A-Za-z0-9_]+)/.exec(rest.slice(end))) {
        if (/^\d+[eE]/.test(seg[1]) || (/^\d+$/.test(seg[1]) && rest[end + seg[0].length] === '.')) break
        end += seg[0].length
      }
      const name = rest.slice(0, end)
      tokens.push({ t: 'name', name, pos, text: name })
      i += end
      continue
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i))
    if (op === undefined) throw new ExprError(`unexpected '${c}'`, pos)
    tokens.push({ t: 'op', op, pos, text: op })
    i += op.length
  }
  tokens.push({ t: 'end', pos: text.length + 1, text: 'end of expression' })
  return tokens
}

/** Splits name tokens holding '-' into names, numbers and minus signs when the whole is no known name. */
function splitNames (tokens: Token[], known: (name: string) => boolean): Token[] {
  const out: Token[] = []
  for (const tok of tokens) {
    if (tok.t !== 'name' || known(tok.name) || !tok.name.includes('-')) { out.push(tok); continue }
    const parts = /[A-Za-z_][A-Za-z0-9_]*|\d+|-/g
    for (let m = parts.exec(tok.name); m !== null; m = parts.exec(tok.name)) {
      const pos = tok.pos + m.index
      const s = m[0]
      if (s === '-') out.push({ t: 'op', op: '-', pos, text: s })
      else if (/^\d/.test(s)) out.push({ t: 'num', value: Number(s), pos, text: s })
      else out.push({ t: 'name', name: s, pos, text: s })
    }
  }
  return out
}

class Parser {
  private i = 0
  constructor (private readonly tokens: Token[]) {}

  private peek (): Token { return this.tokens[this.i] }
  private next (): Token { return this.tokens[this.i++] }
  private isOp (op: string): boolean {
    const t = this.peek()
    return t.t === 'op' && t.op === op
  }

  private unexpected (t: Token): ExprError {
    return new ExprError(t.t === 'end' ? 'unexpected end of expression' : `unexpected '${t.text}'`, t.pos)
  }

  private expect (op: string): void {
    if (!this.isOp(op)) throw this.unexpected(this.peek())
    this.i++
  }

  program (): ExprNode[] {
    const exprs: ExprNode[] = []
    for (;;) {
      if (exprs.length >= EXPR_LIMITS.expressions) {
        throw new ExprError(`more than ${EXPR_LIMITS.expressions} expressions`, this.peek().pos)
      }
      exprs.push(this.comparison(0))
      if (this.isOp(';')) {
        this.i++
        if (this.peek().t === 'end') break // a trailing ';' is allowed
        continue
      }
      if (this.peek().t !== 'end') throw this.unexpected(this.peek())
      break
    }
    return exprs
  }

  private deeper (depth: number, pos: number): number {
    if (depth >= EXPR_LIMITS.depth) throw new ExprError(`nested deeper than ${EXPR_LIMITS.depth}`, pos)
    return depth + 1
  }

  private binary (ops: string[], depth: number, operand: (d: number) => ExprNode): ExprNode {
    let a = operand(depth)
    for (;;) {
      const t = this.peek()
      if (t.t !== 'op' || !ops.includes(t.op)) return a
      this.i++
      // Left-associative chains are loops, not recursion, but still count towards the depth of the tree
      // the evaluator walks.
      depth = this.deeper(depth, t.pos)
      a = { k: 'bin', op: t.op, a, b: operand(depth), pos: t.pos }
    }
  }

  private comparison (depth: number): ExprNode {
    return this.binary(['<', '<=', '>', '>=', '==', '!='], depth, (d) => this.additive(d))
  }

  private additive (depth: number): ExprNode {
    return this.binary(['+', '-'], depth, (d) => this.term(d))
  }

  private term (depth: number): ExprNode {
    return this.binary(['*', '/'], depth, (d) => this.unary(d))
  }

  private unary (depth: number): ExprNode {
    const t = this.peek()
    if (t.t === 'op' && t.op === '-') {
      this.i++
      return { k: 'neg', a: this.unary(this.deeper(depth, t.pos)), pos: t.pos }
    }
    if (t.t === 'op' && t.op === '+') {
      this.i++
      return this.unary(this.deeper(depth, t.pos))
    }
    return this.primary(depth)
  }

  private primary (depth: number): ExprNode {
    const t = this.next()
    if (t.t === 'num') {
      if (!Number.isFinite(t.value)) throw new ExprError(`number '${t.text}' out of range`, t.pos)
      return { k: 'num', value: t.value, pos: t.pos }
    }
    if (t.t === 'op' && t.op === '(') {
      const inner = this.comparison(this.deeper(depth, t.pos))
      this.expect(')')
      return inner
    }
    if (t.t === 'name') {
      if (!this.isOp('(')) return { k: 'name', name: t.name, pos: t.pos }
      const fn = FUNCTIONS.get(t.name)
      if (fn === undefined) throw new ExprError(`unknown function '${t.name}'`, t.pos)
      this.i++
      const d = this.deeper(depth, t.pos)
      const args: ExprNode[] = []
      if (!this.isOp(')')) {
        for (;;) {
          args.push(this.comparison(d))
          if (!this.isOp(',')) break
          this.i++
        }
      }
      this.expect(')')
      if (args.length < fn.min || args.length > fn.max) {
        const want = fn.min === fn.max ? `${fn.min}` : fn.max === Infinity ? `at least ${fn.min}` : `${fn.min} to ${fn.max}`
        throw new ExprError(`${t.name}() takes ${want} argument${fn.min === 1 && fn.max === 1 ? '' : 's'}, not ${args.length}`, t.pos)
      }
      return { k: 'call', fn: t.name, args, pos: t.pos }
    }
    this.i--
    throw this.unexpected(t)
  }
}

type Fn = (...args: number[]) => number

/** The functions, in a Map: an expression cannot reach any other (no `constructor`, no `__proto__`). */
const FUNCTIONS = new Map<string, { min: number, max: number, fn?: Fn }>([
  ['where', { min: 3, max: 3 }], // lazy: only the chosen branch is evaluated (see compile)
  ['min', { min: 1, max: Infinity, fn: Math.min }],
  ['max', { min: 1, max: Infinity, fn: Math.max }],
  ['abs', { min: 1, max: 1, fn: Math.abs }],
  ['sqrt', { min: 1, max: 1, fn: Math.sqrt }],
  ['log', { min: 1, max: 1, fn: Math.log }],
  ['clip', { min: 3, max: 3, fn: (x, lo, hi) => Math.min(Math.max(x, lo), hi) }]
])

/** A parsed `;`-separated list of expressions, names not yet resolved. */
export interface ExprProgram {
  text: string
  exprs: ExprNode[]
}

/**
 * Parses `text` (several expressions separated by `;`). `known`: names that are band names as written, so
 * that `nir-08` can be one name when a band is so called and `nir-red` a difference otherwise.
 */
export function parseExpr (text: string, known: (name: string) => boolean = () => false): ExprProgram {
  if (typeof text !== 'string') throw new ExprError('must be a string')
  if (text.length > EXPR_LIMITS.length) throw new ExprError(`longer than ${EXPR_LIMITS.length} characters (${text.length})`)
  if (text.trim() === '') throw new ExprError('empty expression')
  const exprs = new Parser(splitNames(tokenize(text), known)).program()
  return { text, exprs }
}

/** Every name the program reads, with the position of its first use. */
export function exprNames (program: ExprProgram): Map<string, number> {
  const names = new Map<string, number>()
  const walk = (n: ExprNode): void => {
    if (n.k === 'name') { if (!names.has(n.name)) names.set(n.name, n.pos); return }
    if (n.k === 'neg') walk(n.a)
    else if (n.k === 'bin') { walk(n.a); walk(n.b) } else if (n.k === 'call') n.args.forEach(walk)
  }
  program.exprs.forEach(walk)
  return names
}

/**
 * The 0-based band index of each name the program reads: a caller's name (a stack source's `name`, a STAC
 * asset key or common name) first, else `b1`…`bN` by number. An unknown name is an ExprError at its place.
 */
export function resolveBands (program: ExprProgram, bandCount: number, names: ReadonlyMap<string, number> = new Map()): Map<string, number> {
  const bands = new Map<string, number>()
  for (const [name, pos] of exprNames(program)) {
    const byName = names.get(name)
    if (byName !== undefined) { bands.set(name, byName); continue }
    const m = /^b([1-9]\d{0,5})$/.exec(name)
    if (m && Number(m[1]) <= bandCount) { bands.set(name, Number(m[1]) - 1); continue }
    const known = [bandCount === 1 ? 'b1' : `b1…b${bandCount}`, ...names.keys()].join(', ')
    throw new ExprError(`unknown band '${name}' (known: ${known})`, pos)
  }
  return bands
}

/** A band's pixels as the evaluator reads them. */
export interface ExprBand {
  data: ArrayLike<number>
  /** The band's nodata value (NaN matches NaN), or null. */
  nodata: number | null
  /** GDAL's mask band, 0 where the pixel is masked; null when every pixel is valid. */
  mask?: ArrayLike<number> | null
  /** GDAL's scale and offset, applied to a valid value before the expression reads it (nodata is compared raw). */
  scale?: number
  offset?: number
}

type TypedArray = Float32Array | Float64Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array

/** The output types --expr-type takes (GDAL's names), with their arrays, nodata values and ranges. */
export const EXPR_TYPES: ReadonlyMap<string, { array: new (n: number) => TypedArray, nodata: number, lo: number, hi: number, bytes: number }> = new Map([
  // Floats: NaN, which no finite result can be, and which GDAL, numpy and QGIS read as nodata.
  ['Float32', { array: Float32Array, nodata: NaN, lo: -Infinity, hi: Infinity, bytes: 4 }],
  ['Float64', { array: Float64Array, nodata: NaN, lo: -Infinity, hi: Infinity, bytes: 8 }],
  // Integers: the end of the range furthest from zero's side of common data (min if signed, max if not).
  ['Byte', { array: Uint8Array, nodata: 255, lo: 0, hi: 254, bytes: 1 }],
  ['UInt16', { array: Uint16Array, nodata: 65535, lo: 0, hi: 65534, bytes: 2 }],
  ['Int16', { array: Int16Array, nodata: -32768, lo: -32767, hi: 32767, bytes: 2 }],
  ['UInt32', { array: Uint32Array, nodata: 4294967295, lo: 0, hi: 4294967294, bytes: 4 }],
  ['Int32', { array: Int32Array, nodata: -2147483648, lo: -2147483647, hi: 2147483647, bytes: 4 }]
])

/** Bytes the evaluation holds per pixel beyond the inputs: one output value per expression. */
export function exprBytesPerPixel (program: ExprProgram, type: string): number {
  return program.exprs.length * (EXPR_TYPES.get(type)?.bytes ?? 8)
}

type Compiled = (i: number) => number

function compile (n: ExprNode, bands: ReadonlyMap<string, number>, inputs: ExprBand[]): Compiled {
  switch (n.k) {
    case 'num': { const v = n.value; return () => v }
    case 'name': {
      const index = bands.get(n.name)
      if (index === undefined || inputs[index] === undefined) throw new ExprError(`unknown band '${n.name}'`, n.pos)
      const { data, scale = 1, offset = 0 } = inputs[index]
      return scale === 1 && offset === 0 ? (i) => data[i] : (i) => data[i] * scale + offset
    }
    case 'neg': { const a = compile(n.a, bands, inputs); return (i) => -a(i) }
    case 'bin': {
      const a = compile(n.a, bands, inputs)
      const b = compile(n.b, bands, inputs)
      // A comparison with nodata is nodata (NaN), not 0: NaN < 1 would otherwise say false.
      const cmp = (f: (x: number, y: number) => boolean): Compiled => (i) => {
        const x = a(i); const y = b(i)
        return Number.isNaN(x) || Number.isNaN(y) ? NaN : f(x, y) ? 1 : 0
      }
      switch (n.op) {
        case '+': return (i) => a(i) + b(i)
        case '-': return (i) => a(i) - b(i)
        case '*': return (i) => a(i) * b(i)
        case '/': return (i) => { const y = b(i); return y === 0 ? NaN : a(i) / y }
        case '<': return cmp((x, y) => x < y)
        case '<=': return cmp((x, y) => x <= y)
        case '>': return cmp((x, y) => x > y)
        case '>=': return cmp((x, y) => x >= y)
        case '==': return cmp((x, y) => x === y)
        case '!=': return cmp((x, y) => x !== y)
      }
      throw new ExprError(`unknown operator '${n.op}'`, n.pos)
    }
    case 'call': {
      const args = n.args.map((a) => compile(a, bands, inputs))
      if (n.fn === 'where') {
        const [c, t, f] = args
        return (i) => { const v = c(i); return Number.isNaN(v) ? NaN : v !== 0 ? t(i) : f(i) }
      }
      const fn = FUNCTIONS.get(n.fn)?.fn
      if (fn === undefined) throw new ExprError(`unknown function '${n.fn}'`, n.pos)
      if (args.length === 1) { const [a] = args; return (i) => fn(a(i)) }
      if (args.length === 2) { const [a, b] = args; return (i) => fn(a(i), b(i)) }
      if (args.length === 3) { const [a, b, c] = args; return (i) => fn(a(i), b(i), c(i)) }
      return (i) => fn(...args.map((a) => a(i)))
    }
  }
}

/** Whether each pixel of a band is valid: not its nodata, not NaN, not masked. */
function validity (band: ExprBand, pixels: number): Uint8Array {
  const valid = new Uint8Array(pixels)
  const { data, nodata, mask } = band
  for (let i = 0; i < pixels; i++) {
    const v = data[i]
    valid[i] = v !== v || v === nodata || (mask && mask[i] === 0) ? 0 : 1
  }
  return valid
}

/** The 0-based bands one expression reads. */
function bandsOf (expr: ExprNode, bands: ReadonlyMap<string, number>): number[] {
  return [...new Set([...exprNames({ text: '', exprs: [expr] }).keys()].map((n) => bands.get(n) as number))]
}

export interface ExprOutput {
  type: string
  nodata: number
  /** One array per expression, `pixels` long, in the output type. */
  bands: TypedArray[]
}

/** Evaluates every expression of the program over `pixels` pixels of `inputs` (the bands, 0-based). */
export function evaluateExpr (program: ExprProgram, bands: ReadonlyMap<string, number>, inputs: ExprBand[], pixels: number, type = 'Float32'): ExprOutput {
  const out = EXPR_TYPES.get(type)
  if (out === undefined) throw new ExprError(`unknown output type '${type}' (one of ${[...EXPR_TYPES.keys()].join(', ')})`)
  // Each band's validity once; each expression is nodata where a band it reads is (not another's).
  const valid = new Map<number, Uint8Array>()
  for (const index of new Set(bands.values())) valid.set(index, validity(inputs[index], pixels))
  const float = !Number.isFinite(out.hi)
  const results = program.exprs.map((expr) => {
    const f = compile(expr, bands, inputs)
    const reads = bandsOf(expr, bands).map((index) => valid.get(index) as Uint8Array)
    const result = new out.array(pixels)
    pixel: for (let i = 0; i < pixels; i++) {
      for (const v of reads) if (v[i] === 0) { result[i] = out.nodata; continue pixel }
      let v = f(i)
      if (!float) {
        // Half away from zero, as GDAL converts a float to an integer type (Math.round takes -2.5 to -2).
        v = v < 0 ? -Math.round(-v) : Math.round(v)
        if (!(v >= out.lo && v <= out.hi)) v = NaN
      }
      result[i] = v
      // Infinities and NaN (and a double that overflows the Float32 it is stored in) are nodata.
      if (!Number.isFinite(v) || !Number.isFinite(result[i])) result[i] = out.nodata
    }
    return result
  })
  return { type, nodata: out.nodata, bands: results }
}
