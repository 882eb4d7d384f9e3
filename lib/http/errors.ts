// The run's one HTTP client: an undici Agent (keep-alive, connections per origin capped; redirects added by the pipeline),
// and the mapping of everything that can go wrong on the wire to record error codes.
import { Agent, type Dispatcher } from 'undici'
import { RecordError } from '../errors.js'
import { parseRetryAfter, RETRYABLE_STATUS } from './retry.js'

export const MAX_REDIRECTS = 5

export interface HttpOptions {
  connections: number
  timeoutMs: number
}

/** The run's default dispatcher (the pipeline adds redirects on top of it, and its fault guard). */
export function createAgent ({ connections, timeoutMs }: HttpOptions): Dispatcher {
  return new Agent({
    connections,
    pipelining: 1,
    keepAliveTimeout: 10_000,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs
  })
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
  HPE_INVALID_CONSTANT: ['BAD_RESPONSE', 'malformed HTTP response', true]
}

/** Maps an exception from undici or the socket to a record error. */
export function networkError (err: unknown, url: string): RecordError {
  if (err instanceof RecordError) return err
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
  const code = e?.code ?? e?.cause?.code ?? ''
  // undici stops a redirect loop itself, with an argument error: it is the server's loop, not our URL.
  if (/redirect/i.test(e?.message ?? '')) {
    return new RecordError('fetch', 'TOO_MANY_REDIRECTS', `${url}: ${e.message.split('. ')[0]}`)
  }
  const known = NETWORK_CODES[code]
  if (known) return new RecordError('fetch', known[0], `${url}: ${known[1]}`, known[2])
  if (e?.name === 'AbortError') return new RecordError('fetch', 'ABORTED', `${url}: aborted`, false)
  const message = e?.message ?? String(err)
  return new RecordError('fetch', code.startsWith('HPE_') ? 'BAD_RESPONSE' : 'NETWORK', `${url}: ${message}`, true)
}
