// The run's innermost HTTP client: an undici Agent, keep-alive, with connections per origin capped
// (lib/http/client.ts composes the redirects, the fault guard and the host limits over it). Redirects are
// followed to http and https URLs only: a Location naming file:, s3: or any other scheme is refused, and said as such.
import type { Dispatcher } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'
import { Decorator } from './decorator.js'
import { redactUrl } from './redact.js'
import { undici } from './undici.js'

export const MAX_REDIRECTS = 5

export interface HttpOptions {
  connections: number
  timeoutMs: number
}

/** The run's default dispatcher. */
export function createAgent ({ connections, timeoutMs }: HttpOptions): Dispatcher {
  return new (undici().Agent)({
    connections,
    pipelining: 1,
    keepAliveTimeout: 10_000,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs
  })
}

/** A redirect to a URL that is not http or https; the message names the target, redacted. */
export class RedirectRefused extends Error {
  override name = 'RedirectRefused'
}

/** `dispatcher` following up to MAX_REDIRECTS redirects, each to an http or https URL only. */
export function withRedirects (dispatcher: Dispatcher): Dispatcher {
  // Composed inside the redirect interceptor, so that the check sees every hop's answer before undici
  // follows it (undici itself would refuse another scheme only as an argument error, naming nothing).
  return dispatcher.compose(refuseOtherSchemes, undici().interceptors.redirect({ maxRedirections: MAX_REDIRECTS }))
}

const refuseOtherSchemes: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) =>
  dispatch(opts, new SchemeCheck(handler, `${String(opts.origin ?? '')}${opts.path}`))

/** A 3xx whose Location is not http(s) is thrown as RedirectRefused (the request's error); all else passes on. */
class SchemeCheck extends Decorator {
  constructor (handler: Dispatcher.DispatchHandler, private readonly url: string) {
    super(handler)
  }

  override onResponseStart (controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const location = headers.location
    if (statusCode >= 300 && statusCode < 400 && typeof location === 'string') {
      let target: URL | undefined
      try {
        target = new URL(location, this.url)
      } catch {
        // Not a URL at all: undici's own error says so.
      }
      if (target && target.protocol !== 'http:' && target.protocol !== 'https:') {
        throw new RedirectRefused(`redirected to '${redactUrl(target.href)}': only http and https redirects are followed`)
      }
    }
    super.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }
}
