import {
  createClient,
  createCluster,
  defaultReconnectStrategy,
  type RedisClusterOptions,
  type RedisConnectionClientType,
  type RedisConnectionClusterType
} from '@keyv/redis'
import { randomUUID } from 'node:crypto'
import { Breaker, type BreakerState } from './breaker.js'
import { CODEC_MAGIC, CODEC_PREFIX_BYTES, CODEC_VERSION, decode, DEFAULT_COMPRESS_ABOVE, encodeWithStats } from './codec.js'
import type { Stored } from './entry.js'
import type { Store } from './store.js'
import { OptionError } from './units.js'

/**
 * The Redis tier (L2): a `Store` shared by every cachefront process that points at the same Redis.
 *
 * **Failure model.** Redis is an optimisation, never a dependency of a response:
 * - `get` and `set` never reject. A timeout, a lost connection or an unreadable value is a miss
 *   (or a skipped write), counted in `stats`; the first failure in each breaker state goes to
 *   `onError`, and every breaker transition to `onStateChange`, so logs say it once.
 * - Every command is bounded by `commandTimeout`, and nothing waits for a reconnect: the offline
 *   queue is off, and a client that is not ready fails at once. Only the very first connection
 *   is waited for (still within `commandTimeout`), so a store used right after construction works.
 * - A circuit breaker (`breaker.ts`) stops calling Redis after `threshold` consecutive failures;
 *   while it is open, operations do not touch Redis at all (counted as `skipped`).
 * - **Invalidation is different**: `delete`, `deleteTag`, `deletePrefix` and `clear` reject with
 *   `StoreUnavailableError` when Redis cannot be reached (including while the breaker is open),
 *   because the caller (the purge API) must be able to say that a purge did not reach the
 *   shared tier. Resolving 0 there would report "nothing to purge" for entries still in Redis.
 *
 * **Keys.** One namespace's keys share a hash tag, `cf:{<namespace>}:...`, so they live in one
 * Cluster slot and the multi-key commands below (MULTI, multi-key UNLINK, EVAL) are legal in a Cluster
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags):
 * - `cf:{ns}:gen` holds the namespace's generation number N (absent: 0). `clear()` is one INCR:
 *   entries and tag sets live under `cf:{ns}:N:`, so those of older generations become
 *   unreachable at once and expire on their own. The store reads N once (on its first operation)
 *   and keeps it; `forgetGeneration()` makes it read N again (on another instance's `clear`);
 * - `cf:{ns}:N:e:<key>` holds an entry, encoded by `codec.ts` (binary, body optionally brotli);
 * - `cf:{ns}:N:t:<tag>` is a set of the keys stored with that tag. It lives at least as long as
 *   its longest-lived member. Members are not removed when an entry expires, is deleted or is
 *   overwritten with other tags (that would cost `set` a read first); instead `deleteTag` checks,
 *   inside Redis, that each member's current value still carries the tag before unlinking it;
 * - `cf:{ns}:lock:<key>` is a cross-instance coalescing lock (`lock.ts`);
 * - `cf:{ns}:bus` is the namespace's pub/sub channel (sharded pub/sub in a Cluster, so it lives
 *   on the namespace's shard too).
 *
 * **Notices.** Every change is announced on the channel, in the same round trip when it can be
 * (`set` and `delete` add a PUBLISH to their MULTI, `clear` too; `deleteTag` and `deletePrefix`
 * publish once they are done), so other instances drop what their L1 holds (`bus.ts`). A notice
 * is published after the change is applied, so a reader told about it finds the new state.
 *
 * Requires Redis >= 7.0 (`PEXPIRE ... NX|GT`) and UNLINK (>= 4.0).
 */

/** A node-redis client or cluster, as created by `@keyv/redis`' `createClient` / `createCluster`. */
export type RedisConnection = RedisConnectionClientType | RedisConnectionClusterType

/** The store operations, as named in errors, `onError` and `StoreUnavailableError`. */
export type L2Operation = 'get' | 'set' | 'delete' | 'deleteTag' | 'deletePrefix' | 'clear' | 'lock' | 'publish'

