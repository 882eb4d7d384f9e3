// The run's network settings, read once when it starts: the CA bundle (--cacert), the proxies (--proxy,
// --noproxy, else the environment's), and netrc credentials (--netrc, --netrc-file). A file that cannot
// be read, or a proxy URL that is not one, is a usage error naming its option or variable (redacted).
import { readFileSync } from 'node:fs'
import { UsageError } from '../core/errors.js'
import { option, unreadable, words } from '../core/words.js'
import type { HttpOptions } from './agent.js'
import { Credentials } from './credentials.js'
import { defaultNetrcPath, readNetrc, type Netrc } from './netrc.js'
import { resolveProxies } from './proxy.js'
import type { Secrets } from './redact.js'

export interface NetworkOptions {
  proxy?: string
  noProxy?: string
  netrc: boolean
  netrcFile?: string
  caBundle?: string
  /** A library user's own dispatcher: it makes every connection, so proxies and the CA bundle are its own. */
  dispatcher?: unknown
}

export interface Network {
  /** For the run's Agent (lib/http/agent.ts). */
  agent: Pick<HttpOptions, 'ca' | 'proxies'>
  /** Basic auth of plain http(s) URLs, from their user-info or the netrc. */
  credentials: Credentials
}

export function networkSettings (o: NetworkOptions, secrets: Secrets, env: NodeJS.ProcessEnv = process.env): Network {
  const agent: Network['agent'] = {}
  if (o.dispatcher !== undefined) {
    // Refused rather than half applied: the run cannot put a proxy or CAs inside a dispatcher it did not make.
    for (const key of ['proxy', 'noProxy', 'caBundle'] as const) {
      if (o[key] !== undefined) throw new UsageError(words`${option(key)} cannot go with ${option('dispatcher')}: give your dispatcher its proxy and CAs itself`, { option: key })
    }
  } else {
    if (o.caBundle !== undefined) agent.ca = readCaBundle(o.caBundle)
    const proxies = resolveProxies(o, secrets, env)
    if (proxies) agent.proxies = proxies
  }
  let netrc: Netrc | undefined
  if (o.netrcFile !== undefined) netrc = readNetrc(o.netrcFile, 'netrcFile')
  else if (o.netrc) netrc = readNetrc(defaultNetrcPath(env), 'netrc')
  for (const entry of netrc?.entries ?? []) secrets.add(entry.password)
  return { agent, credentials: new Credentials(secrets, netrc) }
}

/** A PEM file's certificates, as curl's --cacert takes them: they replace Node's own list. */
function readCaBundle (path: string): string {
  let pem: string
  try {
    pem = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(words`${option('caBundle')}: cannot read '${path}': ${unreadable(err)}`, { option: 'caBundle' })
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UsageError(words`${option('caBundle')}: '${path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, { option: 'caBundle' })
  }
  return pem
}
