// The object stores' SDKs, loaded the first time a run meets a URL of their store. Most runs never do,
// and loading them (AWS's signer and credential chain, Azure's pipeline and shared-key policy) took about
// a third of the time before a run's first record (bench/startup.ts; the README's "Startup").
import { createRequire } from 'node:module'
import type * as SignatureV4Module from '@smithy/signature-v4'
import type * as HashModule from '@smithy/hash-node'
import type * as CredentialsModule from '@aws-sdk/credential-providers'
import type * as PipelineModule from '@azure/core-rest-pipeline'
import type * as StorageCommonModule from '@azure/storage-common'

const require = createRequire(import.meta.url)

export interface AwsSdk {
  SignatureV4: typeof SignatureV4Module.SignatureV4
  Hash: typeof HashModule.Hash
  fromNodeProviderChain: typeof CredentialsModule.fromNodeProviderChain
}

export interface AzureSdk {
  createHttpHeaders: typeof PipelineModule.createHttpHeaders
  createPipelineRequest: typeof PipelineModule.createPipelineRequest
  storageSharedKeyCredentialPolicy: typeof StorageCommonModule.storageSharedKeyCredentialPolicy
}

let aws: AwsSdk | undefined
let azure: AzureSdk | undefined

export function awsSdk (): AwsSdk {
  aws ??= {
    SignatureV4: (require('@smithy/signature-v4') as typeof SignatureV4Module).SignatureV4,
    Hash: (require('@smithy/hash-node') as typeof HashModule).Hash,
    fromNodeProviderChain: (require('@aws-sdk/credential-providers') as typeof CredentialsModule).fromNodeProviderChain
  }
  return aws
}

export function azureSdk (): AzureSdk {
  if (azure) return azure
  const pipeline = require('@azure/core-rest-pipeline') as typeof PipelineModule
  azure = {
    createHttpHeaders: pipeline.createHttpHeaders,
    createPipelineRequest: pipeline.createPipelineRequest,
    storageSharedKeyCredentialPolicy: (require('@azure/storage-common') as typeof StorageCommonModule).storageSharedKeyCredentialPolicy
  }
  return azure
}
