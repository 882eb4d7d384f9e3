// How the bench's comparisons take turns, shared by its sections: each contender runs `runs` times, the
// order rotated each repetition, so that a shared machine's drift falls on all of them alike.
import { loadavg } from 'node:os'

/** The load average (1, 5, 15 min), for the report's line before and after each comparison. */
export const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ')

/**
 * Runs each contender `runs` times, in turns: repetition i starts with contender i (mod n), so that no
 * contender always runs first, or always right after the heaviest. Returns each one's runs, in its order.
 */
export async function rotated<T> (runs: number, label: string, contenders: Array<[string, () => Promise<T>]>, wall: (x: T) => number): Promise<Map<string, T[]>> {
  const out = new Map<string, T[]>(contenders.map(([name]) => [name, []]))
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < contenders.length; k++) {
      const [name, fn] = contenders[(k + i) % contenders.length]
      const m = await fn()
      process.stderr.write(`bench: ${label}: ${name}, run ${i + 1}/${runs}: ${wall(m).toFixed(2)} s\n`)
      out.get(name)?.push(m)
    }
  }
  return out
}
