// Pipeline options: defaults, and validation at the edge so that stages can trust what they get.
import { tmpdir } from 'node:os'
import { UsageError } from './errors.js'
import { InvalidValue, type WindowRequest } from './request.js'

export type FetchMode = 'auto' | 'download' | 'range'

/** The window fields are every record's defaults; a record's own fields override them. */
export interface PipelineOptions extends WindowRequest {
  /** Where outputs go; `out` of a record is relative to it and may not leave it. */
  outDir: string
  /** Fetches in flight, and connections per origin. */
  concurrency: number
  /** Largest window, in pixels per band, read for one record. */
  maxPixels: number
  fetch: FetchMode
  retries: number
  /** Seconds of inactivity (connect, headers, or a stalled body) before a request fails. */
  timeout: number
  /** Largest body accepted, in bytes. */
  maxBytes: number
  format: string
  creationOptions: string[]
  skipExisting: boolean
  /** Longest input line, in bytes. */
  maxLineLength: number
  /** Parent of the run's private temp directory. */
  tempRoot: string
  /** Records each GDAL stage (open, read, write) works on at once. */
  gdalConcurrency: number
  /** Base delay of the retry backoff, in ms (tests shorten it). */
  retryBaseMs: number
}

export const defaults: PipelineOptions = {
  outDir: 'output',
  concurrency: 16,
  window: { col: 0, row: 0, width: 512, height: 512 },
  boundless: false,
  maxPixels: 4096 * 4096,
  fetch: 'auto',
  retries: 4,
  timeout: 60,
  maxBytes: 2 * 1024 ** 3,
  format: 'GTiff',
  creationOptions: [],
  skipExisting: false,
  maxLineLength: 1024 * 1024,
  tempRoot: tmpdir(),
  gdalConcurrency: 4,
  retryBaseMs: 250
}

function positiveInt (value: unknown, name: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new UsageError(`${name} must be a whole number of at least ${min}, got ${String(value)}`)
  }
  return value
}

export function resolveOptions (given: Partial<PipelineOptions> = {}): PipelineOptions {
  const o: PipelineOptions = { ...defaults, ...stripUndefined(given) }
  positiveInt(o.concurrency, 'concurrency')
  positiveInt(o.gdalConcurrency, 'gdalConcurrency')
  positiveInt(o.maxPixels, 'max-pixels')
  positiveInt(o.retries, 'retries', 0)
  positiveInt(o.maxBytes, 'max-bytes')
  positiveInt(o.maxLineLength, 'maxLineLength')
  if (typeof o.retryBaseMs !== 'number' || !(o.retryBaseMs >= 0)) throw new UsageError(`retryBaseMs must be 0 or more, got ${String(o.retryBaseMs)}`)
  if (typeof o.timeout !== 'number' || !(o.timeout > 0)) throw new UsageError(`timeout must be more than 0 seconds, got ${String(o.timeout)}`)
  if (!['auto', 'download', 'range'].includes(o.fetch)) throw new UsageError(`fetch must be auto, download or range, got '${o.fetch}'`)
  if (typeof o.outDir !== 'string' || o.outDir === '') throw new UsageError('out-dir must be a directory path')
  for (const co of o.creationOptions) {
    if (!/^[A-Za-z0-9_]+=/.test(co)) throw new UsageError(`co: '${co}' is not NAME=VALUE`)
  }
  return o
}

function stripUndefined<T extends object> (obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Runs a request validator for an option, turning its complaint into a usage error. */
export function optionValue<T> (name: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    if (err instanceof InvalidValue) throw new UsageError(`--${name}: ${err.message}`)
    throw err
  }
}
