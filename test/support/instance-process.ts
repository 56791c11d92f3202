/**
 * One cache instance as its own OS process, for test/redis/processes.test.ts: an Express app
 * whose handler fetches from ORIGIN, with `createCache({ namespace, redis })` in front.
 *
 *   CACHEFRONT_TEST_REDIS=redis://... CACHEFRONT_TEST_NAMESPACE=ns CACHEFRONT_TEST_ORIGIN=http://... \
 *     node --import tsx test/support/instance-process.ts
 *
 * Prints `READY <port>` once it listens and hears its namespace's channel. Admin routes, outside
 * the cache: `POST /_admin/invalidate` with a JSON `Invalidation` body, `GET /_admin/stats`.
 * Exits on SIGTERM, or when its parent goes away (stdin closes).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { createCache } from '../../src/index.js'

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}

const origin = env('CACHEFRONT_TEST_ORIGIN')
const cache = createCache({
  namespace: env('CACHEFRONT_TEST_NAMESPACE'),
  redis: env('CACHEFRONT_TEST_REDIS'),
  logger: { debug () {}, info () {}, warn () {}, error: (obj, msg) => { console.error(msg, obj) } }
})

const app = express()
app.post('/_admin/invalidate', express.json(), (req, res, next) => {
  cache.invalidate(req.body).then(n => res.json({ deleted: n }), next)
})
app.get('/_admin/stats', (_req, res) => { res.json(cache.stats()) })
app.use(cache.express())
const agent = new http.Agent({ keepAlive: true })
app.use((req, res, next) => {
  http.get(origin + req.originalUrl, { agent, headers: { 'x-instance': String(process.pid) } }, r => {
    res.status(r.statusCode ?? 502)
    for (const name of ['cache-control', 'content-type', 'surrogate-key']) {
      const value = r.headers[name]
      if (value !== undefined) res.setHeader(name, value)
    }
    r.pipe(res)
  }).on('error', next)
})

const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  const ready = setInterval(() => {
    if (cache.stats().l2?.subscribed !== true) return
    clearInterval(ready)
    process.stdout.write(`READY ${port}\n`)
  }, 10)
})

async function stop (): Promise<void> {
  server.closeAllConnections()
  server.close()
  await cache.close()
  process.exit(0)
}
process.once('SIGTERM', () => { void stop() })
process.stdin.resume()
process.stdin.once('end', () => { void stop() })
