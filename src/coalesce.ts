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

/**
 * One flight. A class rather than an object literal of closures, made once per miss: V8 may
 * allocate a literal site's objects in the old generation from the start (allocation-site
 * pretenuring), where a flight keeps what it points to (the waiters' suspended requests) alive
 * until the next full collection. See `Txn` in engine.ts for the measurements.
 */
class InFlight<T> implements Flight<T> {
  readonly promise: Promise<T | undefined>
  waiters = 0
  private resolve!: (outcome: T | undefined) => void
  private done = false
  private readonly timer: NodeJS.Timeout

  constructor (private readonly owner: Map<string, InFlight<T>>, private readonly key: string, timeoutMs: number) {
    this.promise = new Promise<T | undefined>(resolve => { this.resolve = resolve })
    this.timer = setTimeout(expire, timeoutMs, this)
    this.timer.unref()
  }

  settle (outcome: T | undefined): void {
    if (this.done) return
    this.done = true
    clearTimeout(this.timer)
    if (this.owner.get(this.key) === this) this.owner.delete(this.key)
    this.resolve(outcome)
  }
}

function expire<T> (flight: InFlight<T>): void {
  flight.settle(undefined)
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
    const flight = new InFlight<T>(this.flights, key, this.timeoutMs)
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
