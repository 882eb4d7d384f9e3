// Progress on stderr. On a terminal, a cli-progress bar that per-record messages print above; elsewhere
// (`--progress` into a log file), a plain line at most once a second and a last one at the end. The
// total grows as input is read: a stream has no length up front; input files' lines, once counted
// (count-lines.ts), give the total and an ETA.
import { createRequire } from 'node:module'
import type cliProgress from 'cli-progress'

const require = createRequire(import.meta.url)

export class Progress {
  private readonly stream: NodeJS.WritableStream
  private readonly multi?: cliProgress.MultiBar
  private readonly bar?: cliProgress.SingleBar
  // The first line at once; then at most one a second.
  private lastLine = -Infinity
  private done = 0
  private total = 0
  /** The records expected in all, when the input's lines were counted. */
  private expected?: number
  private readonly started = performance.now()

  constructor (stream: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.stream = stream
    if (stream.isTTY) {
      // Loaded only when a bar is drawn: a run into a pipe or a log file never needs it.
      const bars = require('cli-progress') as typeof cliProgress
      this.multi = new bars.MultiBar({
        stream,
        format: 'rasterpipe [{bar}] {value}/{total} records | {duration_formatted}{eta}',
        hideCursor: false,
        clearOnComplete: true
      }, bars.Presets.shades_classic)
      this.bar = this.multi.create(0, 0, { eta: '' })
    }
  }

  /** The number of records the input holds, counted before or while the run goes. */
  expect (records: number): void {
    this.expected = records
  }

  /** ' | ETA 1m05s' once the total is known and a record is done; '' otherwise. */
  eta (): string {
    if (this.expected === undefined || this.done === 0) return ''
    const left = Math.max(0, Math.max(this.expected, this.total) - this.done)
    if (left === 0) return ''
    const s = Math.round((performance.now() - this.started) / 1000 / this.done * left)
    return ` | ETA ${s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor(s % 3600 / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`}`
  }

  update (done: number, total: number): void {
    this.done = done
    this.total = Math.max(total, this.expected ?? 0)
    if (this.bar) {
      this.bar.setTotal(this.total)
      this.bar.update(done, { eta: this.eta() })
    } else if (performance.now() - this.lastLine >= 1000) {
      this.line()
    }
  }

  log (text: string): void {
    if (this.multi) this.multi.log(text + '\n')
    else this.stream.write(text + '\n')
  }

  stop (): void {
    if (this.multi) this.multi.stop()
    else this.line()
  }

  private line (): void {
    this.lastLine = performance.now()
    this.stream.write(`rasterpipe [${this.done}/${this.total}] records${this.eta().replace(' |', ',')}\n`)
  }
}
