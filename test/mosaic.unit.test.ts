// Mosaics on their own: the per-pixel accumulator (lib/core/mosaic.ts) against hand-worked values, and STAC
// grouping (lib/input/stac-group.ts): the solar day, keys by day, month and property, group order, an item
// that cannot be grouped, a group with a bad item, and the fields' checks.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Accumulator, accumulatorBytesPerPixel } from '../lib/core/mosaic.js'
import { groupedRecords, groupingOf, groupKey, solarDay, type GroupOut } from '../lib/input/stac-group.js'
import { mosaicField } from '../lib/input/mosaic-field.js'
import { resolveOptions } from '../lib/run/options.js'
import { UsageError } from '../lib/core/errors.js'
import type { ItemContext } from '../lib/input/stac.js'

// Four items over three pixels; 0 in `valid` is no value (outside, nodata).
const VALUES = [[5, 1, 7], [3, NaN, 9], [8, 2, 4], [6, 2, 1]]
const VALID = [[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 1, 0]]

function combine (method: ConstructorParameters<typeof Accumulator>[0]): Array<number | null> {
  const acc = new Accumulator(method, 3, VALUES.length)
  VALUES.forEach((v, i) => acc.add(v, VALID[i]))
  const { values, valid } = acc.result()
  return Array.from(values, (v, i) => valid[i] === 1 ? v : null)
}

test('accumulator: first/last valid in order, min/max/mean/median over valid values, count; NaN is no value', () => {
  assert.deepEqual(combine('first'), [5, 1, null])
  assert.deepEqual(combine('last'), [8, 2, null])
  assert.deepEqual(combine('min'), [3, 1, null])
  assert.deepEqual(combine('max'), [8, 2, null])
  assert.deepEqual(combine('mean'), [16 / 3, 1.5, null])
  // Odd: the middle value; even: the mean of the two middle ones, as numpy's.
  assert.deepEqual(combine('median'), [5, 1.5, null])
  assert.deepEqual(combine('count'), [3, 2, 0])
  assert.equal(accumulatorBytesPerPixel('median', 10), 84)
  assert.throws(() => { const a = new Accumulator('median', 1, 1); a.add([1], [1]); a.add([2], [1]) }, /more than the 1 items/)
})

test('solar day: UTC plus longitude/15 hours', () => {
  // 23:30 UTC at +30° is 01:30 the next day; 00:30 UTC at -60° is 20:30 the day before.
  assert.equal(solarDay(new Date('2024-03-10T23:30:00Z'), 30), '2024-03-11')
  assert.equal(solarDay(new Date('2024-03-10T00:30:00Z'), -60), '2024-03-09')
  assert.equal(solarDay(new Date('2024-03-10T12:00:00Z'), 0), '2024-03-10')
})

function item (id: string, datetime: string | null, lon: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'Feature', stac_version: '1.0.0', id, bbox: [lon - 0.1, 10, lon + 0.1, 11], geometry: null,
    properties: { datetime, ...extra },
    assets: { red: { href: `https://h/${id}/red.tif`, type: 'image/tiff' } }
  }
}

test('group keys: solar_day by the centre longitude (across the antimeridian too), day and month in UTC, start_datetime, a property', () => {
  assert.equal(groupKey(item('a', '2024-01-01T23:30:00Z', 30), 'solar_day'), '2024-01-02')
  assert.equal(groupKey(item('a', '2024-01-01T23:30:00Z', 30), 'day'), '2024-01-01')
  assert.equal(groupKey(item('a', '2024-01-01T00:30:00Z', -60), 'solar_day'), '2023-12-31')
  assert.equal(groupKey(item('a', '2024-01-01T00:30:00Z', -60), 'month'), '2024-01')
  // A bbox from 179° to -179°: its centre is 180°, 12 h ahead.
  assert.equal(groupKey({ ...item('a', '2024-01-01T13:00:00Z', 0), bbox: [179, 0, -179, 1] }, 'solar_day'), '2024-01-02')
  assert.equal(groupKey(item('a', null, 0, { start_datetime: '2024-05-01T00:00:00Z' }), 'day'), '2024-05-01')
  assert.equal(groupKey(item('a', null, 0, { 'sat:orbit': 12 }), 'sat:orbit'), '12')
  assert.throws(() => groupKey(item('a', null, 0), 'day'), /item 'a': no "datetime"/)
  assert.throws(() => groupKey(item('a', '2024-01-01T00:00:00Z', 0), 'platform'), /item 'a': no property "platform"/)
})

