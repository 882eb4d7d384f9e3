// No secret is ever printed: one run full of failing records with a secret in every form a URL or a
// header can carry one, and every stream and file that run (and `summarize` over it) made is searched for
// each secret value. Control characters from the input reach no stream raw.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { useServer } from './support/context.js'
import { runCli } from './support/run.js'

const ctx = useServer()

/** Query parameter names that carry a credential (as the issue lists them, in the cases seen in the wild). */
const PARAMS = ['key', 'api-key', 'apikey', 'API_KEY', 'access_key', 'accessToken', 'auth_token', 'token', 'jwt', 'sig',
  'signature', 'X-Amz-Signature', 'X-Amz-Credential', 'x-amz-security-token', 'X-Goog-Signature', 'password', 'secret', 'code', 'session',
  'private_token', 'subscription-key', 'x-api-key', 'auth_key', 'token[]', 'token%5B%5D']

/** Every file under a directory (path relative to it), with its bytes. */
function filesUnder (dir: string, prefix = ''): Array<{ name: string, text: string }> {
  const out: Array<{ name: string, text: string }> = []
  for (const name of readdirSync(dir)) {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) out.push(...filesUnder(full, `${prefix}${name}/`))
    else out.push({ name: prefix + name, text: readFileSync(full).toString('latin1') })
  }
  return out
}

