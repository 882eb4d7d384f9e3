// Must NOT type-check: `windw` is not a field of an input record (test/library.test.ts expects TS2353).
import { rasterPipeline } from 'rasterpipe'

const pipeline = rasterPipeline({ outDir: 'chips' })
pipeline.write({ url: 'https://example.org/b.tif', windw: [0, 0, 256, 256] })
pipeline.end()
