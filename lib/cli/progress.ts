// Progress on stderr. On a terminal, a cli-progress bar that per-record messages print above; elsewhere
// (`--progress` into a log file), a plain line at most once a second and a last one at the end. The
// total grows as input is read: a stream has no length up front.
import { createRequire } from 'node:module'
import type cliProgress from 'cli-progress'

const require = createRequire(import.meta.url)

export class Progress {
  private readonly stream: NodeJS.WritableStream
  private readonly multi?: cliProgress.MultiBar
  private readonly bar?: cliProgress.SingleBar
  private lastLine = 0
  private done = 0
  private total = 0

  constructor (stream: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.stream = stream
    if (stream.isTTY) {
      // Loaded only when a bar is drawn: a run into a pipe or a log file never needs it.
      const bars = require('cli-progress') as typeof cliProgress
      this.multi = new bars.MultiBar({
        stream,
        format: 'rasterpipe [{bar}] {value}/{total} records | {duration_formatted}',
        hideCursor: false,
        clearOnComplete: true
      }, bars.Presets.shades_classic)
      this.bar = this.multi.create(0, 0)
    }
  }

  update (done: number, total: number): void {
    this.done = done
    this.total = total
    if (this.bar) {
      this.bar.setTotal(total)
      this.bar.update(done)
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
    this.stream.write(`rasterpipe [${this.done}/${this.total}] records\n`)
  }
}
