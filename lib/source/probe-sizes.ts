// The size of each source's first request, per host, from what that host's files have been so far
// (decision.ts: probeSize, learnHost). Owned by one run's fetch stage: pipelines in one process learn apart.
import type { FetchMode } from '../core/options.js'
import { learnHost, probeSize, type HostFacts, type ProbeOutcome } from './decision.js'

export class ProbeSizes {
  private readonly hosts = new Map<string, HostFacts>()

  /** Bytes the first request for `url` asks for. */
  size (url: string, mode: FetchMode): number {
    return probeSize(mode, this.hosts.get(hostOf(url)) ?? {})
  }

  learn (url: string, seen: ProbeOutcome): void {
    const host = hostOf(url)
    this.hosts.set(host, learnHost(this.hosts.get(host) ?? {}, seen))
  }
}

function hostOf (url: string): string {
  return new URL(url).host
}
