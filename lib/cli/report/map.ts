// The map of footprints: each output's bounds in EPSG:4326 drawn equirectangular (x longitude, y
// latitude) as an SVG rectangle coloured by status, with a graticule; with --basemap, XYZ tiles behind
// it, each placed on its own longitude/latitude bounds (Web Mercator tiles stretched onto degrees: close
// enough at the zooms a batch of chips spans).
import type { Bbox } from '../../core/request.js'
import { esc, n1 } from './escape.js'

export interface Footprint {
  /** Index of the record in the page's records. */
  i: number
  bbox: Bbox
  status: string
}

export const MAP_WIDTH = 960
/** The smallest side a footprint is drawn with, in px: a 512 px chip on a continent is still clickable. */
const MIN_SIDE = 3
const MAX_TILES = 64

/** The union of the footprints, padded, within the world. */
export function extent (footprints: Footprint[]): Bbox {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity]
  for (const f of footprints) {
    x0 = Math.min(x0, f.bbox[0]); y0 = Math.min(y0, f.bbox[1])
    x1 = Math.max(x1, f.bbox[2]); y1 = Math.max(y1, f.bbox[3])
  }
  if (!Number.isFinite(x0)) return [-180, -90, 180, 90]
  const pad = Math.max((x1 - x0) * 0.05, (y1 - y0) * 0.05, 0.001)
  return [Math.max(-180, x0 - pad), Math.max(-90, y0 - pad), Math.min(180, x1 + pad), Math.min(90, y1 + pad)]
}

/** A round step for grid lines over a span. */
function step (span: number): number {
  const raw = span / 6
  const p = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p
}

function tileBounds (x: number, y: number, z: number): Bbox {
  const n = 2 ** z
  const lat = (t: number): number => Math.atan(Math.sinh(Math.PI * (1 - 2 * t / n))) * 180 / Math.PI
  return [x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)]
}

/** XYZ tiles covering the extent at the largest zoom with at most MAX_TILES of them. */
export function tilesFor (e: Bbox): Array<{ x: number, y: number, z: number, bbox: Bbox }> {
  const clampLat = (v: number): number => Math.max(-85.05, Math.min(85.05, v))
  const tx = (lon: number, n: number): number => Math.min(n - 1, Math.max(0, Math.floor((lon + 180) / 360 * n)))
  const ty = (lat: number, n: number): number => {
    const r = clampLat(lat) * Math.PI / 180
    return Math.min(n - 1, Math.max(0, Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * n)))
  }
  for (let z = 18; z >= 0; z--) {
    const n = 2 ** z
    const [xa, xb, ya, yb] = [tx(e[0], n), tx(e[2], n), ty(e[3], n), ty(e[1], n)]
    if ((xb - xa + 1) * (yb - ya + 1) > MAX_TILES && z > 0) continue
    const tiles = []
    for (let x = xa; x <= xb; x++) for (let y = ya; y <= yb; y++) tiles.push({ x, y, z, bbox: tileBounds(x, y, z) })
    return tiles
  }
  return []
}

export function mapSvg (footprints: Footprint[], basemap?: string): string {
  const e = extent(footprints)
  const sx = MAP_WIDTH / (e[2] - e[0])
  // Degrees of latitude drawn as long as degrees of longitude at the middle latitude (less stretched).
  const sy = sx / Math.max(0.2, Math.cos((e[1] + e[3]) / 2 * Math.PI / 180))
  const height = Math.min(1400, Math.max(200, Math.round((e[3] - e[1]) * sy)))
  const syFit = height / (e[3] - e[1])
  const px = (lon: number): number => (lon - e[0]) * sx
  const py = (lat: number): number => (e[3] - lat) * syFit
  const parts: string[] = []
  if (basemap) {
    for (const t of tilesFor(e)) {
      const href = basemap.replace('{z}', String(t.z)).replace('{x}', String(t.x)).replace('{y}', String(t.y))
      parts.push(`<image href="${esc(href)}" x="${n1(px(t.bbox[0]))}" y="${n1(py(t.bbox[3]))}" width="${n1((t.bbox[2] - t.bbox[0]) * sx)}" height="${n1((t.bbox[3] - t.bbox[1]) * syFit)}" preserveAspectRatio="none" class="tile"/>`)
    }
  }
  const gx = step(e[2] - e[0])
  const gy = step(e[3] - e[1])
  const label = (v: number, s: number): string => String(Math.round(v / s) * s).slice(0, 9)
  for (let lon = Math.ceil(e[0] / gx) * gx; lon <= e[2]; lon += gx) {
    parts.push(`<line x1="${n1(px(lon))}" x2="${n1(px(lon))}" y1="0" y2="${height}" class="grat"/><text x="${n1(px(lon) + 2)}" y="${height - 3}" class="l">${label(lon, gx)}°</text>`)
  }
  for (let lat = Math.ceil(e[1] / gy) * gy; lat <= e[3]; lat += gy) {
    parts.push(`<line x1="0" x2="${MAP_WIDTH}" y1="${n1(py(lat))}" y2="${n1(py(lat))}" class="grat"/><text x="2" y="${n1(py(lat) - 2)}" class="l">${label(lat, gy)}°</text>`)
  }
  // Failed ones last: on top of the ok ones they may overlap.
  const order = [...footprints].sort((a, b) => rank(a.status) - rank(b.status))
  for (const f of order) {
    let x = px(f.bbox[0])
    let y = py(f.bbox[3])
    let w = (f.bbox[2] - f.bbox[0]) * sx
    let h = (f.bbox[3] - f.bbox[1]) * syFit
    if (w < MIN_SIDE) { x -= (MIN_SIDE - w) / 2; w = MIN_SIDE }
    if (h < MIN_SIDE) { y -= (MIN_SIDE - h) / 2; h = MIN_SIDE }
    parts.push(`<rect class="fp s-${esc(f.status)}" data-i="${f.i}" x="${n1(x)}" y="${n1(y)}" width="${n1(w)}" height="${n1(h)}"/>`)
  }
  return `<svg id="map-svg" viewBox="0 0 ${MAP_WIDTH} ${height}" width="${MAP_WIDTH}" height="${height}" role="img" aria-label="footprints">${parts.join('')}</svg>`
}

function rank (status: string): number {
  return status === 'ok' ? 0 : status === 'skipped' ? 1 : 2
}
