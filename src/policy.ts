/**
 * HTTP caching policy (RFC 9111, RFC 5861, RFC 9213) as pure functions: which requests may be
 * answered from the cache, which responses may be stored, how long they stay fresh, and what
 * a stored response may be used for now. No I/O, no clock: time is passed in.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { parseCacheControl, parseDeltaSeconds, DELTA_SECONDS_MAX, type CacheControl } from './cache-control.js'
import { parseVary, VARY_STAR } from './vary.js'

/** Response headers as the engine sees them: lower-case names, Node's value shapes. */
export type ResponseHeaders = OutgoingHttpHeaders | IncomingHttpHeaders

/** The per-route rules that bear on policy (already parsed: durations in ms). */
export interface PolicyRules {
  /** Freshness for responses without explicit freshness (heuristically cacheable statuses below 400 only). */
  ttl?: number
  /** Let `ttl` win over the origin's explicit freshness (never over no-store/private/Set-Cookie/Authorization). */
  override: boolean
  /** A default stale-while-revalidate window (ms) when the response gives none. */
  staleWhileRevalidate: number
  /** A default stale-if-error window (ms) when the response gives none. */
  staleIfError: number
  /** Store responses that set cookies (the cookies are never replayed from the cache). */
  allowSetCookie: boolean
  /** Answer and store requests carrying Authorization from the shared cache. */
  allowAuthorization: boolean
  /** Heuristic freshness (§4.2.2) from Last-Modified: this fraction of the time since it... */
  heuristicFraction: number
  /** ...capped at this many ms. */
  heuristicMax: number
  /** Targeted fields (RFC 9213) that replace Cache-Control for this cache when present. */
  targeted: readonly string[]
  /** Random extension (0..jitter) of cache-assigned lifetimes, so entries written together don't expire together. */
  jitter: number
}

/** Statuses that may be given freshness by a heuristic or a route ttl (RFC 9110 §15.1). */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])

/** Methods whose responses this cache stores (§3: "the request method is understood by the cache"). */
export function isCacheableMethod (method: string): boolean {
  return method === 'GET' || method === 'HEAD'
}

/** Methods that are safe (RFC 9110 §9.2.1): a response to any other invalidates (§4.4). */
export function isSafeMethod (method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE'
}

/**
 * Final statuses the cache understands well enough to store (§3). 206 is left out because this
 * cache stores only complete responses (§3.3); 304 is an answer to the cache's own validation,
 * not a response to store; 1xx are interim.
 */
export function isUnderstoodStatus (status: number): boolean {
  return status >= 200 && status <= 599 && status !== 206 && status !== 304
}

/** The directives this cache obeys: a targeted field (RFC 9213 §2.2) when present, else Cache-Control. */
export function effectiveDirectives (headers: ResponseHeaders, targeted: readonly string[]): CacheControl {
  for (const field of targeted) {
    const value = headers[field]
    if (value !== undefined && value !== '') return parseCacheControl(String(value))
  }
  return parseCacheControl(headers['cache-control'] as string | string[] | undefined)
}

/** Why a response was not stored; reported in Cache-Status `detail`. */
export type NotStorable =
  | 'method' | 'status' | 'no-store' | 'private' | 'authorization' | 'set-cookie' | 'vary-star' | 'no-freshness'

/** A storable response's freshness and serving rules, all relative (ms). */
export interface Storable {
  /** Freshness lifetime in ms (§4.2.1); 0 for a response that must be revalidated before reuse. */
  lifetime: number
  /** corrected_initial_age (§4.2.3) in ms. */
  initialAge: number
  swr: number
  sie: number
  mustRevalidate: boolean
  noCache: boolean
  /** Vary names (sorted, lower-case) when the response varies. */
  vary?: string[]
  /** Header fields to drop before storing (qualified no-cache/private, Set-Cookie). */
  strip: string[]
}

