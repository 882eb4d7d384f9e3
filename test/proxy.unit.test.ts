// Which proxy a URL takes (lib/http/proxy.ts): the variables as curl reads them (either case here), the
// no-proxy list as curl's, and proxy URLs that are not one refused, redacted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { noProxyMatcher, resolveProxies } from '../lib/http/proxy.js'
import { Secrets } from '../lib/http/redact.js'

test('no-proxy lists: names and their subdomains, leading dots, IPs and CIDR ranges, \'*\'; no resolving, no partial labels', () => {
  const m = noProxyMatcher(' example.com, .internal.test 10.0.0.0/8\t::1,192.168.1.7,localhost.')
  for (const host of ['example.com', 'a.b.example.com', 'EXAMPLE.COM.', 'internal.test', 'x.internal.test', '10.1.2.3', '[::1]', '192.168.1.7', 'localhost']) {
    assert.equal(m(host), true, host)
  }
  for (const host of ['notexample.com', 'example.com.evil', '11.0.0.1', '192.168.1.8', '::2', 'test']) {
    assert.equal(m(host), false, host)
  }
  assert.equal(noProxyMatcher('*')('anything.example'), true)
  assert.equal(noProxyMatcher('a.test, *')('1.2.3.4'), true)
  assert.equal(noProxyMatcher('')('example.com'), false)
})

test('the environment: lower case first, https never through an http-only proxy, all_proxy for both, the option over all', () => {
  const s = new Secrets()
  const both = resolveProxies({}, s, { http_proxy: 'http://lower:1', HTTP_PROXY: 'http://upper:2', HTTPS_PROXY: 'proxy.test:3', NO_PROXY: 'a.test' })
  assert.equal(both?.http?.href, 'http://lower:1/')
  assert.equal(both?.https?.href, 'http://proxy.test:3/', 'no scheme: http, as curl')
  assert.equal(both?.bypass('x.a.test'), true)
  const httpOnly = resolveProxies({}, s, { HTTP_PROXY: 'http://h:1' })
  assert.equal(httpOnly?.https, undefined, 'https URLs go direct without HTTPS_PROXY')
  const all = resolveProxies({}, s, { ALL_PROXY: 'http://all:9', https_proxy: 'https://tls:8' })
  assert.equal(all?.http?.href, 'http://all:9/')
  assert.equal(all?.https?.href, 'https://tls:8/')
  const option = resolveProxies({ proxy: 'http://opt:7', noProxy: 'b.test' }, s, { HTTP_PROXY: 'http://env:1', NO_PROXY: '*' })
  assert.equal(option?.http?.href, 'http://opt:7/')
  assert.equal(option?.https?.href, 'http://opt:7/')
  assert.equal(option?.bypass('c.test'), false, 'noProxy replaces NO_PROXY')
  assert.equal(resolveProxies({}, s, { HTTP_PROXY: '' }), undefined, 'empty is unset')
  // No port: 1080 for an http proxy, as curl; an explicit :80 stays 80; an https proxy's default is 443.
  assert.equal(resolveProxies({ proxy: 'proxy.test' }, s)?.http?.href, 'http://proxy.test:1080/')
  assert.equal(resolveProxies({ proxy: 'http://u:p@proxy.test/' }, s)?.http?.host, 'proxy.test:1080')
  assert.equal(resolveProxies({ proxy: 'http://proxy.test:80' }, s)?.http?.href, 'http://proxy.test/')
  assert.equal(resolveProxies({ proxy: 'http://[::1]' }, s)?.http?.host, '[::1]:1080')
  assert.equal(resolveProxies({ proxy: 'https://proxy.test' }, s)?.https?.href, 'https://proxy.test/')
})

test('a proxy that is not one is a usage error naming its source, its password redacted and kept secret', () => {
  const s = new Secrets()
  assert.throws(() => resolveProxies({}, s, { https_proxy: 'socks5://u:s3cret-pw@h:1080' }), (err: Error) =>
    err.name === 'UsageError' && err.message.startsWith('https_proxy: \'socks5://REDACTED@h:1080\': a socks5 proxy is not supported') && !err.message.includes('s3cret'))
  assert.throws(() => resolveProxies({ proxy: 'http://u:s3cret-pw@[::1' }, s), (err: Error) => err.message.startsWith('proxy: \'http://REDACTED@[::1\'') && !err.message.includes('s3cret'))
  resolveProxies({ proxy: 'http://user:p%40ss-word@h:1' }, s)
  assert.ok([...s].includes('p@ss-word') && [...s].includes('p%40ss-word'))
  assert.ok([...s].includes(Buffer.from('user:p@ss-word').toString('base64')))
})
