/**
 * The engine: one request, one way through (DESIGN.md). Adapters (Express, Koa, the proxy)
 * translate their framework into `handle(req, res, route, origin, ctx)` and give the engine an
 * `Origin` that runs the handler or forwards upstream; they never decide anything themselves.
 *
 *   bypass? → look up (primary, then variant) → classify → hit | stale hit + refresh |
 *   revalidate | miss → coalesce → origin → policy → store → write
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { AsyncLocalStorage } from 'node:async_hooks'
import fresh from 'fresh'
import type { Entry, Stored } from './entry.js'
import { Coalescer, type Flight } from './coalesce.js'
import { remembersUncacheable, UncacheableKeys } from './uncacheable.js'
import { primaryKey, resourceOf, userOf } from './key.js'
import { Metrics, type Stats } from './metrics.js'
import { Activity } from './activity.js'
import type { Route, Settings } from './options.js'
import {
  effectiveDirectives, explicitLifetime, isCacheableMethod, isErrorStatus, isSafeMethod, requestDirectives, storability, usability, usableOnError,
  type NotStorable, type ResponseHeaders, type Storable,
} from './policy.js'
import type { CacheControl } from './cache-control.js'
import { freshenedHeaders, recordEntry, recordVary } from './record.js'
import { ClientAbortedError } from './errors.js'
import type { Held } from './lock.js'
import type { RedisTier } from './redis.js'
import type { TieredStore } from './tiered.js'
import { variantSuffix } from './vary.js'
import { writeEntry, type ClientOut } from './writer.js'

/** What the engine asks the origin for. */
export interface OriginCall {
  /** The request headers to send: the client's, without its conditionals, with the cache's validators when revalidating. */
  headers: IncomingHttpHeaders
  /** No client waits for this call (a background refresh): nothing may be written to a client. */
  detached: boolean
}

/** Writes the cache's own answer to the client, in place of the origin's response. */
export type Answer = (out: ClientOut) => void

/** The engine's verdict on the origin's response head. */
export interface HeadDecision {
  /** Pass the response on to the client (after the edits below); false: swallow it and call `answer`. */
  forward: boolean
  /** Header fields to remove before forwarding. */
  remove: readonly string[]
  /** Header fields to set before forwarding, as `[name, value, name, value, ...]`. */
  add: readonly string[]
  /** When `forward` is false: how the cache answers the client instead. */
  answer?: Answer
}

/**
 * Where an adapter reports the origin's response: `head` once, `data` per chunk, then `end`
 * (complete) or `error` (no response, or a truncated one).
 */
export interface Sink {
  head(status: number, headers: OutgoingHttpHeaders): HeadDecision
  data(chunk: Buffer): void
  end(): void
  /** Returns how the cache answers instead (stale-if-error) when it can; undefined leaves the error to the adapter. */
  error(err: Error): Answer | undefined
}

/** What an adapter gives the engine: a way to reach the origin. `C` is the adapter's per-request context. */
export interface Origin<C> {
  /** Runs the origin for this client: the response streams to `res` as the sink's decisions say. */
  forward(req: IncomingMessage, res: ServerResponse, ctx: C, call: OriginCall, sink: Sink): void
  /** Runs the origin with no client (background refresh). */
  detached(req: IncomingMessage, ctx: C, call: OriginCall, sink: Sink): void
}

/** What `invalidate` accepts: exactly one of these. */
export type Invalidation =
  | { url: string }
  | { key: string }
  | { tag: string }
  | { prefix: string }
  | { all: true }

/** A waiter's share of a flight: the entry, and the variant it was stored for. */
interface Outcome { entry: Entry, variant: string }

/** A flight that also holds the cross-instance lock: settling it releases the lock (after the L2 write, if any). */
class LockedFlight implements Flight<Outcome> {
  constructor (private readonly flight: Flight<Outcome>, private readonly lock: Held, private readonly t: Txn<unknown>) {}

  settle (outcome: Outcome | undefined): void {
    this.flight.settle(outcome)
    this.lock.release(outcome === undefined ? undefined : this.t.written)
  }
}

/**
 * One request on the slow path (anything but a plain L1 hit).
 *
 * Built with `new`, not as an object literal. V8 may decide to allocate the objects of a literal
 * site in the old generation from the start (allocation-site pretenuring), and on this path it
 * did, for literals made once per request. An old object that points at the request's young
 * objects keeps them alive through every minor collection until the next full one, so each
 * miss's whole graph (request, response, handler context) was promoted. Measured on a Koa miss:
 * 4.6 KB promoted per request with literals here, in Capture, in the Koa exchange and in the
 * coalescer's flights; 0.5 KB with classes and shared empty values (BENCHMARKS.md). V8 tracks
 * allocation sites, and so pretenures, for literals, not for objects made with `new`.
 */