test('a run of failing records with secrets in every URL form, headers, a redirect and a server echoing the URL prints none of them anywhere; no control character is printed raw', async () => {
  const server = ctx.server
  const base = server.base
  const port = new URL(base).port
  const secrets: string[] = []
  const secret = (what: string): string => {
    const value = `Zq9${what.replace(/[^A-Za-z0-9]/g, '')}${secrets.length}Xw`
    secrets.push(value)
    return value
  }
  const echoSecret = secret('echo')
  const lines: string[] = []
  for (const name of PARAMS) {
    // A URL that parses (fetched: 404), and the same in two that do not (a port out of range, a broken IPv6 host).
    lines.push(`${base}/missing.tif?x=1&${name}=${secret(name)}`)
    lines.push(`http://127.0.0.1:99999/a.tif?${name}=${secret(name)}&x=1`)
    lines.push(JSON.stringify({ url: `http://[::1:bad/a.tif?${name}=${secret(name)}` }))
  }
  lines.push(
    // User-info: a user name alone, a user and a password, also in a URL that does not parse.
    `http://${secret('user')}@127.0.0.1:${port}/missing.tif`,
    `http://u:${secret('pass')}@127.0.0.1:${port}/missing.tif`,
    `http://u:${secret('pass')}@127.0.0.1:99999/missing.tif`,
    // URLs with a space, an apostrophe, quotes, angle brackets or a backtick (the message quotes them whole), and one that does not parse.
    `${base}/my scene.tif?token=${secret('space')}`,
    `${base}/a.tif?q=O'Brien&token=${secret('apostrophe')}`,
    `${base}/a.tif?q="x"&token=${secret('quote')}`,
    `${base}/a<b>.tif?token=${secret('angle')}`,
    `${base}/a\`b.tif?token=${secret('backtick')}`,
    JSON.stringify({ url: `http://[::1 bad/a.tif?token=${secret('space')}` }),
    // A URL carried percent-encoded in a parameter.
    `${base}/missing.tif?url=http%3A%2F%2Finner%2F%3Ftoken%3D${secret('nested')}`,
    // Fragments.
    `${base}/missing.tif#token=${secret('fragment')}`,
    `http://127.0.0.1:99999/a.tif#access_token=${secret('fragment')}`,
    // A redirect to a URL with a token, and a server whose error echoes the URL asked.
    `${base}/moved.tif`,
    `${base}/moved-bad.tif`,
    `${base}/echo.tif?api_key=${echoSecret}`,
    // Not a raster: GDAL's message on the copy of a URL with a token.
    `${base}/junk.tif?token=${secret('junk')}`,
    // Header values (the record's, and a bad header name with a line break in it), and bad JSON that quotes itself.
    JSON.stringify({ url: `${base}/missing.tif`, headers: { 'X-Api-Key': secret('header') } }),
    JSON.stringify({ url: `${base}/missing.tif`, headers: { 'X-Bad\nInjected-Line': secret('header') } }),
    `{"url": "${base}/a.tif?token=${secret('json')}" oops}`,
    // Escape sequences in an input line, in an id and in an out.
    `\u001b[2J\u001b]0;pwned\u0007${base}/missing.tif`,
    JSON.stringify({ url: `${base}/missing.tif`, id: 'id\u009b31m\u007f', out: 'o\u001b[1m.tif' }),
    // One that succeeds, by ranges and through the header cache, with a token in its URL.
    `${base}/rgb-byte-tiled.tif?token=${secret('ok')}`
  )
  const redirectSecret = secret('redirect')
  server.always('moved.tif', { kind: 'redirect', to: `${base}/gone.tif?token=${redirectSecret}` })
  server.always('moved-bad.tif', { kind: 'redirect', to: `http://u:${secret('redirect')}@127.0.0.1:99999/gone.tif?jwt=${secret('redirect')}#${secret('redirect')}` })
  server.always('echo.tif', { kind: 'status', status: 400, body: `bad request: /echo.tif?api_key=${echoSecret}\n` })
  server.always('junk.tif', { kind: 'body', body: 'not a raster at all\n'.repeat(100) })
  const bearer = secret('bearer')

  const dir = join(ctx.dir, 'secrets')
  mkdirSync(dir)
  const input = join(dir, 'input.ndjson')
  writeFileSync(input, lines.join('\n') + '\n')
  const out = join(dir, 'out')
  const cache = join(dir, 'cache')
  const stats = join(dir, 'stats.json')
  const run = await runCli(['-o', out, '--cache-dir', cache, '--stats', stats, '-w', '0,0,64,64', '--retries', '0', '--fetch', 'range', '--progress',
    '-H', `Authorization: Bearer ${bearer}`, input])
  assert.equal(run.code, 1, run.stderr)
  assert.equal(run.records.length, lines.length, 'one record per line')
  assert.equal(run.records.filter((r) => r.status === 'ok').length, 1, run.stdout)
  const results = join(dir, 'results.ndjson')
  writeFileSync(results, run.stdout)
  const retry = await runCli(['summarize', '--retry-list', results])
  const summary = await runCli(['summarize', results])
  const merged = await runCli(['summarize', '--stats', stats])
  assert.match(retry.stdout, /"url"/, 'the retry list has records')

  const streams: Array<{ name: string, text: string }> = [
    { name: 'stdout', text: run.stdout },
    { name: 'stderr', text: run.stderr },
    { name: 'retry list', text: retry.stdout },
    { name: 'retry list stderr', text: retry.stderr },
    { name: 'summarize', text: summary.stdout },
    { name: 'summarize stderr', text: summary.stderr },
    { name: 'summarize --stats', text: merged.stdout },
    { name: 'summarize --stats stderr', text: merged.stderr },
    ...filesUnder(dir).filter((f) => f.name !== 'input.ndjson' && f.name !== 'results.ndjson')
  ]
  assert.ok(streams.some((s) => s.name === 'stats.json'))
  assert.ok(streams.some((s) => s.name.startsWith('cache/')), 'the header cache wrote an entry')
  for (const s of streams) {
    for (const value of secrets) {
      assert.ok(!s.name.includes(value) && !s.text.includes(value), `${s.name} carries the secret ${value}: ${s.text.slice(Math.max(0, s.text.indexOf(value) - 200), s.text.indexOf(value) + 40)}`)
    }
  }
  for (const s of streams.slice(0, 8)) {
    // eslint-disable-next-line no-control-regex -- raw control characters are what is looked for
    const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.exec(s.text)
    assert.equal(raw, null, `${s.name} has a raw control character U+${raw?.[0].charCodeAt(0).toString(16).padStart(4, '0')}: ${JSON.stringify(s.text.slice(Math.max(0, (raw?.index ?? 0) - 80), (raw?.index ?? 0) + 20))}`)
    assert.ok(!s.text.split('\n').some((l) => l.startsWith('Injected-Line')), `${s.name}: a header name's line break split a line`)
  }
  // The escaped forms are there to read.
  assert.match(run.stderr, /X-Bad\\nInjected-Line/)
})