export interface StorableInput {
  method: string
  status: number
  headers: ResponseHeaders
  /** Whether the request carried Authorization. */
  authorization: boolean
  /** The request's own directives. */
  request: CacheControl
  /** True when the key includes the user: the cache acts as a private cache (§3.5 does not apply; `private` is allowed). */
  privateCache: boolean
  /** Epoch ms the request was sent and the response received (§4.2.3). */
  requestTime: number
  responseTime: number
  rules: PolicyRules
  /** For jitter; injectable for tests. Defaults to Math.random. */
  random?: () => number
}

/**
 * RFC 9111 §3: may this response be stored, and with which freshness? Each rule is a guard
 * that returns its reason, in the order of §3's list.
 */
export function storability (input: StorableInput): Storable | NotStorable {
  const { method, status, headers, rules } = input
  if (!isCacheableMethod(method)) return 'method'
  if (!isUnderstoodStatus(status)) return 'status'
  // §5.2.1.5: the request's no-store forbids storing the response to it.
  if (input.request['no-store']) return 'no-store'
  const cc = effectiveDirectives(headers, rules.targeted)
  if (cc['no-store']) return 'no-store'
  const strip: string[] = []
  // §5.2.2.7: a shared cache must not store unqualified private; the qualified form only names
  // fields that must not be stored.
  if (cc.private === true && !input.privateCache) return 'private'
  if (Array.isArray(cc.private)) strip.push(...cc.private)
  if (Array.isArray(cc['no-cache'])) strip.push(...cc['no-cache'])

  // §3.5: a shared cache stores a response to an authenticated request only when told it may.
  if (input.authorization && !input.privateCache && !rules.allowAuthorization &&
      !cc.public && cc['s-maxage'] === undefined && !cc['must-revalidate']) return 'authorization'

  // A response that sets a cookie is usually personal; the origin can allow it by naming the
  // field in a qualified no-cache/private (then only the cookie is dropped), or the route can.
  if (headers['set-cookie'] !== undefined) {
    if (!rules.allowSetCookie && !strip.includes('set-cookie')) return 'set-cookie'
    strip.push('set-cookie')
  }

  const vary = parseVary(headers.vary as string | undefined)
  if (vary === VARY_STAR) return 'vary-star'

  const date = parseHttpDate(headers.date) ?? input.responseTime
  const explicit = explicitLifetime(cc, headers, date, input.privateCache)
  let lifetime: number
  // A lifetime the cache assigns (the route ttl, §4.2.2's heuristic) is never given to an error
  // (404, 405, 410, 414 and 501 are heuristically cacheable too, §15.1): a request that makes
  // the origin fail must not make the failure everyone's answer (cache-poisoned DoS). An error
  // is stored only with the origin's own explicit freshness.
  const heuristicStatus = HEURISTIC_STATUSES.has(status) && status < 400
  if (heuristicStatus && rules.ttl !== undefined && (explicit === undefined || rules.override)) {
    lifetime = jittered(rules.ttl, rules.jitter, input.random)
  } else if (explicit !== undefined) {
    lifetime = explicit
  } else if (heuristicStatus || cc.public) {
    // §4.2.2 heuristic freshness, or §3's "public" making any understood status storable.
    lifetime = heuristicStatus ? heuristicLifetime(headers, date, rules) : 0
  } else {
    return 'no-freshness'
  }
  // An unqualified no-cache response is stored but must be validated before every reuse.
  const noCache = cc['no-cache'] === true
  if (noCache) lifetime = 0

  return {
    lifetime,
    initialAge: correctedInitialAge(headers, date, input.requestTime, input.responseTime),
    swr: seconds(cc['stale-while-revalidate']) ?? rules.staleWhileRevalidate,
    sie: seconds(cc['stale-if-error']) ?? rules.staleIfError,
    // §5.2.2.10: s-maxage implies proxy-revalidate for a shared cache.
    mustRevalidate: !!cc['must-revalidate'] || (!input.privateCache && (!!cc['proxy-revalidate'] || cc['s-maxage'] !== undefined)),
    noCache,
    vary,
    strip,
  }
}

/**
 * §4.2.1: the explicit freshness lifetime in ms, or undefined when the response has none.
 * s-maxage (shared caches only) > max-age > Expires − Date. An invalid Expires (§5.3: "a cache
 * recipient MUST interpret invalid date formats, especially the value 0, as in the past") gives 0.
 */
