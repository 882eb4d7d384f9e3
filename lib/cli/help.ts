// --help, made from the option table (option-table.ts) and the texts below, which the man page
// (manpage.ts) renders as well: within 80 columns, sections that teach, each example once.
import { readFileSync } from 'node:fs'
import { OPTIONS, SECTIONS, type OptionSpec } from './option-table.js'

/** A package's version, from its package.json. */
export function packageVersion (path: string | URL): string {
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
}

export function version (): string {
  return packageVersion(new URL('../../../package.json', import.meta.url))
}

export const WIDTH = 80
/** Where an option's description starts. */
const COLUMN = 26

export const SYNOPSIS = [
  'rasterpipe [options] [input ...]',
  'rasterpipe summarize [--retry-list] [--stats] [records.ndjson ...]',
  'rasterpipe completion bash|zsh'
]

export const DESCRIPTION = 'Reads raster URLs (one per line: a bare URL or path, or a JSON record), fetches them ' +
  'concurrently, reads a window out of each with GDAL, writes it as a georeferenced raster, and prints one NDJSON ' +
  'result record per input on stdout. Inputs are files of records; none, or \'-\', reads stdin. Errors are records ' +
  'too; a summary goes to stderr.'

export const RECORDS_INTRO = 'One per line: a bare URL, or a JSON object whose "url" (or "urls") is required and whose ' +
  'other fields override the options for that record.'

/** Input records: [the line, what it shows (or '')]. */
export const RECORDS: ReadonlyArray<[string, string]> = [
  ['https://example.org/scene.tif', 'a bare URL (or path, s3://, gs://, az://): the options\' window'],
  ['{"url": "a.tif", "id": "s7", "window": [0, 0, 512, 512], "bands": [3, 2, 1]}', ''],
  ['{"url": "a.tif", "window": {"col": 0, "row": 0, "width": 512, "height": 512}}', ''],
  ['{"url": "a.tif", "out_size": [256, 256], "out": "scenes/7.tif"}', ''],
  ['{"url": "a.tif", "bbox": [-75.1, 39.9, -75, 40], "bbox_crs": "EPSG:4326"}', ''],
  ['{"url": "a.tif", "bbox": [-75.1, 39.9, -75, 40], "dst_crs": "utm", "res": 10}', ''],
  ['{"url": "https://example.org/p.tif", "headers": {"Authorization": "…"}}', ''],
  ['{"urls": ["B04.tif", {"url": "B11.tif", "name": "swir16"}], "bbox": [...]}',
    'several sources, their bands stacked into one output on the finest source\'s grid (or the target grid), ' +
    'resampled with --resampling'],
  ['{"urls": ["B04.tif", "B08.tif"], "expr": "(b2 - b1) / (b2 + b1)"}',
    'band math written as the output, one band per ";"-separated expression; bands as b1, b2… or by the ' +
    'sources\' names'],
  ['{"stac": "https://example.org/items/S2B_1.json", "assets": "red,nir"}',
    'a STAC Item or ItemCollection: one record per item, its bands the item\'s assets; without a window or bbox ' +
    '(record or option) each item is read whole']
]

/** Examples: [what it does, the command]; each once. */
export const EXAMPLES: ReadonlyArray<[string, string]> = [
  ['A list of URLs, 32 at a time, the window at column 1024, row 1024:',
    'rasterpipe -c 32 -w 1024,1024,512,512 urls.txt > results.ndjson'],
  ['Windows by bounds, only the failures shown as they happen:',
    'rasterpipe -b 500000,4190000,505120,4195120 -o chips urls.txt |\n  jq -c \'select(.status == "error")\''],
  ['A rerun in a script or make target: what is missing, silent unless it fails:',
    'rasterpipe -q --skip-existing --stats run.json urls.txt > records.ndjson'],
  ['Four workers, each a shard of the same input:',
    'parallel \'rasterpipe --shard {}/4 in.ndjson > {}.ndjson\' ::: 1 2 3 4'],
  ['Through a proxy, with credentials from ~/.netrc, GDAL\'s name for --format:',
    'HTTPS_PROXY=http://proxy:3128 rasterpipe --netrc --of COG urls.txt']
]

export const SUBCOMMANDS: ReadonlyArray<[string, string]> = [
  ['summarize',
    'one summary over many runs\' (shards\') records, or the failed inputs to run again; see rasterpipe summarize --help'],
  ['completion bash|zsh',
    'a completion script made from these options: eval "$(rasterpipe completion bash)" in ~/.bashrc']
]

