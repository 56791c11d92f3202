import { Keyv, type KeyvStoreAdapter, type StoredData } from 'keyv'
import { LRUCache } from 'lru-cache'
import { isStored, type Stored } from './entry.js'
import type { SyncStore } from './store.js'
import { OptionError } from './units.js'

/** Options of the in-memory L1 store. Sizes are already parsed to bytes (see `units.ts`). */
export interface MemoryStoreOptions {
  /** Upper bound on the summed `size` of everything held; least recently used entries go first. */
  maxBytes: number
  /** A value whose `size` exceeds this is not stored (nor is one larger than `maxBytes`). */
  maxObjectSize: number
  /**
   * Told about failures of the underlying Keyv/LRU once per failing spell: on the first error
   * after a success, not on every one (DESIGN: degraded paths are logged once per state change).
   * Every error is counted in `stats.errors` either way.
   */
  onError?: (err: Error) => void
  /**
   * Called after an entry was evicted to stay within `maxBytes` (not on delete, overwrite or
   * expiry). Runs once the LRU is consistent again, so it may call back into the store.
   */
  onEvict?: (key: string) => void
}

/** Counters of a MemoryStore; a snapshot, taken when `stats` is read. */
export interface MemoryStoreStats {
  /** Entries held, including expired ones not yet noticed (they are dropped when read or evicted). */
  entries: number
  /** Summed `size` of the entries held; never above `maxBytes`. */
  bytes: number
  /** Entries dropped to make room (LRU reason 'evict'); deletes, overwrites and expiry do not count. */
  evictions: number
  /** Errors Keyv reported (it drops them silently unless someone listens). */
  errors: number
  /** Values that failed `isStored` on read and were deleted as misses. */
  corrupt: number
}

/**
 * What the LRU holds per key. Keyv hands its adapter `{ value, expires }`; the adapter keeps that
 * shape (so Keyv's own `get` would work too) and adds two things computed once at store time:
 * the size the LRU accounts for, and a private copy of the tags the key was indexed under, so
 * unindexing does not trust a value that may have been mutated or corrupted since.
 */
interface Slot {
  value: Stored
  expires: number | undefined
  size: number
  tags: readonly string[]
}

/** lru-cache requires a positive integer; a value without a usable size still costs one byte. */
function sizeOf (value: Stored): number {
  const n = value.size
  return typeof n === 'number' && n >= 1 ? Math.ceil(n) : 1
}

/**
 * The tiny bridge Keyv needs: Keyv calls `set(key, data, ttlMs)` with the TTL as a number, while
 * lru-cache wants `set(key, value, { ttl })`. Everything else maps one to one.
 */
class LruAdapter implements KeyvStoreAdapter {
  // Keyv only probes `opts` for iterable SQL-style adapters; this one has no iterator.
  opts = {}
  namespace?: string

  constructor (readonly lru: LRUCache<string, Slot>) {}

  async get<Value> (key: string): Promise<StoredData<Value> | undefined> {
    return this.lru.get(key) as StoredData<Value> | undefined
  }

  set (key: string, data: { value: Stored, expires?: number }, ttl?: number): boolean {
    const value = data.value
    const slot: Slot = {
      value,
      expires: data.expires,
      size: sizeOf(value),
      tags: Array.isArray(value.tags) ? [...new Set(value.tags)] : []
    }
    this.lru.set(key, slot, { ttl })
    return true
  }

  async delete (key: string): Promise<boolean> {
    return this.deleteSync(key)
  }

  /** True only for a live entry: an expired one is already gone as far as readers can tell. */
  deleteSync (key: string): boolean {
    const live = this.lru.has(key)
    this.lru.delete(key)
    return live
  }

  async clear (): Promise<void> {
    this.lru.clear()
  }

  async has (key: string): Promise<boolean> {
    return this.lru.has(key)
  }

  // Errors surface as throws, which Keyv catches and re-emits; the adapter emits nothing itself.
  on (): this {
    return this
  }
}

/**
 * The in-memory L1 tier: Keyv over a byte-bounded lru-cache, plus a tag index for `deleteTag`.
 *
 * Values are held by reference, not serialized: a hit returns the very object that was stored
 * (entries are immutable by contract, so sharing is safe and costs nothing).
 */
export class MemoryStore implements SyncStore {
  readonly #lru: LRUCache<string, Slot>
  readonly #adapter: LruAdapter
  readonly #keyv: Keyv<Stored>
  /** tag → keys currently stored with it. Kept exact by the LRU's insert/dispose hooks. */
  readonly #tags = new Map<string, Set<string>>()
  readonly #maxEntry: number
  readonly #onError?: (err: Error) => void
  #evictions = 0
  #errors = 0
  #corrupt = 0
  #failing = false

