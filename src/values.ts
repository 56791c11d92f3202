/**
 * Caching values, not only responses: cache-aside / read-through (`wrap`), write-through
 * (`set`), `get` and `delete`, on the same two-level store, tags and purges as responses.
 *
 * A value read through `wrap` while a response is being produced becomes a dependency of that
 * response: the response is stored with the value's tags (and its implicit `v:` tag), so
 * purging the value's tag, or deleting the value, purges the responses built from it.
 *
 * Write-behind (acknowledging a write before the origin has it) is deliberately not offered: a
 * cache that did so could lose data the application believed was written.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { Coalescer } from './coalesce.js'
import { ENTRY_VERSION, type ValueRecord } from './entry.js'
import { ENTRY_OVERHEAD } from './record.js'
import { userTag, type Engine } from './engine.js'
import { parseDuration, type Duration } from './units.js'

/** Turns a value into bytes and back. The default: Buffers as they are, everything else JSON. */
export interface Serializer<T> {
  serialize(value: T): Buffer | string
  deserialize(data: Buffer): T
}

/** Options of `wrap` and `set`. */
export interface ValueOptions<T = unknown> {
  /** How long the value stays fresh. Default: the cache's `ttl`, else one minute. */
  ttl?: Duration
  /** Tags for `invalidate({ tag })`; responses that read this value inherit them. */
  tags?: string[]
  /** Serve the stale value for this long while one background call refreshes it. */
  staleWhileRevalidate?: Duration
  /** Return the stale value for this long when the loader throws. */
  staleIfError?: Duration
  serializer?: Serializer<T>
}

/** What `warm` did. */
export interface WarmSummary { stored: number, fresh: number, failed: number, errors: { key: string, error: string }[] }

/** The store key of a value: a space of its own (`=`, never an HTTP method), percent-encoded. */
export function valueKey (namespace: string, key: string): string {
  return `${namespace}:=:${encodeURIComponent(key)}`
}

/** The implicit tag of a value: responses that read it carry it too. */
export function valueTag (key: string): string {
  return 'v:' + key
}

const FALLBACK_TTL = 60_000

export class Values {
  private readonly coalescer: Coalescer<ValueRecord>
  private readonly refreshing = new Set<string>()
  /** The tag set of the response being produced, if any (per cache: never process-wide). */
  private readonly dependencies = new AsyncLocalStorage<Set<string>>()

  constructor (private readonly engine: Engine) {
    this.coalescer = new Coalescer(engine.settings.lockTimeout)
    if (engine.settings.dependencies) engine.dependencies = this.dependencies
  }

  /**
   * The value for `key`: from L1, L2, or `loader` (called once however many callers and
   * instances ask at the same time). A loader that throws with nothing usable stored rethrows,
   * and nothing is cached.
   */
  async wrap<T> (key: string, loader: () => T | Promise<T>, options: ValueOptions<T> = {}): Promise<T> {
    const full = valueKey(this.engine.settings.namespace, key)
    const stored = await this.read(full)
    const now = Date.now()
    if (stored !== undefined) {
      if (now < stored.staleAt) return this.use(key, stored, options)
      if (now < stored.staleAt + stored.swr) {
        this.refresh(key, full, loader, options)
        return this.use(key, stored, options)
      }
    }
    const waiting = this.coalescer.wait(full)
    if (waiting !== undefined) {
      const record = await waiting
      if (record !== undefined) return this.use(key, record, options)
    }
    const flight = this.coalescer.lead(full)
    // Across instances: one of them loads; the others read what it stored.
    const shared = await this.engine.redis?.locks?.lead(full, async () => {
      const r = await this.engine.store.fetch(full, true)
      return r?.type === 'value' && Date.now() < r.staleAt ? r : undefined
    })
    if (shared?.found !== undefined) {
      flight.settle(shared.found)
      return this.use(key, shared.found, options)
    }
    let written: Promise<unknown> | undefined
    try {
      let value: T
      try {
        value = await loader()
      } catch (err) {
        this.engine.metrics.loaderErrors++
        flight.settle(undefined)
        if (stored !== undefined && now < stored.staleAt + Math.max(stored.sie, ms(options.staleIfError, 'staleIfError', 0))) {
          this.engine.metrics.stale++
          return this.use(key, stored, options)
        }
        throw err
      }
      const record = this.record(key, value, options)
      if (record !== undefined) {
        written = this.write(full, record)
        this.track(key, record.tags)
      }
      flight.settle(record)
      return value
    } finally {
      shared?.lock?.release(written)
    }
  }

  /** The stored value, fresh or within its stale windows; undefined when absent. */
  async get<T> (key: string, options: Pick<ValueOptions<T>, 'serializer'> = {}): Promise<T | undefined> {
    const record = await this.read(valueKey(this.engine.settings.namespace, key))
    if (record === undefined) return undefined
    return this.use(key, record, options)
  }