async function all (it: AsyncIterable<GroupOut>): Promise<GroupOut[]> {
  const out: GroupOut[] = []
  for await (const g of it) out.push(g)
  return out
}

test('grouped records: groups in order of first appearance, items in document order, from an async stream; one error per bad item or group', async () => {
  const context: ItemContext = { fields: {}, wholeItem: false, many: true }
  async function * stream (): AsyncGenerator<unknown> {
    yield item('a', '2024-01-01T10:00:00Z', 0)
    yield item('b', '2024-01-02T10:00:00Z', 0)
    yield item('c', '2024-01-01T20:00:00Z', 0)
    yield item('d', null, 0)
    yield { ...item('e', '2024-01-03T10:00:00Z', 0), assets: {} }
  }
  const out = await all(groupedRecords(stream(), context, { mosaic: 'max', groupBy: 'day' }))
  assert.equal(out.length, 4)
  assert.ok('error' in out[0] && out[0].id === 'd' && /item 'd': no "datetime"/.test(out[0].error.message))
  assert.ok('record' in out[1] && 'record' in out[2])
  assert.deepEqual([out[1].record.group, out[1].record.items, out[1].record.mosaic, out[1].record.id], ['2024-01-01', ['a', 'c'], 'max', '2024-01-01'])
  assert.deepEqual((out[1].record.urls as Array<{ url: string }>).map((u) => u.url), ['https://h/a/red.tif', 'https://h/c/red.tif'])
  assert.deepEqual(out[2].record.items, ['b'])
  assert.ok('error' in out[3] && out[3].id === '2024-01-03' && out[3].error.code === 'MISSING_ASSET' && /^group '2024-01-03': item 'e'/.test(out[3].error.message))
  // A time series' sources are named by their items' dates.
  const series = await all(groupedRecords([item('a', '2024-01-01T10:00:00Z', 0), item('b', '2024-01-01T11:00:00Z', 0)], context, { mosaic: 'none', groupBy: 'month' }))
  assert.ok('record' in series[0])
  assert.deepEqual((series[0].record.urls as Array<{ name: string }>).map((u) => u.name), ['2024-01-01T10:00:00.000Z', '2024-01-01T11:00:00.000Z'])
  // One group (no group_by) may be named by the record's id; several may not.
  const named = await all(groupedRecords([item('a', null, 0)], { ...context, fields: { id: 'all' } }, { mosaic: 'mean', groupBy: 'none' }))
  assert.ok('record' in named[0] && named[0].record.id === 'all' && named[0].record.group === undefined)
  const refused = await all(groupedRecords([item('a', null, 0)], { ...context, fields: { id: 'x' } }, { mosaic: 'mean', groupBy: 'day' }))
  assert.ok('error' in refused[0] && /"id" names one record/.test(refused[0].error.message))
})

test('grouping fields and options: checked with messages naming them', () => {
  assert.equal(groupingOf({}, {}), undefined)
  assert.equal(groupingOf({ mosaic: 'none' }, {}), undefined)
  assert.deepEqual(groupingOf({ group_by: 'day' }, {}), { mosaic: 'none', groupBy: 'day' })
  assert.deepEqual(groupingOf({}, { mosaic: 'median' }), { mosaic: 'median', groupBy: 'none' })
  assert.deepEqual(groupingOf({ mosaic: 'min' }, { mosaic: 'max', groupBy: 'month' }), { mosaic: 'min', groupBy: 'month' })
  assert.throws(() => groupingOf({ mosaic: 'avg' }, {}), /"mosaic": unknown method "avg"/)
  assert.throws(() => groupingOf({ group_by: 3 }, {}), /"group_by" must be/)
  assert.throws(() => mosaicField({ mosaic: 'max' }, undefined), /"mosaic" combines several sources/)
  assert.throws(() => mosaicField({ items: ['a'] }, undefined), /"items" goes with "mosaic"/)
  const sources = [{ url: 'a', bands: [], entry: 'a' }, { url: 'b', bands: [], entry: 'b' }, { url: 'c', bands: [], entry: 'c' }]
  assert.throws(() => mosaicField({ mosaic: 'max', items: ['x', 'y'] }, sources), /2 items cannot share the 3 sources/)
  assert.deepEqual(mosaicField({ mosaic: 'max' }, sources), { method: 'max', items: [], count: 3, per: 1 })
  assert.throws(() => resolveOptions({ mosaic: 'avg' }), (err: unknown) => err instanceof UsageError && err.option === 'mosaic')
  assert.throws(() => resolveOptions({ groupBy: ' ' }), (err: unknown) => err instanceof UsageError && err.option === 'groupBy')
})