export interface RedisStoreOptions {
  /** `redis[s]://[[user][:password]@]host[:port][/db]`. Default `redis://127.0.0.1:6379`. */
  url?: string
  /**
   * A node-redis client (or cluster) you built and own: used as is (connected if it is not open
   * yet) and not closed by `close()`. Its own offline-queue setting applies; commands are still
   * bounded by `commandTimeout`, and a single-node client that is not ready fails fast. The store
   * adds a no-op 'error' listener so that a socket error can never crash the process.
   */
  client?: RedisConnection
  /** Connect to a Redis Cluster instead of `url`. */
  cluster?: Pick<RedisClusterOptions, 'rootNodes' | 'defaults' | 'useReplicas' | 'nodeAddressMap'>
  /** Non-empty; isolates this cache's keys from others on the same Redis. */
  namespace: string
  /** Upper bound for each Redis command, in ms. Default 500. */
  commandTimeout?: number
  /** Upper bound for establishing a connection, in ms. Default 1000. */
  connectTimeout?: number
  /** Bodies larger than this many bytes are stored compressed. Default 1024. */
  compressAbove?: number
  /** Consecutive failures that open the breaker (default 5) and its cool-down in ms (default 5000). */
  breaker?: { threshold?: number, coolDownMs?: number }
  /** The first failure in each breaker state (so: once per episode, not once per request). */
  onError?: (err: Error, operation: L2Operation) => void
  /** Each breaker transition, once; `err` is the failure that opened it. */
  onStateChange?: (state: BreakerState, err?: Error) => void
  /** Who this store speaks for in its notices (a cache instance). Default: a random UUID. */
  instanceId?: string
}

/** Counters since the store was created. */
export interface RedisStoreStats {
  /** Operations that failed (timeouts included). */
  errors: number
  /** Of those, the ones that hit `commandTimeout`. */
  timeouts: number
  /** Values that were not a valid entry (foreign, truncated, old format): read as a miss and deleted. */
  corrupt: number
  /** Operations refused without touching Redis because the breaker was open (or the store closed). */
  skipped: number
  /** Encoded size of the values written, before compression. */
  bytesIn: number
  /** Bytes actually written to Redis, after compression. */
  bytesStored: number
  /** Notices published on the namespace's channel. */
  published: number
  /** The namespace's generation as last read; undefined until read (or after `forgetGeneration`). */
  generation: number | undefined
  state: BreakerState
}

/** An invalidation that could not reach Redis; `cause` says why (timeout, connection, open breaker). */
export class StoreUnavailableError extends Error {
  constructor (readonly operation: L2Operation, override readonly cause: Error) {
    super(`Redis store unavailable for ${operation}: ${cause.message}`)
    this.name = 'StoreUnavailableError'
  }
}

/** A Redis command that did not answer within `commandTimeout`. */
export class CommandTimeoutError extends Error {
  constructor (readonly command: string, readonly timeoutMs: number) {
    super(`Redis ${command} did not answer within ${timeoutMs} ms`)
    this.name = 'CommandTimeoutError'
  }
}

/** The Redis keys of one namespace (exported for tests, pub/sub, locks and tooling). */
export interface RedisKeys {
  /** What every key of the namespace starts with, `cf:{ns}:` (the hash tag included). */
  prefix: string
  /** The generation counter. */
  generation: string
  /** The pub/sub channel. */
  channel: string
  lock: (key: string) => string
  /** An entry, at the generation given to `redisKeys`. */
  entry: (key: string) => string
  /** A tag set, at the generation given to `redisKeys`. */
  tag: (tag: string) => string
}

export function redisKeys (namespace: string, generation = 0): RedisKeys {
  const prefix = `cf:{${namespace}}:`
  const current = `${prefix}${generation}:`
  return {
    prefix,
    generation: `${prefix}gen`,
    channel: `${prefix}bus`,
    lock: key => `${prefix}lock:${key}`,
    entry: key => `${current}e:${key}`,
    tag: tag => `${current}t:${tag}`
  }
}

