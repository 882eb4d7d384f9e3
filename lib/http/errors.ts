// Everything that can go wrong on the wire, as record errors: statuses and network failures to stable
// codes, marked retryable where another try could help.
import { RecordError } from '../core/errors.js'
import { MAX_REDIRECTS, RedirectRefused } from './agent.js'
import { parseRetryAfter, RETRYABLE_STATUS } from './backoff.js'
import { option, words } from '../core/words.js'

export function tooLarge (url: string, size: number, max: number): RecordError {
  return new RecordError('fetch', 'TOO_LARGE', words`${url}: body of ${size} bytes is over ${option('maxBytes')} ${max}`)
}

/** The error for a response that is not what we asked for. */
export function statusError (status: number, headers: Record<string, string | string[] | undefined>, url: string): RecordError {
  if (status >= 300 && status < 400) {
    return new RecordError('fetch', 'TOO_MANY_REDIRECTS', `${url}: still redirected (HTTP ${status}) after ${MAX_REDIRECTS} redirects`)
  }
  const err = new RecordError('fetch', `HTTP_${status}`, `${url}: server answered HTTP ${status}`, RETRYABLE_STATUS.has(status))
  const retryAfter = parseRetryAfter(headers['retry-after'])
  if (retryAfter !== undefined) err.retryAfter = retryAfter
  return err
}

const NETWORK_CODES: Record<string, [string, string, boolean]> = {
  UND_ERR_CONNECT_TIMEOUT: ['TIMEOUT', 'connection timed out', true],
  UND_ERR_HEADERS_TIMEOUT: ['TIMEOUT', 'no response headers within the timeout', true],
  UND_ERR_BODY_TIMEOUT: ['TIMEOUT', 'body stalled for longer than the timeout', true],
  UND_ERR_SOCKET: ['CONNECTION_RESET', 'connection closed by the server', true],
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: ['TRUNCATED', 'body shorter than its Content-Length', true],
  ECONNRESET: ['CONNECTION_RESET', 'connection reset', true],
  EPIPE: ['CONNECTION_RESET', 'connection reset', true],
  ECONNREFUSED: ['CONNECTION_REFUSED', 'connection refused', true],
  EHOSTUNREACH: ['HOST_UNREACHABLE', 'host unreachable', true],
  ENETUNREACH: ['HOST_UNREACHABLE', 'network unreachable', true],
  ETIMEDOUT: ['TIMEOUT', 'connection timed out', true],
  EAI_AGAIN: ['DNS', 'name lookup failed for now', true],
  ENOTFOUND: ['DNS', 'host name not found', false],
  UND_ERR_INVALID_ARG: ['BAD_URL', 'invalid request', false],
  HPE_INVALID_CONSTANT: ['BAD_RESPONSE', 'malformed HTTP response', true],
  // Writing what arrived, not the wire: a full disk (or quota) for the local copy, which another try would fill again.
  ENOSPC: ['NO_SPACE', 'no space left on the device for the local copy (ENOSPC; see TMPDIR)', false],
  EDQUOT: ['NO_SPACE', 'disk quota exceeded for the local copy (EDQUOT; see TMPDIR)', false]
}

/** Maps an exception from undici or the socket to a record error. */
export function networkError (err: unknown, url: string): RecordError {
  if (err instanceof RecordError) return err
  if (err instanceof RedirectRefused) return new RecordError('fetch', 'BAD_REDIRECT', `${url}: ${err.message}`)
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
  const code = e?.code ?? e?.cause?.code ?? ''
  // undici stops a redirect loop itself, with an argument error: it is the server's loop, not our URL.
  if (/redirect/i.test(e?.message ?? '')) {
    return new RecordError('fetch', 'TOO_MANY_REDIRECTS', `${url}: ${e.message.split('. ')[0]}`)
  }
  // undici's ProxyAgent says a proxy's refusal only in words: 407 when forwarding, any status of a CONNECT.
  const proxied = /Proxy Authentication Required \((\d{3})\)|Proxy response \((\d{3})\) !== 200/.exec(e?.message ?? '')
  if (proxied) {
    const status = Number(proxied[1] ?? proxied[2])
    if (status === 407) return new RecordError('fetch', 'PROXY_AUTH', `${url}: the proxy asks for credentials, or refused those given (HTTP 407)`)
    return new RecordError('fetch', 'PROXY', `${url}: the proxy refused the tunnel (HTTP ${status})`, status >= 500)
  }
  const known = NETWORK_CODES[code]
  if (known) return new RecordError('fetch', known[0], `${url}: ${known[1]}`, known[2])
  if (e?.name === 'AbortError') return new RecordError('fetch', 'ABORTED', `${url}: aborted`, false)
  const message = e?.message ?? String(err)
  return new RecordError('fetch', code.startsWith('HPE_') ? 'BAD_RESPONSE' : 'NETWORK', `${url}: ${message}`, true)
}
