/**
 * Coalescing across instances: the local leader of a miss (coalesce.ts) asks Redis whether
 * another instance is already fetching the key, and if so waits for what it stores instead of
 * going to the origin.
 *
 * Protocol, on `cf:{ns}:lock:<key>` (the namespace's hash tag, so in its slot):
 * - **acquire**: `SET lock <token> NX PX lockTimeout`; the token is 16 random bytes. Once it has
 *   the lock, the instance reads L2 again (double-checked locking): a leader that stored the key
 *   and released its lock between this instance's L2 miss and its SET NX leaves an entry to use,
 *   not a second origin request to make.
 * - **release**, by the leader once its flight is over and, if it stored the key, once that L2
 *   write is done: compare-and-delete, a script that deletes the lock only while it still holds
 *   the leader's token (an expired lock may belong to another leader by then). When nothing was
 *   stored, a `release` notice tells the waiters to go to the origin themselves, at once.
 * - **wait**: after one more L2 read (the leader may have stored before this instance listened
 *   for the key's notices), until the key's `set` notice (published in the same MULTI as the
 *   entry, so the entry is readable when the notice arrives) or `release` notice, with a fallback poll of the
 *   lock every `pollMs` (notices are fire-and-forget), for at most `lockTimeout`. A crashed
 *   leader's lock expires after lockTimeout; the poll sees it gone, and the waiter tries to take
 *   the lock itself, so one instance, not all, goes to the origin in its place.
 *
 * A waiter reads L2 itself (`read`, supplied by the engine: the request's own variant, and only a
 * fresh entry), so it is never handed a response that was not stored for it.
 *
 * Redis is optional here too: while the breaker is not closed, or when a lock command fails,
 * `lead` answers undefined and the engine coalesces in-process only.
 */
import { randomBytes } from 'node:crypto'
import type { RedisStore } from './l2.js'

export interface LocksOptions {
  /** How long a lock lives, and the longest a waiter waits (the cache's `lockTimeout`). */
  ttlMs: number
  /** The fallback poll's interval while waiting. */
  pollMs: number
}

/** Counters since the cache started. */
export interface LockStats {
  /** Locks taken: this instance led a miss across instances. */
  acquired: number
  /** Misses that found another instance leading, and waited for it. */
  contended: number
  /** Waits ended by a notice (the leader stored, or gave up). */
  notified: number
  /** Waits ended by the fallback poll or the deadline (a notice was lost, or the leader crashed). */
  polled: number
  /** Misses answered from L2 with what another instance stored meanwhile. */
  found: number
  /** Misses coalesced in-process only, because Redis was unavailable. */
  unavailable: number
  /** Locks this instance had given up but could not release at the time (Redis failing), removed once Redis answered again. */
  reclaimed: number
}

/** The leader's lock. */
export interface Held {
  /**
   * Releases the lock (once; later calls are no-ops). `written`: the leader stored the key, and
   * this settles when the L2 write is done; the release waits for it. Undefined: nothing stored.
   */
  release: (written: Promise<unknown> | undefined) => void
}

/** `lead`'s answer: this instance leads, or another one stored what the request needs. */
export type Lead<T> = { lock: Held, found?: undefined } | { found: T, lock?: undefined }

/** How a wait ended. */
type Woken = 'set' | 'release' | 'gone' | 'timeout' | 'closed'

/** A `lead` call's ear for notices about its key; it listens from before its SET NX, so none slips by. */
interface Ear {
  heard?: 'set' | 'release' | 'closed'
  wake?: () => void
}

/** KEYS[1]: the lock; ARGV[1]: the token. Deletes the lock only while it is still this holder's. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/** KEYS: locks; ARGV: their tokens, in the same order. RELEASE for each; returns how many it deleted. */
const RELEASE_ALL = `
local deleted = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then deleted = deleted + redis.call('DEL', key) end
end
return deleted
`

/** Orphaned locks given back per script call. */
const RECLAIM_BATCH = 200

export class Locks {
  private readonly counts: LockStats = { acquired: 0, contended: 0, notified: 0, polled: 0, found: 0, unavailable: 0, reclaimed: 0 }
  /** key → the ears of the `lead` calls for it. */
  private readonly ears = new Map<string, Set<Ear>>()
  /**
   * token → lock: locks this instance gave up whose release failed (a timeout, or skipped while
   * the breaker was open), or whose SET NX failed but may have been applied late. Left in Redis,
   * each would hold every instance's misses for its key until it expired (lockTimeout): they are
   * given back, by compare-and-delete, as soon as Redis answers again (`reclaim`).
   */
  private readonly orphans = new Map<string, { lock: string, until: number }>()
  private reclaiming: Promise<void> | undefined
  private closed = false

  constructor (private readonly store: RedisStore, private readonly options: LocksOptions) {}

  get stats (): LockStats {
    return { ...this.counts }
  }

  /**
   * Leads `key` across instances, or waits for the instance that does and returns what `read`
   * finds once it is done. Undefined: go to the origin without a lock (Redis unavailable, the
   * leader stored nothing usable for this request, or lockTimeout passed).
   */
  async lead<T> (key: string, read: () => Promise<T | undefined>): Promise<Lead<T> | undefined> {
    const ear: Ear = {}
    let ears = this.ears.get(key)
    if (ears === undefined) this.ears.set(key, ears = new Set())
    ears.add(ear)
    try {
      return await this.attempt(key, read, ear)
    } finally {
      ears.delete(ear)
      if (ears.size === 0 && this.ears.get(key) === ears) this.ears.delete(key)
    }
  }

