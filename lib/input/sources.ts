// A multi-source record's `urls`: each entry a URL or path, or {url, name?, bands?, headers?}, validated at
// input so that a bad entry is the record's input error naming the entry. An entry's headers are for its
// source alone (a STAC item's record carries the document's headers on the assets of its origin only).
import { redactUrl } from '../http/redact.js'
import { InvalidValue, parseHeaders } from '../core/request.js'

import { checkUrl } from './url.js'
import type { BandMetadata, BandValues, SourceEntry, StackSource } from '../core/records.js'

const ENTRY_KEYS = ['url', 'name', 'bands', 'headers', 'common_name']
const BAND_KEYS = ['nodata', 'scale', 'offset']
/** STAC writes these nodata values as strings, JSON having no NaN or infinities. */
const NODATA_WORDS: Record<string, number> = { nan: NaN, inf: Infinity, '-inf': -Infinity }

export function parseSources (value: unknown): StackSource[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidValue('"urls" must be a non-empty array of URLs or {url, name, bands, headers} objects')
  return value.map((item: unknown, i) => {
    const where = `urls[${i}]`
    try {
      return parseEntry(item)
    } catch (err) {
      throw err instanceof InvalidValue ? new InvalidValue(`${where}: ${err.message}`) : err
    }
  })
}

function parseEntry (item: unknown): StackSource {
  if (typeof item === 'string') {
    if (item.trim() === '') throw new InvalidValue('an empty URL')
    const url = checkUrl(item.trim())
    return { url, bands: [], entry: url }
  }
  if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new InvalidValue('must be a URL or an object {url, name, bands, headers}')
  const o = item as Record<string, unknown>
  const unknown = Object.keys(o).filter((k) => !ENTRY_KEYS.includes(k))
  if (unknown.length > 0) throw new InvalidValue(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${ENTRY_KEYS.join(', ')})`)
  if (typeof o.url !== 'string' || o.url.trim() === '') throw new InvalidValue('has no "url"')
  const url = checkUrl(o.url.trim())
  const source: StackSource = { url, bands: [], entry: { ...(o as unknown as SourceEntry), url } }
  if (o.name !== undefined) {
    if (typeof o.name !== 'string' || o.name === '') throw new InvalidValue('"name" must be a non-empty string')
    source.name = o.name
  }
  if (o.common_name !== undefined) {
    if (typeof o.common_name !== 'string' || o.common_name === '') throw new InvalidValue('"common_name" must be a non-empty string')
    source.commonName = o.common_name
  }
  if (o.headers !== undefined) {
    try {
      source.headers = parseHeaders(o.headers)
    } catch (err) {
      throw err instanceof InvalidValue ? new InvalidValue(`headers: ${err.message}`) : err
    }
  }
  if (o.bands !== undefined) {
    if (!Array.isArray(o.bands)) throw new InvalidValue('"bands" must be an array, one entry per source band')
    source.bands = o.bands.map((b: unknown, j) => {
      try {
        return parseBand(b)
      } catch (err) {
        throw err instanceof InvalidValue ? new InvalidValue(`bands[${j}]: ${err.message}`) : err
      }
    })
  }
  return source
}

function parseBand (value: unknown): BandValues {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidValue('must be an object {nodata, scale, offset}')
  const o = value as BandMetadata & Record<string, unknown>
  const unknown = Object.keys(o).filter((k) => !BAND_KEYS.includes(k))
  if (unknown.length > 0) throw new InvalidValue(`unknown key "${unknown[0]}" (known: ${BAND_KEYS.join(', ')})`)
  const band: BandValues = {}
  if (o.nodata !== undefined) {
    const n = typeof o.nodata === 'string' ? NODATA_WORDS[o.nodata.toLowerCase()] : o.nodata
    if (typeof n !== 'number') throw new InvalidValue(`"nodata" must be a number or "nan", "inf", "-inf", got ${JSON.stringify(o.nodata)}`)
    band.nodata = n
  }
  for (const key of ['scale', 'offset'] as const) {
    const v = o[key]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidValue(`"${key}" must be a number, got ${JSON.stringify(v)}`)
    band[key] = v
  }
  return band
}

/**
 * The entries as they ask for their sources (an output's name hashes them): URLs as given, without their
 * headers, nor the common name band math may use (the same pixels whatever else they are called).
 */
export function requestedSources (sources: StackSource[]): (string | SourceEntry)[] {
  return sources.map((s) => {
    if (typeof s.entry === 'string') return s.entry
    return Object.fromEntries(Object.entries(s.entry).filter(([k]) => k !== 'headers' && k !== 'common_name')) as unknown as SourceEntry
  })
}

/** The entries as they may be printed: URLs without credentials, and without their headers. */
export function printableSources (sources: StackSource[]): (string | SourceEntry)[] {
  return requestedSources(sources).map((entry) => typeof entry === 'string' ? redactUrl(entry) : { ...entry, url: redactUrl(entry.url) })
}
