// One reading of what a record's URL or an --out-dir names: a local path, a file: URL, an http(s) URL or an
// object-store URI. Every floor asks here rather than testing schemes itself.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export type StoreScheme = 's3' | 'gs' | 'az'
export type UrlKind = 'local' | 'file' | 'http' | 'store'

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/
const STORES = new Set<string>(['s3', 'gs', 'az'])

/** The scheme of a URL, lower-cased; undefined for a path (one letter before the colon is a Windows drive). */
export function schemeOf (text: string): string | undefined {
  const m = SCHEME.exec(text)
  return m && m[1].length > 1 ? m[1].toLowerCase() : undefined
}

/** What kind of place `text` names; an unknown scheme is `other` (the input floor refuses it). */
export function classifyUrl (text: string): { kind: UrlKind, scheme?: string, store?: StoreScheme } | { kind: 'other', scheme: string } {
  const scheme = schemeOf(text)
  if (scheme === undefined) return { kind: 'local' }
  if (scheme === 'file') return { kind: 'file', scheme }
  if ((scheme === 'http' || scheme === 'https') && text.slice(scheme.length + 1, scheme.length + 3) === '//') return { kind: 'http', scheme }
  if (STORES.has(scheme) && text.slice(scheme.length + 1, scheme.length + 3) === '//') return { kind: 'store', scheme, store: scheme as StoreScheme }
  return { kind: 'other', scheme }
}

/** Fetched over the network: http(s):// or an object store's URI. */
export function isRemote (text: string): boolean {
  const k = classifyUrl(text).kind
  return k === 'http' || k === 'store'
}

/** An object-store URI (s3://, gs://, az://): outputs go there by upload, not to a local folder. */
export function isStoreUri (text: string): boolean {
  return classifyUrl(text).kind === 'store'
}

/** The store a URI names (s3, gs, az), if it is one. */
export function storeOf (text: string): StoreScheme | undefined {
  const c = classifyUrl(text)
  return c.kind === 'store' ? c.store : undefined
}

/** A local path or file: URL as an absolute path. */
export function localPath (text: string): string {
  return classifyUrl(text).kind === 'file' ? fileURLToPath(text) : resolve(text)
}

/**
 * A proxy address as curl takes it: `[http[s]://][user[:password]@]host[:port]`; without a scheme,
 * http; an http proxy without a port, 1080 (curl's default; an https proxy's is 443). Throws an Error
 * saying why the text is not one (its message never holds the text itself).
 */
export function proxyAddress (value: string): URL {
  const text = value.trim()
  let url: URL
  try {
    url = new URL(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(text) ? text : `http://${text}`)
  } catch {
    throw new Error('not a proxy address (host[:port], or http://[user:password@]host[:port])')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`a ${url.protocol.slice(0, -1)} proxy is not supported (http:// and https:// only)`)
  if (url.hostname === '') throw new Error('not a proxy address (host[:port], or http://[user:password@]host[:port])')
  const port = /^(?:[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)?(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*)(:\d*)?/.exec(text)?.[1]
  if (url.protocol === 'http:' && (port === undefined || port === ':')) url.port = '1080'
  return url
}
