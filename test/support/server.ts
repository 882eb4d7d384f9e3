// The loopback raster server the tests start: serves a directory (streamed from disk, so files of
// gigabytes too) and in-memory files on 127.0.0.1 at a random port, with Range support and ETags, counts
// requests, bytes and requests in flight per path, honours If-Match (412), and injects faults one request at a time: statuses,
// resets, truncation, stalls, silence, redirects.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { closeSync, createReadStream, openSync, readSync, statSync, type Stats } from 'node:fs'
import { join, normalize } from 'node:path'
import { createHash } from 'node:crypto'
import { pipeline, type Readable } from 'node:stream'

export type Fault =
  | { kind: 'status', status: number, headers?: Record<string, string>, body?: string }
  /** Sends headers and `after` body bytes, then resets the connection: once `when` resolves (e.g. the client has
   * kept some of them), else after a pause. */
  | { kind: 'reset', after: number, when?: () => Promise<void> }
  /** Sends a full Content-Length but only `after` bytes, then ends the connection cleanly. */
  | { kind: 'truncate', after: number }
  /** Sends headers and `after` body bytes, then sends nothing more (until the client gives up). */
  | { kind: 'stall', after: number }
  /** Accepts the request and never answers. */
  | { kind: 'silent' }
  | { kind: 'redirect', to: string, status?: number }
  /** Serves this body instead of the file, with status 200. */
  | { kind: 'body', body: Buffer | string, contentType?: string, chunked?: boolean }
  /** Answers as if Range were not supported (200, whole body). */
  | { kind: 'ignore-range' }
  | { kind: 'delay', ms: number }
  /** Sends the body one byte every `ms`: never idle long enough for an inactivity timeout. */
  | { kind: 'trickle', ms: number }
  /** Serves another version of the file, honouring Range but ignoring If-Range and If-Match, with this ETag (or none),
   * and with `lastModified` as both Last-Modified and Date (a weak validator by RFC 9110 8.8.2.2). */
  | { kind: 'version', body: Buffer, etag: string | null, lastModified?: string }
  /** Answers as usual, but labels the body with this Content-Encoding. */
  | { kind: 'encoding', encoding: string }
  /** Answers any Range request with 206 and the whole file. */
  | { kind: 'whole-206' }

export interface PathStats {
  requests: number
  /** Body bytes sent. */
  bytes: number
  ranges: string[]
  /** Each request's If-Match header, in order (undefined where it had none). */
  ifMatch: Array<string | undefined>
  /** Each request's Authorization header, in order (undefined where it had none): where a secret went. */
  authorization: Array<string | undefined>
}

export interface RasterServer {
  url: (path: string) => string
  base: string
  fault: (path: string, ...faults: Fault[]) => void
  /** Faults for every request to a path, not consumed. */
  always: (path: string, fault: Fault) => void
  file: (path: string, body: Buffer) => void
  stats: (path: string) => PathStats
  totalRequests: () => number
  /** Body bytes sent over all paths. */
  totalBytes: () => number
  inFlight: () => number
  /** Resolves once no response is in flight: a response the client gave up on has stopped counting bytes. */
  idle: () => Promise<void>
  maxInFlight: () => number
  reset: () => void
  /** Per-request latency in ms, added before the answer. */
  latency: number
  /** Drop Range support for every path. */
  noRanges: boolean
  /** Bytes per second for each response body; 0 for no cap. */
  bandwidth: number
  /** Answer every request with `Connection: close`, as HTTP/1.0 servers and some proxies do. */
  connectionClose: boolean
  /** The path served for a request's path, query and headers (default: the path), e.g. a server that picks the file by `?key=` or `X-Api-Key`. */
  route?: (path: string, query: URLSearchParams, headers: IncomingMessage['headers']) => string
  /** Answer 503 at once to any request that arrives while this many are in flight already (0: no limit), as an overloaded server or S3's SlowDown does. */
  capacity: number
  /** Headers of those 503s (e.g. Retry-After). */
  overloadHeaders: Record<string, string>
  /** The 503s sent for `capacity`. */
  overloaded: () => number
  /** A new ETag on every answer, for the same bytes (as servers of several nodes that each tag a file their own
   * way): If-Match and If-Range compare with it, so they never match. */
  changingEtag: boolean
  /** Chance (0–1) that a keep-alive connection is closed by the server soon after a response, when idle. */
  idleClose: number
  close: () => Promise<void>
}