class Txn<C> {
  /** The client's request headers as they arrived (adapters may hand the origin others). */
  readonly headers: IncomingHttpHeaders
  /** The request's variant suffix once known ('' when the response does not vary). */
  variant = ''
  /** Tags of the values (`cache.wrap`) read while this response was produced. */
  deps: Set<string> | undefined = undefined
  /** Settles when what `commit` stored is in L2 (a cross-instance lock is released after it). */
  written: Promise<void> | undefined = undefined

  constructor (
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: Route,
    readonly origin: Origin<C>,
    readonly ctx: C,
    readonly method: string,
    readonly key: string,
    readonly resource: string,
    /** Whose response this is; undefined for a shared one. Keyed per user, the cache acts as a private cache. */
    readonly user: string | undefined,
    readonly cc: CacheControl,
  ) {
    this.headers = req.headers
  }
}

const NONE: readonly string[] = []
/**
 * Capture's values before a response is being stored (see Txn for why not literals).
 * Frozen: a push outside store mode throws rather than share chunks across responses.
 */
const NO_CHUNKS = Object.freeze([]) as readonly Buffer[] as Buffer[]
const NO_HEADERS: OutgoingHttpHeaders = Object.freeze({})

/** The request headers the cache owns: a miss fetches the full response and answers conditionals itself. */
const CLIENT_CONDITIONALS = ['if-none-match', 'if-modified-since']

export class Engine {
  readonly metrics = new Metrics()
  /** Recent activity for the dashboard: per-second counts, top paths, origin latency, purges. */
  readonly activity = new Activity(this.metrics)
  private readonly coalescer: Coalescer<Outcome>
  /** Hit-for-miss: keys whose last response could not be stored, sent straight to the origin. */
  private readonly uncacheable: UncacheableKeys
  private readonly refreshing = new Set<string>()
  /**
   * Set by the values API unless `dependencies: false`: origins then run inside a scope that
   * collects the tags of the values they read, and responses are stored with those tags.
   */
  dependencies: AsyncLocalStorage<Set<string>> | undefined
  /** Degraded paths currently failing, each logged once when it started. */
  private readonly failing = new Set<string>()
  private readonly cs: ReturnType<typeof cacheStatusValues>
  /** Response fields the cache consumes and never forwards (targeted Cache-Control, tag headers). */
  private readonly consumed: string[]

  constructor (readonly settings: Settings, readonly store: TieredStore, readonly redis?: RedisTier) {
    this.coalescer = new Coalescer(settings.lockTimeout)
    this.uncacheable = new UncacheableKeys(settings.hitForMiss)
    this.cs = cacheStatusValues(settings.cacheStatus)
    this.consumed = [...settings.route.rules.targeted, ...settings.tagHeaders]
  }

  /** Handles one request; resolves once the client has an answer or the origin has the request. */
  handle<C> (req: IncomingMessage, res: ServerResponse, route: Route, origin: Origin<C>, ctx: C): void | Promise<void> {
    const method = req.method ?? 'GET'
    if (!isCacheableMethod(method)) return this.pass(req, res, route, origin, ctx, method)
    if (route.bypass) return this.bypass(req, res, origin, ctx, this.cs.bypassRoute)
    // RFC 9110 §9.3.1: content in a GET has no defined meaning, and keys do not include it; an
    // origin that reads it would answer what the key does not say ("fat GET" cache poisoning).
    if (hasContent(req.headers)) return this.bypass(req, res, origin, ctx, this.cs.bypassContent)
    const user = userOf(route.user, req)
    const resource = resourceOf(urlOf(req), route.key.ignore)
    const key = primaryKey(this.settings.namespace, method, resource, user, route.key, req.headers)
    const cc = requestDirectives(req.headers)
    // §3.5 and Varnish's builtin rule: an authenticated request is not answered from the shared
    // cache unless the key says whose it is, or the route allows it; its response may be stored
    // if the origin marks it shareable.
    const authenticated = req.headers.authorization !== undefined && user === undefined && !route.rules.allowAuthorization
    const now = Date.now()
    const found = authenticated ? undefined : this.store.peek(key, now)
    // The hot path: a fresh L1 entry for a response without Vary. Nothing is allocated before it.
    if (found !== undefined && found.type === 'response' && found.vary === undefined) {
      if (usability(found, cc, now) === 'fresh') {
        this.metrics.hits++
        this.activity.hit(resource)
        writeEntry(res, found, req.headers, method === 'HEAD', 'HIT', this.cs.hit, now)
        return
      }
    }
    const t = new Txn(req, res, route, origin, ctx, method, key, resource, user, cc)
    if (authenticated) {
      this.metrics.bypassed++
      return this.forward(t, undefined, false, undefined, this.cs.bypassAuth)
    }
    return this.lookup(t, found)
  }

