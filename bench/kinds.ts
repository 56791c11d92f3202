/**
 * The servers the benchmark compares. Each takes the same prebuilt body and answers every path;
 * the caching kinds serve hits after priming. References (floors, other caches) live here too,
 * so a ratio is always our figure over a reference measured in the same run.
 */
import http from 'node:http'
import express from 'express'
import apicache from 'apicache'
import Koa from 'koa'
import koaCash from 'koa-cash'
import { LRUCache } from 'lru-cache'
import { createCache, type Cache } from '../src/index.js'
import { planKey, primaryKey, resourceOf } from '../src/key.js'
import { recordEntry } from '../src/record.js'
import { parseConfig } from '../proxy/config.js'
import { HOST_KEY_FIELDS } from '../proxy/forwarding.js'
import { createProxy, type Proxy } from '../proxy/server.js'
import type { AddressInfo } from 'node:net'

export interface KindOptions { port: number, body: Buffer, keys: number }
export interface Started {
  /** false: don't send priming requests (servers whose answers must stay misses). */
  prime?: boolean
  /** Fills keys beyond the primed ones directly into the store (scale scenario). */
  prefill?: (keys: number) => Promise<void>
}
export type Kind = (o: KindOptions) => Promise<Started>

const CT = 'application/octet-stream'

function listen (server: http.Server, port: number): Promise<void> {
  return new Promise(resolve => server.listen(port, '127.0.0.1', () => resolve()))
}

