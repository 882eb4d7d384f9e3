// Which proxy a request goes through, chosen as curl chooses: the `proxy` option for every URL, else
// http_proxy / HTTP_PROXY for http URLs and https_proxy / HTTPS_PROXY for https ones, then all_proxy /
// ALL_PROXY; hosts on the `noProxy` list (else no_proxy / NO_PROXY) go direct. undici's EnvHttpProxyAgent
// would send https URLs through HTTP_PROXY when HTTPS_PROXY is unset, which curl does not, so the choice
// is made here and undici's ProxyAgent does the proxying (absolute form for http, CONNECT for https).
import { BlockList, isIP } from 'node:net'
import type { Dispatcher } from 'undici'
import { UsageError } from '../core/errors.js'
import { option, words, type Message } from '../core/words.js'
import { redactUrl, type Secrets } from './redact.js'
import { Dispatcher as DispatcherBase } from './undici.js'

/** The proxies of a run: one per target scheme (absent: direct), and the hosts reached directly anyway. */
export interface Proxies {
  http?: URL
  https?: URL
  /** Whether a host (name or IP, without port) is on the no-proxy list. */
  bypass: (hostname: string) => boolean
}

/** Where the proxies come from: the options, else the environment. */
export interface ProxyOptions {
  proxy?: string
  noProxy?: string
}

/** The first of `names` set (not empty) in `env`, with its name. */
function fromEnv (env: NodeJS.ProcessEnv, names: string[]): { name: string, value: string } | undefined {
  for (const name of names) {
    const value = env[name]
    if (value !== undefined && value !== '') return { name, value }
  }
  return undefined
}

/**
 * The run's proxies, or undefined when every request goes direct. A proxy URL's password (and the
 * Proxy-Authorization made of it) joins `secrets`; a URL that is not an http(s) proxy is a usage error
 * naming the option or variable it came from, redacted.
 */
export function resolveProxies (o: ProxyOptions, secrets: Secrets, env: NodeJS.ProcessEnv = process.env): Proxies | undefined {
  let http: URL | undefined
  let https: URL | undefined
  if (o.proxy !== undefined) {
    http = https = proxyUrl(o.proxy, words`${option('proxy')}`, 'proxy', secrets)
  } else {
    // curl reads only the lower-case http_proxy (CGI puts a request's Proxy: header in HTTP_PROXY); undici's
    // EnvHttpProxyAgent, and so rasterpipe, reads either, lower case first.
    const forHttp = fromEnv(env, ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'])
    const forHttps = fromEnv(env, ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'])
    if (forHttp) http = proxyUrl(forHttp.value, forHttp.name, undefined, secrets)
    if (forHttps) https = forHttps.value === forHttp?.value && http ? http : proxyUrl(forHttps.value, forHttps.name, undefined, secrets)
  }
  if (!http && !https) return undefined
  const list = o.noProxy ?? fromEnv(env, ['no_proxy', 'NO_PROXY'])?.value ?? ''
  return { ...(http ? { http } : {}), ...(https ? { https } : {}), bypass: noProxyMatcher(list) }
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

/** A proxy option's or variable's URL; its password (and the Proxy-Authorization made of it) joins `secrets`. */
function proxyUrl (value: string, name: Message, key: string | undefined, secrets: Secrets): URL {
  let url: URL
  try {
    url = proxyAddress(value)
  } catch (err) {
    throw new UsageError(words`${name}: '${redactUrl(value.includes('://') ? value : `http://${value}`)}': ${(err as Error).message}`, key ? { option: key } : {})
  }
  if (url.password !== '') {
    let password = url.password
    let user = url.username
    try {
      password = decodeURIComponent(password)
      user = decodeURIComponent(user)
    } catch {
      // Sent as written (undici decodes it; a bad escape fails there, unprinted).
    }
    secrets.add(url.password, password, Buffer.from(`${user}:${password}`).toString('base64'))
  }
  return url
}

/**
 * curl's no-proxy rules: `*` alone matches every host; entries (separated by commas or spaces) are host
 * names, matching that name and every name under it (`example.com` and `.example.com` both match
 * `a.example.com`), or IP addresses, with an optional /bits (CIDR), matching IP hosts only. No name is
 * resolved for this; ports are not part of an entry.
 */
export function noProxyMatcher (list: string): (hostname: string) => boolean {
  const entries = list.split(/[\s,]+/).map((e) => e.toLowerCase()).filter((e) => e !== '')
  if (entries.includes('*')) return () => true
  const names: string[] = []
  const ips = new BlockList()
  for (const entry of entries) {
    const [address, bits, ...rest] = entry.replace(/^\[(.*)\]/, '$1').split('/')
    const family = isIP(address)
    if (family !== 0 && rest.length === 0) {
      const type = family === 4 ? 'ipv4' : 'ipv6'
      const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits)
      if (Number.isInteger(prefix) && prefix >= 0 && prefix <= (family === 4 ? 32 : 128)) ips.addSubnet(address, prefix, type)
    } else {
      const name = entry.replace(/^\./, '').replace(/\.$/, '')
      if (name !== '') names.push(name)
    }
  }
  return (hostname) => {
    let host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1')
    const family = isIP(host)
    if (family !== 0) return ips.check(host, family === 4 ? 'ipv4' : 'ipv6')
    if (host.endsWith('.')) host = host.slice(0, -1)
    return names.some((name) => host === name || host.endsWith(`.${name}`))
  }
}

/**
 * A dispatcher that sends each request through its scheme's proxy, or directly when there is none or the
 * host is on the no-proxy list. Each origin's choice is made once.
 */
export class ProxyRoutes extends DispatcherBase {
  private readonly routes = new Map<string, Dispatcher>()

  constructor (private readonly direct: Dispatcher, private readonly proxied: { http?: Dispatcher, https?: Dispatcher }, private readonly bypass: (hostname: string) => boolean) {
    super()
  }

  /** Which dispatcher requests to `origin` take. */
  route (origin: string): Dispatcher {
    let via = this.routes.get(origin)
    if (!via) {
      const url = new URL(origin)
      const proxy = url.protocol === 'https:' ? this.proxied.https : url.protocol === 'http:' ? this.proxied.http : undefined
      via = proxy && !this.bypass(url.hostname) ? proxy : this.direct
      this.routes.set(origin, via)
    }
    return via
  }

  override dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.route(String(options.origin)).dispatch(options, handler)
  }

  private all (): Dispatcher[] {
    return [...new Set([this.direct, this.proxied.http, this.proxied.https].filter((d): d is Dispatcher => d !== undefined))]
  }

  override async close (): Promise<void> {
    await Promise.all(this.all().map(async (d) => await d.close()))
  }

  override async destroy (): Promise<void> {
    await Promise.all(this.all().map(async (d) => await d.destroy()))
  }
}
