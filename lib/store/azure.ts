// az://CONTAINER/BLOB sources and https://ACCOUNT.blob.core.windows.net URLs: the address to ask, and each
// request signed with a shared key by the Azure SDK's own policy, or carrying a SAS, from the variables the
// Azure CLI and GDAL's /vsiaz/ read.
import type { PipelinePolicy } from '@azure/core-rest-pipeline'
import { azureSdk } from './sdks.js'
import { RecordError } from '../core/errors.js'
import { yes } from './flags.js'
import type { RequestAuth } from '../http/response.js'
import type { Secrets } from '../http/redact.js'
import { option, words } from '../core/words.js'

type Env = NodeJS.ProcessEnv

/**
 * The REST version asked for: one that Azure and emulators (Azurite 3.x without --skipApiVersionCheck)
 * both accept, and recent enough that a Range is answered with 206 and Content-Range.
 */
export const AZURE_VERSION = '2021-08-06'

/** Azurite's well-known development account (UseDevelopmentStorage=true): public, documented by Microsoft. */
const DEV_ACCOUNT = 'devstoreaccount1'
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

export interface AzureSettings {
  /** The storage account, when known (from AZURE_STORAGE_ACCOUNT or the connection string). */
  account?: string
  /** The blob endpoint of the account, no trailing slash: https://ACCOUNT.blob.core.windows.net, or an emulator's. */
  endpoint?: string
  /** Where the endpoint came from, for messages. */
  endpointFrom: string
  /** The account key's signing policy (the SDK's), when a shared key is used. */
  sharedKey?: PipelinePolicy
  /** A SAS, without its '?', when one is used instead. */
  sas?: string
  /** Public containers: no credential at all. */
  noSign: boolean
  /** Where the credentials come from, for messages (never the secret). */
  source: string
  /** A setup problem every az:// record meets (no account, a malformed connection string). */
  problem?: string
}

/** A connection string's fields, by lower-case name (`AccountKey=…;BlobEndpoint=…`). */
function connectionFields (text: string): Map<string, string> | undefined {
  const fields = new Map<string, string>()
  for (const part of text.split(';')) {
    if (part.trim() === '') continue
    const at = part.indexOf('=')
    if (at <= 0) return undefined
    // Values keep their own '=' (base64 keys end in them, SAS tokens hold several).
    fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim())
  }
  return fields
}

/** A SAS's credential parts as they may appear in text: the token itself and its signature, raw and decoded. */
function sasSecrets (sas: string): string[] {
  const out = [sas]
  const sig = new URLSearchParams(sas).get('sig')
  if (sig) out.push(sig, encodeURIComponent(sig))
  return out
}

function trimSlash (s: string): string {
  return s.replace(/\/+$/, '')
}

/**
 * The settings of Azure sources, read once per run: a connection string first (as GDAL reads them), then
 * an account with its key, then a SAS token. Every secret joins the run's secrets before any request.
 */
export function azureSettings (env: Env, o: { noSign: boolean }, secrets: Secrets): AzureSettings {
  const override = env.AZURE_STORAGE_BLOB_ENDPOINT
  const s: AzureSettings = { noSign: o.noSign || yes(env.AZURE_NO_SIGN_REQUEST), source: 'no credentials', endpointFrom: 'AZURE_STORAGE_BLOB_ENDPOINT' }
  let protocol = 'https'
  let suffix = 'core.windows.net'
  let blobEndpoint: string | undefined
  const cs = env.AZURE_STORAGE_CONNECTION_STRING
  let key: string | undefined
  if (cs) {
    secrets.add(cs)
    const f = connectionFields(cs)
    if (!f) return { ...s, problem: 'AZURE_STORAGE_CONNECTION_STRING is not a connection string (NAME=VALUE;…)' }
    if (yes(f.get('usedevelopmentstorage'))) {
      // The emulator on its default port, with its public development account.
      s.account = DEV_ACCOUNT
      key = DEV_KEY
      blobEndpoint = `${trimSlash(f.get('developmentstorageproxyuri') ?? 'http://127.0.0.1')}:10000/${DEV_ACCOUNT}`
    } else {
      s.account = f.get('accountname') || undefined
      key = f.get('accountkey') || undefined
      blobEndpoint = f.get('blobendpoint') || undefined
      protocol = f.get('defaultendpointsprotocol') || protocol
      suffix = f.get('endpointsuffix') || suffix
    }
    const sas = f.get('sharedaccesssignature')
    if (key) s.source = 'the connection string (AZURE_STORAGE_CONNECTION_STRING)'
    else if (sas) {
      s.sas = sas.replace(/^\?/, '')
      s.source = "the connection string's SharedAccessSignature (AZURE_STORAGE_CONNECTION_STRING)"
    }
  } else {
    s.account = env.AZURE_STORAGE_ACCOUNT || undefined
    // AZURE_STORAGE_KEY is the Azure CLI's name, AZURE_STORAGE_ACCESS_KEY GDAL's.
    const keyName = env.AZURE_STORAGE_KEY ? 'AZURE_STORAGE_KEY' : 'AZURE_STORAGE_ACCESS_KEY'
    key = env[keyName] || undefined
    if (key) s.source = `the environment (${keyName})`
    else if (env.AZURE_STORAGE_SAS_TOKEN) {
      s.sas = env.AZURE_STORAGE_SAS_TOKEN.replace(/^\?/, '')
      s.source = 'the SAS token (AZURE_STORAGE_SAS_TOKEN)'
    }
  }
  if (s.sas) secrets.add(...sasSecrets(s.sas))
  if (key) {
    secrets.add(key)
    if (!s.account) return { ...s, problem: `an account key without an account name: set AZURE_STORAGE_ACCOUNT${cs ? " or the connection string's AccountName" : ''}` }
    // The policy the SDK's own BlobClient puts in its pipeline for a StorageSharedKeyCredential.
    s.sharedKey = azureSdk().storageSharedKeyCredentialPolicy({ accountName: s.account, accountKey: Buffer.from(key, 'base64') })
  }
  if (s.noSign) s.source = 'unsigned'
  if (override) s.endpoint = trimSlash(override)
  else if (blobEndpoint) {
    s.endpoint = trimSlash(blobEndpoint)
    s.endpointFrom = "the connection string's BlobEndpoint"
  } else if (s.account) {
    s.endpoint = `${protocol}://${s.account}.blob.${suffix}`
    s.endpointFrom = 'the account name'
  }
  if (s.endpoint && !/^https?:\/\/[^/]/i.test(s.endpoint)) return { ...s, problem: `the blob endpoint from ${s.endpointFrom} is not an http(s) URL` }
  return s
}