  /** Write-through: stores `value` now (and tells other instances to drop their old copy). */
  async set<T> (key: string, value: T, options: ValueOptions<T> = {}): Promise<void> {
    const full = valueKey(this.engine.settings.namespace, key)
    const record = this.record(key, value, options)
    if (record === undefined) {
      await this.engine.store.delete(full)
      return
    }
    // Write-through: resolved once the shared tier has it, so another instance reads it next.
    await this.write(full, record)
  }

  /** Deletes the value and every response that read it. */
  async delete (key: string): Promise<boolean> {
    const full = valueKey(this.engine.settings.namespace, key)
    const [deleted] = await Promise.all([this.engine.store.delete(full), this.engine.store.deleteTag(valueTag(key))])
    return deleted > 0
  }

  /** Loads each value not already fresh, `concurrency` at a time. */
  async warm (items: { key: string, loader: () => unknown, options?: ValueOptions }[], concurrency = 8): Promise<WarmSummary> {
    const summary: WarmSummary = { stored: 0, fresh: 0, failed: 0, errors: [] }
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const { key, loader, options } = items[next++]
        const record = await this.read(valueKey(this.engine.settings.namespace, key))
        if (record !== undefined && Date.now() < record.staleAt) { summary.fresh++; continue }
        try {
          await this.set(key, await loader(), options)
          summary.stored++
        } catch (err) {
          summary.failed++
          summary.errors.push({ key, error: err instanceof Error ? err.message : String(err) })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker))
    return summary
  }

  /** Flights and refreshes in the air (leak checks). */
  get pending (): number {
    return this.coalescer.size + this.refreshing.size
  }

  close (): void {
    this.coalescer.releaseAll()
  }

  private async read (full: string): Promise<ValueRecord | undefined> {
    const stored = this.engine.store.peek(full) ?? await this.engine.store.fetch(full)
    if (stored?.type !== 'value') return undefined
    return Date.now() < stored.deleteAt ? stored : undefined
  }

  private write (full: string, record: ValueRecord): Promise<void> {
    this.engine.metrics.stores++
    return this.engine.store.set(full, record, record.deleteAt - Date.now())
  }

  /** RFC 5861's stale-while-revalidate for values: one background loader call per key. */
  private refresh<T> (key: string, full: string, loader: () => T | Promise<T>, options: ValueOptions<T>): void {
    if (this.refreshing.has(full)) return
    this.refreshing.add(full)
    this.engine.metrics.refreshes++
    Promise.resolve()
      .then(loader)
      .then(value => {
        const record = this.record(key, value, options)
        if (record !== undefined) this.write(full, record)
      })
      .catch(err => {
        this.engine.metrics.loaderErrors++
        this.engine.degraded(`refresh of value ${key}`, err)
      })
      .finally(() => this.refreshing.delete(full))
  }

  private use<T> (key: string, record: ValueRecord, options: Pick<ValueOptions<T>, 'serializer'>): T {
    this.engine.metrics.valueHits++
    this.track(key, record.tags)
    return decodeValue(record, options.serializer)
  }

  /** Adds a value's tags to the response being produced, if any. */
  private track (key: string, tags: readonly string[]): void {
    const deps = this.dependencies.getStore()
    if (deps === undefined) return
    deps.add(valueTag(key))
    for (const t of tags) deps.add(t)
  }

  private record<T> (key: string, value: T, options: ValueOptions<T>): ValueRecord | undefined {
    if (value === undefined) return undefined
    const { body, format } = encodeValue(value, options.serializer)
    const rules = this.engine.settings.route.rules
    const base = options.ttl === undefined ? rules.ttl ?? FALLBACK_TTL : parseDuration(options.ttl, 'ttl')
    const ttl = rules.jitter > 0 ? Math.round(base * (1 + Math.random() * rules.jitter)) : base
    const swr = ms(options.staleWhileRevalidate, 'staleWhileRevalidate', 0)
    const sie = ms(options.staleIfError, 'staleIfError', 0)
    const now = Date.now()
    const staleAt = now + ttl
    const tags = [...(options.tags ?? []).map(userTag), valueTag(key)]
    return {
      v: ENTRY_VERSION,
      type: 'value',
      body,
      format,
      responseTime: now,
      staleAt,
      deleteAt: staleAt + Math.max(swr, sie),
      swr,
      sie,
      tags: Object.freeze(tags),
      size: body.length + ENTRY_OVERHEAD,
    }
  }
}

function ms (value: Duration | undefined, field: string, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value, field)
}

function encodeValue<T> (value: T, serializer?: Serializer<T>): { body: Buffer, format: ValueRecord['format'] } {
  if (serializer !== undefined) {
    const out = serializer.serialize(value)
    return { body: typeof out === 'string' ? Buffer.from(out) : out, format: 'custom' }
  }
  if (Buffer.isBuffer(value)) return { body: value, format: 'buffer' }
  return { body: Buffer.from(JSON.stringify(value)), format: 'json' }
}

function decodeValue<T> (record: ValueRecord, serializer?: Serializer<T>): T {
  if (record.format === 'buffer') return record.body as T
  if (record.format === 'custom' && serializer !== undefined) return serializer.deserialize(record.body)
  return JSON.parse(record.body.toString('utf8')) as T
}
