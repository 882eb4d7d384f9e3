// The library: rasterPipeline() and the types of what goes in and comes out.
export { rasterPipeline, type RasterPipeline } from './run/pipeline.js'
export { LineSplitter, type RawLine } from './input/lines.js'
export { defaults, resolveOptions, type PipelineOptions, type PipelineInput, type FetchMode } from './run/options.js'
export type { InputItem, InputRecord, RecordFields, SourceEntry, BandMetadata, SourceResult, ResultRecord, RecordErrorJson, SourceInfo, Status, FetchKind, Timings } from './input/records.js'
export type { PixelWindow, Bbox } from './input/request.js'
export { RecordError, UsageError } from './errors.js'
