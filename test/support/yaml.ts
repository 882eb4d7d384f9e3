// A reader for the small subset of YAML the example manifests are written in (block mappings and
// sequences by indentation, `- key: value` items, JSON flow values, plain and quoted scalars, comments):
// enough to check their structure without a YAML dependency. Anything outside the subset throws.

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml }

interface Line { indent: number, text: string, n: number }

function scalar (text: string, n: number): Yaml {
  const t = text.trim()
  if (t.startsWith('[') || t.startsWith('{') || t.startsWith('"')) {
    try { return JSON.parse(t) as Yaml } catch { throw new Error(`line ${n}: not a JSON flow value: ${t}`) }
  }
  if (t.startsWith("'") || t.startsWith('|') || t.startsWith('>') || t.startsWith('&') || t.startsWith('*')) throw new Error(`line ${n}: outside the subset: ${t}`)
  if (t === 'true' || t === 'false') return t === 'true'
  if (t === 'null' || t === '~') return null
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t)
  return t
}

function block (lines: Line[], at: { i: number }, indent: number): Yaml {
  const first = lines[at.i]
  if (first.text.startsWith('- ') || first.text === '-') {
    const list: Yaml[] = []
    while (at.i < lines.length && lines[at.i].indent === indent && lines[at.i].text.startsWith('-')) {
      const line = lines[at.i]
      const rest = line.text.slice(1).trimStart()
      // `- key: value` opens a mapping whose further keys sit at the indent of `key`.
      const inner = indent + (line.text.length - rest.length)
      if (rest === '') { at.i++; list.push(block(lines, at, lines[at.i].indent)) } else if (/^[\w.-]+:( |$)/.test(rest)) {
        lines[at.i] = { indent: inner, text: rest, n: line.n }
        list.push(block(lines, at, inner))
      } else { list.push(scalar(rest, line.n)); at.i++ }
    }
    return list
  }
  const map: Record<string, Yaml> = {}
  while (at.i < lines.length && lines[at.i].indent === indent && !lines[at.i].text.startsWith('- ')) {
    const line = lines[at.i]
    const m = /^([\w.-]+):(?: (.*))?$/.exec(line.text)
    if (!m) throw new Error(`line ${line.n}: not "key: value": ${line.text}`)
    if (m[1] in map) throw new Error(`line ${line.n}: key "${m[1]}" given twice`)
    at.i++
    if (m[2] !== undefined && m[2].trim() !== '') map[m[1]] = scalar(m[2], line.n)
    else if (at.i < lines.length && lines[at.i].indent > indent) map[m[1]] = block(lines, at, lines[at.i].indent)
    else if (at.i < lines.length && lines[at.i].indent === indent && lines[at.i].text.startsWith('- ')) map[m[1]] = block(lines, at, indent)
    else map[m[1]] = null
  }
  if (at.i < lines.length && lines[at.i].indent > indent) throw new Error(`line ${lines[at.i].n}: unexpected indentation`)
  return map
}

export function readYaml (text: string): Yaml {
  const lines: Line[] = []
  text.split('\n').forEach((raw, i) => {
    if (raw.includes('\t')) throw new Error(`line ${i + 1}: a tab`)
    const body = raw.replace(/(^|\s)#.*$/, '').trimEnd()
    if (body.trim() === '' || body.trim() === '---') return
    lines.push({ indent: body.length - body.trimStart().length, text: body.trim(), n: i + 1 })
  })
  const at = { i: 0 }
  const doc = block(lines, at, 0)
  if (at.i !== lines.length) throw new Error(`line ${lines[at.i].n}: not read (indentation?)`)
  return doc
}
