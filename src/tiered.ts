/**
 * The two-level store: L1 in process memory in front of an optional shared L2 (Redis).
 * Reads: L1, then L2 (an L2 hit fills L1 for the entry's remaining life). Writes go to both and
 * never delay the client: the engine does not await them. Deletes go to both, and reject when
 * the shared tier could not be reached, so a purge never reports success it did not have.
 */
import type { Stored } from './entry.js'
import type { Store, SyncStore } from './store.js'

export class TieredStore {
  constructor (
    readonly l1: SyncStore,
    readonly l2: Store | undefined,
    /** Called for a failed background write; the store itself has already counted it. */
    private readonly onWriteError: (err: unknown) => void,
  ) {}

  /** L1 only, synchronously: the hit path. */
  peek (key: string): Stored | undefined {
    return this.l1.getSync(key)
  }

  /** L2, filling L1 on a hit; undefined without an L2. */
  async fetch (key: string): Promise<Stored | undefined> {
    if (this.l2 === undefined) return undefined
    const value = await this.l2.get(key)
    if (value !== undefined) {
      const ttl = value.deleteAt - Date.now()
      if (ttl > 0) this.l1.set(key, value, ttl).catch(this.onWriteError)
      else return undefined
    }
    return value
  }

  /** Writes to both tiers in the background. */
  set (key: string, value: Stored, ttlMs: number): void {
    if (ttlMs <= 0) return
    this.l1.set(key, value, ttlMs).catch(this.onWriteError)
    this.l2?.set(key, value, ttlMs).catch(this.onWriteError)
  }

  /** Writes to L1 only (an entry another instance already wrote to L2). */
  setLocal (key: string, value: Stored, ttlMs: number): void {
    if (ttlMs > 0) this.l1.set(key, value, ttlMs).catch(this.onWriteError)
  }

  async delete (key: string): Promise<number> {
    const [a, b] = await Promise.all([this.l1.delete(key), this.l2?.delete(key)])
    return a || b ? 1 : 0
  }

  async deleteTag (tag: string): Promise<number> {
    const [a, b] = await Promise.all([this.l1.deleteTag(tag), this.l2?.deleteTag(tag)])
    return Math.max(a, b ?? 0)
  }

  async deletePrefix (prefix: string): Promise<number> {
    const [a, b] = await Promise.all([this.l1.deletePrefix(prefix), this.l2?.deletePrefix(prefix)])
    return Math.max(a, b ?? 0)
  }

  async clear (): Promise<void> {
    await Promise.all([this.l1.clear(), this.l2?.clear()])
  }

  async close (): Promise<void> {
    await Promise.all([this.l1.close(), this.l2?.close()])
  }
}