export const kinds: Record<string, Kind> = {
  /** Bare node:http returning a prebuilt buffer: the ceiling. */
  async bare ({ port, body }) {
    const len = String(body.length)
    await listen(http.createServer((_req, res) => {
      res.writeHead(200, ['content-type', CT, 'content-length', len])
      res.end(body)
    }), port)
    return {}
  },

  /**
   * Bare node:http sending the same header fields a proxy hit sends (Via, Date, ETag, Age,
   * X-Cache, Cache-Status...): what those fields cost Node by themselves, apart from the cache.
   */
  async 'bare-headers' ({ port, body }) {
    const date = new Date().toUTCString()
    const head = [
      'content-type', CT, 'cache-control', 'public, max-age=3600', 'via', '1.1 cachefront', 'date', date,
      'content-length', String(body.length), 'etag', 'W/"400-1aPJvX50bJi0rqDpGU+5VVs8Iq0"', 'age', '1',
      'x-cache', 'HIT', 'cache-status', 'cachefront; hit',
    ]
    await listen(http.createServer((_req, res) => { res.writeHead(200, head); res.end(body) }), port)
    return {}
  },

  /** An Express app whose only middleware ends the response with the buffer: Express's floor. */
  async 'express-floor' ({ port, body }) {
    const app = express()
    app.use((_req, res) => { res.setHeader('content-type', CT); res.end(body) })
    await listen(http.createServer(app), port)
    return {}
  },

  /**
   * The Express floor beside a cache holding the same entries as express-hit, which no request
   * ever reaches: what a heap of that size costs Express by itself (garbage collection), apart
   * from anything the cache does per request (scale scenario).
   */
  async 'express-floor-held' ({ port, body }) {
    const cache = createCache({ namespace: 'bench', ttl: '1h', l1: { maxBytes: process.env.BENCH_MAX_BYTES ?? '512MB' } })
    const app = express()
    app.use((_req, res) => { res.setHeader('content-type', CT); res.end(body) })
    await listen(http.createServer(app), port)
    return { prefill: keys => prefill(cache, body, keys, (ns, resource) => primaryKey(ns, 'GET', resource, undefined, cache.engine.settings.route.key, {})) }
  },

  /** An Express handler using res.send (which computes an ETag per response). */
  async 'express-send' ({ port, body }) {
    const app = express()
    app.use((_req, res) => { res.type(CT).send(body) })
    await listen(http.createServer(app), port)
    return {}
  },

  /** cachefront's Express middleware serving L1 hits. */
  async 'express-hit' ({ port, body }) {
    const cache = createCache({ namespace: 'bench', ttl: '1h', l1: { maxBytes: process.env.BENCH_MAX_BYTES ?? '512MB' } })
    const app = express()
    app.use(cache.express())
    app.use((_req, res) => { res.setHeader('content-type', CT); res.end(body) })
    await listen(http.createServer(app), port)
    return { prefill: keys => prefill(cache, body, keys, (ns, resource) => primaryKey(ns, 'GET', resource, undefined, cache.engine.settings.route.key, {})) }
  },

  /** apicache (memory store) serving hits. */
  async 'express-apicache' ({ port, body }) {
    const app = express()
    app.use(apicache.options({ statusCodes: { include: [200] } }).middleware('1 hour'))
    app.use((_req, res) => { res.setHeader('content-type', CT); res.end(body) })
    await listen(http.createServer(app), port)
    return {}
  },

  /** A Koa app whose only middleware sets ctx.body to the buffer: Koa's floor. */
  async 'koa-floor' ({ port, body }) {
    const app = new Koa()
    app.use(ctx => { ctx.type = CT; ctx.body = body })
    await listen(http.createServer(app.callback()), port)
    return {}
  },

  /** cachefront's Koa middleware serving L1 hits. */
  async 'koa-hit' ({ port, body }) {
    const cache = createCache({ namespace: 'bench', ttl: '1h' })
    const app = new Koa()
    app.use(cache.koa())
    app.use(ctx => { ctx.type = CT; ctx.body = body })
    await listen(http.createServer(app.callback()), port)
    return {}
  },

  /** koa-cash over lru-cache serving hits. */
  async 'koa-cash' ({ port, body }) {
    const lru = new LRUCache<string, object>({ max: 10000 })
    const app = new Koa()
    app.use(koaCash({ get: (k: string) => lru.get(k), set: (k: string, v: object) => { lru.set(k, v) } }))
    app.use(async ctx => {
      if (await ctx.cashed()) return
      ctx.type = CT
      ctx.body = body
    })
    await listen(http.createServer(app.callback()), port)
    return {}
  },

  /** cachefront's Koa middleware in front of a handler that answers no-store: every request a miss. */
  async 'koa-miss' ({ port, body }) {
    const cache = createCache({ namespace: 'bench', ttl: '1h' })
    const app = new Koa()
    app.use(cache.koa())
    app.use(ctx => { ctx.type = CT; ctx.set('cache-control', 'no-store'); ctx.body = body })
    await listen(http.createServer(app.callback()), port)
    return { prime: false }
  },

  /** cachefront's Express middleware in front of a handler that answers no-store: every request a miss. */
  async 'express-miss' ({ port, body }) {
    const cache = createCache({ namespace: 'bench', ttl: '1h' })
    const app = express()
    app.use(cache.express())
    app.use((_req, res) => { res.setHeader('content-type', CT); res.setHeader('cache-control', 'no-store'); res.end(body) })
    await listen(http.createServer(app), port)
    return { prime: false }
  },

  /** cachefront-proxy serving L1 hits, its origin (idle once primed) in the same process. */
  async 'proxy-hit' ({ port, body }) {
    const p = await proxy(port, await origin(body, 'public, max-age=3600'), process.env.BENCH_MAX_BYTES ? { cache: { l1: { maxBytes: process.env.BENCH_MAX_BYTES } } } : {})
    // The key a request from the load generator gets: keyed by the forwarded host, as the proxy does by default.
    const plan = planKey({ headers: HOST_KEY_FIELDS })
    const headers = { 'x-forwarded-host': `127.0.0.1:${port}`, 'x-forwarded-proto': 'http' }
    return { prefill: keys => prefill(p.cache, body, keys, (ns, resource) => primaryKey(ns, 'GET', resource, undefined, plan, headers)) }
  },

  /** cachefront-proxy serving L2 hits: L1 too small for any entry, Redis on loopback. */
  async 'proxy-l2-hit' ({ port, body }) {
    await proxy(port, await origin(body, 'public, max-age=3600'), {
      redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
      cache: { namespace: `bench-l2-${process.pid}`, l1: { maxBytes: 1 } },
    })
    return {}
  },

  /** cachefront-proxy forwarding every request (the origin says no-store): the miss path's overhead. */
  async 'proxy-miss' ({ port, body }) {
    await proxy(port, await origin(body, 'no-store'))
    return { prime: false }
  },

  /** The same origin as proxy-miss, asked directly. */
  async 'origin-direct' ({ port, body }) {
    await listen(originServer(body, 'no-store'), port)
    return { prime: false }
  },

  /** cachefront-proxy in front of BENCH_UPSTREAM (stampede), optionally sharing Redis (BENCH_REDIS=1). */
  async 'proxy-front' ({ port }) {
    // BENCH_HIT_FOR_MISS: the cache's hitForMiss (the uncacheable scenario turns it off with 0).
    const hitForMiss = process.env.BENCH_HIT_FOR_MISS === undefined ? {} : { hitForMiss: process.env.BENCH_HIT_FOR_MISS }
    await proxy(port, process.env.BENCH_UPSTREAM!, process.env.BENCH_REDIS === '1'
      ? { redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }, cache: { namespace: process.env.BENCH_NAMESPACE ?? 'bench-front', ...hitForMiss } }
      : { cache: hitForMiss })
    return { prime: false }
  },

  /**
   * A 50 ms origin that counts its requests (stampede); GET /count answers the count. Paths
   * under /private/ are answered `no-store` (the uncacheable scenario), others are storable.
   */
  async 'slow-origin' ({ port, body }) {
    let count = 0
    await listen(http.createServer((req, res) => {
      if (req.url === '/count') { res.end(String(count)); return }
      count++
      const cc = req.url?.startsWith('/private/') ? 'no-store' : 'public, max-age=60'
      setTimeout(() => {
        res.writeHead(200, ['content-type', CT, 'content-length', String(body.length), 'cache-control', cc])
        res.end(body)
      }, 50)
    }), port)
    return { prime: false }
  },

  /**
   * The stampede's reference: answers every request of a burst with the prebuilt body 50 ms after
   * the burst's first request, as a cache whose own work costs nothing would (one 50 ms origin
   * request, then every answer from memory). What this machine and client take to deliver 500
   * answers at once; GET /count answers at once (the burst client warms its connections with it).
   */
  async 'collapsed-50ms' ({ port, body }) {
    const head = ['content-type', CT, 'content-length', String(body.length)]
    let waiting: http.ServerResponse[] | undefined
    let ready = false
    await listen(http.createServer((req, res) => {
      if (req.url === '/count') { res.end('0'); return }
      if (ready) { res.writeHead(200, head); res.end(body); return }
      if (waiting === undefined) {
        const queue: http.ServerResponse[] = waiting = []
        setTimeout(() => {
          ready = true
          for (const r of queue) { r.writeHead(200, head); r.end(body) }
        }, 50)
      }
      waiting.push(res)
    }), port)
    return { prime: false }
  },

  /** cachefront's Express middleware in front of a 50 ms handler (stampede). */
  async 'express-slow' ({ port, body }) {
    const cache = createCache({ namespace: 'bench', ttl: '1h' })
    let count = 0
    const app = express()
    app.get('/count', (_req, res) => { res.end(String(count)) })
    app.use(cache.express())
    app.use((_req, res) => { count++; setTimeout(() => { res.setHeader('content-type', CT); res.end(body) }, 50) })
    await listen(http.createServer(app), port)
    return { prime: false }
  },
}

