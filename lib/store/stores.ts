// Which object store a record's URL names, and the request auth for it: s3:// and gs:// signed with
// SigV4 (lib/store/s3.ts), az:// and Azure blob URLs with a shared key or a SAS (lib/store/azure.ts);
// other http(s):// URLs Basic auth from their user-info or the netrc, when they have any
// (lib/http/credentials.ts). Settings are read from the environment once per run, when the first URL of
// a store comes.
import type { RequestAuth } from '../http/response.js'
import { classifyUrl } from '../core/url.js'
import type { Secrets } from '../http/redact.js'
import type { Credentials } from '../http/credentials.js'
import { gsSettings, s3Auth, s3Settings, type S3Settings } from './s3.js'
import { azureAuth, azureSettings, azureUrlAuth, type AzureSettings } from './azure.js'

export const STORE_SCHEMES = new Set(['s3', 'gs', 'az'])

/** Azure Blob Storage's public endpoints (global, China, US Government): ACCOUNT.blob.core.… */
const AZURE_BLOB_HOST = /^[a-z0-9]{3,24}\.blob\.core\.(windows\.net|chinacloudapi\.cn|usgovcloudapi\.net)$/i

export interface StoreOptions {
  requesterPays: boolean
  noSign: boolean
}

export class Stores {
  private readonly settings = new Map<string, S3Settings>()
  private readonly regions = new Map<string, string>()
  private azure?: AzureSettings

  constructor (private readonly options: StoreOptions, private readonly secrets: Secrets, private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly credentials?: Credentials) {}

  /** The auth of a record's URL, or undefined for plain HTTP(S) without credentials. */
  authFor (url: string): RequestAuth | undefined {
    const c = classifyUrl(url)
    if (c.kind === 'http') {
      // Credentials in the URL are the user's choice for it, even on an Azure blob host.
      if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url)) return this.credentials?.authFor(url)
      return this.blobUrlAuth(url) ?? this.credentials?.authFor(url)
    }
    if (c.kind !== 'store' || c.store === undefined) return undefined
    const scheme = c.store
    if (scheme === 'az') return azureAuth(url, this.azureSettings())
    let s = this.settings.get(scheme)
    if (!s) {
      s = scheme === 's3' ? s3Settings(this.env, this.options, this.secrets) : gsSettings(this.env, this.options, this.secrets)
      this.settings.set(scheme, s)
    }
    return s3Auth(url, s, this.regions)
  }

  /**
   * An Azure blob URL gets the run's Azure credentials only when it has no SAS of its own; one that has
   * goes as given, its signature known as a secret (any URL's SAS is, whatever its host).
   */
  private blobUrlAuth (url: string): RequestAuth | undefined {
    let u: URL
    try {
      u = new URL(url)
    } catch {
      return undefined
    }
    const sig = u.searchParams.get('sig')
    if (sig) {
      this.secrets.add(sig, encodeURIComponent(sig))
      return undefined
    }
    // Over https only: a SAS in the clear could be read on the way.
    if (u.protocol !== 'https:' || !AZURE_BLOB_HOST.test(u.hostname)) return undefined
    return azureUrlAuth(url, this.azureSettings())
  }

  private azureSettings (): AzureSettings {
    this.azure ??= azureSettings(this.env, this.options, this.secrets)
    return this.azure
  }
}
