// undici, loaded when a run first makes a request, and only the parts a run uses (its Agent, the redirect
// interceptor, request(); its ProxyAgent only when there is a proxy): undici's index loads all of
// undici (fetch, WebSocket, caches, mocks), about twice the cost, and a run of local files (or of no records) needs none of it. These are undici's
// internal files, so package.json pins its version exactly; test/startup.test.ts loads them over HTTP.
// The two base classes ours extend are the very modules undici's index uses, so `instanceof` holds.
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const require = createRequire(import.meta.url)

export const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher
export const DecoratorHandler = require('undici/lib/handler/decorator-handler.js') as typeof Undici.DecoratorHandler

interface Client {
  Agent: typeof Undici.Agent
  Pool: typeof Undici.Pool
  interceptors: Pick<typeof Undici.interceptors, 'redirect'>
  request: typeof Undici.request
}

let loaded: Client | undefined

/** What a run uses of undici, loaded on first call. */
export function undici (): Client {
  loaded ??= {
    Agent: require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent,
    Pool: require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool,
    interceptors: {
      redirect: require('undici/lib/interceptor/redirect.js') as typeof Undici.interceptors.redirect
    },
    request: dispatcherRequest()
  }
  return loaded
}

/** undici's ProxyAgent, loaded only by a run that has a proxy to use. */
export function proxyAgent (): typeof Undici.ProxyAgent {
  // Its tunnels are opened with a pool's connect(), a method undici's index puts on every dispatcher.
  const proto = Dispatcher.prototype as { connect?: unknown }
  proto.connect ??= require('undici/lib/api/api-connect.js')
  return require('undici/lib/dispatcher/proxy-agent.js') as typeof Undici.ProxyAgent
}

/**
 * undici's request(url, options), as its index makes it from the dispatcher method (index.js, makeDispatcher):
 * the URL parsed by undici's own parser into origin and path, the method GET, or PUT with a body. Every
 * request of the run names its dispatcher.
 */
function dispatcherRequest (): typeof Undici.request {
  const { parseURL } = require('undici/lib/core/util.js') as { parseURL: (url: string | URL) => URL }
  const request = require('undici/lib/api/api-request.js') as (this: Undici.Dispatcher, options: object) => Promise<Undici.Dispatcher.ResponseData>
  return (async (url: string | URL, options: { dispatcher: Undici.Dispatcher, method?: string, body?: unknown }) => {
    const { dispatcher, ...rest } = options
    const parsed = parseURL(url)
    return await request.call(dispatcher, {
      ...rest,
      origin: parsed.origin,
      path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
      method: options.method || (options.body ? 'PUT' : 'GET')
    })
  }) as unknown as typeof Undici.request
}