/**
 * What a path serves. Files on disk are read piece by piece as the response drains, so a file of
 * gigabytes (a sparse test file) costs the server no more memory than a small one.
 */
interface Body {
  size: number
  etag: string | null
  /** Bytes `start` to `end - 1`; callers ask only for small pieces (a fault's first bytes, a chunk). */
  read: (start: number, end: number) => Buffer
  /** The same bytes as a stream, when they are on disk. */
  stream?: (start: number, end: number) => Readable
}

function inMemory (bytes: Buffer, etag: string | null): Body {
  return { size: bytes.length, etag, read: (start, end) => bytes.subarray(start, end) }
}

function onDisk (path: string, st: Stats): Body {
  return {
    size: st.size,
    // From the file's identity, size and time, as nginx and Apache make theirs: a hash of the contents
    // would read the whole file for every request.
    etag: `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
    read: (start, end) => {
      const fd = openSync(path, 'r')
      try {
        const buf = Buffer.alloc(Math.max(0, end - start))
        return buf.subarray(0, readSync(fd, buf, 0, buf.length, start))
      } finally {
        closeSync(fd)
      }
    },
    stream: (start, end) => createReadStream(path, { start, end: end - 1 })
  }
}

const sha1Tag = (bytes: Buffer): string => '"' + createHash('sha1').update(bytes).digest('hex').slice(0, 16) + '"'

export async function startServer (root?: string): Promise<RasterServer> {
  const files = new Map<string, Buffer>()
  const queued = new Map<string, Fault[]>()
  const standing = new Map<string, Fault>()
  const stats = new Map<string, PathStats>()
  const sockets = new Set<Socket>()
  const hanging = new Set<ServerResponse>()
  const busy = new WeakMap<Socket, number>()
  let inFlight = 0
  let idleWaiters: Array<() => void> = []
  let maxInFlight = 0
  let total = 0
  let overloaded = 0
  let answers = 0

  const statsFor = (path: string): PathStats => {
    let s = stats.get(path)
    if (!s) stats.set(path, s = { requests: 0, bytes: 0, ranges: [], ifMatch: [], authorization: [] })
    return s
  }

  function load (path: string): Body | null {
    const mem = files.get(path)
    if (mem) return inMemory(mem, sha1Tag(mem))
    if (!root) return null
    const full = normalize(join(root, decodeURIComponent(path)))
    if (!full.startsWith(normalize(root))) return null
    try {
      const st = statSync(full)
      return st.isFile() ? onDisk(full, st) : null
    } catch {
      return null
    }
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const [requested, query = ''] = (req.url ?? '/').split('?')
    const path = api.route ? api.route(requested, new URLSearchParams(query), req.headers) : requested
    const s = statsFor(path)
    s.requests++
    s.ifMatch.push(req.headers['if-match'])
    s.authorization.push(req.headers.authorization)
    total++
    inFlight++
    if (inFlight > maxInFlight) maxInFlight = inFlight
    let counted = false
    const socket = req.socket
    busy.set(socket, (busy.get(socket) ?? 0) + 1)
    const finish = (): void => {
      if (counted) return
      counted = true
      inFlight--
      if (inFlight === 0) { for (const resolve of idleWaiters) resolve(); idleWaiters = [] }
      busy.set(socket, (busy.get(socket) ?? 1) - 1)
      // Closing an idle keep-alive connection a moment after its response: the client may be sending
      // its next request on it just then, which is the race this fault is for.
      if (api.idleClose > 0 && Math.random() < api.idleClose) {
        setTimeout(() => { if (!busy.get(socket)) socket.destroy() }, Math.floor(Math.random() * 5))
      }
    }
    res.on('close', finish)
    if (api.connectionClose) res.setHeader('connection', 'close')
    if (api.capacity > 0 && inFlight > api.capacity) {
      overloaded++
      res.writeHead(503, { 'content-type': 'text/plain', ...api.overloadHeaders })
      res.end('overloaded\n')
      return
    }
    const fault = queued.get(path)?.shift() ?? standing.get(path)
    const answer = (): void => handle(req, res, path, s, fault)
    if (api.latency > 0) setTimeout(answer, api.latency)
    else answer()
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  /** Sends bytes `start` to `end - 1` of a body, counting each byte as it is handed to the response. */
  function send (res: ServerResponse, s: PathStats, body: Body, start = 0, end = body.size): void {
    // A HEAD's answer has no body (Node would drop one): nothing sent, nothing counted.
    if (res.req.method === 'HEAD') {
      res.end()
      return
    }
    if (api.bandwidth <= 0 && body.stream && end > start) {
      // The client may have gone already (a run killed by a test's signal): nothing to send, no file to open.
      if (res.destroyed) return
      const stream = body.stream(start, end)
      stream.on('data', (chunk: Buffer) => { s.bytes += chunk.length })
      // A client that stops reading (a download refused by its size) destroys the stream with the response.
      pipeline(stream, res, () => undefined)
      return
    }
    if (api.bandwidth <= 0 || end <= start) {
      const bytes = body.read(start, end)
      s.bytes += bytes.length
      res.end(bytes)
      return
    }
    const chunk = 64 * 1024
    const gap = (chunk / api.bandwidth) * 1000
    let at = start
    const next = (): void => {
      if (res.destroyed) return
      const piece = body.read(at, Math.min(at + chunk, end))
      at += piece.length
      s.bytes += piece.length
      if (at >= end || piece.length === 0) res.end(piece) // a file cut short ends its body short
      else { res.write(piece); setTimeout(next, gap) }
    }
    next()
  }
  const text = (t: string): Body => inMemory(Buffer.from(t), null)

  function handle (req: IncomingMessage, res: ServerResponse, path: string, s: PathStats, fault?: Fault): void {
    if (fault?.kind === 'delay') {
      setTimeout(() => handle(req, res, path, s), fault.ms)
      return
    }
    if (fault?.kind === 'silent') { hanging.add(res); return }
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': 'text/plain', ...fault.headers })
      send(res, s, text(fault.body ?? `status ${fault.status}\n`))
      return
    }
    if (fault?.kind === 'redirect') {
      res.writeHead(fault.status ?? 302, { location: fault.to, 'content-length': '0' })
      res.end()
      return
    }
    if (fault?.kind === 'body') {
      const body = Buffer.isBuffer(fault.body) ? fault.body : Buffer.from(fault.body)
      const headers: Record<string, string> = { 'content-type': fault.contentType ?? 'application/octet-stream' }
      if (!fault.chunked) headers['content-length'] = String(body.length)
      res.writeHead(200, headers)
      send(res, s, inMemory(body, null))
      return
    }
    const body = fault?.kind === 'version' ? inMemory(fault.body, fault.etag) : load(path)
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' })
      send(res, s, text('not found\n'))
      return
    }
    const etag = api.changingEtag ? `"node-${++answers}"` : body.etag
    const size = body.size
    // If-Match compares strongly (RFC 9110 13.1.1): a changed file is refused before any byte is sent.
    const ifMatch = fault?.kind === 'version' ? undefined : req.headers['if-match']
    if (ifMatch !== undefined && ifMatch.trim() !== '*' && !ifMatch.split(',').some((t) => etag !== null && t.trim() === etag)) {
      res.writeHead(412, { 'content-type': 'text/plain' })
      send(res, s, text('precondition failed\n'))
      return
    }
    const ranges = !api.noRanges && fault?.kind !== 'ignore-range'
    let start = 0
    let end = size - 1
    let status = 200
    const range = req.headers.range
    const ifRange = fault?.kind === 'version' ? undefined : req.headers['if-range']
    if (ranges && range && fault?.kind === 'whole-206') {
      status = 206
    } else if (ranges && range && (!ifRange || ifRange === etag)) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range)
      if (m) {
        s.ranges.push(range)
        if (m[1] === '') { start = Math.max(0, size - Number(m[2])) } else {
          start = Number(m[1])
          if (m[2] !== '') end = Math.min(Number(m[2]), size - 1)
        }
        if (start >= size || start > end) {
          res.writeHead(416, { 'content-range': `bytes */${size}` })
          res.end()
          return
        }
        status = 206
      }
    }
    const length = end + 1 - start
    const headers: Record<string, string> = {
      'content-type': 'image/tiff',
      'content-length': String(length)
    }
    if (etag) headers.etag = etag
    if (fault?.kind === 'version' && fault.lastModified !== undefined) Object.assign(headers, { 'last-modified': fault.lastModified, date: fault.lastModified })
    if (fault?.kind === 'encoding') headers['content-encoding'] = fault.encoding
    if (ranges) headers['accept-ranges'] = 'bytes'
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`
    res.writeHead(status, headers)
    if (fault?.kind === 'reset' || fault?.kind === 'truncate' || fault?.kind === 'stall') {
      const part = body.read(start, start + Math.min(fault.after, length))
      s.bytes += part.length
      const act = (): void => {
        if (fault.kind === 'reset') res.socket?.resetAndDestroy()
        else if (fault.kind === 'truncate') res.socket?.end()
        else hanging.add(res)
      }
      // A pause before the fault, so that the client has read what was sent (a reset discards data still
      // unread in the peer's buffers); a test that needs it read waits for that with `when`.
      res.write(part, () => { if (fault.kind === 'reset' && fault.when) fault.when().then(act, () => res.destroy()); else setTimeout(act, 50) })
      return
    }
    if (fault?.kind === 'trickle') {
      let at = 0
      const drip = (): void => {
        if (res.destroyed) return
        if (at >= length) { res.end(); return }
        s.bytes++
        res.write(body.read(start + at, start + ++at))
        setTimeout(drip, fault.ms)
      }
      drip()
      return
    }
    send(res, s, body, start, end + 1)
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const base = `http://127.0.0.1:${port}`

  const api: RasterServer = {
    base,
    latency: 0,
    noRanges: false,
    bandwidth: 0,
    connectionClose: false,
    idleClose: 0,
    changingEtag: false,
    capacity: 0,
    overloadHeaders: {},
    overloaded: () => overloaded,
    url: (path) => `${base}/${path.replace(/^\//, '')}`,
    fault: (path, ...faults) => {
      const key = '/' + path.replace(/^\//, '')
      queued.set(key, [...(queued.get(key) ?? []), ...faults])
    },
    always: (path, fault) => { standing.set('/' + path.replace(/^\//, ''), fault) },
    file: (path, body) => { files.set('/' + path.replace(/^\//, ''), body) },
    stats: (path) => statsFor('/' + path.replace(/^\//, '')),
    totalRequests: () => total,
    totalBytes: () => [...stats.values()].reduce((sum, st) => sum + st.bytes, 0),
    inFlight: () => inFlight,
    idle: async () => { if (inFlight > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve)) },
    maxInFlight: () => maxInFlight,
    reset: () => {
      stats.clear(); queued.clear(); standing.clear()
      maxInFlight = inFlight; total = 0; overloaded = 0
    },
    close: async () => {
      for (const res of hanging) res.destroy()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  return api
}
