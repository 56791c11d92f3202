/**
 * Request coalescing (collapsed forwarding): concurrent misses for one key send one request to
 * the origin; the others wait for its outcome. State lives in the instance that owns it, never
 * in a module-level map.
 *
 * A flight settles with an outcome (the stored entry), or with `undefined`: "go to the origin yourself"
 * (the response was not storable, too large, failed, or the leader took longer than the
 * timeout). A waiter is therefore never handed a response that was not stored for everyone.
 */
/** The leader's handle on its flight. */
export interface Flight<T> {
  /** Releases the waiters with the stored entry, or with undefined to send them to the origin. Idempotent. */
  settle(outcome: T | undefined): void
}

interface InFlight<T> extends Flight<T> {
  promise: Promise<T | undefined>
  waiters: number
}

export class Coalescer<T> {
  private readonly flights = new Map<string, InFlight<T>>()

  /** @param timeoutMs how long a flight may stay in the air before its waiters are released. */
  constructor (private readonly timeoutMs: number) {}

  /** The outcome of the flight for `key` when one is in the air; undefined when the caller should lead. */
  wait (key: string): Promise<T | undefined> | undefined {
    const flight = this.flights.get(key)
    if (flight === undefined) return undefined
    flight.waiters++
    return flight.promise
  }

  /** Starts the flight for `key`. The caller must settle it (a timer does, at the latest). */
  lead (key: string): Flight<T> {
    let resolve!: (e: T | undefined) => void
    const promise = new Promise<T | undefined>(r => { resolve = r })
    let done = false
    const settle = (outcome: T | undefined): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (this.flights.get(key) === flight) this.flights.delete(key)
      resolve(outcome)
    }
    const timer = setTimeout(() => settle(undefined), this.timeoutMs)
    timer.unref()
    const flight: InFlight<T> = { promise, waiters: 0, settle }
    this.flights.set(key, flight)
    return flight
  }

  /** Flights in the air (for leak checks and stats). */
  get size (): number {
    return this.flights.size
  }

  /** Releases every waiter (on close). */
  releaseAll (): void {
    for (const flight of [...this.flights.values()]) flight.settle(undefined)
  }
}