export function explicitLifetime (cc: CacheControl, headers: ResponseHeaders, date: number, privateCache: boolean): number | undefined {
  if (!privateCache && cc['s-maxage'] !== undefined) return cc['s-maxage'] * 1000
  if (cc['max-age'] !== undefined) return cc['max-age'] * 1000
  const expires = headers.expires
  if (expires !== undefined) {
    const at = parseHttpDate(expires)
    return at === undefined ? 0 : Math.max(0, at - date)
  }
  return undefined
}

/**
 * §4.2.2: a fraction (typically 10 %) of the time since Last-Modified, capped; 0 without a
 * valid Last-Modified in the past.
 */
export function heuristicLifetime (headers: ResponseHeaders, date: number, rules: Pick<PolicyRules, 'heuristicFraction' | 'heuristicMax'>): number {
  const lm = parseHttpDate(headers['last-modified'])
  if (lm === undefined || lm >= date) return 0
  return Math.min(Math.floor((date - lm) * rules.heuristicFraction), rules.heuristicMax)
}

/**
 * §4.2.3 corrected_initial_age, in ms: the larger of the apparent age (response_time − Date)
 * and the Age field corrected for the request's round trip.
 */
export function correctedInitialAge (headers: ResponseHeaders, date: number, requestTime: number, responseTime: number): number {
  // Date has one-second resolution: a response sent 0.9 s into a second is not 0.9 s old.
  // Whole seconds keep sub-second lifetimes meaningful (and Age is in seconds anyway, §5.1).
  const apparent = Math.max(0, Math.floor((responseTime - date) / 1000) * 1000)
  const age = parseAge(headers.age)
  const corrected = (age ?? 0) * 1000 + Math.max(0, responseTime - requestTime)
  return Math.max(apparent, corrected)
}

/**
 * §5.1 Age: a list uses its first member; an invalid value (anything but a non-negative integer)
 * is ignored; an overflow is taken as 2^31.
 */
export function parseAge (value: unknown): number | undefined {
  if (value === undefined) return undefined
  const text = Array.isArray(value) ? String(value[0]) : String(value)
  const first = text.split(',')[0].trim()
  return parseDeltaSeconds(first)
}

/**
 * HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms, all in
 * UTC whatever the process's time zone (asctime carries no zone; Date.parse would read it as
 * local time). Undefined when invalid. A list (repeated Expires lines) uses its first member.
 */
export function parseHttpDate (value: unknown): number | undefined {
  if (value === undefined) return undefined
  const text = (Array.isArray(value) ? String(value[0]) : String(value)).trim()
  let m = IMF_FIXDATE.exec(text)
  if (m !== null) return utc(m[3], m[2], m[1], m[4], m[5], m[6])
  m = RFC850_DATE.exec(text)
  if (m !== null) {
    // Two-digit years: the RFC 850 convention of the time (00-49 → 20xx).
    const yy = Number(m[3])
    const year = m[3].length === 4 ? yy : yy < 50 ? 2000 + yy : 1900 + yy
    return utc(String(year), m[2], m[1], m[4], m[5], m[6])
  }
  m = ASCTIME_DATE.exec(text)
  if (m !== null) return utc(m[6], m[1], m[2], m[3], m[4], m[5])
  return undefined
}

