import express from 'express'
import type { AddressInfo } from 'node:net'
import { createCache } from '../../src/index.js'
import { behaviour } from './behaviour.js'
import { answer, type Harness } from './harness.js'

export const expressHarness: Harness = {
  name: 'express',
  async start ({ cache: options, route, handler }) {
    const cache = createCache(options)
    const app = express()
    app.use(cache.express(route))
    app.use((req, res, next) => {
      Promise.resolve(handler({ method: req.method, url: req.originalUrl, headers: req.headers }))
        .then(r => {
          if (r.fail) throw new Error('handler failed')
          return answer(res, r)
        })
        .catch(next)
    })
    // Quiet error handler: the default one logs every stack trace.
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
      },
    }
  },
}

behaviour(expressHarness)
