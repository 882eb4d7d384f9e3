// The run's innermost HTTP client: an undici Agent, keep-alive, with connections per origin capped, each
// host name resolved once per DNS_TTL_MS; or, for hosts reached through a proxy, undici's ProxyAgent with
// the same settings (lib/http/client.ts composes the redirects, the fault guard and the host limits over
// it). Redirects are followed to http and https URLs only: a Location naming file:, s3: or any other
// scheme is refused, and said as such.
import type { Dispatcher } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import { Decorator } from './decorator.js'
import { ProxyRoutes, type Proxies } from './proxy.js'
import { redactUrl } from './redact.js'
import { proxyAgent, undici } from './undici.js'

export const MAX_REDIRECTS = 5

/**
 * How long a host name's addresses are kept: curl's default DNS cache timeout. Each new connection would
 * otherwise call getaddrinfo on libuv's pool, which GDAL's calls keep busy.
 */
export const DNS_TTL_MS = 60_000

/** undici's DNS lookup seam (its dns interceptor's `lookup` option): tests count lookups through it. */
export type DnsLookup = NonNullable<Parameters<ReturnType<typeof undici>['interceptors']['dns']>[0]>['lookup']

export interface HttpOptions {
  connections: number
  timeoutMs: number
  /** PEM certificate authorities that https servers (and https proxies) are checked against, instead of Node's. */
  ca?: string
  /** The run's proxies (lib/http/proxy.ts); absent: every request goes direct. */
  proxies?: Proxies
  /** Replaces undici's lookup (node:dns lookup, all addresses) in the DNS cache. */
  lookup?: DnsLookup
}

/**
 * undici's DNS interceptor with the run's TTL. IPv4 first, IPv6 when a host has no IPv4 address or refuses
 * on it (undici's dualStack otherwise alternates families request by request, which fails every other
 * request where IPv6 has no route). An IPv6 literal (`http://[::1]/`) passes untouched: undici's
 * interceptor would look up `[::1]` as a name, and fail.
 */
export function dnsCache (lookup?: DnsLookup): Dispatcher.DispatcherComposeInterceptor {
  const cache = undici().interceptors.dns({ maxTTL: DNS_TTL_MS, dualStack: true, affinity: 4, ...(lookup ? { lookup } : {}) })
  return (dispatch) => {
    const resolving = cache(dispatch)
    return (opts, handler) => /^[a-z][a-z0-9+.-]*:\/\/\[/i.test(String(opts.origin)) ? dispatch(opts, handler) : resolving(opts, handler)
  }
}

/** The run's default dispatcher. */
export function createAgent ({ connections, timeoutMs, ca, proxies, lookup }: HttpOptions): Dispatcher {
  const u = undici()
  const tls = ca !== undefined ? { ca } : {}
  const settings = { connections, pipelining: 1, keepAliveTimeout: 10_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }
  const direct = new u.Agent({ ...settings, connect: { timeout: timeoutMs, ...tls } }).compose(dnsCache(lookup))
  if (!proxies) return direct
  // Each origin's pool keeps the run's settings, whether it tunnels (CONNECT) or forwards (absolute form)
  // through the proxy: undici's own factories would make pools with its defaults. No DNS cache here: the
  // proxy resolves the hosts.
  const pool = (origin: string | URL, o: object): Dispatcher => new u.Pool(origin, { ...settings, connect: { timeout: timeoutMs, ...tls }, ...o })
  const agents = new Map<string, Dispatcher>()
  const through = (url: URL | undefined): Dispatcher | undefined => {
    if (!url) return undefined
    let agent = agents.get(url.href)
    if (!agent) {
      agent = new (proxyAgent())({
        ...settings,
        uri: url.href,
        connectTimeout: timeoutMs,
        ...(ca !== undefined ? { requestTls: tls, proxyTls: tls } : {}),
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
