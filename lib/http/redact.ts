// What may be printed: the one redaction for every record, message, warning and file rasterpipe writes
// for people (stdout, stderr, --stats, summarize). URLs lose their credentials (user-info, fragment, the
// values of secret query parameters), also URLs that do not parse; known secret values (header values,
// keys) are replaced; control characters are escaped. Requests use the real values; only what is shown
// is redacted.

/**
 * Query parameters that carry a credential (pre-signed S3 and GCS URLs, Azure SAS, OAuth, API keys), by
 * name normalised as isSecretParam does: lower case, without `-`, `_`, `.` and spaces, so `api-key`,
 * `API_KEY` and `apikey` are one name. Every `X-Amz-*` and `X-Goog-*` parameter is one too.
 */
const SECRET_PARAMS = new Set([
  'key', 'apikey', 'accesskey', 'accesskeyid', 'awsaccesskeyid', 'googleaccessid', 'secretkey', 'secretaccesskey', 'privatekey',
  'token', 'accesstoken', 'authtoken', 'apitoken', 'idtoken', 'refreshtoken', 'sessiontoken', 'securitytoken', 'jwt', 'bearer',
  'sig', 'signature', 'credential', 'credentials', 'auth', 'authorization',
  'password', 'passwd', 'pwd', 'secret', 'clientsecret', 'code', 'session', 'sessionid'
])
const SECRET_PREFIXES = ['xamz', 'xgoog']
/** Names ending so (`private_token`, `subscription-key`, `x-api-key`, `db_password`) are secret too, whatever comes first. */
const SECRET_SUFFIXES = ['key', 'token', 'secret', 'signature', 'password', 'passwd', 'pwd', 'sig']

export const REDACTED = 'REDACTED'

/** A URL's scheme (two characters at least: `C:` is a Windows drive, not a scheme). */
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]+:/

function isSecretParam (raw: string): boolean {
  let name = raw.replace(/\+/g, ' ')
  try {
    name = decodeURIComponent(name)
  } catch {
    // Not percent-encoding: the name as written.
  }
  // URL parsers drop tabs and line breaks: `to\nken` is sent as `token`. `token[]` is PHP's array form of `token`.
  const n = name.replace(/[\t\n\r]/g, '').toLowerCase().replace(/\[\]$/, '').replace(/[-_. ]/g, '')
  return SECRET_PARAMS.has(n) || SECRET_PREFIXES.some((p) => n.startsWith(p)) || SECRET_SUFFIXES.some((s) => n.endsWith(s))
}

/** A parameter value that decodes to text with a URL in it (`http%3A%2F%2F…`), decoded; else undefined. */
function decodedUrl (value: string): string | undefined {
  if (!value.includes('%')) return undefined
  try {
    const decoded = decodeURIComponent(value.replace(/\+/g, ' '))
    return decoded.includes('://') ? decoded : undefined
  } catch {
    return undefined
  }
}

/**
 * A query (without its `?`) with the values of secret parameters REDACTED, the rest as written (`&` or `;`
 * between; a further `?` too, so that `?x=1?token=…` hides no token in x's value).
 */
function redactQuery (query: string): string {
  return query.replace(/([^&;?=]*)=([^&;?]*)/g, (whole, name: string, value: string) => {
    if (isSecretParam(name)) return `${name}=${REDACTED}`
    // A URL carried in a parameter (a redirect target) is redacted as a URL; a percent-encoded one is
    // decoded for that, and encoded again if anything of it was redacted.
    if (value.includes('://')) return `${name}=${redactText(value)}`
    const decoded = decodedUrl(value)
    if (decoded === undefined) return whole
    const shown = redactText(decoded)
    return shown === decoded ? whole : `${name}=${encodeURIComponent(shown)}`
  })
}

/**
 * The URL as it may be shown: user-info (a user name alone too) and the fragment replaced by REDACTED,
 * and the values of secret query parameters. A URL that does not parse is redacted as text, the same
 * parts. Anything without a scheme (a path) is shown as given.
 */
export function redactUrl (url: string): string {
  if (!SCHEME.test(url)) return url
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return redactUnparsed(url)
  }
  let changed = false
  if (u.username !== '' || u.password !== '') {
    u.password = ''
    u.username = REDACTED
    changed = true
  }
  if (u.hash !== '') { u.hash = REDACTED; changed = true }
  const query = u.search.slice(1)
  const shown = redactQuery(query)
  if (shown !== query) { u.search = shown; changed = true }
  // Unchanged URLs are shown exactly as given (URL serialisation may re-encode them).
  return changed ? u.href : url
}

