// undici, loaded when a run first makes a request: its index loads over a hundred files, which a run of
// local files only (or of no records) never needs. The two base classes ours extend come from their own
// small files, the same modules undici's index uses (so `instanceof` holds across both).
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const require = createRequire(import.meta.url)

export const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher
export const DecoratorHandler = require('undici/lib/handler/decorator-handler.js') as typeof Undici.DecoratorHandler

let loaded: typeof Undici | undefined

/** undici itself, loaded on first call. */
export function undici (): typeof Undici {
  loaded ??= require('undici') as typeof Undici
  return loaded
}