/** The environment variables read: [names, what for]. */
export const ENVIRONMENT: ReadonlyArray<[string, string]> = [
  ['HTTPS_PROXY, HTTP_PROXY, NO_PROXY',
    'the proxy for https:// and http:// URLs and the hosts reached directly, either case, as curl reads them; ' +
    '--proxy and --noproxy win'],
  ['NETRC', 'the file --netrc reads [default: ~/.netrc]'],
  ['AWS_*', 's3:// credentials and settings, as the aws CLI reads them: AWS_PROFILE, AWS_ACCESS_KEY_ID, ' +
    'AWS_REGION, AWS_ENDPOINT_URL(_S3), AWS_REQUEST_PAYER, AWS_NO_SIGN_REQUEST, …'],
  ['AZURE_*', 'az:// credentials: AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, ' +
    'AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_BLOB_ENDPOINT, AZURE_NO_SIGN_REQUEST'],
  ['GS_*', 'gs:// credentials: GS_ACCESS_KEY_ID, GS_SECRET_ACCESS_KEY, GS_NO_SIGN_REQUEST; CPL_GS_ENDPOINT'],
  ['GDAL_HTTP_*', 'GDAL\'s own (GDAL_HTTP_HEADERS, _MAX_RETRY, _RETRY_DELAY, _TIMEOUT, _PROXY, _NETRC, ' +
    'AWS_S3_ENDPOINT, CURL_CA_BUNDLE, …): those with an equivalent act as its option, beneath the command ' +
    'line; those without one are named in one warning. --config KEY=VALUE sets them too'],
  ['GDAL_CACHEMAX', 'GDAL\'s block cache, in MB [default: 16]'],
  ['UV_THREADPOOL_SIZE', 'libuv\'s pool, shared by GDAL, fs and DNS [default: twice the cores, at least 4, plus one]'],
  ['JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX',
    'the shard of --shards N: a Kubernetes Indexed Job\'s or an AWS Batch array job\'s index'],
  ['TMPDIR', 'where the run\'s private temp directory goes']
]

export const EXIT_STATUS: ReadonlyArray<[string, string]> = [
  ['0', 'every record ok or skipped'],
  ['1', 'any record failed'],
  ['2', 'a usage or setup error (unreadable input, gdal-async missing)'],
  ['70', 'an internal error'],
  ['130, 143', 'after SIGINT, SIGTERM (a second one leaves at once)'],
  ['141', 'stdout closed early (| head)']
]

/** The input records, each followed by what it shows, indented: for help and the man page alike. */
export function recordLines (): string[] {
  return RECORDS.flatMap(([line, what]) => [`  ${line}`, ...(what ? wrap(what, WIDTH - 6).map((l) => `      ${l}`) : [])])
}

/** Words filled into lines of `width`; a bracketed default is one word. */
export function wrap (text: string, width: number): string[] {
  const words = text.match(/\[default: [^\]]*\]|\S+/g) ?? []
  const lines: string[] = []
  let line = ''
  for (const word of words) {
    if (line !== '' && line.length + 1 + word.length > width) { lines.push(line); line = word } else line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') lines.push(line)
  return lines
}

/** A term and its text: the text beside the term when it fits, else below it. */
function item (term: string, text: string, indent = 2): string {
  const left = `${' '.repeat(indent)}${term}`
  const body = wrap(text, WIDTH - COLUMN)
  const pad = ' '.repeat(COLUMN)
  if (left.length <= COLUMN - 2) return [left.padEnd(COLUMN) + (body[0] ?? ''), ...body.slice(1).map((l) => pad + l)].join('\n') + '\n'
  return `${left}\n${body.map((l) => pad + l).join('\n')}\n`
}

/** How help names an option: `-o, --out-dir DIR`, and --progress with its negation. */
export function termOf (o: OptionSpec): string {
  const long = o.long === 'progress' ? '--progress, --no-progress' : `--${o.long}`
  return `${o.short ? `-${o.short}, ` : '    '}${long}${o.value ? ` ${o.value}` : ''}`
}

/** An option's text with its other names and default. */
export function describe (o: OptionSpec): string {
  const aliases = (o.aliases ?? []).map((a) => `--${a}`)
  return o.help + (aliases.length ? ` (also ${aliases.join(', ')})` : '') + (o.default ? ` [default: ${o.default}]` : '')
}

export function helpText (): string {
  let text = `Usage: ${SYNOPSIS[0]}\n${SYNOPSIS.slice(1).map((s) => `       ${s}\n`).join('')}\n`
  text += wrap(DESCRIPTION, WIDTH).join('\n') + '\n'
  for (const section of SECTIONS) {
    text += `\n${section}:\n`
    for (const o of OPTIONS.filter((x) => x.section === section && !x.hidden)) text += item(termOf(o), describe(o))
  }
  text += `\nInput records:\n${wrap(RECORDS_INTRO, WIDTH - 2).map((l) => `  ${l}\n`).join('')}`
  text += recordLines().map((l) => `${l}\n`).join('')
  text += '\nExamples:\n'
  for (const [what, command] of EXAMPLES) text += `  # ${what}\n${command.split('\n').map((l) => `  ${l}\n`).join('')}`
  text += '\nSubcommands:\n'
  for (const [name, what] of SUBCOMMANDS) text += item(name, what)
  text += '\nEnvironment:\n'
  for (const [names, what] of ENVIRONMENT) text += item(names, what)
  text += '\nExit status:\n'
  for (const [code, what] of EXIT_STATUS) text += item(code, what)
  return text
}
