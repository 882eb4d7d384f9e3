// The README's library example, type-checked by test/library.test.ts under --strict.
import { rasterPipeline, type InputRecord, type ResultRecord, type StacItem } from 'rasterpipe'

const pipeline = rasterPipeline({ outDir: 'chips', concurrency: 8 })
pipeline.write('https://example.org/a.tif')
pipeline.write({ url: 'https://example.org/b.tif', window: { col: 0, row: 0, width: 256, height: 256 }, bbox_crs: undefined })
// STAC: an item (or ItemCollection) by URL, one record per item; or the parsed Item itself.
pipeline.write({ stac: 'https://example.org/items/S2B_1.json', assets: ['red', 'nir'] })
const item = JSON.parse('{}') as StacItem
pipeline.write(item)
const record: InputRecord = { url: 'https://example.org/c.tif', window: [0, 0, 256, 256], bands: [3, 2, 1], out: 'c.tif' }
pipeline.end(record)

for await (const result of pipeline) {
  const r: ResultRecord = result
  if (r.status === 'error') console.error(r.line, r.error?.code, r.error?.message)
  else console.log(r.status, r.output, r.window?.width)
}
