// Which source URLs a record may name: http(s), the object stores, file: and local paths.
import { InvalidValue } from '../core/request.js'
import { redactUrl } from '../http/redact.js'
import { schemeOf } from '../core/url.js'

export const ALLOWED_SCHEMES = new Set(['http', 'https', 'file', 's3', 'gs', 'az'])

/** The URL, checked; messages name it as it may be printed (a URL with a space is not found whole in text). */
export function checkUrl (url: string): string {
  // As it may be printed: made only for a message, as redacting parses the URL.
  const shown = (): string => redactUrl(url)
  const scheme = schemeOf(url)
  if (scheme !== undefined) {
    if (!ALLOWED_SCHEMES.has(scheme)) throw new InvalidValue(`unsupported URL scheme '${scheme}:' (use http, https, s3, gs, az, file or a local path)`)
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new InvalidValue(`invalid URL '${shown()}'`)
    }
    if (scheme !== 'file' && parsed.hostname === '') throw new InvalidValue(`URL '${shown()}' has no host`)
    if ((scheme === 's3' || scheme === 'gs') && !/^[a-z0-9]+:\/\/[^/]+\/./i.test(url)) throw new InvalidValue(`'${shown()}' needs a bucket and a key: ${scheme}://BUCKET/KEY`)
    if (scheme === 'az' && !/^az:\/\/[^/]+\/./i.test(url)) throw new InvalidValue(`'${shown()}' needs a container and a blob: az://CONTAINER/BLOB`)
  }
  return url
}