/** Whether any credential is configured (a key or a SAS), so that blob URLs without their own SAS get it. */
export function hasAzureCredentials (s: AzureSettings): boolean {
  return !s.noSign && !s.problem && (s.sharedKey !== undefined || s.sas !== undefined)
}

/** Blob name segments percent-encoded for the URL path, '/' kept (Azure decodes them once). */
function encodeBlob (blob: string): string {
  return blob.split('/').map((seg) => encodeURIComponent(seg).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/')
}

/** Refusals that are about the credentials, as Azure names them in its error XML. */
const AUTH_CODES = /^(AuthenticationFailed|Authorization\w*|InsufficientAccountPermissions|NoAuthenticationInformation|InvalidAuthenticationInfo|AccountIsDisabled|KeyBasedAuthenticationNotPermitted|PublicAccessNotPermitted)$/

/** The request auth of an az://CONTAINER/BLOB URI. */
export function azureAuth (uri: string, s: AzureSettings): RequestAuth {
  const m = /^az:\/\/([^/]+)\/(.+)$/i.exec(uri)
  if (!m) throw new RecordError('input', 'BAD_URL', `${uri}: expected az://CONTAINER/BLOB`)
  if (s.problem) throw new RecordError('fetch', 'AUTH', `${uri}: ${s.problem}`)
  if (!s.endpoint) throw new RecordError('fetch', 'AUTH', `${uri}: no storage account: set AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_BLOB_ENDPOINT`)
  if (!s.noSign && !s.sharedKey && !s.sas) {
    throw new RecordError('fetch', 'AUTH', words`${uri}: no credentials: set AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING; use ${option('noSign', true)} for a public container`)
  }
  const [, container, blob] = m
  const base = `${s.endpoint}/${encodeURIComponent(container)}/${encodeBlob(blob)}`
  return signer(uri, s.noSign ? base : withSas(base, s.sas), s)
}

/**
 * The request auth of an https://ACCOUNT.blob.core.windows.net/… URL with no SAS of its own, when the run
 * has credentials for that account; undefined when it has none (the URL is read as any other).
 */
export function azureUrlAuth (url: string, s: AzureSettings): RequestAuth | undefined {
  if (!hasAzureCredentials(s)) return undefined
  const u = new URL(url)
  // A key or SAS of one account is not for another's URLs: those go as given.
  const own = s.account
    ? u.hostname.toLowerCase().split('.')[0] === s.account.toLowerCase()
    : s.endpoint !== undefined && new URL(s.endpoint).host === u.host
  if (!own) return undefined
  return signer(url, withSas(url, s.sas), s)
}

function withSas (url: string, sas: string | undefined): string {
  return sas ? `${url}${url.includes('?') ? '&' : '?'}${sas}` : url
}

function signer (uri: string, target: string, s: AzureSettings): RequestAuth {
  return {
    target: () => target,
    ownsAuthorization: s.sharedKey !== undefined && !s.noSign,
    async sign (method, url, headers) {
      const extra: Record<string, string> = { 'x-ms-version': AZURE_VERSION }
      if (!s.sharedKey || s.noSign) return extra
      const { createHttpHeaders, createPipelineRequest } = azureSdk()
      const request = createPipelineRequest({ url, method: method as 'GET', headers: createHttpHeaders({ ...headers, ...extra }) })
      // The SDK's policy signs the request it is given (x-ms-date, then Authorization over the standard
      // headers, the x-ms-* ones and the resource) and hands it on; the next step only takes it back.
      await s.sharedKey.sendRequest(request, async (signed) => ({ request: signed, status: 200, headers: createHttpHeaders() }))
      return { ...extra, 'x-ms-date': request.headers.get('x-ms-date') ?? '', authorization: request.headers.get('authorization') ?? '' }
    },
    refused (status: number, body: string): RecordError | undefined {
      const code = /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1]
      if ((status === 401 || status === 403) && (code === undefined || AUTH_CODES.test(code))) {
        const signed = s.noSign ? words`unsigned (${option('noSign', true)})` : `with credentials from ${s.source}`
        return new RecordError('fetch', 'AUTH', words`${uri}: the store refused the request ${signed}: HTTP ${status}${code ? ` ${code}` : ''}`)
      }
      return undefined
    }
  }
}