  private async lookup<C> (t: Txn<C>, found: Stored | undefined): Promise<void> {
    // A key remembered as uncacheable skips the L2 round trip: what another instance may have
    // stored meanwhile is found once this instance's own response is stored and ends the memory.
    // only-if-cached still looks: it can be answered from nothing else (§5.2.1.7).
    const skipL2 = found === undefined && !t.cc['only-if-cached'] && this.uncacheable.has(t.key, Date.now())
    let stored = found ?? (skipL2 ? undefined : await this.store.fetch(t.key))
    let varyMiss = false
    if (stored?.type === 'vary') {
      t.variant = variantSuffix(stored.vary, t.headers)
      const variantKey = t.key + t.variant
      stored = this.store.peek(variantKey) ?? await this.store.fetch(variantKey)
      if (stored?.type !== 'response') {
        stored = undefined
        varyMiss = true
      }
    }
    // A response key never holds a value record (their key spaces differ); anything else is a miss.
    const entry = stored?.type === 'response' ? stored : undefined
    const now = Date.now()
    if (entry !== undefined) {
      switch (usability(entry, t.cc, now)) {
        case 'fresh':
          this.metrics.hits++
          this.activity.hit(t.resource)
          return this.write(t, entry, 'HIT', this.cs.hit, now)
        case 'stale-ok':
          this.metrics.stale++
          return this.write(t, entry, 'STALE', this.cs.staleOk, now)
        case 'swr':
          this.metrics.stale++
          this.write(t, entry, 'STALE', this.cs.swr, now)
          return this.refresh(t, entry)
        case 'revalidate':
          if (t.cc['only-if-cached']) return this.gatewayTimeout(t)
          return this.fetch(t, entry, true)
        case 'miss':
          if (t.cc['only-if-cached']) return this.gatewayTimeout(t)
          return this.fetch(t, entry, false)
      }
    }
    // §5.2.1.7: only-if-cached with nothing stored is answered 504.
    if (t.cc['only-if-cached']) return this.gatewayTimeout(t)
    return this.fetch(t, undefined, false, varyMiss)
  }

  /** A miss or a revalidation: join the flight for this key, or lead it (across instances too, with Redis). */
  private async fetch<C> (t: Txn<C>, stale: Entry | undefined, conditional: boolean, varyMiss = false): Promise<void> {
    if (this.uncacheable.has(t.key, Date.now())) {
      this.metrics.hitForMiss++
      return this.forward(t, stale, conditional, undefined, undefined, varyMiss)
    }
    const waiting = this.coalescer.wait(t.key)
    if (waiting !== undefined) {
      const outcome = await waiting
      if (outcome !== undefined && this.selects(outcome, t)) {
        this.metrics.coalesced++
        this.metrics.hits++
        this.activity.hit(t.resource)
        return this.write(t, outcome.entry, 'HIT', this.cs.collapsed, Date.now())
      }
      // The leader's response was not stored for everyone, or was another variant: go yourself.
      return this.forward(t, stale, conditional, undefined, undefined, varyMiss)
    }
    const flight = this.coalescer.lead(t.key)
    // Across instances (with Redis): lead, or answer from what the instance leading stores.
    const shared = await this.redis?.locks?.lead(t.key, () => this.storedElsewhere(t))
    if (shared?.found !== undefined) {
      flight.settle({ entry: shared.found, variant: t.variant })
      this.metrics.coalesced++
      this.metrics.hits++
      this.activity.hit(t.resource)
      return this.write(t, shared.found, 'HIT', this.cs.collapsed, Date.now())
    }
    const lock = shared?.lock
    const led: Flight<Outcome> = lock === undefined ? flight : new LockedFlight(flight, lock, t)
    return this.forward(t, stale, conditional, led, undefined, varyMiss)
  }

  /**
   * The fresh entry another instance stored for this request (its variant), read from L2. The
   * lock's reads follow its SET NX or a notice, so they are new reads, never one sent before.
   */
  private async storedElsewhere (t: Txn<unknown>): Promise<Entry | undefined> {
    let stored = await this.store.fetch(t.key, true)
    if (stored?.type === 'vary') {
      t.variant = variantSuffix(stored.vary, t.headers)
      stored = await this.store.fetch(t.key + t.variant, true)
    }
    return stored?.type === 'response' && usability(stored, t.cc, Date.now()) === 'fresh' ? stored : undefined
  }

