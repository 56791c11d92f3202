/**
 * Coalescing across instances: the local leader of a miss (coalesce.ts) asks Redis whether
 * another instance is already fetching the key, and if so waits for what it stores instead of
 * going to the origin.
 *
 * Protocol, on `cf:{ns}:lock:<key>` (same hash tag as the namespace's entries):
 * - **acquire**: `SET lock <token> NX PX lockTimeout GET`, one round trip. A nil reply: this
 *   instance leads (the token is 16 random bytes). A token: another instance leads; wait. The
 *   marker `stored`: a leader has just finished and stored the key; read it at once.
 * - **release**, by the leader once its flight is over and its L2 write is done: a script that
 *   compares the value with its token and then deletes the lock (nothing stored: it also
 *   publishes a `release` notice, so waiters go to the origin at once), or replaces it with the
 *   `stored` marker for STORED_LINGER_MS (stored). The marker closes a race: an instance whose L2
 *   read missed just before the leader stored, and whose SET NX comes just after the release,
 *   would otherwise lead a second origin request.
 * - **wait**: until the key's `set` notice (published in the same MULTI as the entry, so the
 *   entry is readable when it arrives) or `release` notice, with a fallback poll every
 *   `pollMs` (GET of the lock: notices are fire-and-forget), and at most `lockTimeout`. A
 *   crashed leader's lock expires after lockTimeout, and the poll notices it.
 *
 * A waiter then reads L2 itself (`read`, supplied by the engine: the request's own variant, and
 * only a fresh entry), so it is never handed a response that was not stored for it.
 *
 * Redis is optional here too: while the breaker is not closed, or when a lock command fails,
 * `acquire` answers undefined and the engine coalesces in-process only.
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
  /** Misses coalesced in-process only, because Redis was unavailable. */
  unavailable: number
}

/** This instance leads: release once the flight is over. */
export interface Held {
  held: true
  /**
   * Releases the lock (once; later calls are no-ops). `written`: the leader stored the key, and
   * this settles when the L2 write is done; the release waits for it. Undefined: nothing stored.
   */
  release: (written: Promise<unknown> | undefined) => void
}

/** Another instance leads. */
export interface Contended {
  held: false
  /** Waits for the leader, then calls `read` once; undefined when it had nothing, or on close. */
  wait: <T>(read: () => Promise<T | undefined>) => Promise<T | undefined>
}

/** How long the `stored` marker replaces a released lock: a few round trips are enough. */
export const STORED_LINGER_MS = 250
const STORED = 'stored'

/** KEYS[1]: the lock; ARGV[1]: the token; ARGV[2]: ms to keep the `stored` marker, or 0 to delete. */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], '${STORED}', 'PX', ARGV[2])
return 1
`

export class Locks {
  private readonly counts: LockStats = { acquired: 0, contended: 0, notified: 0, polled: 0, unavailable: 0 }
  /** key → wake-ups of the waits for it. */
  private readonly waiters = new Map<string, Set<() => void>>()
  private closed = false

  constructor (private readonly store: RedisStore, private readonly options: LocksOptions) {}

  get stats (): LockStats {
    return { ...this.counts }
  }

  /** Leads the key across instances, or learns who does; undefined: Redis cannot say (coalesce in-process). */
  async acquire (key: string): Promise<Held | Contended | undefined> {
    if (this.closed || !this.store.available) {
      this.counts.unavailable++
      return undefined
    }
    const lock = this.store.keys.lock(key)
    const token = randomBytes(16).toString('base64url')
    const r = await this.store.call('lock', ['SET', lock, token, 'NX', 'PX', String(this.options.ttlMs), 'GET'])
    if (!r.ok) {
      this.counts.unavailable++
      return undefined
    }
    if (r.value === null) {
      this.counts.acquired++
      return { held: true, release: this.releaser(key, lock, token) }
    }
    this.counts.contended++
    const done = r.value === STORED
    return { held: false, wait: async read => done ? await read() : await this.wait(key, lock, read) }
  }

  /** A notice for `key` (`set` or `release`) from another instance: wakes the waits for it. */
  notify (key: string): void {
    const wakes = this.waiters.get(key)
    if (wakes === undefined) return
    this.waiters.delete(key)
    for (const wake of wakes) wake()
  }

  /** Ends every wait (their callers go to the origin). */
  close (): void {
    this.closed = true
    for (const key of [...this.waiters.keys()]) this.notify(key)
  }

  private releaser (key: string, lock: string, token: string): Held['release'] {
    let released = false
    return written => {
      if (released) return
      released = true
      void (async () => {
        if (written !== undefined) await written
        const linger = written === undefined ? '0' : String(STORED_LINGER_MS)
        const r = await this.store.call('lock', ['EVAL', RELEASE, '1', lock, token, linger])
        // A later miss on this instance may be waiting for its own lock (its L2 read overlapped
        // the flight); it hears no notice from itself.
        this.notify(key)
        // Still ours and nothing stored: tell the waiters now rather than at their next poll.
        if (written === undefined && r.ok && r.value === 1) await this.store.publish({ op: 'release', key })
      })()
    }
  }

  private async wait<T> (key: string, lock: string, read: () => Promise<T | undefined>): Promise<T | undefined> {
    const deadline = Date.now() + this.options.ttlMs
    for (;;) {
      const left = deadline - Date.now()
      if (await this.sleep(key, Math.min(this.options.pollMs, Math.max(left, 0)))) {
        if (this.closed) return undefined
        this.counts.notified++
        return await read()
      }
      if (this.closed) return undefined
      if (Date.now() >= deadline) break
      const r = await this.store.call('lock', ['GET', lock])
      // Gone (released or expired), or marked stored: the leader is done. A failed poll: stop
      // waiting on a Redis in trouble.
      if (!r.ok || r.value === null || r.value === STORED) break
    }
    this.counts.polled++
    return await read()
  }

  /** Resolves true when `notify(key)` wakes it, false after `ms`. */
  private async sleep (key: string, ms: number): Promise<boolean> {
    return await new Promise<boolean>(resolve => {
      let wakes = this.waiters.get(key)
      if (wakes === undefined) this.waiters.set(key, wakes = new Set())
      const wake = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => {
        const current = this.waiters.get(key)
        current?.delete(wake)
        if (current?.size === 0) this.waiters.delete(key)
        resolve(false)
      }, ms)
      timer.unref()
      wakes.add(wake)
    })
  }
}
