/**
 * `createCache`: builds the stores, the engine and the adapters from one set of options.
 */
import { createDashboard, koaDashboard, snapshotOf, type DashboardHandler, type KoaDashboardMiddleware } from './dashboard/index.js'
import { Engine, type Invalidation } from './engine.js'
import { expressMiddleware, type ExpressMiddleware } from './express.js'
import { koaMiddleware, type KoaMiddleware } from './koa.js'
import { MemoryStore } from './l1.js'
import type { Stats } from './metrics.js'
import { resolveRoute, resolveSettings, type CacheOptions, type RouteOptions } from './options.js'
import { RedisTier } from './redis.js'
import { TieredStore } from './tiered.js'
import { warm, type WarmReport, type WarmUrlOptions } from './warm.js'
import { Values, type ValueOptions, type WarmSummary } from './values.js'

/** Headroom L1 allows above maxObjectSize for an entry's headers and bookkeeping. */
const HEADER_ALLOWANCE = 64 * 1024

/** One value for `warm` / `warmValues`: its key, how to load it, and its options. */
export interface ValueWarmItem { key: string, loader: () => unknown, options?: ValueOptions }

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
  /**
   * Cache-aside / read-through: the value for `key` from the cache, else from `loader` (called
   * once however many callers and instances ask together). Values read while a response is
   * produced become its dependencies: purging their tags, or deleting them, purges it too.
   */
  wrap<T>(key: string, loader: () => T | Promise<T>, options?: ValueOptions<T>): Promise<T>
  /** The cached value, or undefined. */
  get<T>(key: string, options?: Pick<ValueOptions<T>, 'serializer'>): Promise<T | undefined>
  /** Write-through: stores the value (resolves once the shared tier has it). */
  set<T>(key: string, value: T, options?: ValueOptions<T>): Promise<void>
  /** Deletes a value and every response that read it. */
  delete(key: string): Promise<boolean>
  /** Loads the values that are not fresh yet, a few at a time. */
  warmValues(items: ValueWarmItem[], options?: { concurrency?: number }): Promise<WarmSummary>
  /**
   * The live dashboard, as an Express-compatible `(req, res, next)` handler:
   * `app.use('/_cache', cache.dashboard({ token }))`. Its data and purges need
   * `Authorization: Bearer <token>` (the page asks for it).
   */
  dashboard(options: DashboardMountOptions): DashboardHandler
  /** The dashboard as Koa middleware at `prefix` (default '/_cache'): `app.use(cache.koaDashboard({ token }))`. */
  koaDashboard(options: DashboardMountOptions & { prefix?: string }): KoaDashboardMiddleware
  /**
   * Requests each URL through the cache (`base` resolves paths: the app's own URL) and reports
   * what the cache did: `{ total, stored, fresh, stale, notCacheable, failed, failures, ms }`.
   */
  warm(urls: Iterable<string>, options?: WarmUrlOptions): Promise<WarmReport>
  /** Values: loads each one that is not fresh yet (`warmValues`). */
  warm(items: ValueWarmItem[], options?: { concurrency?: number }): Promise<WarmSummary>
  /** Releases waiters, timers and connections. */
  close(): Promise<void>
  /** The engine, for adapters outside this package (the proxy). */
  readonly engine: Engine
}

/** Options of `cache.dashboard()`. */
export interface DashboardMountOptions {
  /** Required: the bearer token that reads the dashboard's data and purges. */
  token: string
  /** How often the page is sent a new snapshot, in ms (default 1000). */
  interval?: number
  /** Shown in the page's header (default 'cachefront'). */
  title?: string
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
  // Purges asked for through the cache are listed on the dashboard.
  const invalidate = (what: Invalidation) => engine.activity.purge(what, engine.invalidate(what))
  const dashboards = new Set<{ close(): void }>()
  const dashboard = (mount: DashboardMountOptions): DashboardHandler => {
    if (typeof mount?.token !== 'string' || mount.token === '') {
      throw new TypeError('cache.dashboard: a token is required ({ token }): it guards the data and purges')
    }
    const handler = createDashboard({ snapshot: () => snapshotOf(engine), invalidate }, mount)
    dashboards.add(handler)
    return handler
  }
  // Made now, not on first use: the first response built from a value must be tracked too.
  const values = new Values(engine)
  const v = (): Values => values
  return {
    engine,
    wrap: (key, loader, opts) => v().wrap(key, loader, opts),
    get: (key, opts) => v().get(key, opts),
    set: (key, value, opts) => v().set(key, value, opts),
    delete: key => v().delete(key),
    warmValues: (items, opts) => v().warm(items, opts?.concurrency),
    express: route => expressMiddleware(engine, resolveRoute(settings, route)),
    koa: route => koaMiddleware(engine, resolveRoute(settings, route)),
    invalidate,
    dashboard,
    koaDashboard: ({ prefix, ...mount }) => koaDashboard(dashboard(mount), prefix),
    warm: ((what: Iterable<string> | ValueWarmItem[], opts?: WarmUrlOptions) => {
      // Values come as { key, loader } objects; anything else is a list of URLs.
      if (Array.isArray(what) && what.length > 0 && typeof what[0] === 'object') return values.warm(what as ValueWarmItem[], opts?.concurrency)
      return warm(what as Iterable<string>, opts)
    }) as Cache['warm'],
    stats: () => engine.stats(),
    close: () => { values?.close(); for (const d of dashboards) d.close(); return engine.close() },
  }
}
