/**
 * A Koa app with cachefront: the cache for every route, per-route TTLs and tags with
 * @koa/router, per-user caching, stale-while-revalidate, koa-compress in front, and purges.
 */
import Router from '@koa/router'
import Koa from 'koa'
import compress from 'koa-compress'
import { createCache, type Cache, type CacheOptions } from '../../src/index.js'

export interface ExampleOptions {
  /** Pretend work per request (ms); tests use 0. */
  delayMs?: number
  cache?: CacheOptions
}

export function createApp ({ delayMs = 300, cache: options }: ExampleOptions = {}): { app: Koa, cache: Cache } {
  const cache = createCache({
    namespace: 'example-koa',
    ttl: '30s',
    // Per-user responses are keyed on X-User-Id (the function receives ctx.req).
    key: { user: req => req.headers['x-user-id'] },
    ...options,
  })
  const slow = (factor = 1): Promise<void> => new Promise(resolve => setTimeout(resolve, delayMs * factor))
  let price = 10

  const app = new Koa()
  // In front of the cache: a stored response is the compressed one, one variant per Accept-Encoding.
  app.use(compress())

  const router = new Router()

  // The cache-wide default ttl (30 s), for this route only.
  router.get('/products', cache.koa(), async ctx => {
    await slow()
    ctx.body = { products: [{ id: 1, price }], at: new Date().toISOString() }
  })

  // A route with its own ttl and tags: purge it with POST /admin/purge?tag=reports.
  router.get('/report', cache.koa({ ttl: '10m', tags: ['reports'] }), async ctx => {
    await slow(3)
    ctx.type = 'text'
    ctx.body = `report built at ${new Date().toISOString()}\n`.repeat(100)
  })

  // Cached per user, because the key names the user and the origin says private.
  router.get('/me', cache.koa(), async ctx => {
    await slow()
    ctx.set('Cache-Control', 'private, max-age=60')
    ctx.body = { user: ctx.get('x-user-id') || null }
  })

  // Served stale for 30 s while one background request refreshes it.
  router.get('/news', cache.koa({ ttl: '5s', staleWhileRevalidate: '30s', tags: ['news'] }), async ctx => {
    await slow(2)
    ctx.body = { headline: 'cachefront ships for Koa', at: new Date().toISOString() }
  })

  // An unsafe method through the cache: its 2xx answer invalidates GET /products (RFC 9111 §4.4).
  // (The target URI is what is invalidated, so the request has no query string.)
  router.post('/products', cache.koa(), ctx => {
    price++
    ctx.status = 204
  })

  router.post('/admin/purge', async ctx => {
    const { tag, url } = ctx.query
    if (typeof tag === 'string') ctx.body = { purged: await cache.invalidate({ tag }) }
    else if (typeof url === 'string') ctx.body = { purged: await cache.invalidate({ url }) }
    else ctx.throw(400, 'give ?tag= or ?url=')
  })

  router.get('/admin/stats', ctx => { ctx.body = cache.stats() })

  app.use(router.routes())
  app.use(router.allowedMethods())
  return { app, cache }
}
