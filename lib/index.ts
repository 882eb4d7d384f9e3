// The library: rasterPipeline() and the types of what goes in and comes out.
export { rasterPipeline, type RasterPipeline } from './run/pipeline.js'
export { LineSplitter, type RawLine } from './input/lines.js'
export { resolveOptions } from './run/options.js'
export { defaults, type PipelineOptions, type PipelineInput, type FetchMode } from './core/options.js'
export type { InputItem, InputRecord, RecordFields, SourceEntry, BandMetadata, SourceResult, StacRecord, StacSearchRecord, StacItem, StacAsset, StacItemCollection, ResultRecord, RecordErrorJson, SourceInfo, Status, FetchKind, Timings, ZonalStats } from './core/records.js'
export type { PixelWindow, Bbox } from './core/request.js'
export { RecordError, UsageError } from './core/errors.js'
export type { OptionNames } from './core/words.js'