  /** Whether a flight's entry is the one this request would have selected (§4.1). */
  private selects (outcome: Outcome, t: Txn<unknown>): boolean {
    const vary = outcome.entry.vary
    if (vary === undefined) return true
    return variantSuffix(vary, t.headers) === outcome.variant
  }

  private forward<C> (
    t: Txn<C>,
    stale: Entry | undefined,
    conditional: boolean,
    flight: Flight<Outcome> | undefined,
    bypassStatus?: string,
    varyMiss = false,
  ): void {
    const capture = new Capture(this, t, stale, conditional, flight, false, bypassStatus, varyMiss)
    const call: OriginCall = { headers: originHeaders(t.headers, conditional ? stale : undefined), detached: false }
    try {
      if (this.dependencies === undefined) t.origin.forward(t.req, t.res, t.ctx, call, capture)
      else this.dependencies.run(t.deps = new Set(), () => t.origin.forward(t.req, t.res, t.ctx, call, capture))
    } catch (err) {
      capture.settle(undefined)
      throw err
    }
  }

  /** RFC 5861 §3: one background revalidation per stale entry, however many requests arrive. */
  private refresh<C> (t: Txn<C>, entry: Entry): void {
    const id = t.key + t.variant
    if (this.refreshing.has(id)) return
    this.refreshing.add(id)
    this.metrics.refreshes++
    const capture = new Capture(this, t, entry, entry.validator, undefined, true, undefined, false)
    capture.onDone = () => this.refreshing.delete(id)
    const call: OriginCall = { headers: originHeaders(t.headers, entry.validator ? entry : undefined), detached: true }
    try {
      if (this.dependencies === undefined) t.origin.detached(t.req, t.ctx, call, capture)
      else this.dependencies.run(t.deps = new Set(), () => t.origin.detached(t.req, t.ctx, call, capture))
    } catch (err) {
      capture.error(err as Error)
    }
  }

  /**
   * Methods the cache does not store: unsafe ones invalidate what they changed (§4.4). A POST
   * answered with explicit freshness and a Content-Location naming its own URI is the new state
   * of that resource (RFC 9110 §9.3.3): it is stored as the GET response instead (write-through).
   */
  private pass<C> (req: IncomingMessage, res: ServerResponse, route: Route, origin: Origin<C>, ctx: C, method: string): void {
    this.metrics.bypassed++
    const engine = this
    const unsafe = !isSafeMethod(method)
    const decision: HeadDecision = { forward: true, remove: NONE, add: ['cache-status', this.cs.method] }
    let capture: Capture | undefined
    origin.forward(req, res, ctx, { headers: req.headers, detached: false }, {
      head (status, headers) {
        if (!unsafe || status < 200 || status >= 400) return decision
        engine.invalidateAfterUnsafe(req, route, headers)
        if (method !== 'POST' || status >= 300) return decision
        const t = engine.writeThrough(req, res, route, origin, ctx, headers)
        if (t === undefined) return decision
        capture = new Capture(engine, t, undefined, false, undefined, true, undefined, false)
        capture.head(status, headers)
        return decision
      },
      data (chunk) { capture?.data(chunk) },
      end () { capture?.end() },
      error (err) { capture?.error(err); return undefined },
    })
  }

  /** The GET transaction a POST's answer is stored under, when §9.3.3 allows it; else undefined. */
  private writeThrough<C> (req: IncomingMessage, res: ServerResponse, route: Route, origin: Origin<C>, ctx: C, headers: ResponseHeaders): Txn<C> | undefined {
    const location = headers['content-location']
    if (typeof location !== 'string' || location === '') return undefined
    const url = urlOf(req)
    let target: URL
    try { target = new URL(location, `http://${req.headers.host ?? 'localhost'}${url}`) } catch { return undefined }
    if (target.host !== (req.headers.host ?? 'localhost')) return undefined
    const resource = resourceOf(url, route.key.ignore)
    if (resourceOf(target.pathname + target.search, route.key.ignore) !== resource) return undefined
    const user = userOf(route.user, req)
    const cc = effectiveDirectives(headers, route.rules.targeted)
    // Only the origin's own freshness makes a POST answer a GET response; a route ttl does not.
    if (explicitLifetime(cc, headers, Date.now(), user !== undefined) === undefined) return undefined
    const key = primaryKey(this.settings.namespace, 'GET', resource, user, route.key, req.headers)
    return new Txn(req, res, route, origin, ctx, 'GET', key, resource, user, requestDirectives(req.headers))
  }

