// What may be printed of a URL or a message: credentials out of URLs that parse and of those that do not,
// known secret values out of any text, control characters escaped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { printable, printableJson, redactAbout, redactText, redactUrl } from '../lib/http/redact.js'
import { checkUrl } from '../lib/input/url.js'

const S = 'Zq9s3cretXw'

test('URLs that do not parse lose their secrets textually: query values, fragment, user-info', () => {
  for (const [url, shown] of [
    [`http://127.0.0.1:99999/a.tif?token=${S}`, 'http://127.0.0.1:99999/a.tif?token=REDACTED'],
    [`http://[::1:bad/a.tif?token=${S}&x=1`, 'http://[::1:bad/a.tif?token=REDACTED&x=1'],
    [`http://u:${S}@127.0.0.1:99999/a.tif`, 'http://REDACTED@127.0.0.1:99999/a.tif'],
    [`http://127.0.0.1:99999/a.tif#token=${S}`, 'http://127.0.0.1:99999/a.tif#REDACTED'],
    [`http://127.0.0.1:99999/a.tif?a=1;sig=${S}`, 'http://127.0.0.1:99999/a.tif?a=1;sig=REDACTED'],
    [`http://[::1 bad/a.tif?x=1?token=${S}`, 'http://[::1 bad/a.tif?x=1?token=REDACTED']
  ]) {
    assert.equal(redactUrl(url), shown)
  }
})

test('user-info is always redacted, a user name alone too', () => {
  assert.equal(redactUrl(`http://${S}@example.org/a.tif`), 'http://REDACTED@example.org/a.tif')
  assert.equal(redactUrl(`https://u:${S}@example.org/a.tif?x=1`), 'https://REDACTED@example.org/a.tif?x=1')
})

test('a fragment is redacted whole', () => {
  assert.equal(redactUrl(`https://example.org/a.tif#access_token=${S}`), 'https://example.org/a.tif#REDACTED')
})

test('secret parameter names are matched case-insensitively, - and _ alike; other parameters are kept as given', () => {
  for (const name of ['key', 'Key', 'api-key', 'API_KEY', 'apikey', 'access_key', 'accessToken', 'auth_token', 'token', 'jwt', 'sig',
    'signature', 'X-Amz-Signature', 'x-amz-credential', 'X-Amz-Security-Token', 'X-Goog-Signature', 'X-Goog-Credential', 'password',
    'secret', 'code', 'session', 'client_secret', 'id_token', 'AWSAccessKeyId', 'to%6Ben']) {
    const url = `https://example.org/a.tif?x=a%20b&${name}=${S}`
    assert.equal(redactUrl(url), `https://example.org/a.tif?x=a%20b&${name}=REDACTED`, name)
  }
  assert.equal(redactUrl(`https://example.org/a.tif?x=1?token=${S}`), 'https://example.org/a.tif?x=1?token=REDACTED')
  const plain = 'https://example.org/a.tif?sv=2024-01-01&x=a%20b&keys=1'
  assert.equal(redactUrl(plain), plain)
})

test('a name ending in key, token, secret, signature, password, pwd or sig is secret, also with a trailing [] (raw or %5B%5D)', () => {
  for (const name of ['private_token', 'subscription-key', 'x-api-key', 'auth_key', 'Ocp-Apim-Subscription-Key', 'db_password', 'userpwd', 'urlsig',
    'token[]', 'token%5B%5D', 'api_key%5b%5d', 'client-secret', 'url_signature']) {
    const url = `https://example.org/a.tif?x=1&${name}=${S}`
    assert.equal(redactUrl(url), `https://example.org/a.tif?x=1&${name}=REDACTED`, name)
  }
  const plain = 'https://example.org/a.tif?keys=1&tokens=2&keyboard=3&monkeys=4'
  assert.equal(redactUrl(plain), plain)
})

test('a URL percent-encoded in a parameter loses its secrets and stays encoded', () => {
  assert.equal(redactUrl(`https://example.org/a.tif?url=http%3A%2F%2Finner%2F%3Ftoken%3D${S}&x=1`),
    'https://example.org/a.tif?url=http%3A%2F%2Finner%2F%3Ftoken%3DREDACTED&x=1')
  const plain = 'https://example.org/a.tif?url=http%3A%2F%2Finner%2Fb.tif'
  assert.equal(redactUrl(plain), plain)
})

