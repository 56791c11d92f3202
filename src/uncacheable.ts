/**
 * Hit-for-miss: the cache remembers, for a while, that a key's last response could not be
 * stored. Without it, every miss on an uncacheable URL (a `no-store` API, a page that sets a
 * cookie) would be coalesced: concurrent requests wait for the leader's response head, learn that
 * nothing was stored, and only then go to the origin themselves, so under concurrency they take
 * about twice the origin's time. Varnish keeps a hit-for-miss object for 120 s for the same
 * reason. A remembered key's requests go straight to the origin: no waiting for a flight, no
 * cross-instance lock, and no L2 lookup. The first storable response for it is stored as usual
 * and ends the memory, so the worst a stale memory costs is one uncoalesced burst.
 */
import type { NotStorable } from './policy.js'

/**
 * How many keys are remembered at most. Past it, the key remembered longest ago is forgotten
 * first: its next miss is coalesced once more, which is safe. 10,000 keys of about 100
 * characters hold about 2 MB.
 */
export const MAX_UNCACHEABLE_KEYS = 10_000

/**
 * Whether a response the policy refused (`reason`) means the URL is uncacheable, rather than
 * this one request or this one answer:
 * - A request's own `no-store` (§5.2.1.5) says nothing about the next request.
 * - `method`: a HEAD is never stored, but it shares GET's key, and the GET may be storable.
 * - A server error (5xx) is a failing origin, not an uncacheable URL: coalescing is what keeps a
 *   struggling origin from being sent every waiting request at once.
 * - A 206 answers a client's Range request, forwarded as it came: it says nothing of the full
 *   response, which the next request without Range may store.
 */
export function remembersUncacheable (reason: NotStorable | 'too-large', status: number, requestNoStore: boolean): boolean {
  if (status >= 500 || status === 206) return false
  if (reason === 'method') return false
  if (reason === 'no-store' && requestNoStore) return false
  return true
}

/** The keys whose last response could not be stored, each until its deadline (ms since the epoch). */
export class UncacheableKeys {
  /** Insertion order is the order of remembering: the first key is the one to forget first. */
  private readonly until = new Map<string, number>()

  /** @param ttlMs how long a key is remembered; 0 remembers nothing. */
  constructor (private readonly ttlMs: number, private readonly max = MAX_UNCACHEABLE_KEYS) {}

  remember (key: string, now: number): void {
    if (this.ttlMs <= 0) return
    // Re-inserted, so a key remembered again moves to the end of the forgetting order.
    this.until.delete(key)
    this.until.set(key, now + this.ttlMs)
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value!)
  }

  has (key: string, now: number): boolean {
    if (this.until.size === 0) return false
    const deadline = this.until.get(key)
    if (deadline === undefined) return false
    if (deadline > now) return true
    this.until.delete(key)
    return false
  }

  forget (key: string): void {
    if (this.until.size !== 0) this.until.delete(key)
  }

  clear (): void {
    this.until.clear()
  }

  get size (): number {
    return this.until.size
  }
}
