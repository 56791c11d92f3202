import type { Stored } from './entry.js'

/**
 * The narrow contract every tier implements (the in-memory L1, the Redis L2, and the tiered
 * store composing them). One contract suite (`test/store/contract.ts`) runs against each.
 *
 * Keys are opaque strings built by `key.ts`; stores never parse them, except that
 * `deletePrefix` matches their beginning.
 */
export interface Store {
  /** The stored value, or undefined when absent, expired, or unreadable (counted, never thrown). */
  get(key: string): Promise<Stored | undefined>
  /**
   * Stores `value` for `ttlMs` and indexes it under each of `value.tags`, so that
   * `deleteTag` finds it.
   */
  set(key: string, value: Stored, ttlMs: number): Promise<void>
  /** True when something was deleted. */
  delete(key: string): Promise<boolean>
  /** Deletes every key stored with this tag; resolves to how many were deleted. */
  deleteTag(tag: string): Promise<number>
  /** Deletes every key beginning with `prefix`; resolves to how many were deleted. */
  deletePrefix(prefix: string): Promise<number>
  /** Deletes everything this store holds (for its namespace, on a shared store). */
  clear(): Promise<void>
  /** Releases timers and connections. */
  close(): Promise<void>
}

/** A store that can answer from memory without a promise: the hit path's fast lane. */
export interface SyncStore extends Store {
  /** `now`: the caller's clock reading (ms since the epoch), which spares the store reading it again. */
  getSync(key: string, now?: number): Stored | undefined
}
