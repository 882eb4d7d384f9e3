// The run's one HTTP client: an undici Agent, keep-alive, with connections per origin capped (the
// pipeline adds redirects and its fault guard on top of it).
import { Agent, type Dispatcher } from 'undici'

export const MAX_REDIRECTS = 5

export interface HttpOptions {
  connections: number
  timeoutMs: number
}

/** The run's default dispatcher. */
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
