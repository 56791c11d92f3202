/**
 * What the cache did recently, for the dashboard: per-second counts over the last minutes, the
 * paths with the most hits and misses, origin latency percentiles, and the last purges.
 *
 * Cost on the request paths: a hit or a miss adds one Map increment (`TopPaths.add`, no
 * allocation once the path is known); an origin response adds one array increment
 * (`Latency.observe`). Everything else happens once a second, on a timer that is unref'ed (it
 * never keeps a process alive), or when a snapshot is asked for: the per-second series are
 * the differences of the engine's own counters (src/metrics.ts) between two ticks.
 */
import type { Metrics } from './metrics.js'

/** The engine counters kept per second. */
export const SERIES = ['hits', 'misses', 'stale', 'revalidated', 'bypassed', 'coalesced', 'originErrors'] as const
export type SeriesName = typeof SERIES[number]

/** Per-second counts, oldest first: `time[i]` (Unix seconds) is the second that `hits[i]` etc. counted. */
export type Series = { time: number[] } & Record<SeriesName, number[]>

/** Origin response times over the last minutes, in milliseconds (upper bounds of ~9%-wide buckets). */
export interface LatencySummary {
  /** Responses measured in the window. */
  count: number
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
  windowSeconds: number
  /** The histogram itself, sparse: `[bucket, count]` pairs (for summing several processes). */
  buckets: [number, number][]
}

/** One purge (an `invalidate` call) and how it went. */
export interface PurgeRecord {
  /** When it was asked for (ms since the epoch). */
  at: number
  kind: string
  /** The url, key, tag or prefix; `true` for all. */
  value: string | true
  /** Stored values deleted; undefined while it runs or when it failed. */
  purged?: number
  error?: string
  ms?: number
}

export interface PathCount { path: string, count: number }

export interface ActivitySnapshot {
  series: Series
  latency: LatencySummary
  top: { hits: PathCount[], misses: PathCount[], halfLifeSeconds: number }
  purges: PurgeRecord[]
}

export interface ActivityOptions {
  /** Seconds of per-second history (default 600). */
  history?: number
  /** Paths tracked by each top list (default 200). */
  paths?: number
  /** Purges remembered (default 50). */
  purges?: number
}

/**
 * Counts per path, bounded: up to 4 × capacity paths between two trims; a path that arrives
 * when that is full is not counted until the next trim makes room (a second later). Once a
 * second the list is trimmed to its `capacity` largest counts; every `halfLife` counts halve,
 * so the list follows what is popular now.
 */
export class TopPaths {
  /** A box per path, so a known path costs one lookup (no `set`) per count. */
  private counts = new Map<string, Count>()
  private readonly limit: number

  constructor (readonly capacity: number) {
    this.limit = capacity * 4
  }

  add (path: string): void {
    const c = this.counts.get(path)
    if (c !== undefined) c.n++
    else if (this.counts.size < this.limit) this.counts.set(path, { n: 1 })
  }

  /** Keeps the `capacity` most counted paths. */
  trim (): void {
    if (this.counts.size <= this.capacity) return
    const kept = [...this.counts].sort((a, b) => b[1].n - a[1].n).slice(0, this.capacity)
    this.counts = new Map(kept)
  }

  /** Halves every count; paths left at zero go. */
  decay (): void {
    for (const [path, c] of this.counts) {
      c.n >>= 1
      if (c.n === 0) this.counts.delete(path)
    }
  }

  top (n: number): PathCount[] {
    return [...this.counts].sort((a, b) => b[1].n - a[1].n || (a[0] < b[0] ? -1 : 1)).slice(0, n).map(([path, c]) => ({ path: shown(path), count: c.n }))
  }

  get size (): number {
    return this.counts.size
  }
}

interface Count { n: number }

/** Keys end their resource with '?' even without a query; people do not write it. */
function shown (resource: string): string {
  return resource.endsWith('?') ? resource.slice(0, -1) : resource
}

/** Latency buckets: 8 per doubling from 0.05 ms, 24 doublings (up to ~14 minutes). */
const PER_OCTAVE = 8
const LOWEST_MS = 0.05
const BUCKETS = PER_OCTAVE * 24

