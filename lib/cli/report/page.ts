// The report as one HTML page: a summary, the map of footprints, the gallery, errors by code, charts,
// and the records the map and gallery show, as JSON in a <script type="application/json"> that a small
// inline script reads on a click. Everything from records is escaped (escape.ts); the page loads nothing
// from the network unless --basemap was given.
import type { Bbox } from '../../core/request.js'
import { formatBytes } from '../../core/sizes.js'
import { histogram, rangeBars, timeline, downsample } from './charts.js'
import type { ErrorGroup } from './collect.js'
import { esc, scriptJson } from './escape.js'
import { mapSvg, type Footprint } from './map.js'

/** Bytes of the records' JSON on the page, all of them together: beyond it each is cut to its share. */
export const RECORDS_BUDGET = 2_000_000
/** Fields kept first when a record is cut to its share of the budget. */
const FIELD_ORDER = ['line', 'input', 'id', 'url', 'status', 'output', 'error', 'reason', 'valid', 'fetch', 'cache', 'bytes', 'attempts', 'ms', 'window', 'grid', 'source', 'georeferenced', 'stats', 'warnings', 'sources', 'values', 'zonal', 'record']

export interface PageRecord {
  /** The record's JSON as read. */
  text: string
  status: string
  /** Where it came from, said when the record is cut: `file:N` (the Nth record line). */
  where: string
}

export interface Thumbnail {
  /** Index of the record in the page's records. */
  i: number
  /** A data: URI, or a path relative to the page (report_files/…). */
  src: string
  width: number
  height: number
  caption: string
}

export interface HostRow {
  run: string
  origin: string
  limit_min: number
  limit_max: number
  limit_final: number
  throttled: number
  retry_after_holds: number
}

export interface ReportModel {
  title: string
  generated: string
  inputs: string[]
  statsFiles: string[]
  summary: {
    records: number
    ok: number
    failed: number
    skipped: number
    bytes: number
    attempts: number
    wall_s?: number
    bytes_per_s?: number
    throttled?: number
  }
  records: PageRecord[]
  footprints: Footprint[]
  /** Sentences on what the map does not show (sampled, records without footprints). */
  mapNotes: string[]
  thumbnails: Thumbnail[]
  galleryNotes: string[]
  errors: ErrorGroup[]
  stageMs: Record<string, ArrayLike<number>>
  totalMs: number[]
  bytes: number[]
  hosts: HostRow[]
  chipMean: Record<string, number[]>
  chipValid: Record<string, number[]>
  basemap?: string
}

/** A record's JSON at most `cap` characters: its fields in FIELD_ORDER while they fit, and where the whole is. */
export function cutRecord (text: string, cap: number, where: string): string {
  if (text.length <= cap) return text
  let value: Record<string, unknown>
  try {
    value = JSON.parse(text) as Record<string, unknown>
  } catch {
    return text.slice(0, cap) + '…'
  }
  const kept: Record<string, unknown> = {}
  const note = { truncated: `${text.length} characters in all; the whole record is ${where}` }
  let size = JSON.stringify(note).length
  const keys = [...FIELD_ORDER.filter((k) => k in value), ...Object.keys(value).filter((k) => !FIELD_ORDER.includes(k))]
  for (const k of keys) {
    const part = JSON.stringify({ [k]: value[k] }).length
    if (size + part > cap) continue
    kept[k] = value[k]
    size += part
  }
  return JSON.stringify({ ...kept, ...note })
}