  private bypass<C> (req: IncomingMessage, res: ServerResponse, origin: Origin<C>, ctx: C, status: string): void {
    this.metrics.bypassed++
    const decision: HeadDecision = { forward: true, remove: NONE, add: ['x-cache', 'BYPASS', 'cache-status', status] }
    origin.forward(req, res, ctx, { headers: req.headers, detached: false }, {
      head: () => decision,
      data () {},
      end () {},
      error: () => undefined,
    })
  }

  /**
   * §4.4: a non-error response to an unsafe method invalidates the target URI and the
   * Location and Content-Location URIs when they share its origin.
   */
  invalidateAfterUnsafe (req: IncomingMessage, route: Route, headers: ResponseHeaders): void {
    const host = req.headers.host ?? 'localhost'
    const url = urlOf(req)
    const base = `http://${host}${url}`
    const resources = new Set<string>([resourceOf(url, route.key.ignore)])
    for (const field of ['location', 'content-location']) {
      const value = headers[field]
      if (typeof value !== 'string' || value === '') continue
      let url: URL
      try { url = new URL(value, base) } catch { continue }
      if (url.host !== host) continue
      resources.add(resourceOf(url.pathname + url.search, route.key.ignore))
    }
    for (const resource of resources) {
      this.metrics.invalidations++
      this.store.deleteTag(urlTag(resource)).then(() => this.recovered('invalidate'), err => this.degraded('invalidate', err))
    }
  }

  /** Deletes what the invalidation names; resolves to how many stored values went. */
  async invalidate (what: Invalidation): Promise<number> {
    this.metrics.invalidations++
    if ('url' in what) return this.store.deleteTag(urlTag(resourceOfUrl(what.url)))
    if ('tag' in what) return this.store.deleteTag(userTag(what.tag))
    if ('key' in what) {
      this.uncacheable.forget(what.key)
      const [a, b] = await Promise.all([this.store.delete(what.key), this.store.deletePrefix(what.key + '#')])
      return a + b
    }
    if ('prefix' in what) {
      const prefix = what.prefix.startsWith('/') ? resourceOfUrl(what.prefix).slice(0, -1) : what.prefix
      return this.store.deletePrefix(`${this.settings.namespace}:GET:${prefix}`)
    }
    if ('all' in what && what.all === true) {
      this.uncacheable.clear()
      await this.store.clear()
      return 0
    }
    throw new TypeError('invalidate: expected one of { url }, { key }, { tag }, { prefix }, { all: true }')
  }

  stats (): Stats {
    const l1 = (this.store.l1 as unknown as { stats?: { evictions: number, bytes: number, entries: number } }).stats
    const stats: Stats = { ...this.metrics, evictions: l1?.evictions ?? 0, bytes: l1?.bytes ?? 0, entries: l1?.entries ?? 0 }
    if (this.redis !== undefined) stats.l2 = this.redis.stats()
    return stats
  }

  /** Flights in the air, for leak checks. */
  get pending (): number {
    return this.coalescer.size + this.refreshing.size
  }

  async close (): Promise<void> {
    this.activity.close()
    this.coalescer.releaseAll()
    await this.redis?.close()
    await this.store.close()
  }

  // ---- used by Capture ----------------------------------------------------------------------

  /** @internal Hit-for-miss: the response to `t` could not be stored, for a reason that says so of its URL. */
  notStorable (t: Txn<unknown>, reason: NotStorable | 'too-large', status: number, bypassed: boolean): void {
    // A bypassed request (Authorization, a request body) says nothing about the URL's other requests.
    if (!bypassed && remembersUncacheable(reason, status, t.cc['no-store'] === true)) this.uncacheable.remember(t.key, Date.now())
  }

  /** @internal Records and stores a complete storable response; returns the entry, or undefined when it is not worth keeping. */
  commit (t: Txn<unknown>, status: number, headers: ResponseHeaders, body: Buffer, policy: Storable, requestTime: number, responseTime: number): Entry | undefined {
    const entry = recordEntry({
      status, headers, body, policy, requestTime, responseTime,
      tags: this.tagsFor(t, headers),
      consumed: this.consumed,
      keep: this.settings.keep,
    })
    const ttl = entry.deleteAt - Date.now()
    if (ttl <= 0) return undefined
    this.uncacheable.forget(t.key)
    if (policy.vary !== undefined) {
      t.variant = variantSuffix(policy.vary, t.headers)
      // The variant first: whoever is told the primary key is stored finds the variant too.
      this.store.set(t.key + t.variant, entry, ttl)
      t.written = this.store.set(t.key, recordVary(policy.vary, entry.deleteAt, [urlTag(t.resource)]), ttl)
    } else {
      t.variant = ''
      t.written = this.store.set(t.key, entry, ttl)
    }
    this.metrics.stores++
    return entry
  }