/**
 * What a store announces on its channel: a change to the shared tier, or a cache instance's
 * message about a key (`release`: a coalescing lock was given up without storing anything;
 * `ping`: an instance checking that its own subscription works).
 */
export type Notice =
  | { op: 'set' | 'delete' | 'release', key: string }
  | { op: 'tag', tag: string }
  | { op: 'prefix', prefix: string }
  | { op: 'all' }
  | { op: 'ping' }

/** A notice as received: who sent it, and what it says. */
export type Received = Notice & { from: string }

/** The wire form: one JSON object, `{"from":"<instance>","op":"set","key":"..."}`. */
export function encodeNotice (from: string, notice: Notice): string {
  return JSON.stringify({ from, ...notice })
}

/** The notice in a channel message, or undefined for anything else (a foreign publisher's text). */
export function decodeNotice (text: string): Received | undefined {
  let m: unknown
  try { m = JSON.parse(text) } catch { return undefined }
  if (m === null || typeof m !== 'object') return undefined
  const n = m as Record<string, unknown>
  if (typeof n.from !== 'string') return undefined
  switch (n.op) {
    case 'set': case 'delete': case 'release':
      return typeof n.key === 'string' ? { from: n.from, op: n.op, key: n.key } : undefined
    case 'tag':
      return typeof n.tag === 'string' ? { from: n.from, op: 'tag', tag: n.tag } : undefined
    case 'prefix':
      return typeof n.prefix === 'string' ? { from: n.from, op: 'prefix', prefix: n.prefix } : undefined
    case 'all': case 'ping':
      return { from: n.from, op: n.op }
    default:
      return undefined
  }
}

/** Escapes Redis glob metacharacters (`* ? [ ] \`) so SCAN MATCH treats `s` literally. */
export function escapeGlob (s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&')
}

export class RedisStore implements Store {
  /** The underlying node-redis client or cluster, for pub/sub (`client.duplicate()`) and locks. */
  readonly client: RedisConnection
  readonly namespace: string
  /** Whether `client` is a Cluster (whose channel is a sharded one: SPUBLISH, SSUBSCRIBE). */
  readonly cluster: boolean
  /** Who this store speaks for in its notices. */
  readonly instanceId: string
  /** The namespace's keys; `entry` and `tag` at generation 0 (see `at()` for the current ones). */
  readonly keys: RedisKeys
  private readonly wire: Wire
  private readonly owned: boolean
  /** The current generation and its keys; undefined until it is read. */
  private current: { generation: number, keys: RedisKeys } | undefined
  /** Bumped whenever the generation is set or forgotten, so an older read in flight is not kept. */
  private epoch = 0
  private loading: Promise<RedisKeys> | undefined
  private readonly commandTimeout: number
  private readonly compressAbove: number
  private readonly breaker: Breaker
  private readonly onError?: RedisStoreOptions['onError']
  private readonly counts = { errors: 0, timeouts: 0, corrupt: 0, skipped: 0, bytesIn: 0, bytesStored: 0, published: 0 }
  /** Whether this breaker state's first failure has gone to onError. */
  private logged = false
  private closed = false
  private readonly inflight = new Set<Promise<unknown>>()

