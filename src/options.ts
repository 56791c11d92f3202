/**
 * Every public option, its default, and its parsing, in one place. Durations and sizes are
 * parsed here once (units.ts); the engine only ever sees milliseconds and bytes.
 */
import type { IncomingMessage } from 'node:http'
import { pino } from 'pino'
import { parseDuration, parseSize, OptionError, type Duration, type Size } from './units.js'
import { planKey, type KeyOptions, type KeyPlan } from './key.js'
import type { PolicyRules } from './policy.js'
import type { RedisConnection, RedisStoreOptions } from './l2.js'

/** A pino-compatible logger: the cache logs each degraded state once, when it changes. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** Tags for a response: fixed names, or computed from the request and the response. */
export type TagsOption = string[] | ((req: any, res: any) => string[] | undefined)

/** Options of `createCache`. Every field is optional; defaults are in `DEFAULTS` below. */
export interface CacheOptions {
  /** Prefixes every key, so several caches can share one Redis. */
  namespace?: string
  /**
   * Freshness for responses that give none themselves (no max-age, s-maxage or Expires), for
   * the heuristically cacheable statuses that are not errors only (200, 203, 204, 300, 301, 308;
   * never 4xx or 5xx). `null`: none; only the origin's headers and heuristic freshness (§4.2.2) count.
   */
  ttl?: Duration | null
  /** Let `ttl` win over the origin's freshness (never over no-store, private, Set-Cookie, Authorization). */
  override?: boolean
  /** How keys are built: the user, ignored query parameters, extra headers. */
  key?: KeyOptions
  /** The in-memory tier. */
  l1?: {
    /** Upper bound of memory held by entries (body and headers). */
    maxBytes?: Size
    /** Larger responses stream through and are not stored. */
    maxObjectSize?: Size
  }
  /**
   * How long concurrent misses wait for the first one before going to the origin themselves;
   * with `redis`, also how long a cross-instance lock lives (a crashed leader's expires then).
   */
  lockTimeout?: Duration
  /**
   * How long the cache remembers that a URL's response could not be stored (Varnish's
   * hit-for-miss). Meanwhile its requests go straight to the origin: they do not wait for a
   * concurrent request's response, take no cross-instance lock and skip the L2 lookup. The first
   * storable response is stored as usual and ends it. Server errors (5xx) and a request's own
   * `no-store` are not remembered. 0: off (every miss is coalesced).
   */
  hitForMiss?: Duration
  /**
   * The shared tier (L2): one Redis or Redis Cluster for every instance of the application. A
   * URL (`redis[s]://[[user][:password]@]host[:port][/db]`) or the options below. Absent: L1 only.
   * See the README's "Redis tier".
   */
  redis?: string | RedisOptions
  /** Random extension (0 to this fraction) of cache-assigned lifetimes. */
  jitter?: number
  /** Default stale-while-revalidate window (RFC 5861) when the response gives none. */
  staleWhileRevalidate?: Duration
  /** Default stale-if-error window (RFC 5861) when the response gives none. */
  staleIfError?: Duration
  /** How long a stale entry with a validator is kept, to be revalidated with a 304 instead of refetched. */
  keep?: Duration
  /** Store responses that set cookies (the cookies themselves are never stored or replayed). */
  allowSetCookie?: boolean
  /** Answer requests carrying Authorization from the shared cache, and store the responses. */
  allowAuthorization?: boolean
  /** Heuristic freshness for responses with Last-Modified and no explicit freshness (§4.2.2). */
  heuristic?: { fraction?: number, max?: Duration }
  /** Targeted cache-control fields (RFC 9213) obeyed instead of Cache-Control, and not forwarded. */
  targeted?: string[]
  /** Response headers carrying tags (space- or comma-separated); consumed, not forwarded. */
  tagHeaders?: string[]
  /** The cache's name in Cache-Status (RFC 9211). */
  cacheStatus?: string
  /** Where degraded states are reported. Default: pino at level `warn` on stderr. */
  logger?: Logger
  /**
   * Track which values (`cache.wrap`) each response read, so purging a value's tag (or deleting
   * the value) purges the responses built from it. Off by default: it runs each miss in an
   * AsyncLocalStorage scope, and on Node 20 that turns on async hooks for the whole process,
   * which costs every promise, hits included (about 6 % of a Koa hit's CPU in `npm run bench`).
   */
  dependencies?: boolean
}

