// Basic auth for plain http(s) URLs, as curl sends it: from the URL's user-info (`http://user:pw@host/…`,
// percent-decoded), else from the netrc entry of the URL's host (the netrc password of the URL's user
// name when it has only one). The request goes to the URL without its user-info; Authorization is sent
// to that origin only (lib/http/response.ts follows such a request's redirects itself: a hop to another
// origin goes with that origin's own netrc entry, or none). A header Authorization of the user's wins,
// as curl's -H does over -u. Passwords join the run's secrets, never printed.
import type { Netrc } from './netrc.js'
import type { Secrets } from './redact.js'
import type { RequestAuth } from './response.js'

export class Credentials {
  constructor (private readonly secrets: Secrets, private readonly netrc?: Netrc) {}

  /**
   * The auth of an http(s) URL: Basic from its user-info or netrc; with a netrc, also for URLs it has no
   * entry for (a redirect may lead to a host it has one for). Undefined when there is nothing to send.
   */
  authFor (url: string): RequestAuth | undefined {
    let u: URL
    try {
      u = new URL(url)
    } catch {
      return undefined
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined
    let user: string | undefined
    let password: string | undefined
    if (u.username !== '' || u.password !== '') {
      user = decoded(u.username)
      password = decoded(u.password)
      if (this.netrc && u.password === '') password = this.netrc.lookup(u.hostname, user)?.password ?? ''
      u.username = ''
      u.password = ''
    } else if (this.netrc) {
      const entry = this.netrc.lookup(u.hostname)
      if (entry?.login !== undefined || entry?.password !== undefined) {
        user = entry.login ?? ''
        password = entry.password ?? ''
      }
    } else {
      return undefined
    }
    const target = u.href
    let authorization: string | undefined
    if (user !== undefined) {
      const token = Buffer.from(`${user}:${password ?? ''}`).toString('base64')
      this.secrets.add(password, token)
      authorization = `Basic ${token}`
    }
    return {
      target: () => target,
      sign: async (_method, _target, headers): Promise<Record<string, string>> => authorization === undefined || hasAuthorization(headers) ? {} : { authorization },
      crossOrigin: (next) => this.netrc ? this.authFor(withoutUserInfo(next)) : undefined
    }
  }
}

function decoded (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

function withoutUserInfo (url: string): string {
  const u = new URL(url)
  u.username = ''
  u.password = ''
  return u.href
}

function hasAuthorization (headers: Record<string, string>): boolean {
  return Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')
}