  /** @internal The §4.3.4 freshened entry after a 304 to the cache's own conditional request. */
  freshen (t: Txn<unknown>, stale: Entry, notModified: ResponseHeaders, requestTime: number, responseTime: number): Entry | undefined {
    const headers = freshenedHeaders(stale, notModified)
    const policy = storability(this.policyInput(t, stale.status, headers, requestTime, responseTime))
    if (typeof policy === 'string') return undefined
    return this.commit(t, stale.status, headers, stale.body, policy, requestTime, responseTime)
  }

  /** @internal */
  policyInput (t: Txn<unknown>, status: number, headers: ResponseHeaders, requestTime: number, responseTime: number) {
    return {
      method: t.method,
      status,
      headers,
      authorization: t.headers.authorization !== undefined,
      request: t.cc,
      privateCache: t.user !== undefined,
      requestTime,
      responseTime,
      rules: t.route.rules,
    }
  }

  /** @internal */
  write (t: Txn<unknown>, entry: Entry, xCache: string, cacheStatus: string, now: number, out: ClientOut = t.res): void {
    writeEntry(out, entry, t.headers, t.method === 'HEAD', xCache, cacheStatus, now)
  }

  /** @internal Logs a degraded path once per failing spell (until `recovered`); counting is the caller's. */
  degraded (what: string, err: unknown): void {
    if (this.failing.has(what)) return
    this.failing.add(what)
    this.settings.logger.warn({ err, what }, `cachefront: ${what} failed; further failures are counted, not logged, until it recovers`)
  }

  /** @internal Ends a failing spell begun by `degraded`. */
  recovered (what: string): void {
    if (this.failing.size === 0 || !this.failing.delete(what)) return
    this.settings.logger.info({ what }, `cachefront: ${what} recovered`)
  }

  /** @internal */
  get statusValues (): ReturnType<typeof cacheStatusValues> {
    return this.cs
  }

  /** @internal */
  get consumedFields (): readonly string[] {
    return this.consumed
  }

  private tagsFor (t: Txn<unknown>, headers: ResponseHeaders): string[] {
    const tags = [urlTag(t.resource)]
    if (t.deps !== undefined) for (const dep of t.deps) tags.push(dep)
    const route = t.route.tags
    const names = typeof route === 'function' ? route(t.req, t.res) : route
    if (names) for (const name of names) tags.push(userTag(name))
    for (const field of this.settings.tagHeaders) {
      const value = headers[field]
      if (value === undefined) continue
      for (const name of String(value).split(/[\s,]+/)) if (name !== '') tags.push(userTag(name))
    }
    return tags
  }

  private gatewayTimeout (t: Txn<unknown>): void {
    t.res.writeHead(504, ['content-type', 'text/plain; charset=utf-8', 'cache-status', this.cs.onlyIfCached])
    t.res.end('504 Gateway Timeout: not cached (only-if-cached)\n')
  }
}

/**
 * The engine's side of one origin response: decides from the head, buffers the body up to
 * maxObjectSize while it streams on to the client, then stores it and releases the waiters.
 */
class Capture implements Sink {
  private mode: 'pass' | 'store' | 'done' = 'pass'
  /** The body so far, once the response is being stored. */
  private chunks: Buffer[] = NO_CHUNKS
  private bytes = 0
  private status = 0
  private headers: OutgoingHttpHeaders = NO_HEADERS
  private policy: Storable | undefined
  private readonly requestTime = Date.now()
  /** For the origin latency the dashboard shows (finer than requestTime). */
  private readonly sent = performance.now()
  private responseTime = 0
  private seenHead = false
  /** A 304 answer held until the body is stored (a conditional request on a storable miss). */
  private pendingOut: ClientOut | undefined
  /** Runs once when the exchange is over (used by background refreshes). */
  onDone: (() => void) | undefined

  constructor (
    private readonly engine: Engine,
    private readonly t: Txn<unknown>,
    private readonly stale: Entry | undefined,
    private readonly conditional: boolean,
    private readonly flight: Flight<Outcome> | undefined,
    private readonly detached: boolean,
    private readonly bypassStatus: string | undefined,
    private readonly varyMiss: boolean,
  ) {}

  settle (outcome: Outcome | undefined): void {
    this.flight?.settle(outcome)
  }