/** Options of `createCache({ redis })`. */
export interface RedisOptions {
  /** A single Redis. Default `redis://127.0.0.1:6379` (unless `cluster` or `client` is given). */
  url?: string
  /** A Redis Cluster, from one or more of its nodes: `{ rootNodes: [{ url: 'redis://10.0.0.1:7000' }] }`. */
  cluster?: RedisStoreOptions['cluster']
  /**
   * A node-redis client or cluster you built (`createClient`/`createCluster` from `redis` or
   * `@keyv/redis`). It is yours: cachefront connects it if needed but never closes it. Turn its
   * offline queue off (`disableOfflineQueue: true`) so nothing waits for a reconnect.
   */
  client?: RedisConnection
  /** Upper bound of every Redis command; a slower answer is a miss (or a skipped write). Default 250ms. */
  commandTimeout?: Duration
  /** Upper bound for establishing a connection. Default 1s. */
  connectTimeout?: Duration
  /** Bodies larger than this are stored brotli-compressed. Default 1kb. */
  compressAbove?: Size
  /** After `threshold` consecutive failures (default 5), Redis is left alone for `coolDown` (default 5s), then probed. */
  breaker?: { threshold?: number, coolDown?: Duration }
  /** Coalesce misses across instances with a Redis lock (default true); false: per instance only. */
  coalesce?: boolean
  /** While waiting for another instance's response, how often to check its lock in case a notice was lost. Default 200ms. */
  lockPoll?: Duration
}

/** Options of one route (`cache.express(route)`, `cache.koa(route)`, a proxy rule). */
export interface RouteOptions {
  /** Overrides the cache's `ttl` for this route. */
  ttl?: Duration | null
  override?: boolean
  staleWhileRevalidate?: Duration
  staleIfError?: Duration
  /** Tags this route's responses answer to, for `invalidate({ tag })`. */
  tags?: TagsOption
  /** Never look up or store: pass every request to the origin. */
  bypass?: boolean
  /** Overrides the cache's key options for this route (merged field by field). */
  key?: KeyOptions
  allowSetCookie?: boolean
  allowAuthorization?: boolean
}

/** The defaults, stated once. */
export const DEFAULTS = {
  namespace: 'cachefront',
  ttl: '1m',
  override: false,
  maxBytes: '64MB',
  maxObjectSize: '1MB',
  lockTimeout: '10s',
  hitForMiss: '2m',
  jitter: 0.1,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  keep: '1h',
  allowSetCookie: false,
  allowAuthorization: false,
  heuristicFraction: 0.1,
  heuristicMax: '1d',
  targeted: ['cdn-cache-control', 'surrogate-control'],
  tagHeaders: ['surrogate-key', 'cache-tag'],
  cacheStatus: 'cachefront',
  dependencies: false,
  redis: {
    url: 'redis://127.0.0.1:6379',
    commandTimeout: '250ms',
    connectTimeout: '1s',
    compressAbove: '1kb',
    breakerThreshold: 5,
    breakerCoolDown: '5s',
    coalesce: true,
    lockPoll: '200ms',
  },
} as const

/** The cache-wide settings, parsed. */
export interface Settings {
  namespace: string
  maxBytes: number
  maxObjectSize: number
  lockTimeout: number
  hitForMiss: number
  keep: number
  tagHeaders: string[]
  cacheStatus: string
  dependencies: boolean
  logger: Logger
  /** The Redis tier, parsed; undefined without one. */
  redis?: RedisSettings
  /** The default route, from the cache-wide options. */
  route: Route
  options: CacheOptions
}

/** `RedisOptions`, parsed: durations in ms, sizes in bytes. Exactly one of url, cluster, client is set. */
export interface RedisSettings {
  url?: string
  cluster?: RedisStoreOptions['cluster']
  client?: RedisConnection
  commandTimeout: number
  connectTimeout: number
  compressAbove: number
  breaker: { threshold: number, coolDownMs: number }
  coalesce: boolean
  lockPoll: number
}

/** One route's settings, parsed once when the middleware is created. */
export interface Route {
  rules: PolicyRules
  key: KeyPlan
  user?: KeyOptions['user']
  tags?: TagsOption
  bypass: boolean
}

export function resolveSettings (options: CacheOptions = {}): Settings {
  const namespace = options.namespace ?? DEFAULTS.namespace
  if (typeof namespace !== 'string' || namespace === '') throw new OptionError('namespace', 'a non-empty string', namespace)
  const jitter = options.jitter ?? DEFAULTS.jitter
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) throw new OptionError('jitter', 'a number from 0 to 1', jitter)
  const fraction = options.heuristic?.fraction ?? DEFAULTS.heuristicFraction
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) throw new OptionError('heuristic.fraction', 'a number from 0 to 1', fraction)
  const base: PolicyRules = {
    ttl: optionalDuration(options.ttl === undefined ? DEFAULTS.ttl : options.ttl, 'ttl'),
    override: options.override ?? DEFAULTS.override,
    staleWhileRevalidate: parseDuration(options.staleWhileRevalidate ?? DEFAULTS.staleWhileRevalidate, 'staleWhileRevalidate'),
    staleIfError: parseDuration(options.staleIfError ?? DEFAULTS.staleIfError, 'staleIfError'),
    allowSetCookie: options.allowSetCookie ?? DEFAULTS.allowSetCookie,
    allowAuthorization: options.allowAuthorization ?? DEFAULTS.allowAuthorization,
    heuristicFraction: fraction,
    heuristicMax: parseDuration(options.heuristic?.max ?? DEFAULTS.heuristicMax, 'heuristic.max'),
    targeted: (options.targeted ?? DEFAULTS.targeted).map(f => f.toLowerCase()),
    jitter,
  }
  return {
    namespace,
    maxBytes: parseSize(options.l1?.maxBytes ?? DEFAULTS.maxBytes, 'l1.maxBytes'),
    maxObjectSize: parseSize(options.l1?.maxObjectSize ?? DEFAULTS.maxObjectSize, 'l1.maxObjectSize'),
    lockTimeout: parseDuration(options.lockTimeout ?? DEFAULTS.lockTimeout, 'lockTimeout'),
    hitForMiss: parseDuration(options.hitForMiss ?? DEFAULTS.hitForMiss, 'hitForMiss'),
    keep: parseDuration(options.keep ?? DEFAULTS.keep, 'keep'),
    tagHeaders: (options.tagHeaders ?? DEFAULTS.tagHeaders).map(h => h.toLowerCase()),
    cacheStatus: options.cacheStatus ?? DEFAULTS.cacheStatus,
    dependencies: options.dependencies ?? DEFAULTS.dependencies,
    logger: options.logger ?? pino({ name: 'cachefront', level: process.env.CACHEFRONT_LOG_LEVEL ?? 'warn' }),
    redis: resolveRedis(options.redis),
    route: { rules: base, key: planKey(options.key), user: options.key?.user, bypass: false },
    options,
  }
}

