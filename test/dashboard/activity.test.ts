/**
 * The engine's recent activity (src/activity.ts): per-second series from the counters, bounded
 * top-path lists, latency percentiles from a small histogram, the purge list; and what a
 * request through the engine adds to them.
 */
import { expect } from 'chai'
import { Activity, bucketBound, Latency, summarize, TopPaths } from '../../src/activity.js'
import { Metrics } from '../../src/metrics.js'
import { mergeSnapshots, snapshotOf } from '../../src/dashboard/snapshot.js'
import { createCache } from '../../src/index.js'
import { startApp } from '../support/apps.js'
import { send } from '../support/http.js'

describe('activity', () => {
  describe('TopPaths', () => {
    it('counts per path and lists the most counted first, without the key\'s trailing "?"', () => {
      const top = new TopPaths(10)
      for (const [path, n] of [['/a?', 3], ['/b?x=1', 5], ['/c?', 1]] as const) for (let i = 0; i < n; i++) top.add(path)
      expect(top.top(2)).to.deep.equal([{ path: '/b?x=1', count: 5 }, { path: '/a', count: 3 }])
    })

    it('holds at most 4 × capacity paths between trims, and capacity after one', () => {
      const top = new TopPaths(5)
      for (let i = 0; i < 100; i++) top.add(`/p${i}?`)
      expect(top.size).to.equal(20)
      for (let i = 0; i < 10; i++) top.add('/p3?')
      top.trim()
      expect(top.size).to.equal(5)
      expect(top.top(1)).to.deep.equal([{ path: '/p3', count: 11 }])
    })

    it('halves the counts on decay and forgets paths left at zero', () => {
      const top = new TopPaths(5)
      for (let i = 0; i < 9; i++) top.add('/hot?')
      top.add('/once?')
      top.decay()
      expect(top.top(5)).to.deep.equal([{ path: '/hot', count: 4 }])
    })
  })

  describe('Latency', () => {
    it('reports percentiles within one bucket (about 9%) of the true values, and the exact max', () => {
      const latency = new Latency(5, Date.now())
      for (let ms = 1; ms <= 100; ms++) latency.observe(ms)
      const s = latency.summary()
      expect(s.count).to.equal(100)
      expect(s.p50).to.be.within(50, 50 * 1.1)
      expect(s.p90).to.be.within(90, 90 * 1.1)
      expect(s.p99).to.be.within(99, 100)
      expect(s.max).to.equal(100)
      expect(s.windowSeconds).to.equal(300)
    })

    it('forgets the minutes that left the window', () => {
      const t0 = Date.UTC(2026, 0, 1, 12, 0, 0)
      const latency = new Latency(2, t0)
      latency.observe(500)
      latency.rotate(t0 + 60_000)
      latency.observe(5)
      expect(latency.summary().max).to.equal(500)
      latency.rotate(t0 + 120_000)
      expect(latency.summary()).to.include({ count: 1, max: 5 })
      latency.rotate(t0 + 10 * 60_000)
      expect(latency.summary()).to.include({ count: 0, p50: null, max: null })
    })

    it('sums histograms from several processes exactly', () => {
      const s = summarize([[10, 2], [20, 1], [10, 1]], bucketBound(20), 300)
      expect(s.count).to.equal(4)
      expect(s.p50).to.be.closeTo(bucketBound(10), 0.01)
    })
  })

  describe('per-second series', () => {
    it('records the counters\' differences second by second, from when counting started', () => {
      const metrics = new Metrics()
      const activity = new Activity(metrics)
      try {
        const t0 = Math.ceil(Date.now() / 1000) * 1000 + 5000
        activity.tick(t0)
        metrics.hits += 7
        metrics.misses += 2
        activity.tick(t0 + 1000)
        metrics.hits += 3
        activity.tick(t0 + 2000)
        const { series } = activity.snapshot(3)
        expect(series.time).to.deep.equal([t0 / 1000, t0 / 1000 + 1, t0 / 1000 + 2])
        expect(series.hits).to.deep.equal([0, 7, 3])
        expect(series.misses).to.deep.equal([0, 2, 0])
      } finally {
        activity.close()
      }
    })

    it('spreads what was counted over the seconds a late tick covers', () => {
      const metrics = new Metrics()
      const activity = new Activity(metrics)
      try {
        const t0 = Math.ceil(Date.now() / 1000) * 1000 + 5000
        activity.tick(t0)
        metrics.hits += 9
        activity.tick(t0 + 3000)
        expect(activity.snapshot(3).series.hits).to.deep.equal([3, 3, 3])
      } finally {
        activity.close()
      }
    })
  })

  it('lists purges newest first, with their result or error', async () => {
    const activity = new Activity(new Metrics(), { purges: 2 })
    try {
      await activity.purge({ tag: 'a' }, Promise.resolve(3))
      await activity.purge({ url: '/x' }, Promise.resolve(1))
      await activity.purge({ all: true }, Promise.reject(new Error('Redis down'))).catch(() => {})
      const purges = activity.snapshot().purges
      expect(purges.map(p => [p.kind, p.value, p.purged, p.error])).to.deep.equal([
        ['all', true, undefined, 'Redis down'],
        ['url', '/x', 1, undefined],
      ])
    } finally {
      activity.close()
    }
  })

  describe('through the engine', () => {
    it('counts hits and misses per path, origin latency, and purges made with cache.invalidate', async () => {
      const app = await startApp({}, (req, res) => {
        res.setHeader('cache-control', req.url === '/private' ? 'no-store' : 'max-age=60')
        res.end('ok')
      })
      try {
        for (const p of ['/a', '/a', '/a', '/b?x=1', '/b?x=1', '/private', '/private']) await send(app.url + p)
        await app.cache.invalidate({ url: '/a' })
        const s = snapshotOf(app.cache.engine)
        expect(s.top.hits).to.deep.equal([{ path: '/a', count: 2 }, { path: '/b?x=1', count: 1 }])
        expect(s.top.misses).to.deep.equal([{ path: '/private', count: 2 }, { path: '/a', count: 1 }, { path: '/b?x=1', count: 1 }])
        expect(s.latency.count).to.equal(4)
        expect(s.purges).to.have.length(1)
        expect(s.purges[0]).to.include({ kind: 'url', value: '/a', purged: 1 })
        expect(s.totals).to.include({ hits: 3, misses: 4 })
        expect(s.requests).to.equal(7)
        expect(s.hitRatio).to.be.closeTo(3 / 7, 1e-9)
        expect(s.l1.maxBytes).to.equal(64 * 1024 * 1024)
        expect(s.l2).to.equal(null)
      } finally {
        await app.close()
      }
    })

    it('sums several snapshots (--workers)', () => {
      const a = createCache()
      const b = createCache()
      try {
        a.engine.metrics.hits = 3
        b.engine.metrics.hits = 4
        b.engine.metrics.misses = 1
        a.engine.activity.topHits.add('/x?')
        b.engine.activity.topHits.add('/x?')
        b.engine.activity.topHits.add('/y?')
        const merged = mergeSnapshots([snapshotOf(a.engine), snapshotOf(b.engine)], [])
        expect(merged.processes).to.equal(2)
        expect(merged.totals).to.include({ hits: 7, misses: 1 })
        expect(merged.hitRatio).to.equal(7 / 8)
        expect(merged.l1.maxBytes).to.equal(2 * 64 * 1024 * 1024)
        expect(merged.top.hits).to.deep.equal([{ path: '/x', count: 2 }, { path: '/y', count: 1 }])
        expect(merged.purges).to.deep.equal([])
      } finally {
        void a.close()
        void b.close()
      }
    })
  })
})
