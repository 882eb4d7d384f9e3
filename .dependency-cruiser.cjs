// The floors of lib/ (README "Layout"): a module imports only its own floor and the floors below it, and
// no import goes round in a circle. `make lint` runs this (depcruise lib).
const FLOORS = ['core', 'http', 'store', 'source', 'raster', 'output', 'input', 'run', 'cli']

const above = (i) => FLOORS.slice(i + 1).join('|')

module.exports = {
  forbidden: [
    ...FLOORS.slice(0, -1).map((floor, i) => ({
      name: `floor-${floor}`,
      comment: `lib/${floor}/ may import only ${FLOORS.slice(0, i + 1).join(', ')}: not a floor above it`,
      severity: 'error',
      from: { path: `^lib/${floor}/` },
      to: { path: `^lib/(${above(i)})/` }
    })),
    {
      name: 'floor-index',
      comment: 'lib/index.ts is the top: nothing in lib/ imports it',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^lib/index\\.ts$' }
    },
    {
      name: 'no-circular',
      comment: 'no module reaches itself through its imports (type-only imports included)',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true }
    },
    {
      name: 'lib-in-floors',
      comment: 'every module of lib/ sits on a floor (lib/index.ts alone above them)',
      severity: 'error',
      from: { path: '^lib/', pathNot: `^lib/((${FLOORS.join('|')})/|index\\.ts$)` },
      to: {}
    },
    {
      name: 'not-to-test',
      comment: 'the library never imports its tests or benchmarks',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(test|bench|fixtures)/' }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] }
  }
}