/** The upper bound of a bucket, in ms. */
export function bucketBound (i: number): number {
  return LOWEST_MS * 2 ** (i / PER_OCTAVE)
}

function bucketOf (ms: number): number {
  if (!(ms > LOWEST_MS)) return 0
  return Math.min(BUCKETS - 1, Math.ceil(PER_OCTAVE * Math.log2(ms / LOWEST_MS)))
}

/**
 * Origin latency over the last `minutes` minutes: one histogram per minute in a ring, the
 * current one written by `observe`, rotated by the timer.
 */
export class Latency {
  private readonly slots: Uint32Array[]
  private readonly maxima: Float64Array
  private current: number
  private minute: number

  constructor (readonly minutes: number, now: number) {
    this.slots = Array.from({ length: minutes }, () => new Uint32Array(BUCKETS))
    this.maxima = new Float64Array(minutes)
    this.minute = Math.floor(now / 60_000)
    this.current = this.minute % minutes
  }

  observe (ms: number): void {
    this.slots[this.current][bucketOf(ms)]++
    if (ms > this.maxima[this.current]) this.maxima[this.current] = ms
  }

  /** Starts a new minute's histogram when the minute changed, clearing the ones that fell out of the window. */
  rotate (now: number): void {
    const minute = Math.floor(now / 60_000)
    if (minute === this.minute) return
    for (let m = this.minute + 1; m <= minute && m <= this.minute + this.minutes; m++) {
      const i = m % this.minutes
      this.slots[i].fill(0)
      this.maxima[i] = 0
    }
    this.minute = minute
    this.current = minute % this.minutes
  }

  summary (): LatencySummary {
    const merged = new Array<number>(BUCKETS).fill(0)
    let max = 0
    for (let s = 0; s < this.minutes; s++) {
      const slot = this.slots[s]
      for (let i = 0; i < BUCKETS; i++) merged[i] += slot[i]
      if (this.maxima[s] > max) max = this.maxima[s]
    }
    const buckets: [number, number][] = []
    merged.forEach((n, i) => { if (n > 0) buckets.push([i, n]) })
    return summarize(buckets, max, this.minutes * 60)
  }
}

/** Percentiles of a sparse histogram (also used to sum several processes' histograms). */
export function summarize (buckets: [number, number][], max: number, windowSeconds: number): LatencySummary {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0])
  const count = sorted.reduce((n, [, c]) => n + c, 0)
  const at = (q: number): number | null => {
    if (count === 0) return null
    const rank = Math.ceil(q * count)
    let seen = 0
    for (const [i, c] of sorted) {
      seen += c
      if (seen >= rank) return round(Math.min(bucketBound(i), max))
    }
    return round(max)
  }
  return { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: count === 0 ? null : round(max), windowSeconds, buckets: sorted }
}

function round (ms: number): number {
  return ms >= 10 ? Math.round(ms) : Math.round(ms * 100) / 100
}

/** The per-second counts: one ring per counter, written by the timer from the counters' differences. */
class PerSecond {
  private readonly rings: Record<SeriesName, Float64Array>
  private readonly previous: Record<SeriesName, number>
  /** The last second written. */
  private second: number
  /** The second the counting started: nothing before it is reported. */
  private readonly start: number

  constructor (private readonly metrics: Metrics, readonly size: number, now: number) {
    this.rings = {} as Record<SeriesName, Float64Array>
    this.previous = {} as Record<SeriesName, number>
    for (const name of SERIES) {
      this.rings[name] = new Float64Array(size)
      this.previous[name] = metrics[name]
    }
    this.second = Math.floor(now / 1000)
    this.start = this.second
  }

  /** Writes what was counted since the last tick; spread evenly when ticks were late (a blocked event loop). */
  tick (now: number): void {
    const second = Math.floor(now / 1000)
    const elapsed = second - this.second
    if (elapsed <= 0) return
    for (const name of SERIES) {
      const value = this.metrics[name]
      const share = (value - this.previous[name]) / elapsed
      this.previous[name] = value
      const ring = this.rings[name]
      for (let s = Math.max(this.second + 1, second - this.size + 1); s <= second; s++) ring[s % this.size] = share
    }
    this.second = second
  }

