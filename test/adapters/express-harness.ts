/**
 * The Express harness of the shared behaviour suite, for any Express major and any extra cache
 * options (the Redis tier, say): the cache in front of a scripted origin.
 */
import express from 'express'
import { serveWithCache } from '../support/listen.js'
import { createCache, type CacheOptions } from '../../src/index.js'
import { answer, type Harness } from './harness.js'

export interface ExpressHarnessOptions {
  name: string
  /** The express factory: Express 5 by default; the `express4` alias for Express 4. */
  express?: typeof express
  /** Laid over each test's cache options. */
  cache?: CacheOptions
  /** Runs after the server and cache are closed (e.g. dropping Redis keys). */
  afterClose?: (options: CacheOptions | undefined) => Promise<void>
}

export function makeExpressHarness (o: ExpressHarnessOptions): Harness {
  const factory = o.express ?? express
  return {
    name: o.name,
    async start ({ cache: options, route, handler }) {
      const cache = createCache({ ...options, ...o.cache })
      const app = factory()
      app.use(cache.express(route))
      app.use((req: express.Request, res: express.Response, next: express.NextFunction) => {
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
      return serveWithCache(app, cache, () => o.afterClose?.(options))
    },
  }
}
