// Run by test/library.test.ts in a child process (an uncaught exception is the point, and the test runner
// has its own handler for those): a library run whose HTTP client throws from inside its own callbacks,
// asynchronously, as undici's parser did (its issue #5360). Prints the records, then one summary line.
import { Agent, type Dispatcher } from 'undici'
import { rasterPipeline, type ResultRecord } from '../../lib/index.js'

const [outDir, tempRoot, ...urls] = process.argv.slice(2)
let dispatched = 0
let made = 0
const pipeline = rasterPipeline({
  outDir,
  tempRoot,
  concurrency: 4,
  retryBaseMs: 5,
  window: { col: 0, row: 0, width: 32, height: 32 },
  dispatcher: () => {
    made++
    return new Agent({ connections: 4 }).compose((dispatch: Dispatcher['dispatch']) => (opts, handler) => {
      // On the 5th request, a throw scheduled from within the client: uncaught, in its context.
      if (++dispatched === 5) setImmediate(() => { throw new Error('injected fault inside the HTTP client') })
      return dispatch(opts, handler)
    })
  }
})
const warnings: string[] = []
pipeline.on('warning', (w: string) => warnings.push(w))
for (const url of urls) pipeline.write(url)
pipeline.end()
const records: ResultRecord[] = []
for await (const r of pipeline) records.push(r)
await pipeline.released
process.stdout.write(JSON.stringify({ records, warnings, dispatchers: made }) + '\n')