test('a line break or tab inside a parameter name does not hide it (URL parsers drop them)', () => {
  assert.ok(!redactUrl(`https://example.org/a.tif?to\nken=${S}`).includes(S))
})

test('paths and plain text are left alone', () => {
  for (const text of ['/data/a#1.tif', 'chips/a.tif', 'line 5: fetch HTTP_404: failed.']) assert.equal(redactUrl(text), text)
})

test('redactText: every URL in a message (quoted, unparseable, followed by punctuation) and every known secret value', () => {
  assert.equal(redactText(`invalid URL 'http://[::1:bad/a.tif?token=${S}'`), 'invalid URL \'http://[::1:bad/a.tif?token=REDACTED\'')
  assert.equal(redactText(`http://127.0.0.1:99999/a.tif?key=${S}: failed.`), 'http://127.0.0.1:99999/a.tif?key=REDACTED: failed.')
  assert.equal(redactText(`Unexpected token 'o', "{"url": "http://h/a?jwt=${S}" oops}" is not valid JSON`),
    'Unexpected token \'o\', "{"url": "http://h/a?jwt=REDACTED" oops}" is not valid JSON')
  assert.equal(redactText(`header value ${S} refused`, [S]), 'header value REDACTED refused')
  assert.equal(redactText(`/vsicurl/http://u:${S}@h/a.tif`), '/vsicurl/http://REDACTED@h/a.tif')
})

test('a URL with a space, quote, apostrophe, angle bracket or backtick keeps no secret in a message about it', () => {
  for (const url of [`http://host/my scene.tif?token=${S}`, `http://host/a.tif?q=O'Brien&token=${S}`, `http://host/a.tif?q="x"&token=${S}`,
    `http://host/a<b>.tif?token=${S}`, `http://host/a\`b.tif?token=${S}`, `http://[::1 bad/a.tif?token=${S}`, `http://host/a b.tif#${S}`,
    `http://u:${S}@host/a b.tif`]) {
    const shown = redactAbout(`fetch HTTP_404: ${url}: HTTP 404`, [url])
    assert.ok(!shown.includes(S), shown)
    assert.match(shown, /^fetch HTTP_404: .*REDACTED.*: HTTP 404$/)
  }
})

test('redactText: a secret parameter after a space or quote in a URL is still redacted', () => {
  for (const text of [`fetch HTTP_404: http://host/my scene.tif?token=${S}: HTTP 404`, `http://host/a.tif?q=O'Brien&token=${S}`,
    `http://host/a.tif?q="x"&token=${S}`, `invalid URL 'http://[::1 bad/a.tif?token=${S}'`]) {
    assert.ok(!redactText(text).includes(S), redactText(text))
  }
  // Ordinary text with `=` is left alone.
  assert.equal(redactText('a=1 & b=2; key = value'), 'a=1 & b=2; key = value')
})

test('checkUrl: an invalid URL is named in its redacted form', () => {
  assert.throws(() => checkUrl(`http://[::1 bad/a.tif?token=${S}`), (err: Error) => {
    assert.ok(!err.message.includes(S), err.message)
    assert.match(err.message, /invalid URL 'http:\/\/\[::1 bad\/a\.tif\?token=REDACTED'/)
    return true
  })
})

test('printable: control characters escaped (C0, DEL, C1, bidi overrides), secrets redacted', () => {
  assert.equal(printable('a\u001b[2Jb\nc\td\u007fe\u009bf\u202eg'), 'a\\u001b[2Jb\\nc\\td\\u007fe\\u009bf\\u202eg')
  assert.equal(printable(`'X-Bad\nName' is not a header name: http://h/a?token=${S}`), '\'X-Bad\\nName\' is not a header name: http://h/a?token=REDACTED')
})

test('printableJson: valid JSON, every string redacted, DEL and C1 escaped', () => {
  const value = { url: `http://127.0.0.1:99999/a?token=${S}`, id: 'a\u009b\u007f\u001b', n: 1, list: [`http://${S}@h/`] }
  const text = printableJson(value)
  assert.ok(!text.includes(S))
  // eslint-disable-next-line no-control-regex -- raw control characters are what is looked for
  assert.equal(/[\u0000-\u001f\u007f-\u009f]/.test(text), false)
  assert.deepEqual(JSON.parse(text), { url: 'http://127.0.0.1:99999/a?token=REDACTED', id: 'a\u009b\u007f\u001b', n: 1, list: ['http://REDACTED@h/'] })
})
