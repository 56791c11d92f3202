/**
 * Prometheus metrics of one proxy process, on its own prom-client Registry. Request counts by
 * cache status and origin latency are recorded as they happen; everything the engine already
 * counts (cache.stats(), the L2's stats) is read when scraped, so the hit path pays nothing.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Cache, Stats } from '../src/index.js'

const ENGINE_EVENTS: [keyof Stats, string][] = [
  ['hits', 'hit'], ['misses', 'miss'], ['stale', 'stale'], ['revalidated', 'revalidated'], ['coalesced', 'coalesced'],
  ['hitForMiss', 'hit_for_miss'], ['bypassed', 'bypassed'], ['stores', 'stored'], ['notStored', 'not_stored'], ['invalidations', 'invalidation'],
  ['refreshes', 'refresh'], ['originErrors', 'origin_error'], ['aborted', 'aborted'], ['corrupt', 'corrupt'], ['evictions', 'eviction'],
]

const BREAKER_STATES = ['closed', 'open', 'half-open']

export class ProxyMetrics {
  readonly registry = new Registry()
  /** Requests by cache status, also for /stats. */
  readonly requestCounts: Record<string, number> = {}
  private readonly requests: Counter<'cache_status'>
  private readonly originDuration: Histogram
  private readonly upstreamErrors: Counter<'reason'>
  private readonly purges: Counter<'kind'>

  constructor (cache: Cache, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry]
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry })
    const counts = this.requestCounts
    this.requests = new Counter({
      name: 'cachefront_requests_total',
      help: 'Requests answered, by cache status (hit, miss, expired, stale, revalidated, bypass, pass, error, purge, none)',
      labelNames: ['cache_status'],
      registers,
      // Read from plain counters when scraped: prom-client hashes labels on every inc(), which
      // would cost the hit path more than everything else the proxy adds to it.
      collect () {
        this.reset()
        for (const status in counts) this.inc({ cache_status: status }, counts[status])
      },
    })
    this.originDuration = new Histogram({
      name: 'cachefront_origin_duration_seconds',
      help: 'Time from sending a request upstream to receiving its response head',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    })
    this.upstreamErrors = new Counter({
      name: 'cachefront_upstream_errors_total',
      help: 'Upstream requests that failed, by reason (refused, reset, timeout, dns, protocol, other)',
      labelNames: ['reason'],
      registers,
    })
    this.purges = new Counter({
      name: 'cachefront_purges_total',
      help: 'Purges performed through the admin API or PURGE, by kind (url, key, tag, prefix, all)',
      labelNames: ['kind'],
      registers,
    })
    const stats = () => cache.stats()
    new Counter({
      name: 'cachefront_cache_events_total',
      help: 'What the cache did, as counted by the engine (cache.stats())',
      labelNames: ['event'],
      registers,
      collect () {
        const s = stats()
        this.reset()
        for (const [field, event] of ENGINE_EVENTS) this.inc({ event }, s[field] as number)
      },
    })
    new Gauge({
      name: 'cachefront_hit_ratio',
      help: 'Share of cacheable requests answered from the cache (hits, stale and revalidated over those plus misses)',
      registers,
      // Across --workers, the mean of the workers' ratios.
      aggregator: 'average',
      collect () {
        const s = stats()
        const served = s.hits + s.stale + s.revalidated
        const all = served + s.misses
        this.set(all === 0 ? 0 : served / all)
      },
    })
    new Gauge({ name: 'cachefront_l1_bytes', help: 'Bytes held by the in-memory tier', registers, collect () { this.set(stats().bytes) } })
    new Gauge({ name: 'cachefront_l1_entries', help: 'Entries held by the in-memory tier', registers, collect () { this.set(stats().entries) } })
    const maxBytes = cache.engine.settings.maxBytes
    new Gauge({ name: 'cachefront_l1_max_bytes', help: 'The in-memory tier\'s limit (l1.maxBytes)', registers, collect () { this.set(maxBytes) } })
    const l2 = () => stats().l2
    new Counter({
      name: 'cachefront_l2_errors_total',
      help: 'Redis tier operations that failed (timeouts included); 0 without a Redis tier',
      registers,
      collect () {
        this.reset()
        this.inc(l2()?.errors ?? 0)
      },
    })
    new Gauge({
      name: 'cachefront_l2_breaker_state',
      help: "The Redis tier's circuit breaker: 1 for the current state (closed, open, half-open); none without a Redis tier",
      labelNames: ['state'],
      registers,
      collect () {
        this.reset()
        const state = l2()?.state
        if (state === undefined) return
        for (const s of BREAKER_STATES) this.set({ state: s }, s === state ? 1 : 0)
      },
    })
  }

  request (cacheStatus: string): void {
    this.requestCounts[cacheStatus] = (this.requestCounts[cacheStatus] ?? 0) + 1
  }

  origin (seconds: number): void {
    this.originDuration.observe(seconds)
  }

  upstreamError (reason: string): void {
    this.upstreamErrors.inc({ reason })
  }

  purge (kind: string): void {
    this.purges.inc({ kind })
  }
}
