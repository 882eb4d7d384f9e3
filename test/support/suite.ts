// `make test`: every test file in a process of its own, several at a time, the longest first, so that no
// long file starts last and runs alone. Files share nothing: each starts its servers on port 0 and
// writes under a directory of its own. The spec report goes to stdout; the exit status is 1 if a test failed.
import { run } from 'node:test'
import { spec } from 'node:test/reporters'
import { readdirSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dropUserNetwork } from './user-environment.js'

/** The files that take longest, longest first; the others follow in name order. */
const LONGEST = [
  'differential.test.js', 'connection-close.test.js', 'idle-close.test.js', 'warp.test.js', 'windows.test.js',
  'write-faults.test.js', 'stack.test.js', 'header-cache.test.js'
]

const dir = fileURLToPath(new URL('..', import.meta.url))
// The files named (e.g. `node dist/test/support/suite.js dist/test/s3*.test.js`), or every one.
const given = process.argv.slice(2)
const all = given.length > 0 ? given : readdirSync(dir).filter((n) => n.endsWith('.test.js')).sort().map((n) => join(dir, n))
const rank = (file: string): number => { const i = LONGEST.indexOf(basename(file)); return i < 0 ? LONGEST.length : i }
const files = [...all].sort((a, b) => rank(a) - rank(b))
// Files wait on servers and child processes as much as they compute: one more than the cores keeps both busy.
const concurrency = Number(process.env.TEST_JOBS) || availableParallelism() + 1

// Test files and their runs see no proxy, CA bundle or GDAL HTTP setting of the tester's shell.
dropUserNetwork()
const stream = run({ files, concurrency })
stream.on('test:fail', () => { process.exitCode = 1 })
stream.compose(spec).pipe(process.stdout)
