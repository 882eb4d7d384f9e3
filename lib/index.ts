// The library: rasterPipeline() and the types of what goes in and comes out.
export { rasterPipeline, type RasterPipeline } from './pipeline.js'
export { LineSplitter, type RawLine } from './lines.js'
export { defaults, resolveOptions, type PipelineOptions, type FetchMode } from './options.js'
export type { InputItem, InputRecord, ResultRecord, RecordErrorJson, SourceInfo, Status, FetchKind, Timings } from './records.js'
export type { PixelWindow, Bbox } from './request.js'
export { RecordError, UsageError } from './errors.js'
