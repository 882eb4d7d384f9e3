// The set-up most suites share: a loopback raster server over the fixtures and a scratch directory,
// both gone after the suite.
import { after, before } from 'node:test'
import { rmSync } from 'node:fs'
import { startServer, type RasterServer } from './server.js'
import { FIXTURES, scratch } from './run.js'

export interface SuiteContext {
  server: RasterServer
  dir: string
}

export function useServer (root: string = FIXTURES): SuiteContext {
  const ctx = {} as SuiteContext
  before(async () => {
    ctx.server = await startServer(root)
    ctx.dir = scratch()
  })
  after(async () => {
    await ctx.server.close()
    rmSync(ctx.dir, { recursive: true, force: true })
  })
  return ctx
}
