// A record's `mosaic` (with the `items` and `group` STAC grouping gives it, lib/input/stac-group.ts): its
// sources combined per pixel into one output (or, `none`, stacked as a time series), checked at input.
import { InvalidValue } from '../core/request.js'
import { mosaicMethod, type MosaicAsk } from '../core/mosaic.js'
import type { StackSource } from '../core/records.js'
import { option, words } from '../core/words.js'

/** The record's mosaic, or undefined; throws an InvalidValue naming the field. */
export function mosaicField (fields: Record<string, unknown>, sources: readonly StackSource[] | undefined, exprOption?: string): MosaicAsk | undefined {
  const { mosaic, items, group, dates } = fields
  if (mosaic === undefined) {
    const lone = ['items', 'group', 'dates'].find((k) => fields[k] !== undefined)
    if (lone !== undefined) throw new InvalidValue(`"${lone}" goes with "mosaic"`)
    return undefined
  }
  const method = mosaicMethod(mosaic)
  if (!sources) throw new InvalidValue('"mosaic" combines several sources: give "urls", or STAC items')
  if (fields.expr !== undefined || exprOption !== undefined) throw new InvalidValue(words`"mosaic" with band math ("expr" or ${option('expr')}) is not supported yet`)
  // Without `items`, each source is an item of its own.
  let ids: string[] = []
  if (items !== undefined) {
    if (!Array.isArray(items) || items.length === 0 || !items.every((i) => typeof i === 'string')) throw new InvalidValue('"items" must be a non-empty list of item ids')
    if (sources.length % items.length !== 0) throw new InvalidValue(`"items": ${items.length} items cannot share the ${sources.length} sources of "urls" evenly`)
    ids = items as string[]
  }
  if (group !== undefined && typeof group !== 'string') throw new InvalidValue('"group" must be a string')
  const count = ids.length > 0 ? ids.length : sources.length
  if (dates !== undefined && (!Array.isArray(dates) || dates.length !== count || !dates.every((d) => typeof d === 'string'))) throw new InvalidValue(`"dates" must be a list of ${count} datetimes, one per item`)
  return { method, items: ids, count, per: sources.length / count, ...(group !== undefined ? { group } : {}), ...(dates !== undefined ? { dates: dates as string[] } : {}) }
}

/** What a mosaic's output name hashes besides its sources: its method and group (the same items, combined otherwise, are another file). */
export function mosaicKey (ask: MosaicAsk | undefined, sources: unknown[]): unknown[] {
  return ask ? [{ mosaic: ask.method, group: ask.group ?? null }, ...sources] : sources
}
