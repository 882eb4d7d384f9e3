// Preloaded with `node --import` by tests: records every module the process loads (imported or
// required, ours and node_modules'; not those found in the module cache) and, on exit, writes their URLs to the file named by
// RASTERPIPE_MODULE_LOG, so that a test can say which modules a command loaded.
import { registerHooks } from 'node:module'
import { writeFileSync } from 'node:fs'

const seen = new Set<string>()
registerHooks({
  load (url, context, nextLoad) {
    seen.add(url)
    return nextLoad(url, context)
  }
})
process.on('exit', () => {
  const file = process.env.RASTERPIPE_MODULE_LOG
  if (file) writeFileSync(file, JSON.stringify([...seen]))
})
