// The run's HTTP client, composed once. Outermost first: the host limits (each origin's adaptive limit
// on requests in flight, Retry-After holds; lib/http/host-dispatcher.ts), the fault guard (a fresh client
// after a fault inside undici; guard.ts), the redirects (http and https only; agent.ts), undici's Agent
// with its DNS cache, or the proxies' (agent.ts, proxy.ts). The host limits are keyed by the origin asked,
// proxied or not.
import type { Dispatcher } from 'undici'
import { createAgent, withRedirects, type HttpOptions } from './agent.js'
import { GuardedDispatcher } from './guard.js'
import { HostLimitedDispatcher } from './host-dispatcher.js'

export interface HttpClientOptions {
  /** --concurrency: requests in flight per origin at most, and connections per origin. */
  concurrency: number
  /** false (--fixed-concurrency): each origin's limit stays at --concurrency. */
  adaptive: boolean
  timeoutMs: number
  /** The CA bundle, proxies and DNS lookup of the run's Agent (lib/http/agent.ts); unused with `make`. */
  agent?: Pick<HttpOptions, 'ca' | 'proxies' | 'resolve'>
  /** The innermost client, made afresh after a fault (default: the run's Agent). */
  make?: () => Dispatcher
  /** Hears of each fault the guard recovered from. */
  onFault: (err: unknown) => void
}

export function createHttpClient ({ concurrency, adaptive, timeoutMs, agent, make, onFault }: HttpClientOptions): HostLimitedDispatcher {
  const inner = make ?? (() => createAgent({ ...agent, connections: concurrency, timeoutMs }))
  const guarded = new GuardedDispatcher(() => withRedirects(inner()), onFault)
  // Outermost, so that every request of the run (fetches, blocks, HEADs, uploads) waits its host's turn
  // here, and a dispatcher replaced by the guard keeps the hosts' limits. A redirect's hops are counted
  // under the origin first asked.
  return new HostLimitedDispatcher(guarded, { cap: concurrency, adaptive })
}
