/**
 * `createCache`: builds the stores, the engine and the adapters from one set of options.
 */
import { Engine, type Invalidation } from './engine.js'
import { expressMiddleware, type ExpressMiddleware } from './express.js'
import { koaMiddleware, type KoaMiddleware } from './koa.js'
import { MemoryStore } from './l1.js'
import type { Stats } from './metrics.js'
import { resolveRoute, resolveSettings, type CacheOptions, type RouteOptions } from './options.js'
import { RedisTier } from './redis.js'
import { TieredStore } from './tiered.js'

/** Headroom L1 allows above maxObjectSize for an entry's headers and bookkeeping. */
const HEADER_ALLOWANCE = 64 * 1024

/** A cache: adapters for each framework on one engine and one store. */
export interface Cache {
  /** Express middleware, for the whole app or one route. */
  express(route?: RouteOptions): ExpressMiddleware
  /** Koa middleware, for the whole app (`app.use`) or one route (`router.get(path, cache.koa(route), handler)`). */
  koa(route?: RouteOptions): KoaMiddleware
  /** Deletes stored responses by URL (all methods, users and variants), key, tag, key prefix, or all. */
  invalidate(what: Invalidation): Promise<number>
  /** Counters and L1 occupancy. */
  stats(): Stats
  /** Releases waiters, timers and connections. */
  close(): Promise<void>
  /** The engine, for adapters outside this package (the proxy). */
  readonly engine: Engine
}

export function createCache (options: CacheOptions = {}): Cache {
  const settings = resolveSettings(options)
  const { logger } = settings
  let l1Failing = false
  const l1 = new MemoryStore({
    maxBytes: settings.maxBytes,
    maxObjectSize: settings.maxObjectSize + HEADER_ALLOWANCE,
    onError: err => {
      if (!l1Failing) logger.error({ err }, 'cachefront: L1 store error')
      l1Failing = true
    },
  })
  const redis = settings.redis === undefined ? undefined : new RedisTier(settings)
  const store = new TieredStore(l1, redis?.store, err => logger.warn({ err }, 'cachefront: store write failed'))
  redis?.listen(store)
  const engine = new Engine(settings, store, redis)
  return {
    engine,
    express: route => expressMiddleware(engine, resolveRoute(settings, route)),
    koa: route => koaMiddleware(engine, resolveRoute(settings, route)),
    invalidate: what => engine.invalidate(what),
    stats: () => engine.stats(),
    close: () => engine.close(),
  }
}