/** The records' texts for the page, each within its share of RECORDS_BUDGET (at least 200 characters). */
export function pageRecordTexts (records: PageRecord[], budget = RECORDS_BUDGET): { texts: string[], cut: number } {
  const total = records.reduce((n, r) => n + r.text.length, 0)
  if (total <= budget) return { texts: records.map((r) => r.text), cut: 0 }
  const cap = Math.max(200, Math.floor(budget / Math.max(1, records.length)))
  let cut = 0
  const texts = records.map((r) => {
    if (r.text.length > cap) cut++
    return cutRecord(r.text, cap, r.where)
  })
  return { texts, cut }
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}
.card b{display:block;font-size:20px}.note{color:#666;font-size:13px}
#map{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}#map svg{border:1px solid #ccc;background:#f7f9fb;max-width:100%;height:auto}
.fp{stroke-width:1;fill-opacity:.35;cursor:pointer;vector-effect:non-scaling-stroke}.fp:hover,.fp.sel{fill-opacity:.8;stroke:#000;stroke-width:2}
.s-ok{fill:#2a9d50;stroke:#1b6b35}.s-error{fill:#d62828;stroke:#8a1010}.s-skipped{fill:#e0a800;stroke:#8a6700}
span.s-ok{color:#2a9d50}span.s-error{color:#d62828}span.s-skipped{color:#e0a800}
.grat{stroke:#d5dde5;stroke-width:1}.l{font-size:10px;fill:#555}.t{font-size:12px;font-weight:600;fill:#222}
.tile{opacity:.8}
#record{flex:1;min-width:320px;max-height:600px;overflow:auto;background:#f4f4f4;border:1px solid #ddd;padding:8px;margin:0;white-space:pre-wrap;word-break:break-all;font-size:12px}
#gallery{display:flex;flex-wrap:wrap;gap:8px}#gallery figure{margin:0;width:180px;cursor:pointer}
#gallery img{width:180px;height:180px;object-fit:contain;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px;border:2px solid #ccc}
#gallery figure.s-error img{border-color:#d62828}#gallery figcaption{font-size:11px;word-break:break-all;color:#444}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{background:#fff;border:1px solid #eee}
.bar{fill:#4a7fb5}.ax{stroke:#888}.mark{stroke:#d62828;stroke-width:2}
polyline{fill:none;stroke-width:1.2}.line-mean{stroke:#4a7fb5}.line-max{stroke:#d62828;stroke-opacity:.5}.line-bytes{stroke:#2a9d50}
`

// The page's only script: a click on a footprint or a thumbnail shows that record (as text, never as HTML).
const SCRIPT = `
(function(){
  var records = JSON.parse(document.getElementById('records-json').textContent);
  var out = document.getElementById('record');
  var selected = null;
  function show(i, el){
    var text = records[i];
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) {}
    out.textContent = text;
    out.setAttribute('data-shown', String(i));
    if (selected) selected.classList.remove('sel');
    selected = el && el.classList.contains('fp') ? el : document.querySelector('.fp[data-i="' + i + '"]');
    if (selected) selected.classList.add('sel');
  }
  // The map: the wheel zooms about the pointer, a drag pans, a double click shows it all again.
  var svg = document.getElementById('map-svg');
  var full = svg.getAttribute('viewBox').split(' ').map(Number), vb = full.slice(), drag = null, moved = false;
  function set(){ svg.setAttribute('viewBox', vb.join(' ')); }
  function at(ev){ var r = svg.getBoundingClientRect(); return [vb[0] + (ev.clientX - r.left) / r.width * vb[2], vb[1] + (ev.clientY - r.top) / r.height * vb[3]]; }
  svg.addEventListener('wheel', function(ev){
    ev.preventDefault();
    var p = at(ev), k = ev.deltaY < 0 ? 0.8 : 1.25;
    vb = [p[0] - (p[0] - vb[0]) * k, p[1] - (p[1] - vb[1]) * k, vb[2] * k, vb[3] * k]; set();
  }, { passive: false });
  svg.addEventListener('mousedown', function(ev){ drag = [ev.clientX, ev.clientY, vb[0], vb[1]]; moved = false; });
  window.addEventListener('mousemove', function(ev){
    if (!drag) return;
    var r = svg.getBoundingClientRect(), dx = ev.clientX - drag[0], dy = ev.clientY - drag[1];
    if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
    vb[0] = drag[2] - dx / r.width * vb[2]; vb[1] = drag[3] - dy / r.height * vb[3]; set();
  });
  window.addEventListener('mouseup', function(){ drag = null; });
  svg.addEventListener('dblclick', function(){ vb = full.slice(); set(); });
  document.addEventListener('click', function(ev){
    if (moved) { moved = false; return; }
    var el = ev.target.closest('[data-i]');
    if (!el) return;
    show(Number(el.getAttribute('data-i')), el);
    if (el.tagName === 'FIGURE') document.getElementById('map').scrollIntoView();
  });
})();
`

function card (label: string, value: string): string {
  return `<div class="card">${esc(label)}<b>${esc(value)}</b></div>`
}

function summaryHtml (m: ReportModel): string {
  const s = m.summary
  const cards = [
    card('records', String(s.records)), card('ok', String(s.ok)), card('failed', String(s.failed)), card('skipped', String(s.skipped)),
    card('fetched', formatBytes(s.bytes)), card('requests (attempts)', String(s.attempts))
  ]
  if (s.wall_s !== undefined) cards.push(card('wall', `${s.wall_s.toFixed(1)} s`))
  if (s.bytes_per_s !== undefined) cards.push(card('throughput', `${formatBytes(s.bytes_per_s)}/s`))
  if (s.wall_s !== undefined && s.wall_s > 0) cards.push(card('records/s', (s.records / s.wall_s).toFixed(1)))
  if (s.throttled !== undefined) cards.push(card('throttled (429/503)', String(s.throttled)))
  const from = `From ${m.inputs.length} file${m.inputs.length === 1 ? '' : 's'} of records (${m.inputs.map(esc).join(', ')})` +
    (m.statsFiles.length > 0 ? ` and ${m.statsFiles.length} --stats file${m.statsFiles.length === 1 ? '' : 's'} (${m.statsFiles.map(esc).join(', ')})` : '; no --stats file: wall time and throughput unknown') + '.'
  return `<section id="summary"><h2>Summary</h2><div class="cards">${cards.join('')}</div><p class="note">${from}</p></section>`
}

function errorsHtml (groups: ErrorGroup[]): string {
  if (groups.length === 0) return '<section id="errors"><h2>Errors</h2><p>No record failed.</p></section>'
  const rows = [...groups].sort((a, b) => b.count - a.count).map((g) =>
    `<tr><td><code>${esc(g.code)}</code></td><td class="n">${g.count}</td><td>${Object.entries(g.stages).map(([s, n]) => `${esc(s)} ${n}`).join(', ')}</td>` +
    `<td>${g.examples.map((e) => `<div><code>${esc(e.where)}</code>: ${esc(e.message)}</div>`).join('')}</td></tr>`).join('')
  return `<section id="errors"><h2>Errors</h2><table><thead><tr><th>code</th><th>records</th><th>stage</th><th>examples</th></tr></thead><tbody>${rows}</tbody></table></section>`
}

function chartsHtml (m: ReportModel): string {
  const stages = Object.entries(m.stageMs).filter(([, v]) => v.length > 0)
  const hist = stages.map(([s, v]) => histogram(`${s} ms`, v, ' ms')).join('')
  const t = downsample(m.totalMs)
  let cum = 0
  const cumBytes = m.bytes.map((b) => (cum += b))
  const cb = downsample(cumBytes)
  const per = t.per > 1 ? ` (each point ${t.per} records)` : ''
  const lines = m.totalMs.length > 0
    ? timeline(`record total ms over the run${per}: mean, max`, [{ values: t.max, cls: 'line-max' }, { values: t.mean, cls: 'line-mean' }], m.totalMs.length, ' ms') +
      timeline('bytes fetched, cumulative', [{ values: cb.mean, cls: 'line-bytes' }], m.bytes.length, ' B')
    : ''
  const hosts = m.hosts.length > 0
    ? rangeBars('hosts: adaptive limit on requests in flight (range, and | at the end)', m.hosts.map((h) => ({ label: h.origin, min: h.limit_min, max: h.limit_max, mark: h.limit_final }))) +
      `<table><thead><tr><th>run</th><th>host</th><th>limit min</th><th>max</th><th>at the end</th><th>throttled (429/503)</th><th>Retry-After holds</th></tr></thead><tbody>${m.hosts.map((h) =>
        `<tr><td>${esc(h.run)}</td><td>${esc(h.origin)}</td><td class="n">${esc(String(h.limit_min))}</td><td class="n">${esc(String(h.limit_max))}</td><td class="n">${esc(String(h.limit_final))}</td><td class="n">${esc(String(h.throttled))}</td><td class="n">${esc(String(h.retry_after_holds))}</td></tr>`).join('')}</tbody></table>`
    : `<p class="note">${m.statsFiles.length > 0 ? 'The runs reached no host over HTTP.' : 'Hosts\' limits and throttling come from --stats files: none given.'}</p>`
  const chip = Object.keys(m.chipMean).length > 0
    ? `<h3>Per-chip statistics (--chip-stats)</h3><div class="charts">${Object.keys(m.chipMean).map((b) =>
        histogram(`band ${b} mean`, m.chipMean[b]) + histogram(`band ${b} valid fraction`, m.chipValid[b] ?? [])).join('')}</div>`
    : ''
  return `<section id="timings"><h2>Timings and throughput</h2>` +
    `<p class="note">Records carry each stage's duration, not the clock time: the lines run over the records in the order they completed.</p>` +
    `<div class="charts">${lines}</div><h3>Stage times</h3><div class="charts">${hist}</div><h3>Hosts</h3>${hosts}${chip}</section>`
}

function galleryHtml (m: ReportModel): string {
  const figures = m.thumbnails.map((t) => `<figure data-i="${t.i}" class="s-${esc(m.records[t.i]?.status ?? 'ok')}"><img src="${esc(t.src)}" width="${t.width}" height="${t.height}" alt="${esc(t.caption)}" loading="lazy"><figcaption>${esc(t.caption)}</figcaption></figure>`).join('')
  return `<section id="thumbnails"><h2>Thumbnails</h2>${m.galleryNotes.map((n) => `<p class="note">${esc(n)}</p>`).join('')}<div id="gallery">${figures}</div></section>`
}

export function reportHtml (m: ReportModel): string {
  const { texts, cut } = pageRecordTexts(m.records)
  const mapNotes = [...m.mapNotes]
  if (cut > 0) mapNotes.push(`${cut} records were cut to fit the page (their first fields, and where the whole record is).`)
  const counts = `data-footprints="${m.footprints.length}" data-thumbnails="${m.thumbnails.length}" data-records="${m.records.length}"`
  return '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    `<title>${esc(m.title)}</title><style>${STYLE}</style></head><body ${counts}>` +
    `<h1>${esc(m.title)}</h1><p class="note">Made by rasterpipe report at ${esc(m.generated)}.</p>` +
    summaryHtml(m) +
    `<section><h2>Map of footprints</h2><p class="note">Each output's bounds in EPSG:4326 (longitude, latitude), coloured by status: ` +
    '<span class="s-ok">■</span> ok, <span class="s-skipped">■</span> skipped, <span class="s-error">■</span> failed. Click one to see its record; the wheel zooms, a drag pans, a double click shows all.</p>' +
    mapNotes.map((n) => `<p class="note">${esc(n)}</p>`).join('') +
    `<div id="map">${mapSvg(m.footprints, m.basemap)}<pre id="record">Click a footprint or a thumbnail.</pre></div></section>` +
    galleryHtml(m) + errorsHtml(m.errors) + chartsHtml(m) +
    `<script type="application/json" id="records-json">${scriptJson(texts)}</script>` +
    `<script>${SCRIPT}</script></body></html>\n`
}

export type { Bbox, Footprint }
