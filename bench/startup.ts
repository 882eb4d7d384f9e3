// What starting rasterpipe costs: the median of N runs (10 unless --runs) of `node -e 0` (the floor: Node
// itself), `rasterpipe --help`, `--version`, a usage error (`-c 0`), and one record of a local file
// (time to its record on stdout, and to the process's exit). With --before DIR (a checkout or copy
// whose bin/rasterpipe and dist/ are the build to compare with), each command runs there too,
// interleaved with this one so that the machine's noise falls on both alike.
//
//   node dist/bench/startup.js [--runs N] [--before DIR]
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SOURCE = join(ROOT, 'fixtures', 'rasters', 'rgb-byte-tiled.tif')

const { values } = parseArgs({ options: { runs: { type: 'string' }, before: { type: 'string' } } })
const RUNS = Number(values.runs ?? 10)

interface Timing {
  /** ms from spawn to the first line on stdout (the first record), if any. */
  first?: number
  /** ms from spawn to exit. */
  exit: number
}

/** Runs one command and times it; stdin gets `input`. */
async function time (args: string[], input = ''): Promise<Timing> {
  const t0 = performance.now()
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'ignore'] })
  let first: number | undefined
  child.stdout.on('data', (chunk: Buffer) => { if (first === undefined && chunk.includes(10)) first = performance.now() - t0 })
  child.stdin.end(input)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const exit = performance.now() - t0
  if (code === null) throw new Error(`${args.join(' ')}: killed`)
  return first === undefined ? { exit } : { first, exit }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

interface Case { name: string, run: (bin: string, out: string) => Promise<Timing>, pick: (t: Timing) => number }

const cases: Case[] = [
  { name: 'node -e 0', run: async () => await time(['-e', '0']), pick: (t) => t.exit },
  { name: 'rasterpipe --help', run: async (bin) => await time([bin, '--help']), pick: (t) => t.exit },
  { name: 'rasterpipe --version', run: async (bin) => await time([bin, '--version']), pick: (t) => t.exit },
  { name: 'rasterpipe -c 0 (usage error)', run: async (bin) => await time([bin, '-c', '0']), pick: (t) => t.exit },
  { name: 'one local record: first record', run: async (bin, out) => await time([bin, '-o', out], SOURCE + '\n'), pick: (t) => t.first ?? NaN },
  { name: 'one local record: exit', run: async (bin, out) => await time([bin, '-o', out], SOURCE + '\n'), pick: (t) => t.exit }
]

const trees: Array<[string, string]> = [['this build', join(ROOT, 'bin', 'rasterpipe')]]
if (values.before) trees.push(['before', join(values.before, 'bin', 'rasterpipe')])

const work = mkdtempSync(join(tmpdir(), 'rasterpipe-startup-'))
try {
  console.log(`Node ${process.version}, ${RUNS} runs each, medians in seconds${values.before ? ` (before: ${values.before})` : ''}`)
  console.log(`| command | ${trees.map(([label]) => label).join(' | ')} |`)
  console.log(`| --- | ${trees.map(() => '---').join(' | ')} |`)
  for (const c of cases) {
    const samples = trees.map(() => [] as number[])
    for (let i = 0; i < RUNS; i++) {
      for (const [t, [, bin]] of trees.entries()) {
        const out = join(work, `o${t}-${i}`)
        samples[t].push(c.pick(await c.run(bin, out)))
        rmSync(out, { recursive: true, force: true })
      }
    }
    console.log(`| ${c.name} | ${samples.map((s) => (median(s) / 1000).toFixed(3)).join(' | ')} |`)
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
