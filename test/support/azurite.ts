// The loopback Azure Blob Storage the tests start: Azurite's blob service (Microsoft's emulator, which checks
// shared-key and SAS signatures itself) in a child process on a port of its choosing, data in a temp dir,
// its access log read to count requests; containers, blobs and SAS tokens made with @azure/storage-blob.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import {
  BlobSASPermissions, BlobServiceClient, StorageSharedKeyCredential, generateBlobSASQueryParameters
} from '@azure/storage-blob'

/** Azurite's well-known development account and key (public, documented by Microsoft). */
export const DEV_ACCOUNT = 'devstoreaccount1'
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

/** One request as Azurite's access log has it. */
export interface AzureRequest {
  method: string
  /** The path without the query (the SAS stays out of what tests compare). */
  path: string
  status: number
}

export interface AzuriteFixture {
  account: string
  key: string
  port: number
  /** http://127.0.0.1:PORT/devstoreaccount1: the account's blob endpoint, path-style as emulators have it. */
  endpoint: string
  /** A connection string for the fixture's account, with its BlobEndpoint. */
  connectionString: string
  /** Where Azurite keeps the data; removed by close. */
  directory: string
  /** The blob's URL, name segments encoded: endpoint/container/blob. */
  url: (container: string, blob: string) => string
  createContainer: (container: string) => Promise<void>
  putFile: (container: string, blob: string, file: string) => Promise<void>
  /** A blob SAS (the query, without '?') signed with the account key, read permission, valid for an hour. */
  sas: (container: string, blob: string) => string
  /** Requests Azurite logged since the last reset, in order; only those to `path` (/container/blob) if given. */
  requests: (path?: string) => AzureRequest[]
  /**
   * Resolves once Azurite has logged every request answered before the call: it logs a request after its
   * answer, so a client can be done before the line is written. A marker request is made and its line
   * awaited (the log is in order).
   */
  settled: () => Promise<void>
  reset: () => void
  /** Environment for GDAL's /vsiaz/ to reach the fixture with the account key. */
  gdalEnv: () => Record<string, string>
  close: () => Promise<void>
}

const require = createRequire(import.meta.url)

/** Azurite's blob service entry point, from its own package. */
function azuriteBlobMain (): string {
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js')
}

/**
 * Azurite's flags besides its port and folder: --disableTelemetry, or it would report to an outside host;
 * --skipApiVersionCheck, since the current SDK asks for newer versions than Azurite 3.37 knows.
 */
export const AZURITE_FLAGS = ['--blobHost', '127.0.0.1', '--disableTelemetry', '--skipApiVersionCheck']

export async function startAzurite (options: { containers?: string[] } = {}): Promise<AzuriteFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'rp-azurite-'))
  // Port 0: Azurite binds one the system chooses and says which, so no free port is guessed (and raced for).
  // Its access log (stdout, without --silent) is how requests are counted.
  const child = spawn(process.execPath, [azuriteBlobMain(), ...AZURITE_FLAGS, '--blobPort', '0', '--location', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // Lines go to whoever listens now: first the wait for the port, then the request count.
  let onLine: (line: string) => void = () => undefined
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => onLine(line))
  const log: string[] = []
  let port: number
  try {
    port = await new Promise<number>((resolve, reject) => {
      onLine = (line) => {
        log.push(line)
        const m = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
        if (m) resolve(Number(m[1]))
      }
      child.once('exit', (code, signal) => reject(new Error(`azurite exited (${code ?? signal}) before listening: ${log.join('\n')}\n${stderr}`)))
      child.once('error', reject)
    })
  } catch (err) {
    child.kill('SIGKILL')
    await exit
    rmSync(dir, { recursive: true, force: true })
    throw err
  }

  // The access log from here on: `127.0.0.1 - - [date] "GET /devstoreaccount1/c/b?… HTTP/1.1" 206 …`.
  let requests: AzureRequest[] = []
  const markers = new Map<string, () => void>()
  onLine = (line) => {
    const m = /"([A-Z]+) ([^ ?"]+)[^"]* HTTP\/[\d.]+" (\d{3})/.exec(line)
    if (!m) return
    const path = decodeURIComponent(m[2]).replace(`/${DEV_ACCOUNT}`, '')
    const marker = markers.get(path)
    if (marker) marker()
    else requests.push({ method: m[1], path, status: Number(m[3]) })
  }
  let markerCount = 0

  const endpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${endpoint};`
  const credential = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY)
  // Few retries: a failure here is the fixture's, and should show at once.
  const service = new BlobServiceClient(endpoint, credential, { retryOptions: { maxTries: 2 } })
  const encode = (blob: string): string => blob.split('/').map(encodeURIComponent).join('/')

  const fixture: AzuriteFixture = {
    account: DEV_ACCOUNT,
    key: DEV_KEY,
    port,
    endpoint,
    connectionString,
    directory: dir,
    url: (container, blob) => `${endpoint}/${container}/${encode(blob)}`,
    createContainer: async (container) => { await service.getContainerClient(container).create() },
    putFile: async (container, blob, file) => {
      await service.getContainerClient(container).getBlockBlobClient(blob).uploadData(readFileSync(file))
    },
    sas: (container, blob) => generateBlobSASQueryParameters({
      containerName: container,
      blobName: blob,
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(Date.now() - 5 * 60_000),
      expiresOn: new Date(Date.now() + 60 * 60_000)
    }, credential).toString(),
    requests: (path) => path === undefined ? [...requests] : requests.filter((r) => r.path === path),
    settled: async () => {
      const path = `/rp-settled-${++markerCount}`
      const logged = new Promise<void>((resolve) => markers.set(path, resolve))
      // An unsigned request for a container that does not exist: Azurite answers (404) and logs it.
      const res = await fetch(`${endpoint}${path}?restype=container`)
      await res.arrayBuffer()
      await logged
      markers.delete(path)
    },
    reset: () => { requests = [] },
    gdalEnv: () => ({
      AZURE_STORAGE_CONNECTION_STRING: connectionString,
      // Nothing from the user's own Azure setup may take part.
      AZURE_STORAGE_ACCOUNT: '',
      AZURE_STORAGE_ACCESS_KEY: '',
      AZURE_STORAGE_SAS_TOKEN: '',
      AZURE_NO_SIGN_REQUEST: 'NO',
      AZURE_CONFIG_DIR: dir
    }),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        // Azurite closes its server on SIGTERM and exits; should it hang, it is killed.
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exit
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
  try {
    for (const c of options.containers ?? []) await fixture.createContainer(c)
  } catch (e) {
    await fixture.close()
    throw e
  }
  return fixture
}

/** Resolves when nothing listens on the port any more (a connection is refused); fails if one is accepted. */
export async function assertRefused (port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); reject(new Error(`port ${port} still accepts connections`)) })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') resolve()
      else reject(err)
    })
  })
}