  head (status: number, headers: OutgoingHttpHeaders): HeadDecision {
    const { engine, t, stale } = this
    const cs = engine.statusValues
    this.seenHead = true
    this.status = status
    this.headers = headers
    this.responseTime = Date.now()
    engine.activity.origin(performance.now() - this.sent)
    const now = this.responseTime
    engine.recovered('origin')

    // §4.3.4: the origin confirmed the stored response; freshen it and answer from it.
    if (status === 304 && this.conditional && stale !== undefined) {
      this.mode = 'done'
      const entry = engine.freshen(t, stale, headers, this.requestTime, this.responseTime) ?? stale
      engine.metrics.revalidated++
      this.settle({ entry, variant: t.variant })
      this.finish()
      return { forward: false, remove: NONE, add: NONE, answer: out => engine.write(t, entry, 'REVALIDATED', cs.revalidated, now, out) }
    }

    // RFC 5861 §4: an error answer with a stale entry that may stand in for it.
    if (stale !== undefined && isErrorStatus(status) && usableOnError(stale, t.cc, now)) {
      this.mode = 'done'
      engine.metrics.stale++
      engine.metrics.originErrors++
      this.settle(undefined)
      this.finish()
      return { forward: false, remove: NONE, add: NONE, answer: out => engine.write(t, stale, 'STALE', cs.staleIfError, now, out) }
    }

    const remove = presentFields(headers, engine.consumedFields)
    const policy = storability(engine.policyInput(t, status, headers, this.requestTime, this.responseTime))
    const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length'])
    const reason = typeof policy === 'string' ? policy
      : t.method === 'HEAD' ? 'method'
        : length !== undefined && length > engine.settings.maxObjectSize ? 'too-large'
          : undefined
    const xCache = this.bypassStatus !== undefined ? 'BYPASS' : stale !== undefined ? 'EXPIRED' : 'MISS'
    if (reason !== undefined) {
      engine.metrics.notStored++
      engine.notStorable(t, reason, status, this.bypassStatus !== undefined)
      if (this.bypassStatus === undefined) {
        engine.metrics.misses++
        engine.activity.miss(t.resource)
      }
      this.settle(undefined)
      if (this.detached) this.finish()
      return { forward: true, remove, add: ['x-cache', xCache, 'cache-status', `${this.bypassStatus ?? this.fwd()}; detail=${reason}`] }
    }
    this.policy = policy as Storable
    this.mode = 'store'
    this.chunks = []
    if (this.bypassStatus === undefined) {
      engine.metrics.misses++
      engine.activity.miss(t.resource)
    }
    const add = ['x-cache', xCache, 'cache-status', `${this.bypassStatus ?? this.fwd()}; stored`]

    // A conditional request on a storable miss: the cache answers 304 itself when the new
    // response's validators match (RFC 9110 §13.1), after storing the body it still receives.
    if (!this.detached && status >= 200 && status < 300 && hasConditional(t.headers) &&
        fresh(t.headers, { etag: headers.etag as string | undefined, 'last-modified': headers['last-modified'] as string | undefined })) {
      return { forward: false, remove, add, answer: out => { this.pendingOut = out } }
    }
    return { forward: true, remove, add }
  }

  data (chunk: Buffer): void {
    if (this.mode !== 'store') return
    this.bytes += chunk.length
    if (this.bytes > this.engine.settings.maxObjectSize) {
      // Too large after all: stop buffering, let the rest stream, release the waiters.
      this.mode = 'pass'
      this.chunks = NO_CHUNKS
      this.engine.metrics.notStored++
      this.engine.notStorable(this.t, 'too-large', this.status, this.bypassStatus !== undefined)
      this.settle(undefined)
      if (this.pendingOut !== undefined) this.answerPending(undefined)
      return
    }
    this.chunks.push(chunk)
  }

  end (): void {
    if (this.mode === 'store') {
      this.mode = 'done'
      const body = Buffer.concat(this.chunks, this.bytes)
      this.chunks = NO_CHUNKS
      const declared = this.headers['content-length']
      // A body shorter or longer than announced is truncated or corrupt: never stored.
      const entry = declared !== undefined && Number(declared) !== body.length
        ? undefined
        : this.engine.commit(this.t, this.status, this.headers, body, this.policy!, this.requestTime, this.responseTime)
      this.settle(entry && { entry, variant: this.t.variant })
      if (this.pendingOut !== undefined) this.answerPending(entry)
    } else {
      this.settle(undefined)
    }
    this.finish()
  }

