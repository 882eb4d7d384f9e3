// Headless Chromium (Debian's `chromium`) driven over the DevTools protocol with Node's own WebSocket:
// started with its own profile in a temp directory, one page, its console errors and exceptions kept,
// killed (the whole process group) on close. No puppeteer.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))

interface Pending { resolve: (v: Record<string, unknown>) => void, reject: (e: Error) => void }

export interface Page {
  /** Console errors, exceptions and error log entries since the page was opened. */
  errors: string[]
  send: (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>
  /** The value of an expression evaluated in the page (awaited if a promise). */
  evaluate: <T>(expression: string) => Promise<T>
  /** Resolves on the next event of this name. */
  next: (method: string) => Promise<Record<string, unknown>>
}

export class Chromium {
  private constructor (private readonly child: ChildProcess, private readonly profile: string, private readonly ws: WebSocket) {}
  private seq = 0
  private readonly pending = new Map<number, Pending>()
  private readonly listeners = new Set<(m: { method: string, params: Record<string, unknown>, sessionId?: string }) => void>()

  static async start (): Promise<Chromium> {
    if (!CHROMIUM) throw new Error('chromium is not installed')
    const profile = mkdtempSync(join(tmpdir(), 'rp-chromium-'))
    const child = spawn(CHROMIUM, ['--headless', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--no-sandbox',
      '--disable-gpu', '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--hide-scrollbars', 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
    // A browser that started but could not be reached is killed here: no test holds it to close.
    const kill = (err: unknown): never => {
      try { process.kill(-(child.pid as number), 'SIGKILL') } catch { child.kill('SIGKILL') }
      rmSync(profile, { recursive: true, force: true })
      throw err
    }
    const url = await new Promise<string>((resolve, reject) => {
      let text = ''
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        text += d
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(text)
        if (m) resolve(m[1])
      })
      child.once('exit', (code) => reject(new Error(`chromium exited (${code}) before it listened: ${text.slice(-2000)}`)))
      child.once('error', reject)
    }).catch(kill)
    const ws = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true })
      ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), { once: true })
    }).catch(kill)
    const c = new Chromium(child, profile, ws)
    ws.addEventListener('message', (ev) => c.onMessage(String(ev.data)))
    return c
  }

  private onMessage (data: string): void {
    const m = JSON.parse(data) as { id?: number, result?: Record<string, unknown>, error?: { message: string }, method?: string, params?: Record<string, unknown>, sessionId?: string }
    if (m.id !== undefined) {
      const p = this.pending.get(m.id)
      this.pending.delete(m.id)
      if (m.error) p?.reject(new Error(m.error.message))
      else p?.resolve(m.result ?? {})
    } else if (m.method) {
      for (const l of this.listeners) l({ method: m.method, params: m.params ?? {}, ...(m.sessionId ? { sessionId: m.sessionId } : {}) })
    }
  }

  send (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = ++this.seq
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }))
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }))
  }

  /** A new page at about:blank, its console and exceptions listened to. */
  async page (width = 1400, height = 1000): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' }) as { targetId: string }
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string }
    const errors: string[] = []
    this.listeners.add((m) => {
      if (m.sessionId !== sessionId) return
      if (m.method === 'Runtime.exceptionThrown') {
        const d = m.params.exceptionDetails as { text?: string, exception?: { description?: string } }
        errors.push(`exception: ${d.exception?.description ?? d.text ?? ''}`)
      } else if (m.method === 'Runtime.consoleAPICalled' && (m.params.type === 'error' || m.params.type === 'assert')) {
        errors.push(`console.${String(m.params.type)}: ${JSON.stringify(m.params.args)}`)
      } else if (m.method === 'Log.entryAdded') {
        const e = m.params.entry as { level: string, text: string, url?: string }
        if (e.level === 'error') errors.push(`log: ${e.text} ${e.url ?? ''}`)
      }
    })
    const send = (method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> => this.send(method, params, sessionId)
    await send('Runtime.enable')
    await send('Log.enable')
    await send('Page.enable')
    await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false })
    const next = (method: string): Promise<Record<string, unknown>> => new Promise((resolve) => {
      const l = (m: { method: string, params: Record<string, unknown>, sessionId?: string }): void => {
        if (m.sessionId === sessionId && m.method === method) { this.listeners.delete(l); resolve(m.params) }
      }
      this.listeners.add(l)
    })
    const evaluate = async <T>(expression: string): Promise<T> => {
      const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }) as { result: { value: T }, exceptionDetails?: { text: string } }
      if (r.exceptionDetails) throw new Error(`evaluate ${expression}: ${r.exceptionDetails.text}`)
      return r.result.value
    }
    return { errors, send, evaluate, next }
  }

  /** Kills the browser and its children (its process group), and removes its profile. */
  async close (): Promise<void> {
    try { this.ws.close() } catch { /* closed */ }
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve))
      try { process.kill(-(this.child.pid as number), 'SIGKILL') } catch { this.child.kill('SIGKILL') }
      await exited
    }
    rmSync(this.profile, { recursive: true, force: true })
  }
}
