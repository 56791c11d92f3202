/**
 * The stored form of one response. An entry is immutable once written: freshening after a 304
 * (RFC 9111 §4.3.4) writes a new entry rather than mutating a shared one.
 *
 * Everything the hit path needs is precomputed here at store time (DESIGN: "no work on the hit
 * path that could be done when the entry was stored"): the raw header array handed straight to
 * `writeHead`, absolute stale/delete times, and the validators that `fresh` compares against.
 * The 304 header array is the exception: built on an entry's first conditional hit and kept,
 * since most entries never answer one.
 */

/** Bumped whenever the shape below changes; an entry of another version is a miss, never a crash. */
export const ENTRY_VERSION = 2

/**
 * Trailing slots of `Entry.raw` and `Entry.raw304`, filled in per response by the writer
 * (`Age`, `X-Cache`, `Cache-Status`), so a hit writes a prepared array without concatenating.
 */
export const TRAILER_PAIRS = 3

/** One stored response. */
export interface Entry {
  v: typeof ENTRY_VERSION
  type: 'response'
  status: number
  /**
   * Flat `[name, value, name, value, ...]` with lower-case names, in the order the origin sent
   * them, without hop-by-hop fields, `Set-Cookie`, `Age` and the cache's own status fields; ends
   * with TRAILER_PAIRS writer slots.
   */
  raw: string[]
  /**
   * The same for a 304 answer: only the fields RFC 9110 §15.4.5 asks for, plus the writer slots.
   * Built from `raw` on the first conditional hit (`raw304Of` in record.ts) and never stored in L2.
   */
  raw304?: string[]
  body: Buffer
  /** Epoch ms when the request that produced this response was sent (RFC 9111 §4.2.3 request_time). */
  requestTime: number
  /** Epoch ms when the response was received (§4.2.3 response_time). */
  responseTime: number
  /** corrected_initial_age of §4.2.3, in ms. Current age = initialAge + (now - responseTime). */
  initialAge: number
  /** Epoch ms after which the entry is stale. */
  staleAt: number
  /** Epoch ms after which the entry is useless and may be dropped by the store. */
  deleteAt: number
  /** stale-while-revalidate window in ms after staleAt (RFC 5861 §3). */
  swr: number
  /** stale-if-error window in ms after staleAt (RFC 5861 §4). */
  sie: number
  /** must-revalidate, proxy-revalidate or s-maxage (§5.2.2.2, §5.2.2.8, §5.2.2.10): never served stale. */
  mustRevalidate: boolean
  /** Unqualified response `no-cache` (§5.2.2.4): revalidate before every reuse. */
  noCache: boolean
  /** The ETag clients validate against: the origin's, or one computed at store time. */
  etag?: string
  /** True when `etag` was computed by the cache: it is never sent to the origin as a validator. */
  etagComputed: boolean
  lastModified?: string
  /** Whether the origin gave a validator (ETag or Last-Modified) the cache can revalidate with (§4.3.1). */
  validator: boolean
  /** Lower-case request header names from the response's Vary, when it has one. */
  vary?: string[]
  /** Tags this entry answers to for invalidation (route tags, origin Surrogate-Key, the URL tag). */
  tags: readonly string[]
  /** Bytes this entry accounts for in a byte-bounded store: body plus headers. */
  size: number
}

/**
 * Stored under the primary key of a response that carries Vary (§4.1): it names the request
 * headers whose values select the variant, stored under the variant key.
 */
export interface VaryRecord {
  v: typeof ENTRY_VERSION
  type: 'vary'
  vary: string[]
  deleteAt: number
  tags: readonly string[]
  size: number
}

/**
 * A value cached through `cache.wrap` / `cache.set` (not a response): its serialized bytes, and
 * the same freshness bookkeeping as a response, in absolute ms.
 */
export interface ValueRecord {
  v: typeof ENTRY_VERSION
  type: 'value'
  /** The serialized value. */
  body: Buffer
  /** How `body` decodes: JSON, a Buffer as it is, or the caller's serializer. */
  format: 'json' | 'buffer' | 'custom'
  /** Epoch ms when the value was loaded. */
  responseTime: number
  staleAt: number
  deleteAt: number
  swr: number
  sie: number
  tags: readonly string[]
  size: number
}

export type Stored = Entry | VaryRecord | ValueRecord

/**
 * Readers validate: a value from a store is trusted only when it has this version and shape.
 * Anything else (an older format, a foreign value, a truncated write) is treated as a miss.
 */
export function isStored(value: unknown): value is Stored {
  if (value === null || typeof value !== 'object') return false
  const s = value as Record<string, unknown>
  if (s.v !== ENTRY_VERSION || typeof s.deleteAt !== 'number' || !Array.isArray(s.tags)) return false
  if (s.type === 'vary') return Array.isArray(s.vary)
  if (s.type === 'value') {
    return Buffer.isBuffer(s.body) && typeof s.staleAt === 'number' &&
      (s.format === 'json' || s.format === 'buffer' || s.format === 'custom')
  }
  return s.type === 'response' &&
    typeof s.status === 'number' &&
    Array.isArray(s.raw) && (s.raw304 === undefined || Array.isArray(s.raw304)) &&
    Buffer.isBuffer(s.body) &&
    typeof s.staleAt === 'number' && typeof s.responseTime === 'number' &&
    typeof s.initialAge === 'number'
}
