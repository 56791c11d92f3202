/**
 * The listening side of the namespace's channel (the store publishes: l2.ts, "Notices"): a
 * second connection in subscribe mode, `client.duplicate()`, subscribed to `cf:{ns}:bus` (with
 * SSUBSCRIBE in a Cluster: a sharded channel lives on the namespace's own shard, where its
 * SPUBLISHes go). Every notice from another instance goes to `onNotice`; an instance's own are
 * ignored, by the `from` field every notice carries.
 *
 * **Gaps.** Pub/sub is fire-and-forget: notices published while the subscriber is disconnected
 * are lost, and an L1 could go on serving what another instance purged. So whenever the
 * subscription may have lapsed (an error or reconnection on its connection), the bus publishes a
 * `ping` every PING_MS until it hears its own ping back, then calls `onGap` (the owner drops all
 * of L1 and reads the generation again). `onGap` also runs when the first subscription is made.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeNotice, type Received, type RedisStore } from './l2.js'

export interface BusOptions {
  /** A notice from another instance. */
  onNotice: (notice: Received) => void
  /**
   * The subscription is known to work (again): notices sent before may have been missed.
   * `lapsed`: after a lapse, rather than on the first subscription.
   */
  onGap: (lapsed: boolean) => void
  /** Subscribing failed; called once per spell of failures. */
  onError: (err: Error) => void
}

/** Counters since the cache started. */
export interface BusStats {
  /** Whether the subscription is known to work now. */
  subscribed: boolean
  /** Notices received from other instances. */
  received: number
  /** Times the subscription came back after it may have lapsed (and L1 was dropped). */
  gaps: number
}

/** How often a bus that may have missed notices checks its subscription. */
export const PING_MS = 250

/** The parts of a node-redis client or cluster the bus uses (a `duplicate()` of the store's). */
interface Subscriber {
  connect: () => Promise<unknown>
  subscribe: (channel: string, listener: (message: string) => void) => Promise<void>
  sSubscribe: (channel: string, listener: (message: string) => void) => Promise<void>
  on: (event: string, listener: (...args: unknown[]) => void) => unknown
  destroy: () => void
}

/** Connection events of a client (and, prefixed with `node-`, of a Cluster's node clients). */
const TROUBLE = ['error', 'reconnecting', 'end', 'node-error', 'node-reconnecting', 'node-disconnect']

export class Bus {
  private sub: Subscriber | undefined
  private closed = false
  /** The subscription may have lapsed: ping until our own ping comes back. */
  private suspect = true
  private pinger: NodeJS.Timeout | undefined
  private failing = false
  private readonly counts = { received: 0, gaps: 0 }

  constructor (private readonly store: RedisStore, private readonly options: BusOptions) {}

  get stats (): BusStats {
    return { subscribed: this.sub !== undefined && !this.suspect, ...this.counts }
  }

  /** Subscribes in the background, retrying until it works (Redis may be down at start). */
  start (): void {
    void this.subscribe()
  }

  async close (): Promise<void> {
    this.closed = true
    clearInterval(this.pinger)
    const sub = this.sub
    this.sub = undefined
    try { sub?.destroy() } catch {}
  }

  private async subscribe (): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      const sub = (this.store.client as unknown as { duplicate: () => Subscriber }).duplicate()
      // An 'error' event without a listener would crash the process.
      for (const event of TROUBLE) sub.on(event, () => this.lapse())
      try {
        await sub.connect()
        const listener = (message: string): void => this.receive(message)
        const channel = this.store.keys.channel
        await (this.store.cluster ? sub.sSubscribe(channel, listener) : sub.subscribe(channel, listener))
        if (this.closed) {
          sub.destroy()
          return
        }
        this.sub = sub
        this.failing = false
        this.confirmed()
        return
      } catch (err) {
        try { sub.destroy() } catch {}
        if (!this.failing) this.options.onError(err instanceof Error ? err : new Error(String(err)))
        this.failing = true
        await sleep(Math.min(100 * 2 ** attempt, 2000))
      }
    }
  }

  private receive (message: string): void {
    const notice = decodeNotice(message)
    if (notice === undefined) return
    if (notice.from === this.store.instanceId) {
      if (notice.op === 'ping' && this.suspect) this.confirmed()
      return
    }
    if (notice.op === 'ping') return
    this.counts.received++
    this.options.onNotice(notice)
  }

  /** The connection reported trouble: notices may be lost until our own ping comes back. */
  private lapse (): void {
    if (this.closed || this.sub === undefined) return
    this.suspect = true
    if (this.pinger !== undefined) return
    this.pinger = setInterval(() => { void this.store.publish({ op: 'ping' }) }, PING_MS)
    this.pinger.unref()
  }

  private confirmed (): void {
    const lapsed = this.pinger !== undefined
    if (lapsed) this.counts.gaps++
    this.suspect = false
    clearInterval(this.pinger)
    this.pinger = undefined
    this.options.onGap(lapsed)
  }
}
