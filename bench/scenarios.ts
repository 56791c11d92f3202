/**
 * The benchmark scenarios of issue 6, each reporting ratios against a reference measured in the
 * same run. Targets are stated here; whether a run met them is printed, never asserted.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { Server } from './run.js'

export interface Measure { rps: number, cpuPerRequestUs: number }
/** Medians over the rounds, and the rounds themselves (for per-round ratios). */
export interface Measured extends Measure { rounds: Measure[] }
export interface Row { label: string, value: string | number, target?: string, met?: boolean }

export interface Tools {
  startServer(kind: string, opts?: { body?: number, keys?: number, env?: Record<string, string> }): Promise<Server>
  compare(servers: Record<string, Server>, urlPath?: string, script?: string | Record<string, string>): Promise<Record<string, Measured>>
  load(server: Server, urlPath?: string, script?: string): Promise<Measure>
  fetchText(url: string): Promise<string>
  burst(servers: Server[], urlPath: string, per: number, warmPath?: string): Promise<number[]>
}

export interface Scenario { name: string, title: string, run(t: Tools): Promise<Row[]> }

const r2 = (x: number): number => Math.round(x * 100) / 100
export const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
/**
 * The median over rounds of a's figure over b's, both measured in the same round: requests/s
 * (a ÷ b), or CPU per request (b ÷ a, so that higher is better for both).
 */
const paired = (label: string, a: Measured, b: Measured, min?: number, by: 'rps' | 'cpu' = 'rps'): Row => {
  const xs = a.rounds.map((m, i) => by === 'rps' ? m.rps / b.rounds[i].rps : b.rounds[i].cpuPerRequestUs / m.cpuPerRequestUs)
  const value = median(xs)
  return { label, value: r2(value), target: min === undefined ? undefined : `≥ ${min}`, met: min === undefined ? undefined : value >= min }
}
const rps = (label: string, m: Measure): Row => ({ label: `${label} req/s (cpu µs/req)`, value: `${Math.round(m.rps)} (${r2(m.cpuPerRequestUs)})` })

async function using<T> (servers: Server[], fn: () => Promise<T>): Promise<T> {
  try { return await fn() } finally { await Promise.all(servers.map(s => s.stop())) }
}

/** One GET, its body read to the end: how long it took (ms). */
function timedGet (url: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    http.get(url, { agent }, res => { res.resume(); res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6)) }).on('error', reject)
  })
}

/** `clients` connections, each sending GETs of `url` one after another for `ms`: every request's latency (ms). */
async function closedLoop (url: string, clients: number, ms: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients })
  const out: number[] = []
  const until = Date.now() + ms
  await Promise.all(Array.from({ length: clients }, async () => { while (Date.now() < until) out.push(await timedGet(url, agent)) }))
  agent.destroy()
  return out
}
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] }

function randomPathsScript (keys: number): string {
  const file = path.join(os.tmpdir(), `cachefront-bench-${keys}.lua`)
  fs.writeFileSync(file, `math.randomseed(os.time())\nrequest = function() return wrk.format("GET", "/k/" .. math.random(0, ${keys - 1})) end\n`)
  return file
}

function rssMiB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Math.round(Number(m[1]) / 1024) : NaN
}

/**
 * RSS once it has settled: V8 sweeps and unmaps freed pages concurrently after a GC, so a reading
 * taken at once can include hundreds of MiB already freed. Read every 0.5 s until two readings
 * agree within 1 % (at most 15 s).
 */
async function settledRssMiB (pid: number): Promise<number> {
  let last = rssMiB(pid)
  for (let i = 0; i < 30; i++) {
    await new Promise(resolve => setTimeout(resolve, 500))
    const now = rssMiB(pid)
    if (Math.abs(now - last) <= last * 0.01) return now
    last = now
  }
  return last
}

