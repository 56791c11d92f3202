/**
 * A circuit breaker for a remote dependency (the Redis tier).
 *
 * - **closed**: calls go through; `threshold` consecutive failures open it.
 * - **open**: calls are refused without touching the dependency, for `coolDownMs`.
 * - **half-open**: after the cool-down, exactly one call (the probe) goes through; its success
 *   closes the breaker, its failure opens it for another cool-down. Other calls are refused
 *   while the probe is out.
 *
 * `onStateChange` runs exactly once per transition, so a caller that logs there logs once per
 * state change (DESIGN: degraded paths are logged once per state change, not once per request).
 * Time comes from the injectable `now()`; the breaker sets no timers, so tests need no sleeping.
 */

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. Default 5. */
  threshold?: number
  /** How long the breaker stays open before letting a probe through, in ms. Default 5000. */
  coolDownMs?: number
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number
  /** Called once per transition; `err` is the failure that opened the breaker. */
  onStateChange?: (state: BreakerState, err?: unknown) => void
}

export class Breaker {
  readonly threshold: number
  readonly coolDownMs: number
  private readonly now: () => number
  private readonly onStateChange?: (state: BreakerState, err?: unknown) => void
  private current: BreakerState = 'closed'
  private failures = 0
  private openedAt = 0
  private probing = false

  constructor (options: BreakerOptions = {}) {
    this.threshold = Math.max(1, options.threshold ?? 5)
    this.coolDownMs = Math.max(0, options.coolDownMs ?? 5000)
    this.now = options.now ?? Date.now
    this.onStateChange = options.onStateChange
  }

  /** The current state; an open breaker whose cool-down has passed reads as half-open. */
  get state (): BreakerState {
    this.cool()
    return this.current
  }

  /**
   * Asks to make a call. True means go ahead, and report the outcome with `success()` or
   * `failure()`; in half-open state the first caller gets the probe and everyone else a false.
   */
  allow (): boolean {
    this.cool()
    if (this.current === 'closed') return true
    if (this.current === 'open' || this.probing) return false
    this.probing = true
    return true
  }

  /** Reports a call that worked: resets the failure count; a successful probe closes the breaker. */
  success (): void {
    this.failures = 0
    if (this.current === 'half-open') {
      this.probing = false
      this.move('closed')
    }
  }

  /** Reports a call that failed: the threshold-th consecutive one, or a failed probe, opens the breaker. */
  failure (err?: unknown): void {
    if (this.current === 'open') return // a late report from a call made before the breaker opened
    this.failures++
    if (this.current === 'half-open' || this.failures >= this.threshold) {
      this.probing = false
      this.openedAt = this.now()
      this.move('open', err)
    }
  }

  private cool (): void {
    if (this.current === 'open' && this.now() - this.openedAt >= this.coolDownMs) this.move('half-open')
  }

  private move (state: BreakerState, err?: unknown): void {
    this.current = state
    this.onStateChange?.(state, err)
  }
}
