// The STAC catalogue the tests use (fixtures/stac.ts), made afresh in a temp directory with 512² items.
import { join } from 'node:path'
import { makeStacCatalogue as make, type StacCatalogue } from '../../fixtures/stac.js'
import { FIXTURES, scratch } from './run.js'

export { STAC_BANDS, SWIR_RASTER_BANDS, type StacCatalogue, type StacItemFixture } from '../../fixtures/stac.js'

export function makeStacCatalogue (): StacCatalogue {
  return make(scratch('rp-stac-'), join(FIXTURES, 'rgb-byte-tiled.tif'))
}
