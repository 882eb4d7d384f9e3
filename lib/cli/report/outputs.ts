// Where a record's output is, for the report to open it: a local path as the record printed it (relative
// to the directory the run ran in: tried from here, then beside the records file, then under --base), or
// an object in a store (s3://, gs://, az://) or at an http(s) URL, read whole into memory over the
// run's own HTTP layer and credentials (the environment and --config as the main command reads them).
import { existsSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { isRemote, localPath } from '../../core/url.js'
import { resolveOptions } from '../../run/options.js'
import { beneath, optionsFromEnvironment } from '../../run/environment.js'
import { Secrets } from '../../http/redact.js'
import { networkSettings } from '../../http/network.js'
import { createHttpClient } from '../../http/client.js'
import { Stores } from '../../store/stores.js'
import { createDocumentReader, type DocumentReader } from '../../source/document.js'

/** The most bytes of one output the report reads from a store to draw its thumbnail. */
export const OUTPUT_MAX_BYTES = 256 * 1024 * 1024

export interface Located {
  /** A local path to open, or a remote location to read. */
  path: string
  remote: boolean
}

/** The output of a record read from `from` (a records file, or '-'), if it can be found. */
export function locateOutput (output: string, from: string, bases: string[]): Located | undefined {
  if (isRemote(output)) return { path: output, remote: true }
  let path: string
  try {
    path = localPath(output)
  } catch {
    return undefined
  }
  if (isAbsolute(output) || output.startsWith('file:')) return existsSync(path) ? { path, remote: false } : undefined
  const places = [process.cwd(), ...(from === '-' ? [] : [dirname(resolve(from))]), ...bases]
  for (const place of places) {
    const candidate = join(place, output)
    if (existsSync(candidate)) return { path: candidate, remote: false }
  }
  return undefined
}

/** Reads remote outputs through the run's HTTP client and stores' signing; made on first use. */
export class RemoteOutputs {
  private reader?: DocumentReader
  private close?: () => Promise<void>
  private readonly aborter = new AbortController()

  constructor (private readonly gdalConfig: Record<string, string> = {}) {}

  async read (location: string): Promise<Buffer> {
    if (!this.reader) {
      const env = { ...process.env, ...this.gdalConfig }
      const options = resolveOptions(beneath(optionsFromEnvironment(env).options, {}))
      const secrets = new Secrets()
      const network = networkSettings(options, secrets)
      const dispatcher = createHttpClient({ concurrency: options.concurrency, adaptive: true, timeoutMs: options.timeout * 1000, agent: network.agent, onFault: () => undefined })
      const stores = new Stores(options, secrets, env, network.credentials)
      this.reader = createDocumentReader({ options, dispatcher, signal: this.aborter.signal, stores }, OUTPUT_MAX_BYTES)
      this.close = async () => { await dispatcher.destroy().catch(() => undefined) }
    }
    return await this.reader(location, {})
  }

  async destroy (): Promise<void> {
    this.aborter.abort()
    await this.close?.()
  }
}