function originServer (body: Buffer, cacheControl: string): http.Server {
  const head = ['content-type', CT, 'content-length', String(body.length), 'cache-control', cacheControl]
  return http.createServer((_req, res) => { res.writeHead(200, head); res.end(body) })
}

async function origin (body: Buffer, cacheControl: string): Promise<string> {
  const server = originServer(body, cacheControl)
  await listen(server, 0)
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function proxy (port: number, upstream: string, extra: Record<string, unknown> = {}): Promise<Proxy> {
  const config = parseConfig({
    upstream,
    listen: { host: '127.0.0.1', port },
    admin: { enabled: false },
    log: { level: 'error', access: false },
    ...extra,
  })
  const p = createProxy(config)
  await p.listen()
  return p
}

/** Writes `keys` entries straight into L1 (what priming would, without a million requests). */
async function prefill (cache: Cache, body: Buffer, keys: number, keyOf: (namespace: string, resource: string) => string): Promise<void> {
  const { engine } = cache
  const now = Date.now()
  for (let i = 0; i < keys; i++) {
    const resource = resourceOf(`/k/${i}`)
    const key = keyOf(engine.settings.namespace, resource)
    const entry = recordEntry({
      status: 200,
      headers: { 'content-type': CT },
      body,
      policy: { lifetime: 3600_000, initialAge: 0, swr: 0, sie: 0, mustRevalidate: false, noCache: false, strip: [] },
      requestTime: now,
      responseTime: now,
      tags: ['u:' + resource],
      consumed: [],
      keep: 0,
    })
    await engine.store.l1.set(key, entry, 3600_000)
  }
}
