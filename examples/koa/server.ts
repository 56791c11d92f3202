/**
 * Runs the example Koa app.
 *
 *   npx tsx examples/koa/server.ts          then try the curl lines printed at start
 *   PORT=8080 DELAY_MS=1000 npx tsx examples/koa/server.ts
 */
import { createApp } from './app.js'

const port = Number(process.env.PORT ?? 3002)
const { app, cache } = createApp({ delayMs: Number(process.env.DELAY_MS ?? 300) })

const server = app.listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${port}`
  console.log(`example koa app on ${base}
  curl -si ${base}/products | grep -i -E 'x-cache|age|etag'        # MISS, then HIT
  curl -si -X POST ${base}/products                                  # raises the price, invalidates /products
  curl -si ${base}/report -H 'accept-encoding: gzip' -o /dev/null -D -   # 10 min ttl, tag "reports", gzip variant
  curl -si -X POST '${base}/admin/purge?tag=reports'
  curl -si ${base}/me -H 'x-user-id: alice'
  curl -si ${base}/news                                             # STALE after 5 s, refreshed in the background
  curl -s  ${base}/admin/stats`)
})

const stop = (): void => { server.close(() => { cache.close().then(() => process.exit(0)) }) }
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
