// STAC items grouped into mosaics or time series: `mosaic` and `group_by` (or --mosaic, --group-by) on an
// ItemCollection or `{"stac": …}` record make one record per group of its items instead of one per item.
// A group's record is a multi-source record of its items' sources, item after item (each item's assets in
// the same order), with `mosaic` (the method), `items` (their ids) and `group` (the key). Groups come in
// the order of their first item, items in the document's order. Pure: the documents are read elsewhere.
import { RecordError } from '../core/errors.js'
import { InvalidValue, isObject } from '../core/request.js'
import { mosaicMethod, type MosaicMethod } from '../core/mosaic.js'
import type { SourceEntry } from '../core/records.js'
import { itemRecord, type ItemContext } from './stac.js'

export interface Grouping {
  mosaic: MosaicMethod
  /** `none`, `solar_day`, `day`, `month`, or a property's name. */
  groupBy: string
}

/** The group_by words that are not property names. */
const GROUP_WORDS = ['none', 'solar_day', 'day', 'month']

/** A record or a collection that asks for grouping, or whose run does (--mosaic, --group-by); undefined: one record per item. */
export function groupingOf (fields: Record<string, unknown>, defaults: { mosaic?: string, groupBy?: string }): Grouping | undefined {
  const asked = fields.mosaic ?? defaults.mosaic
  const groupBy = fields.group_by ?? defaults.groupBy
  if (asked === undefined && groupBy === undefined) return undefined
  const mosaic = asked === undefined ? undefined : mosaicMethod(asked)
  if (groupBy !== undefined && (typeof groupBy !== 'string' || groupBy.trim() === '')) {
    throw new InvalidValue(`"group_by" must be ${GROUP_WORDS.join(', ')} or a property's name, got ${JSON.stringify(groupBy)}`)
  }
  // group_by alone is a time series; mosaic alone combines all the document's items.
  const grouping: Grouping = { mosaic: mosaic ?? 'none', groupBy: groupBy?.trim() ?? 'none' }
  if (grouping.mosaic === 'none' && grouping.groupBy === 'none') return undefined
  return grouping
}

/** The local solar date (YYYY-MM-DD) of a UTC time at a longitude: the time plus longitude/15 hours, as odc-stac and stackstac's "solar_day". */
export function solarDay (utc: Date, longitude: number): string {
  return new Date(utc.getTime() + longitude * 240_000).toISOString().slice(0, 10)
}


function labelOf (item: unknown): string {
  const id = isObject(item) ? item.id : undefined
  return typeof id === 'string' || typeof id === 'number' ? `item '${String(id)}'` : 'an item without an id'
}

/** The item's `datetime`, or its `start_datetime` when datetime is null (a range). */
export function itemDate (item: unknown): Date {
  const p = isObject(item) && isObject(item.properties) ? item.properties : {}
  const text = typeof p.datetime === 'string' ? p.datetime : typeof p.start_datetime === 'string' ? p.start_datetime : undefined
  const date = text !== undefined ? new Date(text) : undefined
  if (!date || Number.isNaN(date.getTime())) {
    throw new RecordError('input', 'BAD_RECORD', `${labelOf(item)}: no "datetime" (nor "start_datetime") in its properties to group by`)
  }
  return date
}

/** The longitude of the item's centre, by its bbox (across the antimeridian when west > east). */
function centreLongitude (item: unknown): number {
  const b = isObject(item) ? item.bbox : undefined
  if (!Array.isArray(b) || (b.length !== 4 && b.length !== 6) || !b.every((n) => typeof n === 'number' && Number.isFinite(n))) {
    throw new RecordError('input', 'BAD_RECORD', `${labelOf(item)}: no "bbox" for the longitude "solar_day" groups by`)
  }
  const west = b[0] as number
  const east = (b.length === 4 ? b[2] : b[3]) as number
  const centre = west <= east ? (west + east) / 2 : (west + east + 360) / 2
  return centre > 180 ? centre - 360 : centre
}

