// Basic auth of plain http(s) URLs (lib/http/credentials.ts): the request URL without user-info, the
// header from the URL or the netrc, a user's own Authorization header first, secrets registered.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Credentials } from '../lib/http/credentials.js'
import { parseNetrc } from '../lib/http/netrc.js'
import { Secrets } from '../lib/http/redact.js'

const basic = (userPassword: string): string => `Basic ${Buffer.from(userPassword).toString('base64')}`

test('user-info: stripped from the target, sent percent-decoded; a user\'s Authorization header wins; nothing for other schemes or plain URLs', async () => {
  const secrets = new Secrets()
  const c = new Credentials(secrets)
  const auth = c.authFor('http://us%40er:p%3Ass@h.test:8080/a.tif?x=1')
  assert.ok(auth)
  assert.equal(auth.target(), 'http://h.test:8080/a.tif?x=1')
  assert.deepEqual(await auth.sign('GET', auth.target(), {}), { authorization: basic('us@er:p:ss') })
  assert.deepEqual(await auth.sign('GET', auth.target(), { Authorization: 'Bearer mine' }), {})
  assert.equal(auth.crossOrigin?.('http://other.test/'), undefined, 'nothing for another origin without a netrc')
  assert.ok([...secrets].includes('p:ss'))
  assert.deepEqual(await c.authFor('http://only-user@h.test/')?.sign('GET', '', {}), { authorization: basic('only-user:') })
  assert.equal(c.authFor('http://h.test/a.tif'), undefined)
  assert.equal(c.authFor('s3://user:pw@bucket/key'), undefined)
})

test('netrc: the host\'s entry, the password of the URL\'s user name, and its own entry after a redirect', async () => {
  const c = new Credentials(new Secrets(), parseNetrc('machine h.test login n password np\nmachine h.test login u password up\nmachine o.test login o password op'))
  assert.deepEqual(await c.authFor('https://h.test/a')?.sign('GET', '', {}), { authorization: basic('n:np') })
  assert.deepEqual(await c.authFor('https://u@h.test/a')?.sign('GET', '', {}), { authorization: basic('u:up') })
  const none = c.authFor('https://x.test/a')
  assert.ok(none, 'a host without an entry still follows its redirects itself')
  assert.deepEqual(await none.sign('GET', '', {}), {})
  assert.deepEqual(await none.crossOrigin?.('https://o.test/b')?.sign('GET', '', {}), { authorization: basic('o:op') })
})
