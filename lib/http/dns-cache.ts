// Host names resolved once per TTL for the run's connections: each new connection would otherwise call
// getaddrinfo on libuv's pool, which GDAL's calls keep busy. It is the `lookup` that undici hands to
// net.connect, so connection pools stay keyed by host name and TLS keeps its server name: undici's own
// DNS interceptor rewrites each request's origin to an address, which would share one pool among the
// names behind an address (buckets, CDN hosts) and reconnect whenever the TLS name changes.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'

/** Resolves a name to all its addresses (node:dns lookup with `all`); tests count lookups through it. */
export type Resolve = (hostname: string, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

type Callback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

const resolveAll: Resolve = (hostname, callback) => { dnsLookup(hostname, { all: true }, callback) }

interface Entry {
  addresses?: LookupAddress[]
  expires: number
  /** Lookups that came while the first was in flight: one getaddrinfo for them all. */
  waiting: Array<(err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void>
}

export class DnsCache {
  private readonly entries = new Map<string, Entry>()

  constructor (private readonly ttlMs: number, private readonly resolve: Resolve = resolveAll, private readonly now: () => number = Date.now) {}

  /** net.connect's `lookup`: answers a single address or, with `all` (happy eyeballs), the list. */
  readonly lookup = (hostname: string, options: LookupOptions, callback: Callback): void => {
    this.addresses(hostname, (err, found) => {
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family ?? 0
      const addresses = family === 0 ? found : found.filter((a) => a.family === family)
      if (err) callback(err, options.all ? [] : '')
      else if (addresses.length === 0) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), options.all ? [] : '')
      else if (options.all) callback(null, addresses)
      else callback(null, addresses[0].address, addresses[0].family)
    })
  }

  private addresses (hostname: string, done: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void): void {
    const key = hostname.toLowerCase()
    const entry = this.entries.get(key)
    if (entry?.addresses && entry.expires > this.now()) { done(null, entry.addresses); return }
    if (entry && !entry.addresses) { entry.waiting.push(done); return }
    const fresh: Entry = { expires: 0, waiting: [done] }
    this.entries.set(key, fresh)
    this.resolve(hostname, (err, addresses) => {
      // A failure is not kept: the next connection asks again, as without the cache.
      if (err) this.entries.delete(key)
      else Object.assign(fresh, { addresses, expires: this.now() + this.ttlMs })
      for (const waiter of fresh.waiting.splice(0)) waiter(err, err ? [] : addresses)
    })
  }
}