  private async attempt<T> (key: string, read: () => Promise<T | undefined>, ear: Ear): Promise<Lead<T> | undefined> {
    const lock = this.store.keys.lock(key)
    const deadline = Date.now() + this.options.ttlMs
    for (;;) {
      ear.heard = undefined
      if (this.closed || !this.store.available) return this.unavailable()
      if (this.orphans.size > 0) await this.reclaim()
      const token = randomBytes(16).toString('base64url')
      const r = await this.store.call('lock', ['SET', lock, token, 'NX', 'PX', String(this.options.ttlMs)])
      if (!r.ok) {
        this.orphan(lock, token)
        return this.unavailable()
      }
      if (r.value === 'OK') {
        this.counts.acquired++
        const held = this.holder(key, lock, token)
        const found = await read()
        if (found === undefined) return { lock: held }
        held.release(undefined)
        this.counts.found++
        return { found }
      }
      this.counts.contended++
      // The leader may have stored the key before this call's ear listened (its notice came
      // while the caller was reading L2): its entry is in L2 by then, since the notice follows it.
      const early = await read()
      if (early !== undefined) {
        this.counts.found++
        return { found: early }
      }
      const woken = await this.wait(ear, lock, deadline)
      if (woken === 'closed') return undefined
      if (woken === 'set' || woken === 'release') this.counts.notified++
      else this.counts.polled++
      const found = await read()
      if (found !== undefined) {
        this.counts.found++
        return { found }
      }
      // The lock went without a word (a crashed leader's expired): try to take it. Otherwise the
      // leader stored nothing this request can use, or it is too late: go to the origin.
      if (woken !== 'gone' || Date.now() >= deadline) return undefined
    }
  }

  /** A notice from another instance: the key was stored (`set`), or its leader gave up (`release`). */
  notify (key: string, how: 'set' | 'release' | 'closed'): void {
    for (const ear of this.ears.get(key) ?? []) {
      ear.heard = how
      ear.wake?.()
    }
  }

  /**
   * Gives back the orphaned locks (see `orphans`) that have not expired yet: one compare-and-delete
   * script for a batch of them, so a lock another holder took since is left alone. Called before
   * each lock attempt while there are any, and when the breaker closes (redis.ts).
   */
  async reclaim (): Promise<void> {
    if (this.reclaiming !== undefined) return await this.reclaiming
    const now = Date.now()
    for (const [token, o] of this.orphans) if (o.until <= now) this.orphans.delete(token)
    if (this.orphans.size === 0 || this.closed || !this.store.available) return
    const batch = [...this.orphans].slice(0, RECLAIM_BATCH)
    const run = async (): Promise<void> => {
      const r = await this.store.call('lock', ['EVAL', RELEASE_ALL, String(batch.length), ...batch.map(([, o]) => o.lock), ...batch.map(([token]) => token)])
      if (!r.ok) return
      for (const [token] of batch) this.orphans.delete(token)
      this.counts.reclaimed += Number(r.value)
    }
    this.reclaiming = run().finally(() => { this.reclaiming = undefined })
    return await this.reclaiming
  }

  /** Ends every wait (their callers go to the origin). */
  close (): void {
    this.closed = true
    for (const key of [...this.ears.keys()]) this.notify(key, 'closed')
  }

  private orphan (lock: string, token: string): void {
    this.orphans.set(token, { lock, until: Date.now() + this.options.ttlMs })
  }

  private unavailable (): undefined {
    this.counts.unavailable++
    return undefined
  }

  private holder (key: string, lock: string, token: string): Held {
    let released = false
    return {
      release: written => {
        if (released) return
        released = true
        void (async () => {
          if (written !== undefined) await written
          const r = await this.store.call('lock', ['EVAL', RELEASE, '1', lock, token])
          if (!r.ok) this.orphan(lock, token)
          // A later miss on this instance may be waiting for this instance's own lock (its L2
          // read overlapped the flight); it hears no notice from its own instance.
          this.notify(key, written === undefined ? 'release' : 'set')
          // Still ours and nothing stored: tell the other instances now rather than at their next poll.
          if (written === undefined && r.ok && r.value === 1) await this.store.publish({ op: 'release', key })
        })()
      },
    }
  }

  /** Waits for a notice the ear hears, polling the lock every pollMs, until `deadline`. */
  private async wait (ear: Ear, lock: string, deadline: number): Promise<Woken> {
    for (;;) {
      if (ear.heard !== undefined) return ear.heard
      const left = deadline - Date.now()
      if (left <= 0) return 'timeout'
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.min(this.options.pollMs, left))
        timer.unref()
        ear.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      ear.wake = undefined
      if (ear.heard !== undefined) return ear.heard
      const r = await this.store.call('lock', ['EXISTS', lock])
      if (!r.ok) return 'timeout' // Redis in trouble: stop waiting for it
      if (r.value === 0) return 'gone'
    }
  }
}