  constructor (options: RedisStoreOptions) {
    if (typeof options.namespace !== 'string' || options.namespace === '') {
      throw new OptionError('namespace', 'a non-empty string', options.namespace)
    }
    this.namespace = options.namespace
    this.keys = redisKeys(options.namespace)
    this.instanceId = options.instanceId ?? randomUUID()
    this.commandTimeout = positive(options.commandTimeout ?? 500, 'commandTimeout')
    this.compressAbove = options.compressAbove ?? DEFAULT_COMPRESS_ABOVE
    if (!(this.compressAbove >= 0)) throw new OptionError('compressAbove', 'a number of bytes >= 0', options.compressAbove)
    this.onError = options.onError
    const onStateChange = options.onStateChange
    this.breaker = new Breaker({
      threshold: options.breaker?.threshold,
      coolDownMs: options.breaker?.coolDownMs,
      onStateChange: (state, err) => {
        this.logged = false
        if (onStateChange) callSafely(() => onStateChange(state, err as Error | undefined))
      }
    })

    const socket = {
      connectTimeout: positive(options.connectTimeout ?? 1000, 'connectTimeout'),
      // Keep retrying forever with @keyv/redis' capped exponential backoff (100 ms .. 2 s, jittered);
      // node-redis' own default gives up on socket timeouts.
      reconnectStrategy: (retries: number) => defaultReconnectStrategy(retries)
    }
    this.owned = options.client === undefined
    if (options.client !== undefined) {
      this.client = options.client
    } else if (options.cluster !== undefined) {
      const { defaults, ...cluster } = options.cluster
      this.client = createCluster({
        ...cluster,
        defaults: { disableOfflineQueue: true, ...defaults, socket: { ...socket, ...defaults?.socket } }
      }) as unknown as RedisConnectionClusterType
    } else {
      // disableOfflineQueue: while reconnecting, commands fail at once instead of queueing
      // until Redis is back (which would turn a Redis outage into slow responses).
      this.client = createClient({ url: options.url ?? 'redis://127.0.0.1:6379', disableOfflineQueue: true, socket }) as unknown as RedisConnectionClientType
    }
    this.cluster = isCluster(this.client)
    this.wire = isCluster(this.client) ? clusterWire(this.client) : nodeWire(this.client)
    // An EventEmitter 'error' without a listener crashes the process. Failures are reported
    // through the operations that meet them (once per breaker state), so these are not logged.
    this.emitter.on('error', noop)
    this.wire.connect()
  }

  /** Counters and breaker state. */
  get stats (): RedisStoreStats {
    return { ...this.counts, generation: this.current?.generation, state: this.breaker.state }
  }

  /** Whether Redis is worth asking for something optional (a lock): the breaker is closed. */
  get available (): boolean {
    return !this.closed && this.breaker.state === 'closed'
  }

  /** One round trip: a GET read as bytes. An unreadable value is a miss, deleted and counted. */
  async get (key: string): Promise<Stored | undefined> {
    let k = ''
    const r = await this.guard('get', async () => {
      k = (await this.at()).entry(key)
      try {
        return await this.command(k, ['GET', k], true)
      } catch (err) {
        if (isWrongType(err)) return FOREIGN // someone else's list/set/hash under our key
        throw err
      }
    })
    if (!r.ok || r.value === null) return undefined
    const value = Buffer.isBuffer(r.value) ? decode(r.value) : undefined
    if (value === undefined) {
      this.counts.corrupt++
      // Fire-and-forget: the caller's miss does not wait for the cleanup.
      this.track(this.command(k, ['UNLINK', k]).catch(noop))
    }
    return value
  }

  /**
   * One round trip: a MULTI with SET PX and, per tag, SADD plus PEXPIRE NX (a new set gets a TTL)
   * and PEXPIRE GT (an older set's TTL only grows), then the `set` notice. GT alone would not do:
   * "a non-volatile key is treated as an infinite TTL for the purpose of GT"
   * (https://redis.io/docs/latest/commands/pexpire/).
   */
  async set (key: string, value: Stored, ttlMs: number): Promise<void> {
    const ttl = Math.ceil(ttlMs)
    if (!(ttl > 0)) return // already expired: nothing worth storing (PX must be positive)
    const r = await this.guard('set', async () => {
      const keys = await this.at()
      const k = keys.entry(key)
      const encoded = encodeWithStats(value, { compressAbove: this.compressAbove })
      const px = String(ttl)
      const commands: Args[] = [['SET', k, encoded.buf, 'PX', px]]
      for (const tag of new Set(value.tags)) {
        const t = keys.tag(tag)
        commands.push(['SADD', t, key], ['PEXPIRE', t, px, 'NX'], ['PEXPIRE', t, px, 'GT'])
      }
      commands.push(this.notice({ op: 'set', key }))
      await this.batch(k, commands)
      return encoded
    })
    if (r.ok) {
      this.counts.bytesIn += r.value.originalBytes
      this.counts.bytesStored += r.value.storedBytes
      this.counts.published++
    }
  }