// Strict in shape, lenient in the details real servers get wrong (a one-digit day, a long day
// name, "UTC" for "GMT", a four-digit year in the RFC 850 form), never in the zone.
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)'
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})'
const IMF_FIXDATE = new RegExp(`^${DAY}[a-z]*, (\\d{1,2}) ${MONTH} (\\d{4}) ${TIME} (?:GMT|UTC)$`, 'i')
const RFC850_DATE = new RegExp(`^${DAY}[a-z]*, (\\d{1,2})-${MONTH}-(\\d{2}|\\d{4}) ${TIME} (?:GMT|UTC)$`, 'i')
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{1,2}) ${TIME} (\\d{4})$`, 'i')
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']

/** Epoch ms of a calendar date in UTC, or undefined when a field is out of range (31 Feb, 25:00). */
function utc (year: string, month: string, day: string, hour: string, minute: string, second: string): number | undefined {
  const y = Number(year)
  const mo = MONTHS.indexOf(month.toLowerCase())
  const d = Number(day)
  const h = Number(hour)
  const mi = Number(minute)
  const s = Number(second)
  if (h > 23 || mi > 59 || s > 60) return undefined
  const t = Date.UTC(y, mo, d, h, mi, Math.min(s, 59)) // a leap second reads as :59
  return new Date(t).getUTCDate() === d ? t : undefined
}

function seconds (s: number | undefined): number | undefined {
  return s === undefined ? undefined : s * 1000
}

function jittered (ms: number, jitter: number, random: () => number = Math.random): number {
  return jitter > 0 ? Math.round(ms * (1 + random() * jitter)) : ms
}

/**
 * What a stored response may be used for, given the request's directives and the time
 * (§4.2, §4.3, §5.2.1, RFC 5861):
 * - `fresh`: serve it.
 * - `stale-ok`: stale, but the client accepts it (max-stale) and the response allows it.
 * - `swr`: stale within stale-while-revalidate: serve it and refresh in the background.
 * - `revalidate`: must be validated with the origin first (it has a validator).
 * - `miss`: unusable without a full response (kept only for stale-if-error).
 */
export type Usability = 'fresh' | 'stale-ok' | 'swr' | 'revalidate' | 'miss'

/** What `usability` needs to know of an entry: all absolute ms. */
export interface Freshness {
  responseTime: number
  initialAge: number
  staleAt: number
  swr: number
  mustRevalidate: boolean
  noCache: boolean
  /** The origin gave a validator (§4.3.1), so a stale entry can be revalidated. */
  validator: boolean
}

export function usability (entry: Freshness, request: CacheControl, now: number): Usability {
  const unvalidated: Usability = entry.validator ? 'revalidate' : 'miss'
  // §5.2.1.4: request no-cache (and Pragma: no-cache, §5.4) forbids reuse without validation.
  if (request['no-cache']) return unvalidated
  const age = entry.initialAge + (now - entry.responseTime)
  if (request['max-age'] !== undefined && age > request['max-age'] * 1000) return unvalidated
  const remaining = entry.staleAt - now
  if (request['min-fresh'] !== undefined && remaining < request['min-fresh'] * 1000) return unvalidated
  if (remaining > 0) return 'fresh'
  // Stale from here: must-revalidate and no-cache forbid any stale use (§4.2.4, §5.2.2.2).
  if (entry.mustRevalidate || entry.noCache) return unvalidated
  if (request['max-stale'] !== undefined && -remaining <= request['max-stale'] * 1000) return 'stale-ok'
  if (-remaining < entry.swr) return 'swr'
  return unvalidated
}

/** RFC 5861 §4: may this stale entry stand in for an origin error now? */
export function usableOnError (entry: Freshness & { sie: number }, request: CacheControl, now: number): boolean {
  if (entry.mustRevalidate || entry.noCache) return false
  const staleFor = now - entry.staleAt
  const allowed = Math.max(entry.sie, (request['stale-if-error'] ?? 0) * 1000)
  return staleFor < allowed || staleFor <= 0
}

/** RFC 5861 §4: the statuses that count as an error for stale-if-error (plus no answer at all). */
export function isErrorStatus (status: number): boolean {
  return status === 500 || status === 502 || status === 503 || status === 504
}

/** The request's directives, with Pragma: no-cache honoured when there is no Cache-Control (§5.4). */
export function requestDirectives (headers: IncomingHttpHeaders): CacheControl {
  const cc = headers['cache-control']
  if (cc !== undefined) return parseCacheControl(cc)
  const pragma = headers.pragma
  if (pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)) return PRAGMA_NO_CACHE
  return NO_DIRECTIVES
}

const NO_DIRECTIVES: CacheControl = parseCacheControl(undefined)
const PRAGMA_NO_CACHE: CacheControl = Object.freeze({ 'no-cache': true }) as CacheControl

export { DELTA_SECONDS_MAX }
