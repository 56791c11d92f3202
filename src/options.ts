/**
 * Every public option, its default, and its parsing, in one place. Durations and sizes are
 * parsed here once (units.ts); the engine only ever sees milliseconds and bytes.
 */
import type { IncomingMessage } from 'node:http'
import { pino } from 'pino'
import { parseDuration, parseSize, OptionError, type Duration, type Size } from './units.js'
import { planKey, type KeyOptions, type KeyPlan } from './key.js'
import type { PolicyRules } from './policy.js'

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
   * the heuristically cacheable statuses only (200, 203, 204, 300, 301, 308, 404, 405, 410,
   * 414, 501). `null`: none; only the origin's headers and heuristic freshness (§4.2.2) count.
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
  /** How long concurrent misses wait for the first one before going to the origin themselves. */
  lockTimeout?: Duration
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
} as const

/** The cache-wide settings, parsed. */
export interface Settings {
  namespace: string
  maxBytes: number
  maxObjectSize: number
  lockTimeout: number
  keep: number
  tagHeaders: string[]
  cacheStatus: string
  logger: Logger
  /** The default route, from the cache-wide options. */
  route: Route
  options: CacheOptions
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
    keep: parseDuration(options.keep ?? DEFAULTS.keep, 'keep'),
    tagHeaders: (options.tagHeaders ?? DEFAULTS.tagHeaders).map(h => h.toLowerCase()),
    cacheStatus: options.cacheStatus ?? DEFAULTS.cacheStatus,
    logger: options.logger ?? pino({ name: 'cachefront', level: process.env.CACHEFRONT_LOG_LEVEL ?? 'warn' }),
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

function optionalDuration (value: Duration | null, field: string): number | undefined {
  return value === null ? undefined : parseDuration(value, field)
}

export type { IncomingMessage }
