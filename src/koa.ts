/**
 * The Koa adapter (Koa 2 and 3): translates and nothing more.
 *
 * A hit is answered before any downstream middleware runs: the engine writes `ctx.res` itself
 * and the middleware sets `ctx.respond = false`, so Koa writes nothing more.
 *
 * A miss runs the rest of the chain with `ctx.res` tapped (src/tap.ts), and Koa's own
 * `respond` writes through the tap once every middleware has returned. The engine therefore
 * sees the response exactly as it leaves Koa: every form of `ctx.body` (string, Buffer, JSON,
 * stream, null) after Koa serialised it, with what middleware outside the cache did after
 * `await next()` (koa-compress in either order: the compressed variant is stored under its
 * `Vary: Accept-Encoding`). A hit gives back exactly what the miss's client received.
 *
 * Errors thrown downstream are not caught here: they reach Koa's error handling (an outer
 * error middleware, `ctx.onerror`, the app's `error` event) like any other. The error
 * response Koa then writes goes through the tap, and when it is a 500, 502, 503 or 504 and a
 * stale entry may stand in for it (stale-if-error), the engine answers with the stale entry
 * instead. The error has still been reported (the app's `error` event, or whichever error
 * middleware handled it); only the client's answer changes.
 *
 * One cache middleware per request: when two are on a request's path (`app.use(cache.koa())`
 * and a route's `cache.koa(route)`), the first applies and the second passes (warned once).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { detachedExchange, sinkOf } from './detached.js'
import type { Engine, Origin } from './engine.js'
import type { Route } from './options.js'
import { tap } from './tap.js'

/** Koa's `next`. */
export type KoaNext = () => Promise<unknown>

/** The parts of a Koa application the adapter uses (typed structurally, so Koa is not a dependency). */
export interface KoaApplication {
  callback(): (req: IncomingMessage, res: ServerResponse) => unknown
}

/** The parts of a Koa context the adapter uses. */
export interface KoaContext {
  req: IncomingMessage
  res: ServerResponse
  app: KoaApplication
  /** The URL before any mount stripped a prefix (a background refresh replays this one). */
  originalUrl?: string
  respond?: boolean
}

/** A Koa middleware (Koa 2 and 3). */
export type KoaMiddleware = (ctx: KoaContext, next: KoaNext) => Promise<void>

/**
 * The adapter's per-request context: what the origin needs to run the rest of the chain. A
 * class, not a literal: see `Txn` in engine.ts (a pretenured literal keeps the request's
 * young objects alive until a full collection).
 */
class Exchange {
  /** The rest of the chain, once the engine sent the request to it. */
  downstream: Promise<unknown> | undefined = undefined
  constructor (readonly ctx: KoaContext, readonly next: KoaNext) {}
}

/** One handler per app for background refreshes, composed once. */
const callbacks = new WeakMap<KoaApplication, (req: IncomingMessage, res: ServerResponse) => unknown>()

/**
 * Requests a cache middleware has taken. A detached one that never arrives fails its refresh;
 * a second cache middleware on the same request (app-wide and per route) steps aside, since it
 * would otherwise wait on the first one's flight, which waits on it.
 */
const taken = new WeakSet<IncomingMessage>()

const ignore = (): void => {}

const origin: Origin<Exchange> = {
  forward (req, res, exchange, call, sink) {
    taken.add(req)
    req.headers = call.headers
    tap(res, sink, false)
    const downstream = exchange.next()
    // Awaited by the middleware as soon as the engine returns; marked handled meanwhile.
    downstream.catch(ignore)
    exchange.downstream = downstream
  },
  // A background refresh re-dispatches a copy of the request through the app; the middleware
  // recognises it by its mark and feeds the response Koa writes to the sink.
  detached (req, exchange, call, sink) {
    const app = exchange.ctx.app
    if (app === undefined || typeof app.callback !== 'function') {
      sink.error(new Error('cachefront: background refresh needs a Koa app (ctx.app)'))
      return
    }
    let handler = callbacks.get(app)
    if (handler === undefined) {
      handler = app.callback()
      callbacks.set(app, handler)
    }
    const { req: detachedReq, res } = detachedExchange(req, call.headers, sink)
    if (exchange.ctx.originalUrl !== undefined) detachedReq.url = exchange.ctx.originalUrl
    const unanswered = (): void => {
      if (!taken.has(detachedReq)) sink.error(new Error('cachefront: the background refresh did not reach the cache middleware'))
    }
    // Koa reports the handler's own errors (app 'error') and writes its error response
    // through the tap; only a refresh that never reached the middleware fails here.
    Promise.resolve(handler(detachedReq, res)).then(unanswered, unanswered)
  },
}

export function koaMiddleware (engine: Engine, route: Route): KoaMiddleware {
  let warned = false
  return async function cachefront (ctx, next) {
    const req = ctx.req
    const sink = sinkOf(req)
    if (sink !== undefined) {
      taken.add(req)
      tap(ctx.res, sink, true)
      await next()
      return
    }
    if (taken.has(req)) {
      if (!warned) {
        warned = true
        engine.settings.logger.warn({ url: req.url }, 'cachefront: two cache middlewares on one request; the first one applies and this one passes')
      }
      await next()
      return
    }
    // Keyed on what the client asked for, even inside a mounted app (koa-mount rewrites req.url).
    if (ctx.originalUrl !== undefined) (req as IncomingMessage & { originalUrl?: string }).originalUrl ??= ctx.originalUrl
    const exchange = new Exchange(ctx, next)
    const pending = engine.handle(req, ctx.res, route, origin, exchange)
    if (pending !== undefined) await pending
    if (exchange.downstream === undefined) {
      // The engine answered (hit, coalesced waiter, only-if-cached): Koa must not write.
      ctx.respond = false
      return
    }
    await exchange.downstream
  }
}
