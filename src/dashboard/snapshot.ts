/**
 * What the dashboard shows, as one JSON object: the engine's counters (the same numbers as
 * `cache.stats()`), L1 occupancy against its limit, the Redis tier's state, and the recent
 * activity (src/activity.ts). `mergeSnapshots` sums several processes' snapshots (--workers).
 */
import { summarize, SERIES, type ActivitySnapshot, type PurgeRecord, type Series } from '../activity.js'
import type { Engine } from '../engine.js'
import type { L2Stats, Stats } from '../metrics.js'

export interface DashboardSnapshot extends ActivitySnapshot {
  /** When it was taken (ms since the epoch). */
  at: number
  uptimeSeconds: number
  /** Processes summed into it (1 but with --workers). */
  processes: number
  /** `cache.stats()` without `l2`. */
  totals: Omit<Stats, 'l2'>
  /** Requests the engine answered or passed: hits, misses, stale, revalidated and bypassed. */
  requests: number
  /** Hits, stale and revalidated over those plus misses; null before the first cacheable request. */
  hitRatio: number | null
  l1: { bytes: number, entries: number, maxBytes: number, maxObjectSize: number, evictions: number }
  /** The Redis tier; null without one. */
  l2: L2Stats | null
}

/** A snapshot of one engine: `seconds` of per-second history, `paths` paths per top list. */
export function snapshotOf (engine: Engine, options: { seconds?: number, paths?: number } = {}): DashboardSnapshot {
  const { l2, ...totals } = engine.stats()
  const activity = engine.activity.snapshot(options.seconds ?? 300, options.paths ?? 10)
  return {
    at: Date.now(),
    uptimeSeconds: Math.round(process.uptime()),
    processes: 1,
    totals,
    requests: requestsOf(totals),
    hitRatio: hitRatioOf(totals),
    l1: {
      bytes: totals.bytes,
      entries: totals.entries,
      maxBytes: engine.settings.maxBytes,
      maxObjectSize: engine.settings.maxObjectSize,
      evictions: totals.evictions,
    },
    l2: l2 ?? null,
    ...activity,
  }
}

function requestsOf (s: Omit<Stats, 'l2'>): number {
  return s.hits + s.misses + s.stale + s.revalidated + s.bypassed
}

function hitRatioOf (s: Omit<Stats, 'l2'>): number | null {
  const served = s.hits + s.stale + s.revalidated
  const all = served + s.misses
  return all === 0 ? null : served / all
}

/**
 * Several processes' snapshots as one: counters, series (second by second) and histograms
 * summed, top lists merged, limits summed (each process has its own L1). `purges` replaces
 * theirs: with --workers every purge runs in each worker, so the one who asked keeps the list.
 */
export function mergeSnapshots (parts: DashboardSnapshot[], purges?: PurgeRecord[]): DashboardSnapshot {
  if (parts.length === 0) throw new TypeError('mergeSnapshots: nothing to merge')
  const totals = { ...parts[0].totals }
  for (const p of parts.slice(1)) for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += p.totals[k]
  const l1 = { ...parts[0].l1 }
  for (const p of parts.slice(1)) for (const k of Object.keys(l1) as (keyof typeof l1)[]) l1[k] += p.l1[k]
  const buckets = new Map<number, number>()
  for (const p of parts) for (const [i, n] of p.latency.buckets) buckets.set(i, (buckets.get(i) ?? 0) + n)
  const max = Math.max(...parts.map(p => p.latency.max ?? 0))
  return {
    at: Math.max(...parts.map(p => p.at)),
    uptimeSeconds: Math.max(...parts.map(p => p.uptimeSeconds)),
    processes: parts.reduce((n, p) => n + p.processes, 0),
    totals,
    requests: requestsOf(totals),
    hitRatio: hitRatioOf(totals),
    l1,
    // Workers share one Redis: the worst breaker state speaks for them.
    l2: parts.map(p => p.l2).filter(l => l !== null).sort((a, b) => severity(b.state) - severity(a.state))[0] ?? null,
    series: mergeSeries(parts.map(p => p.series)),
    latency: summarize([...buckets], max, parts[0].latency.windowSeconds),
    top: {
      hits: mergeTop(parts.map(p => p.top.hits)),
      misses: mergeTop(parts.map(p => p.top.misses)),
      halfLifeSeconds: parts[0].top.halfLifeSeconds,
    },
    purges: purges ?? parts[0].purges,
  }
}

function severity (state: string): number {
  return state === 'open' ? 2 : state === 'half-open' ? 1 : 0
}

function mergeSeries (all: Series[]): Series {
  const byTime = new Map<number, Record<string, number>>()
  for (const s of all) {
    s.time.forEach((t, i) => {
      let row = byTime.get(t)
      if (row === undefined) byTime.set(t, row = {})
      for (const name of SERIES) row[name] = (row[name] ?? 0) + s[name][i]
    })
  }
  const times = [...byTime.keys()].sort((a, b) => a - b)
  const out = { time: times } as Series
  for (const name of SERIES) out[name] = times.map(t => byTime.get(t)![name])
  return out
}

function mergeTop (lists: { path: string, count: number }[][]): { path: string, count: number }[] {
  const counts = new Map<string, number>()
  for (const list of lists) for (const { path, count } of list) counts.set(path, (counts.get(path) ?? 0) + count)
  const n = Math.max(...lists.map(l => l.length))
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([path, count]) => ({ path, count }))
}
