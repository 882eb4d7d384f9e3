// Benchmark and test data, made with GDAL in a temp directory: GeoTIFFs and COGs whose pixels do not
// compress away, so that byte counts mean something.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RasterServer } from '../test/support/server.js'
import { loadGdal } from '../lib/raster/gdal.js'

const gdal = loadGdal()

export interface BenchFile { path: string, size: number }

/** A deterministic noisy raster: xorshift noise over a gradient, so DEFLATE keeps it at 1–3 MB. */
export function makeNoisyTiff (dir: string, name: string, side: number, bands: number, options: string[], driver = 'GTiff'): string {
  const mem = gdal.drivers.get('MEM').create('', side, side, bands, 'Byte')
  mem.srs = gdal.SpatialReference.fromEPSG(32618)
  mem.geoTransform = [500000, 10, 0, 4200000, 0, -10]
  let state = 2463534242 ^ side
  const data = new Uint8Array(side * side)
  for (let b = 1; b <= bands; b++) {
    for (let i = 0; i < data.length; i++) {
      state ^= state << 13; state ^= state >>> 17; state ^= state << 5
      data[i] = (((i % side) + Math.floor(i / side)) >> 3) + ((state >>> 0) & 0x3f)
    }
    mem.bands.get(b).pixels.write(0, 0, side, side, data)
  }
  const path = join(dir, name)
  gdal.drivers.get(driver).createCopy(path, mem, options).close()
  mem.close()
  return path
}

/** A Float64 gradient of side² pixels (134 MB at 4096²), DEFLATE ZLEVEL=1 tiled: large windows that compress quickly. */
export function makeFloat64Gradient (path: string, side: number): string {
  const mem = gdal.drivers.get('MEM').create('', side, side, 1, 'Float64')
  mem.geoTransform = [500000, 10, 0, 4200000, 0, -10]
  mem.srs = gdal.SpatialReference.fromEPSG(32618)
  const row = new Float64Array(side)
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) row[x] = (x + y) / 16
    mem.bands.get(1).pixels.write(0, y, side, 1, row)
  }
  gdal.drivers.get('GTiff').createCopy(path, mem, ['TILED=YES', 'COMPRESS=DEFLATE', 'ZLEVEL=1']).close()
  mem.close()
  return path
}

export function makeBatchFiles (dir: string): string[] {
  const tiled = ['TILED=YES', 'COMPRESS=DEFLATE']
  return [
    makeNoisyTiff(dir, 'a.tif', 1024, 1, tiled),
    makeNoisyTiff(dir, 'b.tif', 1280, 1, tiled),
    makeNoisyTiff(dir, 'c.tif', 1024, 2, tiled),
    makeNoisyTiff(dir, 'd.tif', 1448, 1, ['COMPRESS=DEFLATE']),
    makeNoisyTiff(dir, 'e.tif', 1024, 3, tiled)
  ]
}

/**
 * Serving local files under names of their own: `serve(name, path)` gives the URL (each file read once,
 * its bytes shared by every name that serves it), `localOf(url)` the file behind it.
 */
export function servedFiles (server: RasterServer): { serve: (name: string, path: string) => string, localOf: (url: string) => string } {
  const local = new Map<string, string>()
  const bytes = new Map<string, Buffer>()
  return {
    serve: (name, path) => {
      if (!bytes.has(path)) bytes.set(path, readFileSync(path))
      server.file(name, bytes.get(path) as Buffer)
      const url = server.url(name)
      local.set(url, path)
      return url
    },
    localOf: (url) => local.get(url) as string
  }
}