export const scenarios: Scenario[] = [
  {
    name: 'express',
    title: 'Express: cachefront hit vs the Express floor, apicache and res.send',
    async run (t) {
      const s = {
        floor: await t.startServer('express-floor'),
        hit: await t.startServer('express-hit'),
        apicache: await t.startServer('express-apicache'),
        send: await t.startServer('express-send'),
      }
      return using(Object.values(s), async () => {
        const m = await t.compare(s)
        return [
          paired('cachefront hit / Express floor', m.hit, m.floor, 0.95),
          paired('same, by server CPU per request (floor µs ÷ hit µs)', m.hit, m.floor, 0.95, 'cpu'),
          paired('cachefront hit / apicache hit', m.hit, m.apicache, 1.12),
          paired('res.send handler / Express floor', m.send, m.floor),
          rps('Express floor', m.floor), rps('cachefront hit', m.hit), rps('apicache hit', m.apicache), rps('res.send', m.send),
        ]
      })
    },
  },
  {
    name: 'koa',
    title: 'Koa: cachefront hit vs the Koa floor and koa-cash',
    async run (t) {
      const s = { floor: await t.startServer('koa-floor'), hit: await t.startServer('koa-hit'), cash: await t.startServer('koa-cash') }
      return using(Object.values(s), async () => {
        const m = await t.compare(s)
        return [
          paired('cachefront hit / Koa floor', m.hit, m.floor, 0.95),
          paired('same, by server CPU per request (floor µs ÷ hit µs)', m.hit, m.floor, 0.95, 'cpu'),
          paired('cachefront hit / koa-cash hit', m.hit, m.cash, 1.15),
          rps('Koa floor', m.floor), rps('cachefront hit', m.hit), rps('koa-cash hit', m.cash),
        ]
      })
    },
  },
  {
    name: 'proxy',
    title: 'Proxy: L1 hit vs bare node:http returning the same buffer (1 KiB)',
    async run (t) {
      const s = { bare: await t.startServer('bare'), headers: await t.startServer('bare-headers'), hit: await t.startServer('proxy-hit') }
      return using(Object.values(s), async () => {
        const m = await t.compare(s)
        return [
          paired('proxy hit / bare node:http', m.hit, m.bare, 0.9),
          paired('same, by server CPU per request (bare µs ÷ hit µs)', m.hit, m.bare, 0.9, 'cpu'),
          paired('proxy hit / bare node:http sending the same 10 header fields', m.hit, m.headers),
          rps('bare node:http (2 header fields)', m.bare), rps('bare node:http (the hit\'s 10 fields)', m.headers), rps('proxy hit', m.hit),
        ]
      })
    },
  },
  {
    name: 'proxy-l2',
    title: 'Proxy: L2 hit (L1 disabled, Redis on loopback) vs L1 hit, over 1,000 keys',
    async run (t) {
      // Over 1,000 keys at random, so that each L2 hit is its own GET; concurrent reads of one
      // key share a GET (tiered.ts), which the hot-key row shows.
      const keys = 1000
      const s = {
        l1: await t.startServer('proxy-hit', { keys }),
        l2: await t.startServer('proxy-l2-hit', { keys }),
        hot: await t.startServer('proxy-l2-hit'),
      }
      return using(Object.values(s), async () => {
        const spread = randomPathsScript(keys)
        const m = await t.compare(s, '/k/0', { l1: spread, l2: spread })
        return [
          paired('L2 hit / L1 hit (1,000 keys at random)', m.l2, m.l1),
          paired('L2 hits on one key (concurrent reads share a GET) / L1 hit', m.hot, m.l1),
          rps('L1 hit', m.l1), rps('L2 hit', m.l2), rps('L2 hit, one key', m.hot),
        ]
      })
    },
  },
  {
    name: 'large',
    title: 'Proxy: 100 KiB bodies, hit vs bare node:http',
    async run (t) {
      const s = { bare: await t.startServer('bare', { body: 100 * 1024 }), hit: await t.startServer('proxy-hit', { body: 100 * 1024 }) }
      return using(Object.values(s), async () => {
        const m = await t.compare(s)
        return [
          paired('proxy hit / bare node:http (100 KiB)', m.hit, m.bare, 0.8),
          paired('same, by server CPU per request', m.hit, m.bare, undefined, 'cpu'),
          rps('bare node:http', m.bare), rps('proxy hit', m.hit),
        ]
      })
    },
  },
  {
    name: 'miss',
    title: 'Miss path (the origin answers no-store at once): the proxy vs asking the origin directly, the middleware vs its floor',
    async run (t) {
      const s = {
        direct: await t.startServer('origin-direct'),
        miss: await t.startServer('proxy-miss'),
        koaFloor: await t.startServer('koa-floor'),
        koaMiss: await t.startServer('koa-miss'),
        expressFloor: await t.startServer('express-floor'),
        expressMiss: await t.startServer('express-miss'),
      }
      return using(Object.values(s), async () => {
        const m = await t.compare(s)
        return [
          paired('proxy miss / direct origin', m.miss, m.direct),
          paired('Koa middleware miss / Koa floor', m.koaMiss, m.koaFloor),
          paired('Express middleware miss / Express floor', m.expressMiss, m.expressFloor),
          rps('direct origin', m.direct), rps('proxy miss (origin in the same process)', m.miss),
          rps('Koa floor', m.koaFloor), rps('Koa miss', m.koaMiss),
          rps('Express floor', m.expressFloor), rps('Express miss', m.expressMiss),
        ]
      })
    },
  },
  {
    name: 'stampede',
    title: '500 concurrent requests for one cold key behind a 50 ms origin: the proxy, and the Express middleware',
    async run (t) {
      const origin = await t.startServer('slow-origin')
      const proxy = await t.startServer('proxy-front', { env: { BENCH_UPSTREAM: origin.url } })
      const app = await t.startServer('express-slow')
      const ideal = await t.startServer('collapsed-50ms')
      return using([origin, proxy, app, ideal], async () => {
        // The reference: a server that answers the whole burst from memory 50 ms after its first
        // request, as a cache with no work of its own would. Five hundred answers at once take
        // this machine time of their own (syscalls, the client reading them), which the
        // difference leaves out; the figure (p50 − the origin's 50 ms) is shown too.
        const ref = await t.burst([ideal], '/ref', 500)
        const viaProxy = await t.burst([proxy], '/cold', 500)
        const proxyOrigin = Number(await t.fetchText(origin.url + '/count'))
        const viaApp = await t.burst([app], '/cold', 500)
        const appOrigin = Number(await t.fetchText(app.url + '/count'))
        const p50 = (xs: number[]): number => pct(xs, 0.5)
        const overRef = r2(p50(viaProxy) - p50(ref))
        return [
          { label: 'proxy: origin requests', value: proxyOrigin, target: '= 1', met: proxyOrigin === 1 },
          { label: 'proxy: followers p50 − reference p50 (ms)', value: overRef, target: '≤ 10', met: overRef <= 10 },
          { label: "proxy: followers p50 − the origin's 50 ms", value: r2(p50(viaProxy) - 50) },
          { label: 'proxy: p50 / p99 ms', value: `${r2(p50(viaProxy))} / ${r2(pct(viaProxy, 0.99))}` },
          { label: 'express: origin requests', value: appOrigin, target: '= 1', met: appOrigin === 1 },
          { label: 'express: followers p50 − reference p50 (ms)', value: r2(p50(viaApp) - p50(ref)) },
          { label: 'express: p50 / p99 ms', value: `${r2(p50(viaApp))} / ${r2(pct(viaApp, 0.99))}` },
          { label: 'reference (every answer from memory at 50 ms) p50 / p99 ms', value: `${r2(p50(ref))} / ${r2(pct(ref, 0.99))}` },
        ]
      })
    },
  },
  {
    name: 'uncacheable',
    title: 'A no-store URL behind a 50 ms origin, 20 clients in a closed loop for 4 s: the proxy with hit-for-miss (the default) and without, against the origin directly',
    async run (t) {
      const origin = await t.startServer('slow-origin')
      const withHfm = await t.startServer('proxy-front', { env: { BENCH_UPSTREAM: origin.url } })
      const without = await t.startServer('proxy-front', { env: { BENCH_UPSTREAM: origin.url, BENCH_HIT_FOR_MISS: '0' } })
      return using([origin, withHfm, without], async () => {
        const direct = await closedLoop(origin.url + '/private/a', 20, 4000)
        const hfm = await closedLoop(withHfm.url + '/private/a', 20, 4000)
        const coalesced = await closedLoop(without.url + '/private/a', 20, 4000)
        const p50 = (xs: number[]): number => pct(xs, 0.5)
        const show = (xs: number[]): string => `${r2(p50(xs))} / ${r2(pct(xs, 0.99))} (${Math.round(xs.length / 4)} req/s)`
        return [
          { label: 'hit-for-miss: p50 / direct p50', value: r2(p50(hfm) / p50(direct)) },
          { label: 'without (every miss coalesced): p50 / direct p50', value: r2(p50(coalesced) / p50(direct)) },
          { label: 'direct p50 / p99 ms (req/s)', value: show(direct) },
          { label: 'hit-for-miss p50 / p99 ms (req/s)', value: show(hfm) },
          { label: 'without p50 / p99 ms (req/s)', value: show(coalesced) },
        ]
      })
    },
  },
  {
    name: 'stampede-proxies',
    title: '500 concurrent requests for one cold key spread over 3 proxies sharing Redis, 50 ms origin',
    async run (t) {
      const origin = await t.startServer('slow-origin')
      const ns = `bench-stampede-${Date.now()}`
      const env = { BENCH_UPSTREAM: origin.url, BENCH_REDIS: '1', BENCH_NAMESPACE: ns }
      const proxies = [await t.startServer('proxy-front', { env }), await t.startServer('proxy-front', { env }), await t.startServer('proxy-front', { env })]
      return using([origin, ...proxies], async () => {
        const lat = await t.burst(proxies, '/cold', 167)
        const count = Number(await t.fetchText(origin.url + '/count'))
        return [
          { label: 'origin requests (3 instances)', value: count, target: '= 1', met: count === 1 },
          { label: 'p50 ms', value: r2(pct(lat, 0.5)) },
          { label: 'p99 ms', value: r2(pct(lat, 0.99)) },
        ]
      })
    },
  },
  {
    name: 'scale',
    title: 'Hits over 1k, 100k and 1M distinct keys in L1 (all fit), proxy and Express; RSS after filling 1M small entries into maxBytes 256MB',
    async run (t) {
      // The servers run side by side (all fit in RAM) and are loaded in interleaved rounds, so the
      // ratios compare the same moments of a noisy machine. The control pair, the Express floor
      // alone and beside the same 1M entries (never read), shows what a heap that size costs
      // Express by itself.
      const env = { BENCH_MAX_BYTES: '4GB' }
      const keys: Record<string, number> = { p1k: 1000, p1m: 1_000_000, k1: 1000, k100: 100_000, m1: 1_000_000, floor: 1000, held: 1_000_000 }
      const s: Record<string, Server> = {
        p1k: await t.startServer('proxy-hit', { body: 64, keys: keys.p1k, env }),
        p1m: await t.startServer('proxy-hit', { body: 64, keys: keys.p1m, env }),
        k1: await t.startServer('express-hit', { body: 64, keys: keys.k1, env }),
        k100: await t.startServer('express-hit', { body: 64, keys: keys.k100, env }),
        m1: await t.startServer('express-hit', { body: 64, keys: keys.m1, env }),
        floor: await t.startServer('express-floor', { body: 64 }),
        held: await t.startServer('express-floor-held', { body: 64, keys: keys.held, env }),
      }
      const rows = await using(Object.values(s), async () => {
        const scripts = Object.fromEntries(Object.entries(keys).map(([name, n]) => [name, randomPathsScript(n)]))
        const m = await t.compare(s, '/k/0', scripts)
        return [
          paired('proxy: 1M keys / 1k keys', m.p1m, m.p1k, 0.8),
          paired('Express: 1M keys / 1k keys', m.m1, m.k1, 0.8),
          paired('Express: 100k keys / 1k keys', m.k100, m.k1),
          paired('control: Express floor beside the same 1M entries, never read / Express floor', m.held, m.floor),
          rps('proxy, 1k keys', m.p1k), rps('proxy, 1M keys', m.p1m),
          rps('Express, 1k keys', m.k1), rps('Express, 100k keys', m.k100), rps('Express, 1M keys', m.m1),
          rps('Express floor', m.floor), rps('Express floor beside 1M entries', m.held),
        ]
      })
      // Bounded: 1M entries offered to a 256 MB L1 (which keeps what fits), live memory after a GC.
      const bounded = await t.startServer('express-hit', { body: 64, keys: 1_000_000, env: { BENCH_MAX_BYTES: '256MB' } })
      await using([bounded], async () => {
        rows.push({ label: 'RSS MiB after 1M entries offered to maxBytes 256 MiB (after GC)', value: await settledRssMiB(bounded.pid), target: '≤ 256 + ~100 (Node, Express)' })
      })
      return rows
    },
  },

]