  error (err: Error): Answer | undefined {
    const { engine, t, stale } = this
    const aborted = err instanceof ClientAbortedError
    if (aborted) engine.metrics.aborted++
    else engine.metrics.originErrors++
    this.mode = 'done'
    this.chunks = NO_CHUNKS
    this.settle(undefined)
    this.finish()
    if (this.pendingOut !== undefined) {
      this.answerPending(undefined)
      return undefined
    }
    if (!this.seenHead && stale !== undefined && !this.detached && usableOnError(stale, t.cc, Date.now())) {
      engine.metrics.stale++
      return out => engine.write(t, stale, 'STALE', engine.statusValues.staleIfError, Date.now(), out)
    }
    if (!aborted) engine.degraded('origin', err)
    return undefined
  }

  /** The held 304 (or, when nothing could be stored, a 502: the client's response was swallowed). */
  private answerPending (entry: Entry | undefined): void {
    const out = this.pendingOut!
    this.pendingOut = undefined
    if (entry !== undefined) {
      this.engine.write(this.t, entry, 'MISS', this.engine.statusValues.missStored, Date.now(), out)
    } else {
      // The origin's answer matched the client's validators but could not be kept: answer 304
      // from the head alone (RFC 9110 §15.4.5 fields).
      const raw: string[] = []
      for (const f of ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified']) {
        const v = this.headers[f]
        if (v !== undefined) raw.push(f, String(v))
      }
      out.writeHead(304, raw)
      out.end()
    }
  }

  private fwd (): string {
    const cs = this.engine.statusValues
    if (this.t.cc['no-cache'] || this.t.cc['max-age'] !== undefined || this.t.cc['min-fresh'] !== undefined) return cs.fwdRequest
    return this.stale !== undefined ? cs.fwdStale : this.varyMiss ? cs.fwdVaryMiss : cs.fwdUriMiss
  }

  private finish (): void {
    const done = this.onDone
    this.onDone = undefined
    done?.()
  }
}

/** The Cache-Status values (RFC 9211), built once per cache. */
function cacheStatusValues (name: string) {
  return {
    hit: `${name}; hit`,
    swr: `${name}; hit; detail=stale-while-revalidate`,
    staleOk: `${name}; hit; detail=max-stale`,
    staleIfError: `${name}; fwd=stale; detail=stale-if-error`,
    revalidated: `${name}; fwd=stale; fwd-status=304`,
    collapsed: `${name}; fwd=miss; collapsed`,
    missStored: `${name}; fwd=miss; stored`,
    fwdUriMiss: `${name}; fwd=uri-miss`,
    fwdVaryMiss: `${name}; fwd=vary-miss`,
    fwdStale: `${name}; fwd=stale`,
    fwdRequest: `${name}; fwd=request`,
    bypassRoute: `${name}; fwd=bypass; detail=route`,
    bypassAuth: `${name}; fwd=bypass; detail=authorization`,
    bypassContent: `${name}; fwd=bypass; detail=request-content`,
    method: `${name}; fwd=method`,
    onlyIfCached: `${name}; detail=only-if-cached`,
  }
}

/** The tag every stored value of one resource carries, so `invalidate({ url })` finds all methods, users and variants. */
export function urlTag (resource: string): string {
  return 'u:' + resource
}

/** Tags from routes, functions and Surrogate-Key live in their own space, apart from URL tags. */
export function userTag (name: string): string {
  return 't:' + name
}

function resourceOfUrl (url: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const u = new URL(url)
    return resourceOf(u.pathname + u.search)
  }
  return resourceOf(url)
}

/**
 * The URL the client asked for. Express rewrites `req.url` inside mounted routers and keeps the
 * original in `originalUrl`; keying on the rewritten one would let two mounts share keys.
 */
function urlOf (req: IncomingMessage): string {
  return (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/'
}

/** Whether the request has content (RFC 9112 §6.3: a Transfer-Encoding, or a Content-Length other than 0). */
function hasContent (headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

function hasConditional (headers: IncomingHttpHeaders): boolean {
  return headers['if-none-match'] !== undefined || headers['if-modified-since'] !== undefined
}

/** The client's headers for the origin: without its conditionals, plus the entry's validators (§4.3.1). */
function originHeaders (headers: IncomingHttpHeaders, validate: Entry | undefined): IncomingHttpHeaders {
  if (validate === undefined && !hasConditional(headers)) return headers
  const out: IncomingHttpHeaders = { ...headers }
  for (const name of CLIENT_CONDITIONALS) delete out[name]
  if (validate !== undefined) {
    if (validate.etag !== undefined && !validate.etagComputed) out['if-none-match'] = validate.etag
    if (validate.lastModified !== undefined) out['if-modified-since'] = validate.lastModified
  }
  return out
}

function presentFields (headers: OutgoingHttpHeaders, fields: readonly string[]): readonly string[] {
  let out: string[] | undefined
  for (const f of fields) if (headers[f] !== undefined) (out ??= []).push(f)
  return out ?? NONE
}
