/**
 * The Express adapter (Express 4 and 5): translates and nothing more. A hit is answered before
 * any downstream middleware runs, with `writeHead`/`end` rather than Express's `res.send`
 * (which would recompute the ETag). A miss runs the rest of the chain with the response tapped.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { detachedExchange, sinkOf } from './detached.js'
import type { Engine, Origin } from './engine.js'
import type { Route } from './options.js'
import { tap } from './tap.js'

/** Express's `next`. */
export type NextFunction = (err?: unknown) => void

/** An Express middleware (typed structurally, so Express is not a dependency). */
export type ExpressMiddleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void

interface ExpressApp { handle(req: IncomingMessage, res: ServerResponse, done: (err?: unknown) => void): void }
/**
 * Requests a cache middleware has sent on to the origin. A WeakSet rather than a mark on the
 * request: Express swaps the prototypes of its requests, after which V8 gives every property
 * added to one a map of its own (about 2 µs a property on Node 20; see tap.ts).
 */
const taken = new WeakSet<IncomingMessage>()

type ExpressRequest = IncomingMessage & { app?: ExpressApp }

const origin: Origin<NextFunction> = {
  forward (req, res, next, call, sink) {
    taken.add(req)
    req.headers = call.headers
    tap(res, sink, false)
    next()
  },
  // A background refresh re-dispatches a copy of the request through the app; the middleware
  // recognises it by its mark and feeds the handler's response to the sink.
  detached (req, _next, call, sink) {
    const app = (req as ExpressRequest).app
    if (app === undefined || typeof app.handle !== 'function') {
      sink.error(new Error('cachefront: background refresh needs an Express app (req.app)'))
      return
    }
    const exchange = detachedExchange(req, call.headers, sink)
    app.handle(exchange.req, exchange.res, err => {
      sink.error(err instanceof Error ? err : new Error('cachefront: no handler answered the background refresh'))
    })
  },
}

export function expressMiddleware (engine: Engine, route: Route): ExpressMiddleware {
  let warned = false
  return function cachefront (req, res, next) {
    const sink = sinkOf(req)
    if (sink !== undefined) {
      tap(res, sink, true)
      return next()
    }
    // A second cache middleware on the same request (app-wide and per route) steps aside: it
    // would otherwise wait on the first one's flight, which waits on it.
    if (taken.has(req)) {
      if (!warned) {
        warned = true
        engine.settings.logger.warn({ url: req.url }, 'cachefront: two cache middlewares on one request; the first one applies and this one passes')
      }
      return next()
    }
    try {
      const pending = engine.handle(req, res, route, origin, next)
      if (pending !== undefined) pending.catch(next)
    } catch (err) {
      next(err)
    }
  }
}