  constructor (options: MemoryStoreOptions) {
    const { maxBytes, maxObjectSize, onError, onEvict } = options
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new OptionError('l1.maxBytes', 'a positive whole number of bytes', maxBytes)
    }
    if (!Number.isSafeInteger(maxObjectSize) || maxObjectSize < 1) {
      throw new OptionError('l1.maxObjectSize', 'a positive whole number of bytes', maxObjectSize)
    }
    this.#maxEntry = Math.min(maxBytes, maxObjectSize)
    this.#onError = onError
    this.#lru = new LRUCache<string, Slot>({
      maxSize: maxBytes,
      maxEntrySize: this.#maxEntry,
      sizeCalculation: (slot) => slot.size,
      // With the default resolution of 1 ms, lru-cache caches "now" and arms a setTimeout to
      // forget it, i.e. a timer per busy millisecond on the hit path. 0 means one
      // performance.now() per read instead: cheaper, exact, and no timers to clear on close.
      ttlResolution: 0,
      // Index on insert and unindex on dispose, both inside the LRU's own set/delete, so the
      // index cannot drift from the LRU whatever the interleaving of concurrent async calls.
      // Order matters on overwrite: lru-cache disposes the old value *before* inserting the new
      // one; disposeAfter runs later and would unindex tags the new value shares with the old.
      onInsert: (slot, key, reason) => { if (reason !== 'update') this.#index(key, slot.tags) },
      dispose: (slot, key, reason) => {
        this.#unindex(key, slot.tags)
        if (reason === 'evict') this.#evictions++
      },
      // The user's callback runs after the LRU is consistent (dispose must not re-enter it).
      disposeAfter: onEvict && ((_slot, key, reason) => {
        if (reason === 'evict') this.#guard(onEvict, key)
      })
    })
    this.#adapter = new LruAdapter(this.#lru)
    // serialize/deserialize undefined: Keyv then passes its `{ value, expires }` wrapper through
    // untouched (Buffers stay Buffers, no JSON). useKeyPrefix false: Keyv would otherwise store
    // under 'keyv:' + key, and getSync reads the LRU with the caller's key.
    this.#keyv = new Keyv<Stored>({
      store: this.#adapter,
      serialize: undefined,
      deserialize: undefined,
      useKeyPrefix: false
    })
    this.#keyv.on('error', (err: unknown) => this.#fail(err))
  }

  /** The hit path's fast lane: one LRU lookup (which honours the TTL) and a shape check. */
  getSync (key: string): Stored | undefined {
    const slot = this.#lru.get(key)
    if (slot === undefined) return undefined
    if (isStored(slot.value)) return slot.value
    this.#corrupt++
    this.#lru.delete(key)
    return undefined
  }

  // Through getSync rather than Keyv.get, so both agree by construction (Keyv.get would check
  // its own Date.now()-based `expires` beside the LRU's clock, and could differ by a millisecond).
  async get (key: string): Promise<Stored | undefined> {
    return this.getSync(key)
  }

  /**
   * A value that may not be stored (ttlMs <= 0, or too large) also removes what the key held:
   * the newer response supersedes it, and keeping the older one would serve a replaced body.
   */
  async set (key: string, value: Stored, ttlMs: number): Promise<void> {
    try {
      if (!(ttlMs > 0) || !(sizeOf(value) <= this.#maxEntry)) {
        this.#adapter.deleteSync(key)
        return
      }
      if (await this.#keyv.set(key, value, ttlMs)) this.#failing = false
    } catch (err) {
      this.#fail(err)
    }
  }

  async delete (key: string): Promise<boolean> {
    return this.#keyv.delete(key)
  }

  async deleteTag (tag: string): Promise<number> {
    const keys = this.#tags.get(tag)
    if (keys === undefined) return 0
    let n = 0
    // Copied: each delete's dispose hook removes the key from this very set.
    for (const key of [...keys]) if (this.#adapter.deleteSync(key)) n++
    return n
  }

  /** O(entries); acceptable for a memory tier, and prefix deletes are rare admin operations. */
  async deletePrefix (prefix: string): Promise<number> {
    const matching: string[] = []
    for (const key of this.#lru.keys()) if (key.startsWith(prefix)) matching.push(key)
    let n = 0
    for (const key of matching) if (this.#adapter.deleteSync(key)) n++
    return n
  }

  async clear (): Promise<void> {
    await this.#keyv.clear()
  }

  /** Nothing to release: no autopurge and ttlResolution 0 mean the LRU arms no timers. */
  async close (): Promise<void> {}

  get stats (): MemoryStoreStats {
    return {
      entries: this.#lru.size,
      bytes: this.#lru.calculatedSize,
      evictions: this.#evictions,
      errors: this.#errors,
      corrupt: this.#corrupt
    }
  }

  /**
   * How many tags and (tag, key) references the tag index holds; for tests asserting that
   * evictions, overwrites and deletes leave nothing behind.
   */
  tagIndexSize (): { tags: number, refs: number } {
    let refs = 0
    for (const keys of this.#tags.values()) refs += keys.size
    return { tags: this.#tags.size, refs }
  }

  #index (key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      let keys = this.#tags.get(tag)
      if (keys === undefined) this.#tags.set(tag, keys = new Set())
      keys.add(key)
    }
  }

  #unindex (key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.#tags.get(tag)
      if (keys === undefined) continue
      keys.delete(key)
      // An empty set per tag ever seen would be a slow leak under churning URL tags.
      if (keys.size === 0) this.#tags.delete(tag)
    }
  }

  #guard (fn: (key: string) => void, key: string): void {
    try {
      fn(key)
    } catch (err) {
      this.#fail(err)
    }
  }

  #fail (err: unknown): void {
    this.#errors++
    if (this.#failing) return
    this.#failing = true
    this.#onError?.(err instanceof Error ? err : new Error(String(err)))
  }
}
