// A logging HTTP proxy on 127.0.0.1, as corporate proxies are: plain-http requests in absolute form
// (`GET http://host:port/path`) forwarded, https by CONNECT tunnels; each request recorded. Host names are
// mapped to 127.0.0.1 through `hosts` (names other than localhost do not resolve here); a request for any
// other address is refused with 502, so no test ever reaches past loopback. With `credentials`, requests
// without that Proxy-Authorization get 407.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'

export interface ProxiedRequest {
  method: string
  /** The request target as the proxy received it: an absolute URL, or CONNECT's host:port. */
  target: string
  headers: IncomingHttpHeaders
}

export interface LoggingProxy {
  /** http://127.0.0.1:PORT */
  url: string
  port: number
  log: ProxiedRequest[]
  close: () => Promise<void>
}

export interface ProxyOptions {
  /** Host names that stand for 127.0.0.1. */
  hosts?: string[]
  /** `user:password`: the Basic credentials the proxy requires. */
  credentials?: string
}

export async function startProxy ({ hosts = [], credentials }: ProxyOptions = {}): Promise<LoggingProxy> {
  const log: ProxiedRequest[] = []
  const sockets = new Set<Socket>()
  const loopback = (host: string): boolean => host === '127.0.0.1' || host === 'localhost' || hosts.includes(host.toLowerCase())
  const allowed = (headers: IncomingHttpHeaders): boolean =>
    credentials === undefined || headers['proxy-authorization'] === `Basic ${Buffer.from(credentials).toString('base64')}`

  const server: Server = createServer((req, res) => {
    log.push({ method: req.method ?? '', target: req.url ?? '', headers: req.headers })
    if (!allowed(req.headers)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end()
      return
    }
    let target: URL
    try {
      target = new URL(req.url ?? '')
    } catch {
      res.writeHead(400).end('not absolute form')
      return
    }
    if (target.protocol !== 'http:' || !loopback(target.hostname)) {
      res.writeHead(502).end('not a loopback target')
      return
    }
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    delete headers['proxy-connection']
    const upstream = request({ host: '127.0.0.1', port: Number(target.port || 80), method: req.method, path: `${target.pathname}${target.search}`, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => { res.destroy() })
    req.pipe(upstream)
  })
  server.on('connect', (req, client: Socket, head: Buffer) => {
    log.push({ method: 'CONNECT', target: req.url ?? '', headers: req.headers })
    client.on('error', () => undefined)
    if (!allowed(req.headers)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const m = /^(.+):(\d+)$/.exec(req.url ?? '')
    if (!m || !loopback(m[1])) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const upstream = connect(Number(m[2]), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    close: async () => {
      for (const s of sockets) s.destroy()
      server.close()
      await once(server, 'close')
    }
  }
}