/** The same parts of a URL that does not parse (a bad port, a broken IPv6 host), found as text. */
function redactUnparsed (url: string): string {
  let rest = url
  let tail = ''
  const hash = rest.indexOf('#')
  if (hash >= 0) {
    tail = hash < rest.length - 1 ? `#${REDACTED}` : '#'
    rest = rest.slice(0, hash)
  }
  const question = rest.indexOf('?')
  if (question >= 0) {
    tail = `?${redactQuery(rest.slice(question + 1))}${tail}`
    rest = rest.slice(0, question)
  }
  // The authority runs to the first slash (or backslash); user-info is all of it up to its last `@`.
  const authority = /^([a-zA-Z][a-zA-Z0-9+.-]*:[\\/]{2})([^\\/]*)/.exec(rest)
  if (authority && authority[2].includes('@')) {
    const host = authority[2].slice(authority[2].lastIndexOf('@'))
    rest = `${authority[1]}${REDACTED}${host}${rest.slice(authority[0].length)}`
  }
  return rest + tail
}

/** URLs in text: `scheme://…`, and the schemes rasterpipe fetches also without slashes (`http:host/a`). */
const URL_IN_TEXT = /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s'"<>`]+|\b(?:https?|s3|gs|az|file):(?!\/\/)[^\s'"<>`]+/gi

/** `?name=value`, `&name=value` or `;name=value` anywhere in text; the value up to the next separator, space or quote. */
const QUERY_PARAM_IN_TEXT = /([?&;])([^?&;=#\s'"<>`]+)=([^?&;#\s'"<>`]*)/g

/**
 * Text (an error message, a warning) as it may be shown: every URL in it redacted, and every known
 * secret value replaced. Secrets shorter than 4 characters are not searched for (they would match
 * ordinary text; no real credential is that short).
 */
export function redactText (text: string, secrets: Iterable<string> = []): string {
  // A URL in a message is often followed by punctuation (`URL: why`): that stays outside the URL redacted.
  let out = text.replace(URL_IN_TEXT, (match) => {
    const [, url, tail] = /^(.*?)([:,.;)\]]*)$/.exec(match) as RegExpExecArray
    return redactUrl(url) + tail
  })
  // A URL with a space or a quote is found only up to it: its secret parameters are found on their own.
  out = out.replace(QUERY_PARAM_IN_TEXT, (whole, lead: string, name: string, value: string) =>
    isSecretParam(name) ? `${lead}${name}=${REDACTED}${/[:,.)\]]*$/.exec(value)?.[0] ?? ''}` : whole)
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED)
  }
  return out
}

/**
 * Text about known URLs (a record's): each of them, wherever it stands in the text, replaced by its
 * redacted form first (as text, a URL with a space, quote or `<` is found only up to there), then the
 * whole as redactText does.
 */
export function redactAbout (text: string, urls: Iterable<string | undefined>, secrets: Iterable<string> = []): string {
  // Longest first: a URL that starts another (a stack's sources) must not cut it in two.
  const known = [...new Set(urls)].filter((u): u is string => u !== undefined && u !== '').sort((a, b) => b.length - a.length)
  let out = text
  for (const url of known) {
    const shown = redactUrl(url)
    if (shown !== url) out = out.split(url).join(shown)
  }
  return redactText(out, secrets)
}

/** C0 and C1 controls, DEL, the line and paragraph separators and the bidi overrides: none is printed raw. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
/** Of those, what JSON.stringify leaves raw (it escapes the C0 controls itself). */
const CONTROL_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function escapeOne (c: string): string {
  return ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/**
 * A line of text as it may be printed (stderr): redacted as redactText does, with every control
 * character escaped (an ESC from an input line, a line break in a header name), so that one message
 * is one line and no terminal acts on it.
 */
export function printable (text: string, secrets: Iterable<string> = []): string {
  return redactText(text, secrets).replace(CONTROL, escapeOne)
}

/**
 * A value as JSON as it may be printed (a record on stdout, --stats, summarize): every string in it
 * redacted, and the controls JSON.stringify leaves raw (DEL, C1, …) escaped; still valid JSON, as they
 * can only stand inside strings.
 */
export function printableJson (value: unknown, secrets: Iterable<string> = [], space?: number): string {
  const known = [...secrets]
  // Only a string with a colon can hold a URL: the others are searched for known secrets alone (most strings of a record).
  const redact = (v: string): string => v.includes(':') ? redactText(v, known) : known.length > 0 ? redactText(v, known) : v
  const json = JSON.stringify(value, (_key, v: unknown) => typeof v === 'string' ? redact(v) : v, space)
  return json.replace(CONTROL_IN_JSON, escapeOne)
}

/** The secret values of a run: registered as they become known (header values, keys, tokens). */
export class Secrets implements Iterable<string> {
  private readonly values = new Set<string>()

  add (...values: (string | undefined)[]): void {
    for (const v of values) if (v) this.values.add(v)
  }

  [Symbol.iterator] (): Iterator<string> {
    return this.values[Symbol.iterator]()
  }
}

