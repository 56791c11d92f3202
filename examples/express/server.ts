/**
 * A runnable Express app with cachefront: per-route TTLs and tags, a per-user route, and purges.
 *
 *   npx tsx examples/express/server.ts      then try the curl lines printed at start
 */
import express from 'express'
import { createCache } from '../../src/index.js'

const cache = createCache({
  namespace: 'example-express',
  ttl: '30s',
  key: { user: req => req.headers['x-user-id'] },
  l1: { maxBytes: '32MB', maxObjectSize: '1MB' },
})

const app = express()
app.use(express.json())

// Everything below is cached with the default ttl unless a route says otherwise.
app.use(cache.express())

const slow = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
let price = 10

app.get('/products', async (_req, res) => {
  await slow(300)
  res.json({ products: [{ id: 1, price }], at: new Date().toISOString() })
})

// A route with its own ttl and tags: purge it with POST /admin/purge {"tag":"reports"}.
app.get('/report', cache.express({ ttl: '10m', tags: ['reports'] }), async (_req, res) => {
  await slow(800)
  res.type('text').send(`report built at ${new Date().toISOString()}\n`)
})

// Keyed per user (X-User-Id), so a private response is cached for that user only.
app.get('/me', async (req, res) => {
  await slow(200)
  res.set('cache-control', 'private, max-age=60').json({ user: req.headers['x-user-id'] ?? null })
})

// Serve stale for 30 s while one background request refreshes it.
app.get('/news', cache.express({ ttl: '5s', staleWhileRevalidate: '30s' }), async (_req, res) => {
  await slow(500)
  res.json({ headline: 'cachefront ships', at: new Date().toISOString() })
})

// An unsafe method: its 2xx answer invalidates GET /products (RFC 9111 §4.4).
app.post('/products', (req, res) => {
  price = Number(req.body?.price ?? price + 1)
  res.status(204).end()
})

app.post('/admin/purge', async (req, res) => {
  const count = await cache.invalidate(req.body)
  res.json({ purged: count })
})

app.get('/admin/stats', (_req, res) => { res.json(cache.stats()) })

const port = Number(process.env.PORT ?? 3001)
const server = app.listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${port}`
  console.log(`example express app on ${base}
  curl -si ${base}/products | grep -i -E 'x-cache|age|etag'     # MISS, then HIT
  curl -si -X POST ${base}/products -H 'content-type: application/json' -d '{"price":12}'
  curl -si ${base}/report                                          # 10 min ttl, tag "reports"
  curl -si -X POST ${base}/admin/purge -H 'content-type: application/json' -d '{"tag":"reports"}'
  curl -si ${base}/me -H 'x-user-id: alice'
  curl -s  ${base}/admin/stats`)
})

const stop = (): void => { server.close(() => { cache.close().then(() => process.exit(0)) }) }
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
