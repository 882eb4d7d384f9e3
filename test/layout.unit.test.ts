// README's Layout names every module of lib/ in its floor's row, and its floors are the ones `make lint`
// enforces (.dependency-cruiser.cjs): the map a newcomer reads is the house as built.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './support/run.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const layout = readme.slice(readme.indexOf('\n## Layout'), readme.indexOf('\n### Changes to DESIGN.md'))
const FLOORS = (JSON.parse((/const FLOORS = (\[[^\]]*\])/.exec(readFileSync(join(ROOT, '.dependency-cruiser.cjs'), 'utf8')) as RegExpExecArray)[1].replace(/'/g, '"')) as string[])

test('every floor of .dependency-cruiser.cjs is a folder of lib/, and every folder of lib/ a floor', () => {
  const folders = readdirSync(join(ROOT, 'lib'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)
  assert.deepEqual([...folders].sort(), [...FLOORS].sort())
})

test("README's Layout names each module of lib/ in its floor's row, and no module that is not there", () => {
  for (const floor of FLOORS) {
    const row = layout.split('\n').find((line) => line.startsWith(`| \`lib/${floor}/\` |`))
    assert.ok(row, `Layout has no row for lib/${floor}/`)
    const files = readdirSync(join(ROOT, 'lib', floor)).filter((n) => n.endsWith('.ts')).map((n) => n.slice(0, -3))
    for (const file of files) assert.match(row, new RegExp(`\`${file}\``), `lib/${floor}/${file}.ts is not in its Layout row`)
    // A module is named and then described: `name` (what it holds).
    const named = [...row.matchAll(/`([a-z][a-z-]*)` \(/g)].map((m) => m[1])
    for (const name of named) assert.ok(files.includes(name), `Layout's lib/${floor}/ row names \`${name}\`, which is not a module there`)
  }
})

test('the floors in "How it works" are the enforced ones, top to bottom', () => {
  const how = readme.slice(readme.indexOf('\n## How it works'), readme.indexOf('One record\'s way down'))
  const drawn = [...how.matchAll(/^(\w+) +.*lib\/(\w+)\/$/gm)].map((m) => m[2])
  assert.deepEqual(drawn, [...FLOORS].reverse())
})
