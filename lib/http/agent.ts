// The run's innermost HTTP client: an undici Agent, keep-alive, with connections per origin capped, each
// host name resolved once per DNS_TTL_MS (lib/http/dns-cache.ts); or, for hosts reached through a proxy, undici's ProxyAgent with
// the same settings (lib/http/client.ts composes the redirects, the fault guard and the host limits over
// it). Redirects are followed to http and https URLs only: a Location naming file:, s3: or any other
// scheme is refused, and said as such.
import { createSecureContext } from 'node:tls'
import type { Dispatcher } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import { Decorator } from './decorator.js'
import { DnsCache, type Resolve } from './dns-cache.js'
import { ProxyRoutes, type Proxies } from './proxy.js'
import { redactUrl } from './redact.js'
import { proxyAgent, undici } from './undici.js'

export const MAX_REDIRECTS = 5

/** How long a host name's addresses are kept: curl's default DNS cache timeout. */
export const DNS_TTL_MS = 60_000

export interface HttpOptions {
  connections: number
  timeoutMs: number
  /** PEM certificate authorities that https servers (and https proxies) are checked against, instead of Node's. */
  ca?: string
  /** The run's proxies (lib/http/proxy.ts); absent: every request goes direct. */
  proxies?: Proxies
  /** Replaces node:dns lookup beneath the DNS cache (lib/http/dns-cache.ts). */
  resolve?: Resolve
}

/** The run's default dispatcher. */
export function createAgent ({ connections, timeoutMs, ca, proxies, resolve }: HttpOptions): Dispatcher {
  const u = undici()
  // One TLS context for the run: given as `ca`, Node would parse the whole bundle again for every
  // connection (some 17 ms for a system bundle of 140 authorities).
  const tls = ca !== undefined ? { secureContext: createSecureContext({ ca }) } : {}
  const settings = { connections, pipelining: 1, keepAliveTimeout: 10_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }
  // Names are resolved through the cache for direct connections and for the proxy's own; a host reached
  // through a proxy is resolved by the proxy.
  const connect = { timeout: timeoutMs, lookup: new DnsCache(DNS_TTL_MS, resolve).lookup, ...tls }
  const direct = new u.Agent({ ...settings, connect })
  if (!proxies) return direct
  // Each origin's pool keeps the run's settings, whether it tunnels (CONNECT) or forwards (absolute form)
  // through the proxy: undici's own factories would make pools with its defaults.
  const pool = (origin: string | URL, o: object): Dispatcher => new u.Pool(origin, { ...settings, connect, ...o })
  const agents = new Map<string, Dispatcher>()
  const through = (url: URL | undefined): Dispatcher | undefined => {
    if (!url) return undefined
    let agent = agents.get(url.href)
    if (!agent) {
      agent = new (proxyAgent())({
        ...settings,
        uri: url.href,
        connectTimeout: timeoutMs,
        // The connections to the proxy itself resolve its name through the cache; a tunnel's TLS to the
        // host runs over the proxy's socket.
        proxyTls: { ...tls, lookup: connect.lookup },
        ...(ca !== undefined ? { requestTls: tls } : {}),
        factory: pool,
        clientFactory: (origin, o) => new u.Pool(origin, { headersTimeout: timeoutMs, ...o })
      })
      agents.set(url.href, agent)
    }
    return agent
  }
  const proxied: { http?: Dispatcher, https?: Dispatcher } = {}
  const forHttp = through(proxies.http)
  const forHttps = through(proxies.https)
  if (forHttp) proxied.http = forHttp
  if (forHttps) proxied.https = forHttps
  return new ProxyRoutes(direct, proxied, proxies.bypass)
}

/** A redirect to a URL that is not http or https; the message names the target, redacted. */
export class RedirectRefused extends Error {
  override name = 'RedirectRefused'
}

/** `dispatcher` following up to MAX_REDIRECTS redirects, each to an http or https URL only. */
export function withRedirects (dispatcher: Dispatcher): Dispatcher {
  // Composed inside the redirect interceptor, so that the check sees every hop's answer before undici
  // follows it (undici itself would refuse another scheme only as an argument error, naming nothing).
  return dispatcher.compose(refuseOtherSchemes, undici().interceptors.redirect({ maxRedirections: MAX_REDIRECTS }))
}

const refuseOtherSchemes: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) =>
  dispatch(opts, new SchemeCheck(handler, `${String(opts.origin ?? '')}${opts.path}`))

/** A 3xx whose Location is not http(s) is thrown as RedirectRefused (the request's error); all else passes on. */
class SchemeCheck extends Decorator {
  constructor (handler: Dispatcher.DispatchHandler, private readonly url: string) {
    super(handler)
  }

  override onResponseStart (controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const location = headers.location
    if (statusCode >= 300 && statusCode < 400 && typeof location === 'string') {
      let target: URL | undefined
      try {
        target = new URL(location, this.url)
      } catch {
        // Not a URL at all: undici's own error says so.
      }
      if (target && target.protocol !== 'http:' && target.protocol !== 'https:') {
        throw new RedirectRefused(`redirected to '${redactUrl(target.href)}': only http and https redirects are followed`)
      }
    }
    super.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }
}
