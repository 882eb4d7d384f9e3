// What may be printed of a request: URLs with their credentials taken out (pre-signed query parameters,
// SAS signatures, tokens, passwords) and known secret values (header values, keys) replaced, so that no
// record, message or warning carries a secret. Requests use the real values; only what is shown is redacted.

/** Query parameters that carry a credential: pre-signed S3 and GCS URLs, Azure SAS, OAuth and API keys. */
const SECRET_PARAMS = new Set([
  'x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'x-goog-signature', 'x-goog-credential',
  'sig', 'signature', 'token', 'access_token', 'id_token', 'refresh_token', 'api_key', 'apikey', 'key',
  'password', 'secret', 'client_secret', 'awsaccesskeyid', 'googleaccessid'
])

export const REDACTED = 'REDACTED'

/** The URL as it may be shown: secret query values and a password in it replaced by REDACTED. */
export function redactUrl (url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return url
  }
  let changed = false
  if (u.password) { u.password = REDACTED; changed = true }
  for (const name of [...u.searchParams.keys()]) {
    if (SECRET_PARAMS.has(name.toLowerCase())) { u.searchParams.set(name, REDACTED); changed = true }
  }
  // Unchanged URLs are shown exactly as given (URL serialisation may re-encode them).
  return changed ? u.toString() : url
}

const URL_IN_TEXT = /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s'"<>]+/g

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
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED)
  }
  return out
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
