// Which object store a record's URL names, and the request auth for it: s3:// and gs:// signed with
// SigV4 (lib/store/s3.ts); plain http(s):// URLs need none. Settings are read from the environment once
// per run, when the first URL of a store comes.
import type { RequestAuth } from '../http/response.js'
import type { Secrets } from '../http/redact.js'
import { gsSettings, s3Auth, s3Settings, type S3Settings } from './s3.js'

export const STORE_SCHEMES = new Set(['s3', 'gs'])

export interface StoreOptions {
  requesterPays: boolean
  noSign: boolean
}

export class Stores {
  private readonly settings = new Map<string, S3Settings>()
  private readonly regions = new Map<string, string>()

  constructor (private readonly options: StoreOptions, private readonly secrets: Secrets, private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** The auth of a record's URL, or undefined for plain HTTP(S). */
  authFor (url: string): RequestAuth | undefined {
    const scheme = /^([a-z0-9]+):\/\//i.exec(url)?.[1].toLowerCase()
    if (scheme !== 's3' && scheme !== 'gs') return undefined
    let s = this.settings.get(scheme)
    if (!s) {
      s = scheme === 's3' ? s3Settings(this.env, this.options, this.secrets) : gsSettings(this.env, this.options, this.secrets)
      this.settings.set(scheme, s)
    }
    return s3Auth(url, s, this.regions)
  }
}
