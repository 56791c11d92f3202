/**
 * The shared adapter behaviour suite, through Express, with the Redis tier switched on: L2,
 * notices and cross-instance locks must not change what any request gets.
 */
import type { AddressInfo } from 'node:net'
import type { RedisClientType } from '@keyv/redis'
import express from 'express'
import { createCache } from '../../src/index.js'
import { behaviour } from '../adapters/behaviour.js'
import { answer, type Harness } from '../adapters/harness.js'
import { quiet } from '../support/apps.js'
import { describeRedis, dropNamespace, rawClient, REDIS_URL } from '../support/redis.js'

describeRedis('Redis tier under the adapter behaviour suite', function () {
  let raw: RedisClientType
  before(async function () { raw = await rawClient() })
  after(async function () { raw?.destroy() })

  const harness: Harness = {
    name: 'express with redis',
    async start ({ cache: options, route, handler }) {
      const cache = createCache({ logger: quiet, ...options, redis: REDIS_URL })
      const app = express()
      app.use(cache.express(route))
      app.use((req, res, next) => {
        Promise.resolve(handler({ method: req.method, url: req.originalUrl, headers: req.headers }))
          .then(async r => {
            if (r.fail === true) throw new Error('handler failed')
            await answer(res, r)
          })
          .catch(next)
      })
      app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(500).type('text').send(err.message)
      })
      const server = app.listen(0, '127.0.0.1')
      await new Promise(resolve => server.once('listening', resolve))
      const { port } = server.address() as AddressInfo
      return {
        url: `http://127.0.0.1:${port}`,
        cache,
        async close () {
          server.closeAllConnections()
          await new Promise(resolve => server.close(resolve))
          await cache.close()
          if (options?.namespace !== undefined) await dropNamespace(raw, options.namespace)
        }
      }
    }
  }
  behaviour(harness)
})
