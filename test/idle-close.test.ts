// Servers that close idle keep-alive connections at random, a moment after a response: the client may be
// sending its next request on one just then. undici 7 asserted on this (its issue #5360) and took the
// process down; every record must now be ok and equal to gdal_translate's output.
import { useServer } from './support/context.js'
import { closingTests } from './support/closing.js'

closingTests(useServer(), 'idle-close')