/** A route's settings: the cache's, with the route's options laid over them. */
export function resolveRoute (settings: Settings, route: RouteOptions = {}): Route {
  const base = settings.route
  const rules: PolicyRules = {
    ...base.rules,
    ttl: route.ttl === undefined ? base.rules.ttl : optionalDuration(route.ttl, 'route.ttl'),
    override: route.override ?? base.rules.override,
    staleWhileRevalidate: route.staleWhileRevalidate === undefined ? base.rules.staleWhileRevalidate : parseDuration(route.staleWhileRevalidate, 'route.staleWhileRevalidate'),
    staleIfError: route.staleIfError === undefined ? base.rules.staleIfError : parseDuration(route.staleIfError, 'route.staleIfError'),
    allowSetCookie: route.allowSetCookie ?? base.rules.allowSetCookie,
    allowAuthorization: route.allowAuthorization ?? base.rules.allowAuthorization,
  }
  if (route.tags !== undefined && !Array.isArray(route.tags) && typeof route.tags !== 'function') {
    throw new OptionError('route.tags', 'an array of strings or a function (req, res) => string[]', route.tags)
  }
  const keyOptions = route.key ? { ...settings.options.key, ...route.key } : settings.options.key
  return {
    rules,
    key: route.key ? planKey(keyOptions) : base.key,
    user: keyOptions?.user,
    tags: route.tags,
    bypass: route.bypass ?? false,
  }
}

function resolveRedis (value: CacheOptions['redis']): RedisSettings | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' && (value === null || typeof value !== 'object')) {
    throw new OptionError('redis', "a URL such as 'redis://127.0.0.1:6379', or { url | cluster | client, ... }", value)
  }
  const o: RedisOptions = typeof value === 'string' ? { url: value } : value
  const given = (['url', 'cluster', 'client'] as const).filter(k => o[k] !== undefined)
  if (given.length > 1) throw new OptionError('redis', `one of url, cluster, client (got ${given.join(', ')})`, given)
  if (o.url !== undefined && (typeof o.url !== 'string' || !/^rediss?:\/\//.test(o.url))) {
    throw new OptionError('redis.url', 'a redis:// or rediss:// URL', o.url)
  }
  if (o.cluster !== undefined && !(Array.isArray(o.cluster.rootNodes) && o.cluster.rootNodes.length > 0)) {
    throw new OptionError('redis.cluster.rootNodes', 'a non-empty array of { url }', o.cluster.rootNodes)
  }
  const d = DEFAULTS.redis
  const threshold = o.breaker?.threshold ?? d.breakerThreshold
  if (!Number.isInteger(threshold) || threshold < 1) throw new OptionError('redis.breaker.threshold', 'a whole number >= 1', threshold)
  const positive = (v: Duration, field: string): number => {
    const n = parseDuration(v, field)
    if (n <= 0) throw new OptionError(field, 'a duration above 0', v)
    return n
  }
  return {
    url: given.length === 0 ? d.url : o.url,
    cluster: o.cluster,
    client: o.client,
    commandTimeout: positive(o.commandTimeout ?? d.commandTimeout, 'redis.commandTimeout'),
    connectTimeout: positive(o.connectTimeout ?? d.connectTimeout, 'redis.connectTimeout'),
    compressAbove: parseSize(o.compressAbove ?? d.compressAbove, 'redis.compressAbove'),
    breaker: { threshold, coolDownMs: parseDuration(o.breaker?.coolDown ?? d.breakerCoolDown, 'redis.breaker.coolDown') },
    coalesce: o.coalesce ?? d.coalesce,
    lockPoll: positive(o.lockPoll ?? d.lockPoll, 'redis.lockPoll'),
  }
}

function optionalDuration (value: Duration | null, field: string): number | undefined {
  return value === null ? undefined : parseDuration(value, field)
}

export type { IncomingMessage }
