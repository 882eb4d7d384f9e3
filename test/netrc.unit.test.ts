// The netrc parser and lookup (lib/http/netrc.ts), as curl reads the file.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseNetrc } from '../lib/http/netrc.js'

test('machines, default, quoted tokens with escapes, comments, account and macdef skipped; first match wins', () => {
  const netrc = parseNetrc([
    '# a comment line',
    'machine a.example login one password "with space \\"and quote\\"" # trailing comment',
    'machine A.example login two password second',
    'machine b.example',
    '  account ignored',
    '  login three',
    '  password #starts-with-hash',
    'macdef init',
    'machine c.example login macro password in-macro',
    '',
    'machine c.example login four password "tab\\there"',
    'default login anyone password guest'
  ].join('\n'))
  assert.deepEqual(netrc.lookup('a.example'), { machine: 'a.example', login: 'one', password: 'with space "and quote"' })
  assert.deepEqual(netrc.lookup('A.EXAMPLE', 'two'), { machine: 'A.example', login: 'two', password: 'second' }, 'by login when the URL names one')
  assert.deepEqual(netrc.lookup('b.example'), { machine: 'b.example', login: 'three', password: '#starts-with-hash' })
  assert.deepEqual(netrc.lookup('c.example'), { machine: 'c.example', login: 'four', password: 'tab\there' }, 'the macro\'s lines are not entries')
  assert.deepEqual(netrc.lookup('elsewhere.example'), { login: 'anyone', password: 'guest' })
  assert.deepEqual(netrc.lookup('a.example', 'nobody'), undefined, 'a login no entry has')
})

test('no default: a host not named gets nothing; one line or many, CRLF too', () => {
  const netrc = parseNetrc('machine h login u password p\r\nmachine [::1] login six password v6\r\n')
  assert.equal(netrc.lookup('other'), undefined)
  assert.equal(netrc.lookup('h')?.password, 'p')
  assert.equal(parseNetrc('').lookup('h'), undefined)
})
