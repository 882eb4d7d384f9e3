// The report's charts as plain SVG made here (no charting library: the page stays one small offline
// file): histograms, a line over the run's records in completion order, and bars of hosts' limits.
import { esc, n1 } from './escape.js'

const W = 420
const H = 160
const PAD = { left: 44, right: 10, top: 22, bottom: 28 }

function frame (title: string, body: string, xLabels: [string, string], yMax: string, note = ''): string {
  const ih = H - PAD.top - PAD.bottom
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">` +
    `<text x="${PAD.left}" y="14" class="t">${esc(title)}</text>` +
    `<line x1="${PAD.left}" y1="${PAD.top + ih}" x2="${W - PAD.right}" y2="${PAD.top + ih}" class="ax"/>` +
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + ih}" class="ax"/>` +
    `<text x="${PAD.left - 4}" y="${PAD.top + 8}" class="l" text-anchor="end">${esc(yMax)}</text>` +
    `<text x="${PAD.left - 4}" y="${PAD.top + ih}" class="l" text-anchor="end">0</text>` +
    `<text x="${PAD.left}" y="${H - 8}" class="l">${esc(xLabels[0])}</text>` +
    `<text x="${W - PAD.right}" y="${H - 8}" class="l" text-anchor="end">${esc(xLabels[1])}</text>` +
    (note ? `<text x="${W - PAD.right}" y="14" class="l" text-anchor="end">${esc(note)}</text>` : '') +
    body + '</svg>'
}

/** Bins of values between their min and max. */
export function bins (values: ArrayLike<number>, count = 30): { lo: number, hi: number, counts: number[] } {
  let lo = Infinity
  let hi = -Infinity
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (!Number.isFinite(v)) continue
    if (v < lo) lo = v
    if (v > hi) hi = v
  }
  const counts = new Array<number>(count).fill(0)
  if (lo > hi) return { lo: 0, hi: 0, counts }
  const span = hi > lo ? hi - lo : 1
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (!Number.isFinite(v)) continue
    counts[Math.min(count - 1, Math.floor((v - lo) / span * count))]++
  }
  return { lo, hi, counts }
}

function fmt (v: number): string {
  if (!Number.isFinite(v)) return '–'
  const a = Math.abs(v)
  // Short enough for an axis label: 1.5M, 12k, 0.004, 2.1e-5.
  for (const [unit, size] of [['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e4]] as const) {
    if (a >= size) return `${Math.round(v / (size === 1e4 ? 1e3 : size) * 10) / 10}${unit}`
  }
  if (a !== 0 && a < 1e-3) return v.toExponential(1)
  return String(Math.round(v * 1000) / 1000)
}

export function histogram (title: string, values: ArrayLike<number>, unit = ''): string {
  const { lo, hi, counts } = bins(values)
  const max = Math.max(1, ...counts)
  const iw = W - PAD.left - PAD.right
  const ih = H - PAD.top - PAD.bottom
  const bw = iw / counts.length
  const bars = counts.map((c, i) => c === 0
    ? ''
    : `<rect x="${n1(PAD.left + i * bw)}" y="${n1(PAD.top + ih - c / max * ih)}" width="${n1(Math.max(1, bw - 1))}" height="${n1(c / max * ih)}" class="bar"/>`).join('')
  return frame(title, bars, [`${fmt(lo)}${unit}`, `${fmt(hi)}${unit}`], String(max), `${values.length} values`)
}

/** At most `buckets` points of a long series: each bucket's mean and max. */
export function downsample (values: ArrayLike<number>, buckets = 300): { mean: number[], max: number[], per: number } {
  const per = Math.max(1, Math.ceil(values.length / buckets))
  const mean: number[] = []
  const max: number[] = []
  for (let i = 0; i < values.length; i += per) {
    let s = 0
    let m = -Infinity
    const end = Math.min(values.length, i + per)
    for (let j = i; j < end; j++) { s += values[j]; if (values[j] > m) m = values[j] }
    mean.push(s / (end - i))
    max.push(m)
  }
  return { mean, max, per }
}

/** Lines over the records in the order they completed (records carry durations, not clock times). */
export function timeline (title: string, series: Array<{ values: number[], cls: string }>, total: number, unit = ''): string {
  const all = series.flatMap((s) => s.values)
  const max = Math.max(1e-9, ...all)
  const iw = W - PAD.left - PAD.right
  const ih = H - PAD.top - PAD.bottom
  const lines = series.map((s) => {
    const step = s.values.length > 1 ? iw / (s.values.length - 1) : 0
    const pts = s.values.map((v, i) => `${n1(PAD.left + i * step)},${n1(PAD.top + ih - v / max * ih)}`).join(' ')
    return `<polyline points="${pts}" class="${esc(s.cls)}"/>`
  }).join('')
  return frame(title, lines, ['1st record', `${total}th`], `${fmt(max)}${unit}`)
}

/** Horizontal bars: a range (min–max) and a mark (the final value) per row. */
export function rangeBars (title: string, rows: Array<{ label: string, min: number, max: number, mark: number }>): string {
  const rowH = 18
  const height = PAD.top + rows.length * rowH + 10
  const left = 150
  const iw = W - left - 30
  const top = Math.max(1, ...rows.map((r) => r.max))
  const body = rows.map((r, i) => {
    const y = PAD.top + i * rowH
    const x0 = left + r.min / top * iw
    const x1 = left + r.max / top * iw
    return `<text x="${left - 6}" y="${y + 12}" class="l" text-anchor="end">${esc(r.label.length > 26 ? '…' + r.label.slice(-25) : r.label)}</text>` +
      `<rect x="${n1(x0)}" y="${y + 3}" width="${n1(Math.max(2, x1 - x0))}" height="10" class="bar"/>` +
      `<line x1="${n1(left + r.mark / top * iw)}" x2="${n1(left + r.mark / top * iw)}" y1="${y}" y2="${y + 16}" class="mark"/>` +
      `<text x="${n1(x1 + 4)}" y="${y + 12}" class="l">${r.min}–${r.max}, ${r.mark} at the end</text>`
  }).join('')
  return `<svg class="chart" viewBox="0 0 ${W + 120} ${height}" width="${W + 120}" height="${height}" role="img" aria-label="${esc(title)}">` +
    `<text x="4" y="14" class="t">${esc(title)}</text>${body}</svg>`
}
