// Runs the real rasterpipe executable with a private TMPDIR, and checks after every run that it left no
// temp directory behind.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import type { ResultRecord } from '../../lib/core/records.js'
import { withoutUserNetwork } from './user-environment.js'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const BIN = join(ROOT, 'bin', 'rasterpipe')
export const FIXTURES = join(ROOT, 'fixtures', 'rasters')

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  records: ResultRecord[]
}

export interface RunOptions {
  stdin?: string | Buffer
  env?: Record<string, string>
  /** Called with the child once started (to send signals). */
  started?: (child: ReturnType<typeof spawn>) => void
  /** Kills a run that has not ended by then (10 minutes by default): a bound on a hang, not on the machine's speed. */
  timeoutMs?: number
  /** Leave stdin open after writing `stdin` (the test closes it, or signals the child). */
  stdinOpen?: boolean
}

export function scratch (prefix = 'rp-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export async function runCli (args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const tmp = scratch('rp-tmp-')
  try {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      // The tester's proxy or GDAL settings left out: a test sets those it tests.
      env: { ...withoutUserNetwork(process.env), TMPDIR: tmp, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    opts.started?.(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.stdin.on('error', () => undefined)
    if (opts.stdinOpen) child.stdin.write(opts.stdin ?? '')
    else child.stdin.end(opts.stdin ?? '')
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000)
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.on('close', (c, s) => resolve([c, s]))
    })
    clearTimeout(timer)
    // NDJSON records; not the pretty-printed JSON of `summarize`.
    const records = stdout.startsWith('{"')
      ? stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord)
      : []
    const left = readdirSync(tmp)
    assert.deepEqual(left, [], `rasterpipe left temp files behind: ${left.join(', ')}`)
    return { code, signal, stdout, stderr, records }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** Resolves once a file under `dir` (a run's TMPDIR) whose name has `part` holds bytes: a download has kept part of a body. */
export async function bytesKept (dir: string, part: string): Promise<void> {
  const kept = (): boolean => readdirSync(dir, { recursive: true, withFileTypes: true })
    .some((e) => e.isFile() && e.name.includes(part) && (statSync(join(e.parentPath, e.name), { throwIfNoEntry: false })?.size ?? 0) > 0)
  while (!kept()) await new Promise((resolve) => setTimeout(resolve, 5))
}

export function byLine (records: ResultRecord[]): Map<number, ResultRecord> {
  return new Map(records.map((r) => [r.line, r]))
}