  /** The last `seconds` seconds (since counting started), oldest first. */
  read (seconds: number): Series {
    const n = Math.min(seconds, this.size)
    const out = { time: [] as number[] } as Series
    for (const name of SERIES) out[name] = []
    for (let s = Math.max(this.second - n + 1, this.start + 1); s <= this.second; s++) {
      out.time.push(s)
      for (const name of SERIES) out[name].push(Math.round(this.rings[name][((s % this.size) + this.size) % this.size] * 100) / 100)
    }
    return out
  }
}

/** The last purges, newest last; `track` records one and its outcome. */
export class PurgeLog {
  private readonly records: PurgeRecord[] = []

  constructor (readonly limit = 50) {}

  /** Records a purge and its outcome; resolves or rejects as `done` does. */
  track<T extends number> (what: object, done: Promise<T>): Promise<T> {
    const [kind, value] = Object.entries(what)[0] ?? ['unknown', '']
    const record: PurgeRecord = { at: Date.now(), kind, value: value === true ? true : String(value) }
    this.records.push(record)
    if (this.records.length > this.limit) this.records.shift()
    return done.then(
      purged => {
        record.purged = purged
        record.ms = Date.now() - record.at
        return purged
      },
      err => {
        record.error = err instanceof Error ? err.message : String(err)
        record.ms = Date.now() - record.at
        throw err
      },
    )
  }

  /** Copies, newest first. */
  list (): PurgeRecord[] {
    return this.records.map(p => ({ ...p })).reverse()
  }
}

const HALF_LIFE_SECONDS = 300

/** The engine's recent activity; see the top of this file for what each request pays. */
export class Activity {
  readonly topHits: TopPaths
  readonly topMisses: TopPaths
  readonly latency: Latency
  private readonly perSecond: PerSecond
  private readonly purges: PurgeLog
  private readonly timer: NodeJS.Timeout
  private ticks = 0

  constructor (metrics: Metrics, options: ActivityOptions = {}) {
    const now = Date.now()
    this.perSecond = new PerSecond(metrics, options.history ?? 600, now)
    this.topHits = new TopPaths(options.paths ?? 200)
    this.topMisses = new TopPaths(options.paths ?? 200)
    this.latency = new Latency(5, now)
    this.purges = new PurgeLog(options.purges ?? 50)
    this.timer = setInterval(() => this.tick(Date.now()), 1000)
    this.timer.unref()
  }

  /** A hit on `path` (the key's resource). */
  hit (path: string): void {
    this.topHits.add(path)
  }

  /** A miss on `path`. */
  miss (path: string): void {
    this.topMisses.add(path)
  }

  /** An origin response head arrived `ms` after the request was sent. */
  origin (ms: number): void {
    this.latency.observe(ms)
  }

  /** Records a purge and its outcome; resolves or rejects as `done` does. */
  purge<T extends number> (what: object, done: Promise<T>): Promise<T> {
    return this.purges.track(what, done)
  }

  /** @internal Run by the timer once a second (tests call it with their own clock). */
  tick (now: number): void {
    this.perSecond.tick(now)
    this.latency.rotate(now)
    this.topHits.trim()
    this.topMisses.trim()
    if (++this.ticks % HALF_LIFE_SECONDS === 0) {
      this.topHits.decay()
      this.topMisses.decay()
    }
  }

  /** The last `seconds` (default 300) of per-second counts, the top `paths` (default 10) of each list, and the purges, newest first. */
  snapshot (seconds = 300, paths = 10): ActivitySnapshot {
    return {
      series: this.perSecond.read(seconds),
      latency: this.latency.summary(),
      top: { hits: this.topHits.top(paths), misses: this.topMisses.top(paths), halfLifeSeconds: HALF_LIFE_SECONDS },
      purges: this.purges.list(),
    }
  }

  close (): void {
    clearInterval(this.timer)
  }
}