/** The item's group key under `groupBy`. Throws an input error naming the item. */
export function groupKey (item: unknown, groupBy: string): string {
  switch (groupBy) {
    case 'none': return ''
    case 'solar_day': return solarDay(itemDate(item), centreLongitude(item))
    case 'day': return itemDate(item).toISOString().slice(0, 10)
    case 'month': return itemDate(item).toISOString().slice(0, 7)
  }
  const p = isObject(item) && isObject(item.properties) ? item.properties : {}
  const value = groupBy in p ? p[groupBy] : isObject(item) && groupBy !== 'assets' && groupBy !== 'properties' ? item[groupBy] : undefined
  if (value === undefined || value === null) throw new RecordError('input', 'BAD_RECORD', `${labelOf(item)}: no property "${groupBy}" to group by ("group_by")`)
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** One group's record, or an error record (an item that could not be grouped, or a group with a bad item). */
export type GroupOut = { record: Record<string, unknown> } | { error: RecordError, id?: string }

interface Group {
  key: string
  ids: string[]
  records: Array<Record<string, unknown>>
  dates: string[]
  /** Each item's lon/lat bbox (or its label, to name it when it has none): a union across CRSs needs no more of it. */
  boxes: Array<number[] | string>
  error?: RecordError
}

/**
 * The records of a document's items grouped: one per group, in the order of each group's first item.
 * `items` may be a document's features or a search's stream of items; all are taken before the first
 * group is given (a group may gain items to the end), holding each item's record, never pixels.
 */
export async function * groupedRecords (items: Iterable<unknown> | AsyncIterable<unknown>, context: ItemContext, grouping: Grouping, locationOf?: (item: unknown) => string): AsyncGenerator<GroupOut> {
  const { id, out, ...rest } = context.fields
  // One output per group: `id` and `out` may name it only when there is one group.
  if (grouping.groupBy !== 'none' && (id !== undefined || out !== undefined)) {
    yield { error: new RecordError('input', 'BAD_RECORD', `"${id !== undefined ? 'id' : 'out'}" names one record, but "group_by" gives one record per group (each is named by its key)`) }
    return
  }
  const itemContext: ItemContext = { ...context, fields: rest, many: false }
  const groups = new Map<string, Group>()
  for await (const item of items) {
    let key: string
    try {
      key = groupKey(item, grouping.groupBy)
    } catch (err) {
      yield { error: err as RecordError, ...idOf(item) }
      continue
    }
    let group = groups.get(key)
    if (!group) groups.set(key, group = { key, ids: [], records: [], dates: [], boxes: [] })
    const label = labelOf(item)
    group.ids.push(idOf(item).id ?? '')
    if (group.error) continue
    const b = isObject(item) && Array.isArray(item.bbox) ? item.bbox as number[] : []
    group.boxes.push(b.length === 4 ? b : b.length === 6 ? [b[0], b[1], b[3], b[4]] : label)
    try {
      group.records.push(itemRecord(item, locationOf ? { ...itemContext, location: locationOf(item) } : itemContext))
      group.dates.push(grouping.mosaic === 'none' ? itemDate(item).toISOString() : '')
    } catch (err) {
      const e = err instanceof RecordError ? err : new RecordError('input', 'BAD_RECORD', (err as Error).message)
      group.error = new RecordError(e.stage, e.code, `${groupName(grouping, key)}: ${e.message}`, e.retryable)
      continue
    }
    const first = group.records[0].urls as SourceEntry[]
    const these = group.records[group.records.length - 1].urls as SourceEntry[]
    if (these.length !== first.length || these.some((s, i) => s.name !== first[i].name)) {
      group.error = new RecordError('input', 'MISSING_ASSET', `${groupName(grouping, key)}: ${label} has the assets ${these.map((s) => s.name).join(', ')}, its group's first item ${first.map((s) => s.name).join(', ')}; a group's items need the same assets (pick them with "assets")`)
    }
  }
  for (const group of groups.values()) {
    const name = grouping.groupBy === 'none' ? (id !== undefined ? String(id) : group.ids[0]) : group.key
    if (group.error) {
      yield { error: group.error, id: name }
      continue
    }
    try {
      yield { record: groupRecord(group, grouping, context, name, out) }
    } catch (err) {
      yield { error: err as RecordError, id: name }
    }
  }
}

function idOf (item: unknown): { id?: string } {
  const id = isObject(item) ? item.id : undefined
  return typeof id === 'string' || typeof id === 'number' ? { id: String(id) } : {}
}

function groupName (grouping: Grouping, key: string): string {
  return grouping.groupBy === 'none' ? 'the mosaic' : `group '${key}'`
}

function groupRecord (group: Group, grouping: Grouping, context: ItemContext, name: string, out: unknown): Record<string, unknown> {
  const first = group.records[0]
  const record: Record<string, unknown> = { ...first, id: name }
  if (out !== undefined) record.out = out
  // A time series' bands are named by their item's date (and asset, with several).
  record.urls = group.records.flatMap((r, k) => (r.urls as SourceEntry[]).map((s, _, all) =>
    grouping.mosaic === 'none' ? { ...s, name: all.length === 1 ? group.dates[k] : `${group.dates[k]} ${s.name ?? ''}`.trim() } : s))
  record.mosaic = grouping.mosaic
  record.items = group.ids
  if (grouping.groupBy !== 'none') record.group = group.key
  if (grouping.mosaic === 'none') record.dates = group.dates
  if (context.wholeItem) Object.assign(record, unionExtent(group))
  return record
}

/** Whole items: the union of their extents, in their CRS when they share one, else of their lon/lat bboxes. */
function unionExtent (group: Group): { bbox: number[], bbox_crs: string } {
  const crs = group.records[0].bbox_crs as string
  const boxes = group.records.every((r) => r.bbox_crs === crs)
    ? group.records.map((r) => r.bbox as number[])
    : group.boxes.map((b) => {
      if (typeof b === 'string') throw new RecordError('input', 'BAD_RECORD', `${b}: its group's items are in several CRSs, and it has no "bbox" for the lon/lat union of their extents`)
      return b
    })
  const union = boxes.reduce((u, b) => [Math.min(u[0], b[0]), Math.min(u[1], b[1]), Math.max(u[2], b[2]), Math.max(u[3], b[3])])
  return { bbox: union, bbox_crs: group.records.every((r) => r.bbox_crs === crs) ? crs : 'EPSG:4326' }
}
