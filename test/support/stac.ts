// A small STAC catalogue made by GDAL in a temp directory: three Items over different parts of one UTM
// area, each with four band assets as separate COGs (B04 and B03 at 10 m, Byte; B11 and B12 at 20 m,
// UInt16 without nodata or scale of their own, which their raster:bands give), relative hrefs, eo:bands
// common names, a thumbnail that is no GeoTIFF, and an ItemCollection of the three beside them.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FIXTURES, scratch } from './run.js'

/** Asset keys in band order, with their resolution, common name and the fixture band they are made from. */
export const STAC_BANDS = [
  { key: 'B04', res: 10, common: 'red', from: 1 },
  { key: 'B03', res: 10, common: 'green', from: 2 },
  { key: 'B11', res: 20, common: 'swir16', from: 3 },
  { key: 'B12', res: 20, common: 'swir22', from: 1 }
] as const

/** raster:bands of the 20 m assets: values their files lack. */
export const SWIR_RASTER_BANDS = { nodata: 0, scale: 0.0001, offset: -0.1 }

export interface StacItemFixture {
  id: string
  /** Path of the item's JSON, relative to the catalogue's root (as served). */
  path: string
  /** The COGs by asset key, absolute paths. */
  files: Record<string, string>
  /** The 10 m grid's geotransform (the 20 m one has the same origin). */
  transform: number[]
  json: Record<string, unknown>
}

export interface StacCatalogue {
  root: string
  items: StacItemFixture[]
  /** Path of the ItemCollection, relative to the root. */
  collection: string
}

/** Where each item lies in the source fixture (rgb-byte-tiled.tif: 1024², 10 m, EPSG:32618). */
const AREAS = [[0, 0], [200, 200], [512, 96]]
const SIZE = 512

export function makeStacCatalogue (): StacCatalogue {
  const root = scratch('rp-stac-')
  const source = join(FIXTURES, 'rgb-byte-tiled.tif')
  const items = AREAS.map(([col, row], i): StacItemFixture => {
    const id = `S2X_18SVH_2024010${i + 1}`
    const dir = join(root, 'items', id)
    mkdirSync(dir, { recursive: true })
    const files: Record<string, string> = {}
    for (const b of STAC_BANDS) {
      const out = join(dir, `${b.key}.tif`)
      const size = SIZE * 10 / b.res
      // The 20 m bands as UInt16 reflectance-like values, averaged down: other values than the 10 m ones.
      const kind = b.res === 10 ? [] : ['-ot', 'UInt16', '-scale', '0', '255', '1', '10000', '-r', 'average']
      execFileSync('gdal_translate', ['-q', '-of', 'COG', '-co', 'BLOCKSIZE=128', '-co', 'OVERVIEWS=NONE', '-b', String(b.from),
        '-srcwin', String(col), String(row), String(SIZE), String(SIZE), '-outsize', String(size), String(size), ...kind, source, out])
      files[b.key] = out
    }
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', files.B04], { encoding: 'utf8' })) as {
      geoTransform: number[], wgs84Extent: { coordinates: number[][][] }
    }
    const ring = info.wgs84Extent.coordinates[0]
    const lons = ring.map((p) => p[0])
    const lats = ring.map((p) => p[1])
    const bbox = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)]
    const assets: Record<string, unknown> = {}
    for (const b of STAC_BANDS) {
      assets[b.key] = {
        href: `./${b.key}.tif`,
        type: 'image/tiff; application=geotiff; profile=cloud-optimized',
        roles: ['data'],
        'eo:bands': [{ name: b.key, common_name: b.common }],
        gsd: b.res,
        'raster:bands': [b.res === 10 ? { data_type: 'uint8', spatial_resolution: 10 } : { data_type: 'uint16', spatial_resolution: 20, ...SWIR_RASTER_BANDS }]
      }
    }
    assets.thumbnail = { href: './thumbnail.png', type: 'image/png', roles: ['thumbnail'] }
    const json = {
      type: 'Feature',
      stac_version: '1.0.0',
      stac_extensions: ['https://stac-extensions.github.io/eo/v1.1.0/schema.json', 'https://stac-extensions.github.io/raster/v1.1.0/schema.json'],
      id,
      bbox,
      geometry: { type: 'Polygon', coordinates: [ring] },
      properties: { datetime: `2024-01-0${i + 1}T15:00:00Z`, 'proj:epsg': 32618 },
      links: [{ rel: 'collection', href: '../../collection.json' }],
      assets
    }
    const path = `items/${id}/${id}.json`
    writeFileSync(join(root, path), JSON.stringify(json, null, 2))
    return { id, path, files, transform: info.geoTransform, json }
  })
  // In the ItemCollection the hrefs are relative to the collection's own location.
  const features = items.map((it) => {
    const copy = structuredClone(it.json) as { assets: Record<string, { href: string }> }
    for (const a of Object.values(copy.assets)) a.href = `items/${it.id}/${a.href.slice(2)}`
    return copy
  })
  writeFileSync(join(root, 'collection.json'), JSON.stringify({ type: 'FeatureCollection', features }))
  return { root, items, collection: 'collection.json' }
}
