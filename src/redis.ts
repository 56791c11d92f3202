/**
 * The Redis tier of one cache instance, assembled from `createCache({ redis })`: the shared
 * store (l2.ts), the subscription that keeps this instance's L1 coherent with the others
 * (bus.ts), and the locks that coalesce misses across instances (lock.ts). It reports Redis'
 * state changes to the logger, once each.
 */
import { randomUUID } from 'node:crypto'
import { Bus } from './bus.js'
import { RedisStore, type Received } from './l2.js'
import { Locks } from './lock.js'
import type { L2Stats } from './metrics.js'
import type { Settings } from './options.js'
import type { TieredStore } from './tiered.js'

export class RedisTier {
  readonly store: RedisStore
  /** Undefined with `coalesce: false`. */
  readonly locks: Locks | undefined
  private readonly bus: Bus
  private tiered: TieredStore | undefined

  constructor (settings: Settings) {
    const redis = settings.redis
    if (redis === undefined) throw new Error('RedisTier needs settings.redis')
    const { logger } = settings
    this.store = new RedisStore({
      url: redis.url,
      cluster: redis.cluster,
      client: redis.client,
      namespace: settings.namespace,
      instanceId: randomUUID(),
      commandTimeout: redis.commandTimeout,
      connectTimeout: redis.connectTimeout,
      compressAbove: redis.compressAbove,
      breaker: redis.breaker,
      // The first failure while closed starts an outage; a failed probe (half-open) is
      // reported by the transition back to open, with its error.
      onError: (err, operation) => {
        if (this.store.stats.state === 'closed') logger.warn({ err, operation }, 'cachefront: Redis tier failing; serving from L1 and the origin')
      },
      onStateChange: (state, err) => {
        if (state === 'open') logger.warn({ err, state }, 'cachefront: Redis tier circuit open; Redis is skipped until the cool-down ends')
        else logger.info({ state }, `cachefront: Redis tier circuit ${state}`)
        // Locks given up while Redis failed may still stand there; give them back now.
        if (state === 'closed') void this.locks?.reclaim()
      },
    })
    this.locks = redis.coalesce ? new Locks(this.store, { ttlMs: settings.lockTimeout, pollMs: redis.lockPoll }) : undefined
    this.bus = new Bus(this.store, {
      onNotice: notice => this.apply(notice),
      onGap: lapsed => {
        // Notices may have been missed: drop L1, and read the generation before the next operation.
        this.store.forgetGeneration()
        this.tiered?.forget({ op: 'all' })
        if (lapsed) logger.info({}, 'cachefront: Redis notices flowing again after a lapse; L1 dropped')
      },
      onError: err => logger.warn({ err }, 'cachefront: cannot subscribe to Redis notices yet; retrying'),
    })
  }

  /** Starts listening: other instances' notices drop entries from `tiered`'s L1 and wake lock waiters. */
  listen (tiered: TieredStore): void {
    this.tiered = tiered
    this.bus.start()
  }

  stats (): L2Stats {
    const store = this.store.stats
    return { ...store, saved: store.bytesIn - store.bytesStored, ...this.bus.stats, locks: this.locks?.stats }
  }

  /** Stops listening and waiting (the store itself is closed with the tiered store). */
  async close (): Promise<void> {
    this.locks?.close()
    await this.bus.close()
  }

  private apply (notice: Received): void {
    if (notice.op === 'all') this.store.forgetGeneration()
    if (notice.op !== 'release' && notice.op !== 'ping') this.tiered?.forget(notice)
    if (notice.op === 'set' || notice.op === 'release') this.locks?.notify(notice.key, notice.op)
  }
}
