// undici's DecoratorHandler, typed: it passes every handler callback on to the handler it wraps, so an
// interceptor's handler overrides only the callbacks it has something to say in (its types list none).
import { DecoratorHandler, type Dispatcher } from 'undici'

export const Decorator: new (handler: Dispatcher.DispatchHandler) => Dispatcher.DispatchHandler = DecoratorHandler
