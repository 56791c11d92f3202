import { Keyv, type KeyvStoreAdapter, type StoredData } from 'keyv'
import { LRUCache } from 'lru-cache'
import { isStored, type Stored } from './entry.js'
import { flatten } from './intern.js'
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
 * What the LRU holds per key: usually the stored value itself. Every engine write expires at the
 * value's own `deleteAt`, after which an entry "may be dropped by the store" (entry.ts), so that
 * is its expiry, and Keyv's `{ value, expires }` wrapper need not be kept: 56 bytes and two heap
 * objects less per entry, which the garbage collector visits on every scavenge (bench `scale`).
 * The wrapper (`Held`) is kept when a caller asks for an earlier expiry than `deleteAt`, or the
 * value is not a valid `Stored` or its tags are not a frozen list (their copy is kept with it).
 */
type Slot = Stored | Held

interface Held {
  value: Stored
  expires: number | undefined
  tags?: readonly string[]
}

/** A valid Stored never has a `value` field (entry.ts), so a slot that has one is a wrapper. */
function isHeld (slot: Slot): slot is Held {
  return (slot as Held).value !== undefined
}

function valueOf (slot: Slot): Stored {
  return isHeld(slot) ? slot.value : slot
}

/**
 * The tags a slot was indexed under. Unindexing must see exactly those, whatever happened to the
 * value since: a frozen list (what the engine and the values API store) cannot change, anything
 * else is copied at store time.
 */
function tagsOf (slot: Slot): readonly string[] {
  if (!isHeld(slot)) return slot.tags
  if (slot.tags !== undefined) return slot.tags
  const tags = slot.value.tags
  return Array.isArray(tags) && Object.isFrozen(tags) ? tags : EMPTY
}

const EMPTY: readonly string[] = Object.freeze([])

function expired (slot: Slot, now: number): boolean {
  const expires = isHeld(slot) ? slot.expires : slot.deleteAt
  return expires !== undefined && now > expires
}

/** The slot for Keyv's `{ value, expires }`: the value itself when its deleteAt comes first. */
function slotOf (data: { value: Stored, expires?: number }): Slot {
  const value = data.value
  if (isStored(value) && Object.isFrozen(value.tags) && (data.expires === undefined || data.expires >= value.deleteAt)) return value
  const held = data as Held
  const tags = value?.tags
  if (!Array.isArray(tags)) held.tags = EMPTY
  else if (!Object.isFrozen(tags)) held.tags = Object.freeze([...tags])
  return held
}

/** lru-cache requires a positive integer; a value without a usable size still costs one byte. */
function sizeOf (value: Stored): number {
  const n = value.size
  return typeof n === 'number' && n >= 1 ? Math.ceil(n) : 1
}

/**
 * The tiny bridge Keyv needs: Keyv hands `set` its `{ value, expires }` object, which the LRU keeps
 * as the slot; reads treat a slot past `expires` as absent. Everything else maps one to one.
 */
class LruAdapter implements KeyvStoreAdapter {
  // Keyv only probes `opts` for iterable SQL-style adapters; this one has no iterator.
  opts = {}
  namespace?: string

  constructor (readonly lru: LRUCache<string, Slot>) {}

  async get<Value> (key: string): Promise<StoredData<Value> | undefined> {
    const slot = this.lru.get(key)
    if (slot === undefined || expired(slot, Date.now())) return undefined
    return (isHeld(slot) ? slot : { value: slot, expires: slot.deleteAt }) as StoredData<Value>
  }

  set (key: string, data: { value: Stored, expires?: number }): boolean {
    // Keyv also passes the TTL, unused: expiry is the slot's (see Slot), checked by the reader
    // (Keyv's rule: expired once now > expires). lru-cache's own ttl would cost every read a
    // performance.now() and a Float64Array lookup beside the clock the engine reads anyway.
    this.lru.set(key, slotOf(data))
    return true
  }

  async delete (key: string): Promise<boolean> {
    return this.deleteSync(key)
  }

  /** True only for a live entry: an expired one is already gone as far as readers can tell. */
  deleteSync (key: string): boolean {
    const slot = this.lru.peek(key)
    if (slot === undefined) return false
    this.lru.delete(key)
    return !expired(slot, Date.now())
  }

  async clear (): Promise<void> {
    this.lru.clear()
  }

  async has (key: string): Promise<boolean> {
    const slot = this.lru.peek(key)
    return slot !== undefined && !expired(slot, Date.now())
  }

  // Errors surface as throws, which Keyv catches and re-emits; the adapter emits nothing itself.
  on (): this {
    return this
  }
}

/** lru-cache's get takes an options object, defaulting to a new one per call. */
const NO_OPTIONS = {}

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
  /**
   * tag → the key, or keys, currently stored with it. Kept exact by the LRU's insert/dispose
   * hooks. Most tags (the URL tag above all) name one key: that key is held as it is, and a Set
   * only once a second key shares the tag, which spares a million-entry L1 a million Sets.
   */
  readonly #tags = new Map<string, string | Set<string>>()
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
      sizeCalculation: (slot) => sizeOf(valueOf(slot)),
      // Index on insert and unindex on dispose, both inside the LRU's own set/delete, so the
      // index cannot drift from the LRU whatever the interleaving of concurrent async calls.
      // Order matters on overwrite: lru-cache disposes the old value *before* inserting the new
      // one; disposeAfter runs later and would unindex tags the new value shares with the old.
      onInsert: (slot, key, reason) => { if (reason !== 'update') this.#index(key, tagsOf(slot)) },
      dispose: (slot, key, reason) => {
        this.#unindex(key, tagsOf(slot))
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
  getSync (key: string, now = Date.now()): Stored | undefined {
    const slot = this.#lru.get(key, NO_OPTIONS)
    if (slot === undefined) return undefined
    if (expired(slot, now)) {
      // Gone as far as readers can tell; dropped now rather than left to the LRU's order.
      this.#lru.delete(key)
      return undefined
    }
    const value = valueOf(slot)
    if (isStored(value)) return value
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
      // Keys arrive as concatenations (cons strings); the LRU and the tag index keep one flat copy.
      if (await this.#keyv.set(flatten(key), value, ttlMs)) this.#failing = false
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
    if (typeof keys === 'string') return this.#adapter.deleteSync(keys) ? 1 : 0
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

  /** Nothing to release: the LRU tracks no TTLs (expiry is checked on read), so it arms no timers. */
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
    for (const keys of this.#tags.values()) refs += typeof keys === 'string' ? 1 : keys.size
    return { tags: this.#tags.size, refs }
  }

  #index (key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.#tags.get(tag)
      if (keys === undefined) this.#tags.set(tag, key)
      else if (typeof keys !== 'string') keys.add(key)
      else if (keys !== key) this.#tags.set(tag, new Set([keys, key]))
    }
  }

  #unindex (key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.#tags.get(tag)
      if (keys === undefined) continue
      if (typeof keys === 'string') {
        if (keys === key) this.#tags.delete(tag)
        continue
      }
      keys.delete(key)
      // An empty set per tag ever seen would be a slow leak under churning URL tags.
      if (keys.size === 0) this.#tags.delete(tag)
      else if (keys.size === 1) this.#tags.set(tag, keys.values().next().value!)
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