  /** One round trip: UNLINK and the `delete` notice (sent even when Redis held nothing: an L1 elsewhere may). */
  async delete (key: string): Promise<boolean> {
    const n = await this.invalidate('delete', async () => {
      const k = (await this.at()).entry(key)
      const [unlinked] = await this.batch(k, [['UNLINK', k], this.notice({ op: 'delete', key })]) as [number]
      this.counts.published++
      return unlinked
    })
    return n > 0
  }

  /**
   * Reads and drops the tag's set in one MULTI (a snapshot: entries tagged afterwards start a new
   * set), then unlinks the members whose current value still carries the tag, in batches, with
   * UNLINK_TAGGED. Members may have expired, been deleted or been re-stored with other tags: only
   * keys actually removed are counted.
   */
  async deleteTag (tag: string): Promise<number> {
    return await this.invalidate('deleteTag', async () => {
      const keys = await this.at()
      const t = keys.tag(tag)
      const [members] = await this.batch(t, [['SMEMBERS', t], ['UNLINK', t]]) as [string[], number]
      let deleted = 0
      for (let i = 0; i < members.length; i += SCRIPT_BATCH) {
        const batch = members.slice(i, i + SCRIPT_BATCH).map(member => keys.entry(member))
        deleted += await this.command(t, ['EVAL', UNLINK_TAGGED, String(batch.length), ...batch, tag]) as number
      }
      await this.announce({ op: 'tag', tag })
      return deleted
    })
  }

  /** SCAN MATCH (never KEYS, which blocks Redis) with the prefix taken literally, UNLINK per page. */
  async deletePrefix (prefix: string): Promise<number> {
    return await this.invalidate('deletePrefix', async () => {
      const deleted = await this.scanUnlink(escapeGlob((await this.at()).entry(prefix)) + '*')
      await this.announce({ op: 'prefix', prefix })
      return deleted
    })
  }

  /**
   * Empties the namespace in O(1): one MULTI with INCR of the generation and the `all` notice.
   * The older generation's keys are unreachable from now on and expire with their TTLs.
   */
  async clear (): Promise<void> {
    await this.invalidate('clear', async () => {
      const g = this.keys.generation
      const [generation] = await this.batch(g, [['INCR', g], this.notice({ op: 'all' })]) as [number]
      this.counts.published++
      this.epoch++
      this.loading = undefined
      this.current = { generation: Number(generation), keys: redisKeys(this.namespace, Number(generation)) }
    })
  }

  /** Reads the generation again before the next operation (another instance cleared the namespace, or notices may have been missed). */
  forgetGeneration (): void {
    this.epoch++
    this.loading = undefined
    this.current = undefined
  }

  /** Publishes a notice on the namespace's channel; resolves false when Redis could not be reached. */
  async publish (notice: Notice): Promise<boolean> {
    const r = await this.call('publish', this.notice(notice))
    if (r.ok) this.counts.published++
    return r.ok
  }

  /**
   * One command on the namespace's node, through the breaker like every other (for `lock.ts`);
   * never throws. The keys in `args` must carry the namespace's hash tag (`keys.lock(...)`).
   */
  async call (operation: L2Operation, args: Args): Promise<Outcome<unknown>> {
    return await this.guard(operation, async () => await this.command(this.keys.prefix, args))
  }

