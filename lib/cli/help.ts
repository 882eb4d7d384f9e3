// --help and --version: the options with their defaults, the input record forms, examples, exit statuses.
import { readFileSync } from 'node:fs'
import { defaults } from '../core/options.js'
import { formatBytes } from '../core/sizes.js'

export function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export function helpText (): string {
  const d = defaults
  const w = d.window
  return `Usage: rasterpipe [options] [input ...]

Reads raster URLs (one per line: a bare URL or path, or a JSON record), fetches them concurrently,
reads a window out of each with GDAL, writes it as a georeferenced raster, and prints one NDJSON result
record per input on stdout. Inputs are files of records; none, or '-', reads stdin.

Options:
  -o, --out-dir DIR          where outputs go                                  [default: ${d.outDir}]
  -c, --concurrency N        fetches in flight (and connections per host)      [default: ${d.concurrency}]
      --fixed-concurrency    keep each host's requests in flight at -c. Without it each host starts
                             at 16 (or -c), doubles per round trip while busy, is cut to 0.7 on 429
                             or 503 and climbs back slowly near that level, up to -c; its Retry-After
                             holds its new requests                            [default: adaptive]
  -w, --window C,R,W,H       pixel window: column, row, width, height          [default: ${w.col},${w.row},${w.width},${w.height}]
  -b, --bbox MINX,MINY,MAXX,MAXY
                             window by bounds instead (as gdal_translate -projwin)
      --bbox-crs CRS         CRS of --bbox: EPSG:4326, WKT or PROJ             [default: the raster's own]
      --bands LIST           1-based bands, in output order, e.g. 3,2,1        [default: all]
      --boundless            fill the part of the window outside the raster with nodata
                             (else the window is clipped to the raster)        [default: off]
      --out-size W,H         resample the window to this size                  [default: the window's size]
      --dst-crs CRS          warp onto this CRS: EPSG:32633, WKT, PROJ, or utm (the UTM zone of the
                             window's centre); the output covers the bbox, or the window's footprint
      --res X[,Y]            target resolution, in the target CRS's units (as gdalwarp -tr)
      --resampling METHOD    nearest, bilinear, cubic, cubicspline, lanczos, average, rms, mode,
                             min, max, med, q1, q3, sum (gdalwarp -r); any of these four warps [default: nearest]
      --tap                  target-aligned pixels, as gdalwarp -tap (needs --res)
      --assets LIST          STAC items: the assets to read, in band order, by key or eo:bands
                             common name, e.g. red,green,blue,nir   [default: every GeoTIFF data asset]
      --max-pixels N         refuse a window larger than N pixels, before reading any [default: ${d.maxPixels}]
      --fetch MODE           auto, download or range                           [default: ${d.fetch}]
      --retries N            retries per request (jittered exponential backoff) [default: ${d.retries}]
      --timeout SECONDS      inactivity limit per request: connect, headers, or a stalled body [default: ${d.timeout}]
      --max-time SECONDS     limit on one record's fetching in all, retries included (as curl's)
                                                                               [default: 10 × --timeout]
      --max-bytes SIZE       most bytes one record moves (500MB, 2GiB); range reads
                             count their blocks, not the file       [default: ${formatBytes(d.maxBytes)}]
      --max-memory SIZE      pixel bytes of the windows in flight, read to written; a
                             larger window is an error record           [default: ${formatBytes(d.maxMemory)}]
      --cache-dir DIR        keep each COG's header (validator, size, directories) here across
                             runs: a later run reads a chip with one request, checked by If-Match
      --cache-max SIZE       bound of --cache-dir; least recently used entries go first
                                                                       [default: ${formatBytes(d.cacheMax)}]
      --format NAME          output GDAL driver, one self-contained file: GTiff, COG, PNG, JPEG,
                             WEBP, GIF, BMP, JP2OpenJPEG, GPKG, netCDF, PCIDSK     [default: ${d.format}]
      --co NAME=VALUE        creation option, repeatable, as gdal_translate -co; DEFLATE is at level 1
                             unless ZLEVEL (LEVEL for COG) is given [default: COMPRESS=DEFLATE, TILED=YES]
  -H, --header 'NAME: VALUE' request header, repeatable (as curl's -H), sent to the URL's own
                             origin only; never printed
      --chip-stats           per band min, max, mean, std and valid fraction of each output, in its record
      --min-valid F          keep no output whose valid fraction (0-1; its least valid band's) is under F:
                             its record says "skipped", with "reason" and "valid"
      --skip-existing        leave outputs already there; their records say "skipped" [default: off]
      --stats FILE           write the run's summary as JSON (with each host's limit and throttling)
      --shard K/N            keep only shard K of N (1-based) of the input records, by a hash of
                             what each asks (url, window or bbox, out), not its line; the others
                             are skipped unfetched and unprinted. Give every worker the same input
      --shards N             the same, K from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or
                             AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job), 0-based: 2 is 3/N
      --progress, --no-progress
                             progress bar on stderr                            [default: on when stderr is a terminal]
  -h, --help                 this help
  -V, --version              the version

Input records (one per line; "url" (or "urls") is required, other fields override the options):
  https://example.org/scene.tif
  {"url": "scene.tif", "id": "s7", "window": [0, 0, 512, 512], "bands": [3, 2, 1], "out": "scenes/7.tif"}
  {"url": "scene.tif", "window": {"col": 0, "row": 0, "width": 512, "height": 512}, "out_size": [256, 256]}
  {"url": "scene.tif", "bbox": [-75.1, 39.9, -75.0, 40.0], "bbox_crs": "EPSG:4326", "boundless": true}
  {"url": "scene.tif", "bbox": [-75.1, 39.9, -75.0, 40.0], "bbox_crs": "EPSG:4326", "dst_crs": "utm", "res": 10}
  {"url": "https://example.org/private.tif", "headers": {"Authorization": "Bearer …"}}
  {"urls": ["B04.tif", {"url": "B11.tif", "name": "swir16", "bands": [{"nodata": 0, "scale": 0.0001}]}],
   "bbox": [300000, 4990000, 302560, 4992560]}      several sources, their bands stacked into one output
                             on the finest source's grid (or the target grid), resampled with --resampling
  {"stac": "https://example.org/items/S2B_1.json", "assets": "red,nir", "window": [0, 0, 256, 256]}
  a STAC Item or ItemCollection on one line (JSON): one record per item, its bands the item's assets;
  relative hrefs resolve against the document's URL (or an inline item's self link); without a window
  or bbox (record or option), each item is read whole (its proj:* grid, else its bbox)

Examples:
  rasterpipe -c 32 -w 1024,1024,512,512 urls.txt > results.ndjson
  cat urls.txt | rasterpipe --bbox 500000,4190000,505120,4195120 -o chips | jq -c 'select(.status != "ok")'
  rasterpipe --skip-existing --stats run.json urls.txt     # rerun: only what is missing
  parallel 'rasterpipe --shard {}/4 in.ndjson > shard-{}.ndjson' ::: 1 2 3 4   # four workers

Subcommand:
  rasterpipe summarize [--retry-list] [records.ndjson ...]  one summary over many runs' (shards')
                             records, or the failed inputs to run again; see summarize --help

Exit status: 0 every record ok or skipped; 1 any record failed; 2 usage or setup error;
70 internal error; 130 after SIGINT, 143 after SIGTERM; 141 when stdout closed early (| head).
`
}
