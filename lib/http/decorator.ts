// undici's DecoratorHandler, typed: it passes every handler callback on to the handler it wraps, so an
// interceptor's handler overrides only the callbacks it has something to say in (its types list none).
import type { Dispatcher } from 'undici'
import { DecoratorHandler } from './undici.js'

export const Decorator: new (handler: Dispatcher.DispatchHandler) => Dispatcher.DispatchHandler = DecoratorHandler
