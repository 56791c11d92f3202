/**
 * The two-level store: L1 in process memory in front of an optional shared L2 (Redis).
 * Reads: L1, then L2 (an L2 hit fills L1 for the entry's remaining life). Writes go to both and
 * never delay the client: the engine does not await them. Deletes go to both, and reject when
 * the shared tier could not be reached, so a purge never reports success it did not have.
 *
 * Concurrent reads of one key share one L2 round trip: a burst of requests for a cold key (a
 * stampede) sends Redis one GET, not one per request, and the request that leads the miss is not
 * queued behind the others' replies (measured: 500 requests for one cold key through one proxy,
 * the first answer at 268 ms with a GET each, where the origin takes 50 ms). A change to the key
 * ends the sharing: a read that starts after it is a new one.
 *
 * With several instances on one L2, `forget` applies another instance's notice (bus.ts) to L1
 * only. An L2 read that overlaps a change to its key (a local delete, or a notice) answers its
 * own request but does not fill L1: its reply may predate the change. And while an invalidation
 * of L2 is in flight (such as the one that follows a POST, §4.4, which nobody awaits), L2 reads
 * wait for it, so a request after it never reads back what it removes.
 */
import type { Stored } from './entry.js'
import type { Notice } from './l2.js'
import type { Store, SyncStore } from './store.js'

/** An L2 read in flight; spoiled by a change to its key that arrives meanwhile. */
interface Reading { spoiled: boolean }

type Read = Promise<Stored | undefined>

/** What a read of nothing and a write with nothing to wait for both answer. */
const SETTLED: Promise<undefined> = Promise.resolve(undefined)

export class TieredStore {
  /** Keys being read from L2, for `spoil`. */
  private readonly reading = new Map<string, Set<Reading>>()
  /** The L2 read of each key that later readers of the key join; removed by a change to the key. */
  private readonly shared = new Map<string, Read>()
  /** Bumped by every change that may touch any key (tag, prefix, all): spoils every read in flight. */
  private changes = 0
  /** L2 invalidations in flight (settled versions: they never reject). */
  private readonly purging = new Set<Promise<unknown>>()

  constructor (
    readonly l1: SyncStore,
    readonly l2: Store | undefined,
    /** Called for a failed background write; the store itself has already counted it. */
    private readonly onWriteError: (err: unknown) => void,
  ) {}

  /** L1 only, synchronously: the hit path. */
  peek (key: string, now?: number): Stored | undefined {
    return this.l1.getSync(key, now)
  }

  /**
   * L2, filling L1 on a hit; undefined without an L2. Joins a read of the same key already in
   * flight unless `fresh`: a read that must see every write made before it was called (a lock
   * holder's double check, a waiter's read after the leader's notice), which a read sent
   * earlier may predate. A fresh read is the one later readers join.
   */
  fetch (key: string, fresh = false): Read {
    if (this.l2 === undefined) return SETTLED
    // Every change removes the reads it may affect from `shared` as it starts, so a read found
    // there began after the latest change (and waits for an invalidation still in flight).
    const inFlight = fresh ? undefined : this.shared.get(key)
    if (inFlight !== undefined) return inFlight
    const read = this.read(this.l2, key)
    this.shared.set(key, read)
    const done = (): void => { if (this.shared.get(key) === read) this.shared.delete(key) }
    read.then(done, done)
    return read
  }

  private async read (l2: Store, key: string): Read {
    if (this.purging.size > 0) await Promise.all(this.purging)
    const mark: Reading = { spoiled: false }
    const changes = this.changes
    let marks = this.reading.get(key)
    if (marks === undefined) this.reading.set(key, marks = new Set())
    marks.add(mark)
    let value: Stored | undefined
    try {
      value = await l2.get(key)
    } finally {
      marks.delete(mark)
      if (marks.size === 0 && this.reading.get(key) === marks) this.reading.delete(key)
    }
    if (value !== undefined) {
      const ttl = value.deleteAt - Date.now()
      if (ttl <= 0) return undefined
      if (!mark.spoiled && changes === this.changes) this.l1.set(key, value, ttl).catch(this.onWriteError)
    }
    return value
  }

  /**
   * Writes to both tiers in the background. The promise (which never rejects) settles when the
   * L2 write is done, for whoever must act after it (a coalescing lock's release); nobody has to wait.
   */
  set (key: string, value: Stored, ttlMs: number): Promise<void> {
    if (ttlMs <= 0) return SETTLED
    this.spoil(key)
    this.l1.set(key, value, ttlMs).catch(this.onWriteError)
    return this.l2?.set(key, value, ttlMs).catch(this.onWriteError) ?? SETTLED
  }

  /** Applies another instance's notice to L1 alone (the change is already in L2). */
  forget (notice: Notice): void {
    const done = this.onWriteError
    switch (notice.op) {
      case 'set':
      case 'delete':
        this.spoil(notice.key)
        this.l1.delete(notice.key).catch(done)
        return
      case 'tag':
        this.changed()
        this.l1.deleteTag(notice.tag).catch(done)
        return
      case 'prefix':
        this.changed()
        this.l1.deletePrefix(notice.prefix).catch(done)
        return
      case 'all':
        this.changed()
        this.l1.clear().catch(done)
    }
  }

  async delete (key: string): Promise<number> {
    this.spoil(key)
    const [a, b] = await Promise.all([this.l1.delete(key), this.purge(this.l2?.delete(key))])
    return a || b ? 1 : 0
  }

  async deleteTag (tag: string): Promise<number> {
    this.changed()
    const [a, b] = await Promise.all([this.l1.deleteTag(tag), this.purge(this.l2?.deleteTag(tag))])
    return Math.max(a, b ?? 0)
  }

  async deletePrefix (prefix: string): Promise<number> {
    this.changed()
    const [a, b] = await Promise.all([this.l1.deletePrefix(prefix), this.purge(this.l2?.deletePrefix(prefix))])
    return Math.max(a, b ?? 0)
  }

  async clear (): Promise<void> {
    this.changed()
    await Promise.all([this.l1.clear(), this.purge(this.l2?.clear())])
  }

  async close (): Promise<void> {
    await Promise.all([this.l1.close(), this.l2?.close()])
  }

  /** Tracks an L2 invalidation until it settles (see `fetch`). */
  private purge<T> (p: Promise<T> | undefined): Promise<T> | undefined {
    if (p === undefined) return undefined
    const settled = p.then(() => { this.purging.delete(settled) }, () => { this.purging.delete(settled) })
    this.purging.add(settled)
    return p
  }

  private spoil (key: string): void {
    this.shared.delete(key)
    for (const mark of this.reading.get(key) ?? []) mark.spoiled = true
  }

  /** A change that may touch any key (tag, prefix, all): no read in flight is shared or fills L1. */
  private changed (): void {
    this.changes++
    this.shared.clear()
  }
}
