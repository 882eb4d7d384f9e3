// A record's `expr` (else --expr), checked at parse: it must parse, and every name it reads must be a band
// number (`b1`: checked against the bands once the source is open) or, on a stack or STAC item, one of its
// sources' names. Anything else is the record's input error, naming the field and the place in it.
import { ExprError, exprNames, parseExpr } from '../core/expr.js'
import { InvalidValue } from '../core/request.js'
import type { ExprAsk } from '../core/job.js'
import type { PipelineOptions } from '../core/options.js'
import type { StackSource } from '../core/records.js'

export function exprField (value: unknown, options: Pick<PipelineOptions, 'expr' | 'exprType'>, sources?: readonly Pick<StackSource, 'name' | 'commonName'>[]): ExprAsk | undefined {
  const text = value ?? options.expr
  if (text === undefined) return undefined
  if (typeof text !== 'string') throw new InvalidValue(`"expr" must be a string of expressions, not ${Array.isArray(text) ? 'an array' : typeof text}`)
  const names = new Set((sources ?? []).flatMap((s) => [s.name, s.commonName].filter((n) => n !== undefined)))
  try {
    const program = parseExpr(text, (n) => names.has(n))
    for (const [name, pos] of exprNames(program)) {
      // A source of several bands names them `name_1`, `name_2`… (its bands' descriptions in the stack).
      if (names.has(name) || /^b[1-9]\d{0,5}$/.test(name) || [...names].some((n) => name.startsWith(`${n}_`) && /^\d+$/.test(name.slice(n.length + 1)))) continue
      const known = ['b1, b2…', ...names].join(', ')
      throw new ExprError(`unknown band '${name}' (known: ${known})`, pos)
    }
  } catch (err) {
    throw new InvalidValue(`"expr": ${(err as Error).message.replace(/^expr: /, '')}`)
  }
  return { text, type: options.exprType ?? 'Float32' }
}
