/**
 * Counters of what the cache did. Plain numbers on one object: incrementing them is the only
 * work the hit path does for metrics. Exporters (the proxy's Prometheus endpoint, the
 * dashboard) read them.
 */
import type { BusStats } from './bus.js'
import type { RedisStoreStats } from './l2.js'
import type { LockStats } from './lock.js'

/**
 * The Redis tier's part of `cache.stats()` (present only with `redis`): the breaker's state,
 * failures (errors, timeouts; `skipped`: operations not tried while the breaker was open),
 * unreadable values (`corrupt`), what compression saved (`bytesIn` encoded, `bytesStored`
 * written, `saved` the difference), the namespace's generation, notices, and the locks.
 */
export interface L2Stats extends RedisStoreStats, BusStats {
  saved: number
  /** Undefined with `redis.coalesce: false`. */
  locks: LockStats | undefined
}

/** What `cache.stats()` returns. */
export interface Stats {
  /** Answered from a fresh entry (including collapsed waiters). */
  hits: number
  /** Went to the origin with nothing usable stored. */
  misses: number
  /** Answered with a stale entry (stale-while-revalidate, max-stale, stale-if-error). */
  stale: number
  /** A stale entry confirmed by a 304 from the origin. */
  revalidated: number
  /** Requests that waited for another request's origin response instead of going themselves. */
  coalesced: number
  /**
   * Misses sent straight to the origin because the key's last response could not be stored
   * (`hitForMiss`): not coalesced, no L2 lookup. Also counted as what the origin's answer made it (a miss, mostly).
   */
  hitForMiss: number
  /** Passed to the origin without lookup: unsafe methods, bypassed routes, Authorization. */
  bypassed: number
  /** Entries written. */
  stores: number
  /** Responses the policy refused to store. */
  notStored: number
  /** Invalidations performed (calls of invalidate, and unsafe-method invalidations). */
  invalidations: number
  /** Background refreshes started (stale-while-revalidate). */
  refreshes: number
  /** Origin failures (no response, or a truncated one). */
  originErrors: number
  /** Clients that left before their response was complete (nothing partial is stored). */
  aborted: number
  /** Values answered from the store by `wrap` and `get`. */
  valueHits: number
  /** Value loaders that threw (`wrap`, background refreshes). */
  loaderErrors: number
  /** Stored values that could not be read and were dropped. */
  corrupt: number
  /** Entries evicted from L1 to stay within maxBytes. */
  evictions: number
  /** Bytes held by L1 entries. */
  bytes: number
  /** Entries held by L1. */
  entries: number
  /** The Redis tier, when there is one. */
  l2?: L2Stats
}


export class Metrics {
  hits = 0
  misses = 0
  stale = 0
  revalidated = 0
  coalesced = 0
  hitForMiss = 0
  bypassed = 0
  stores = 0
  notStored = 0
  invalidations = 0
  refreshes = 0
  originErrors = 0
  aborted = 0
  valueHits = 0
  loaderErrors = 0
  corrupt = 0
}