  /**
   * Stops using Redis: later operations are skipped (invalidations reject). Waits for operations
   * in flight (each is bounded by commandTimeout), then closes the client if this store created it.
   */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled([...this.inflight])
    if (this.owned) this.wire.destroy()
    else this.emitter.off('error', noop)
  }

  /** The namespace's keys at the current generation, reading the generation first when it is not known. */
  private async at (): Promise<RedisKeys> {
    if (this.current !== undefined) return this.current.keys
    if (this.loading === undefined) {
      const loading = this.readGeneration().finally(() => { if (this.loading === loading) this.loading = undefined })
      this.loading = loading
    }
    return await this.loading
  }

  private async readGeneration (): Promise<RedisKeys> {
    const epoch = this.epoch
    const g = this.keys.generation
    const reply = await this.command(g, ['GET', g])
    const generation = reply === null ? 0 : Number(reply)
    if (!Number.isSafeInteger(generation) || generation < 0) throw new Error(`${g} holds ${JSON.stringify(reply)}, not a generation number`)
    const keys = redisKeys(this.namespace, generation)
    // A notice that came while GET was out may already be newer than what GET saw: use it for
    // this one operation, but let the next read the generation again.
    if (epoch === this.epoch) this.current = { generation, keys }
    return keys
  }

  /** A PUBLISH (SPUBLISH in a Cluster, so the message stays on the namespace's shard) of `notice`. */
  private notice (notice: Notice): Args {
    return [this.cluster ? 'SPUBLISH' : 'PUBLISH', this.keys.channel, encodeNotice(this.instanceId, notice)]
  }

  private async announce (notice: Notice): Promise<void> {
    await this.command(this.keys.channel, this.notice(notice))
    this.counts.published++
  }

  private get emitter (): { on: (e: 'error', l: () => void) => unknown, off: (e: 'error', l: () => void) => unknown } {
    return this.client as unknown as RedisStore['emitter']
  }

  /** Runs one operation through the breaker, counting and reporting its failure; never throws. */
  private async guard<T> (operation: L2Operation, fn: () => Promise<T>): Promise<Outcome<T>> {
    if (this.closed || !this.breaker.allow()) {
      this.counts.skipped++
      return { ok: false, error: new Error(this.closed ? 'the store is closed' : 'circuit open after repeated Redis failures') }
    }
    return await this.track(this.attempt(operation, fn))
  }

  /** `guard`'s attempt: a method, not a closure made per operation. */
  private async attempt<T> (operation: L2Operation, fn: () => Promise<T>): Promise<Outcome<T>> {
    try {
      const value = await fn()
      this.breaker.success()
      return { ok: true, value }
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e))
      this.counts.errors++
      if (error instanceof CommandTimeoutError) this.counts.timeouts++
      if (!this.logged) {
        this.logged = true
        const onError = this.onError
        if (onError) callSafely(() => onError(error, operation))
      }
      this.breaker.failure(error)
      return { ok: false, error }
    }
  }

  /** `guard` for invalidations: the same accounting, but failure rejects (see the class doc). */
  private async invalidate<T> (operation: L2Operation, fn: () => Promise<T>): Promise<T> {
    const r = await this.guard(operation, fn)
    if (!r.ok) throw new StoreUnavailableError(operation, r.error)
    return r.value
  }

  /**
   * One command, bounded by commandTimeout. One still waiting to be written when time is up is
   * dropped (aborted), so it is never sent late. Not node-redis' own `timeout` option: it uses
   * `AbortSignal.timeout`, whose timer and weak references outlive the reply by the whole
   * timeout, which kept every command's objects, and what they pointed to, through minor
   * collections (measured on L2 hits: 2 KB promoted per request, and 13-24 % more CPU per hit).
   */
  private async command (routing: string, args: Args, buffers = false): Promise<unknown> {
    const unsent = new AbortController()
    return await this.bounded(String(args[0]), this.wire.send(routing, args, buffers, unsent.signal), unsent)
  }

  /** A MULTI/EXEC: one round trip, applied atomically; bounded by commandTimeout. */
  private async batch (routing: string, commands: Args[]): Promise<unknown[]> {
    return await this.bounded('MULTI', this.wire.multi(routing, commands))
  }

  /** SCAN the namespace's slot for `match`, UNLINKing each page; returns how many keys went. */
  private async scanUnlink (match: string): Promise<number> {
    const routing = this.keys.prefix // all our keys share its hash tag, hence its node
    let cursor = '0'
    let deleted = 0
    do {
      const [next, keys] = await this.command(routing, ['SCAN', cursor, 'MATCH', match, 'COUNT', String(BATCH)]) as [string, string[]]
      cursor = String(next)
      // SCAN may return a key twice; UNLINK's count stays exact because the second time it is 0.
      if (keys.length > 0) deleted += await this.command(routing, ['UNLINK', ...keys]) as number
    } while (cursor !== '0')
    return deleted
  }

  /**
   * Races `reply` against a timer; when time is up, `unsent` is aborted, which drops the command
   * only if it is still waiting to be written. Once written, a command waits for its reply.
   * Replies are matched to commands strictly in order on a connection (RESP pipelining), so a late
   * reply settles its own, abandoned promise and can never be taken for a later command's answer.
   */
  private async bounded<T> (command: string, reply: Promise<T>, unsent?: AbortController): Promise<T> {
    reply.catch(noop) // a late rejection of an abandoned command is not an unhandled rejection
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        unsent?.abort()
        reject(new CommandTimeoutError(command, this.commandTimeout))
      }, this.commandTimeout)
    })
    try {
      return await Promise.race([reply, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  private async track<T> (p: Promise<T>): Promise<T> {
    this.inflight.add(p)
    try {
      return await p
    } finally {
      this.inflight.delete(p)
    }
  }
}

export type Args = Array<string | Buffer>
/** What a guarded operation came to: its value, or the error that was counted. */
export type Outcome<T> = { ok: true, value: T } | { ok: false, error: Error }

/** Keys per SCAN page and per UNLINK. */
const BATCH = 1000
/** Keys per UNLINK_TAGGED call: each call blocks Redis while it runs, so keep it short. */
const SCRIPT_BATCH = 200

/**
 * KEYS: entry keys from a tag's set; ARGV[1]: the tag. UNLINKs each key whose value is a codec
 * encoding (codec.ts layout: magic, version, flags, uint32 header length, JSON header) whose
 * header's `tags` still holds the tag; returns how many keys it removed. It runs inside Redis, so
 * only the header is read (GETRANGE), never the body. All keys share the namespace's hash tag,
 * hence one slot, as a Cluster requires. `struct` and `cjson` are part of Redis' Lua
 * (https://redis.io/docs/latest/develop/programmability/lua-api/#runtime-libraries).
 */
const UNLINK_TAGGED = `
local deleted = 0
for _, key in ipairs(KEYS) do
  local head = redis.pcall('GETRANGE', key, 0, ${CODEC_PREFIX_BYTES - 1})
  if type(head) == 'string' and #head == ${CODEC_PREFIX_BYTES} and string.sub(head, 1, 2) == '${CODEC_MAGIC}' and string.byte(head, 3) == ${CODEC_VERSION} then
    local length = struct.unpack('>I4', head, 5)
    local ok, header = pcall(cjson.decode, redis.call('GETRANGE', key, ${CODEC_PREFIX_BYTES}, ${CODEC_PREFIX_BYTES - 1} + length))
    if ok and type(header) == 'table' and type(header.tags) == 'table' then
      for _, tag in ipairs(header.tags) do
        if tag == ARGV[1] then
          deleted = deleted + redis.call('UNLINK', key)
          break
        end
      end
    end
  end
end
return deleted
`
const FOREIGN = Symbol('foreign')
/** RESP type of bulk strings (`$`, https://redis.io/docs/latest/develop/reference/protocol-spec/#bulk-strings): read as Buffer, not UTF-8 text. */
const BUFFER_REPLIES = { 36: Buffer } as const

function noop (): void {}

function positive (n: number, field: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new OptionError(field, 'a positive number of ms', n)
  return n
}

/** A failing log callback must not fail a cache read; it is surfaced as a process warning. */
function callSafely (fn: () => void): void {
  try {
    fn()
  } catch (err) {
    process.emitWarning(`cachefront: an L2 callback threw: ${String(err)}`)
  }
}

function isWrongType (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('WRONGTYPE')
}

function isCluster (client: RedisConnection): client is RedisConnectionClusterType {
  return (client as { slots?: unknown }).slots !== undefined
}

/**
 * The few calls the store makes, over a single node or a Cluster. Raw `sendCommand` keeps both
 * paths identical and lets GET alone use the Buffer type mapping (the client itself keeps
 * string replies for whoever else uses it).
 */
interface Wire {
  /** `unsent` aborted: the command is dropped if it has not been written yet. */
  send: (routing: string, args: Args, buffers: boolean, unsent: AbortSignal) => Promise<unknown>
  multi: (routing: string, commands: Args[]) => Promise<unknown[]>
  connect: () => void
  destroy: () => void
}

/** The part of node-redis' RedisClient used here (its full generic type is unwieldy). */
interface NodeClient {
  readonly isOpen: boolean
  readonly isReady: boolean
  sendCommand: (args: Args, options?: { typeMapping?: object, abortSignal?: AbortSignal }) => Promise<unknown>
  multi: () => { addCommand: (args: Args) => unknown, exec: () => Promise<unknown[]> }
  connect: () => Promise<unknown>
  destroy: () => void
}

function nodeWire (connection: RedisConnectionClientType): Wire {
  const client = connection as unknown as NodeClient
  /** The first connection, while it is being made: the only one operations wait for. */
  let first: Promise<unknown> | undefined
  // A client that is not ready fails at once, even one built with the offline queue on
  // (node-redis does not apply disableOfflineQueue to MULTI).
  const ready = async (): Promise<void> => {
    if (!client.isReady && first !== undefined) await first
    if (!client.isReady) throw new Error(client.isOpen ? 'Redis is not connected (reconnecting)' : 'Redis client is closed')
  }
  return {
    async send (_routing, args, buffers, unsent) {
      await ready()
      return await client.sendCommand(args, { abortSignal: unsent, typeMapping: buffers ? BUFFER_REPLIES : undefined })
    },
    async multi (_routing, commands) {
      await ready()
      const m = client.multi()
      for (const args of commands) m.addCommand(args)
      return await m.exec()
    },
    connect () {
      // With the reconnect strategy above, connect() keeps retrying until Redis answers.
      if (client.isOpen) return
      first = client.connect().catch(noop).finally(() => { first = undefined })
    },
    destroy () {
      if (client.isOpen) client.destroy()
    }
  }
}

/** The part of node-redis' RedisCluster used here. */
interface ClusterClient {
  readonly isOpen: boolean
  sendCommand: (firstKey: string, isReadonly: boolean, args: Args, options?: { typeMapping?: object, abortSignal?: AbortSignal }) => Promise<unknown>
  multi: (routing: string) => { addCommand: (firstKey: string, isReadonly: boolean, args: Args) => unknown, exec: () => Promise<unknown[]> }
  connect: () => Promise<unknown>
  destroy: () => void
}

/**
 * Cluster: commands are routed by `routing`, a key carrying the namespace's hash tag, so SCAN
 * (which has no key) runs on the one master that holds the whole namespace.
 */
function clusterWire (connection: RedisConnectionClusterType): Wire {
  const cluster = connection as unknown as ClusterClient
  let connecting: Promise<unknown> | undefined
  const connect = (): void => {
    // Unlike a single client, a cluster whose first topology discovery failed does not retry by
    // itself: try again whenever an operation finds it closed.
    if (cluster.isOpen || connecting !== undefined) return
    connecting = cluster.connect().catch(noop).finally(() => { connecting = undefined })
  }
  const open = async (): Promise<void> => {
    connect()
    // isOpen turns true as soon as connect() starts, before the slots are known: wait for the
    // topology (within the caller's commandTimeout).
    if (connecting !== undefined) await connecting
    if (!cluster.isOpen) throw new Error('Redis Cluster is not connected')
  }
  return {
    async send (routing, args, buffers, unsent) {
      await open()
      return await cluster.sendCommand(routing, false, args, { abortSignal: unsent, typeMapping: buffers ? BUFFER_REPLIES : undefined })
    },
    async multi (routing, commands) {
      await open()
      const m = cluster.multi(routing)
      for (const args of commands) m.addCommand(routing, false, args)
      return await m.exec()
    },
    connect,
    destroy () {
      if (cluster.isOpen) cluster.destroy()
    }
  }
}
