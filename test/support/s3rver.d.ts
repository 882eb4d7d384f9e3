// Types for the parts of s3rver (3.7, untyped JavaScript) the S3 test fixture uses.
declare module 's3rver' {
  import type { Server } from 'node:http'
  import type { AddressInfo } from 'node:net'

  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory?: string
    resetOnClose?: boolean
    allowMismatchedSignatures?: boolean
    vhostBuckets?: boolean
    configureBuckets?: Array<{ name: string, configs?: Array<string | Buffer> }>
  }

  class S3rver {
    constructor (options?: S3rverOptions)
    httpServer?: Server
    run (): Promise<AddressInfo>
    close (): Promise<void>
  }
  export default S3rver
}

declare module 's3rver/lib/models/account.js' {
  interface AWSAccount {
    createKeyPair (accessKeyId: string, secretAccessKey: string): void
    revokeAccessKey (accessKeyId: string): void
  }
  const account: { DUMMY_ACCOUNT: AWSAccount }
  export default account
}
