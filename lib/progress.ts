// The progress bar on stderr. The total grows as input is read: a stream has no length up front.
import cliProgress from 'cli-progress'

export class Progress {
  private readonly multi: cliProgress.MultiBar
  private readonly bar: cliProgress.SingleBar

  constructor (stream: NodeJS.WritableStream) {
    this.multi = new cliProgress.MultiBar({
      stream,
      format: 'rasterpipe [{bar}] {value}/{total} records | {duration_formatted}',
      hideCursor: false,
      clearOnComplete: true,
      // Draw even when stderr is not a terminal, as --progress asks.
      noTTYOutput: true,
      notTTYSchedule: 1000
    }, cliProgress.Presets.shades_classic)
    this.bar = this.multi.create(0, 0)
  }

  update (done: number, total: number): void {
    this.bar.setTotal(total)
    this.bar.update(done)
  }

  log (line: string): void {
    this.multi.log(line + '\n')
  }

  stop (): void {
    this.multi.stop()
  }
}
