// Which Python the bench's peers and reader checks run on: the first interpreter that imports the modules
// asked. Debian's packages (python3-rasterio and friends) are installed for /usr/bin/python3, which is not
// always the `python3` first on PATH (pyenv, a venv, conda).
import { spawnSync } from 'node:child_process'

export function findPython (modules: string[]): string | null {
  const candidates = [process.env.RASTERPIPE_BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => Boolean(p))
  for (const python of candidates) {
    const run = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' })
    if (run.status === 0) return python
  }
  return null
}
