/** The shared adapter behaviour suite, run against the Koa middleware on Koa 3 and Koa 2. */
import type http from 'node:http'
import { Readable } from 'node:stream'
import { createCache } from '../../src/index.js'
import { behaviour } from './behaviour.js'
import type { Harness, OriginResponse } from './harness.js'
import { serveWithCache } from '../support/listen.js'
import { koaVersions, quietApp, type KoaVersion } from './koa-apps.js'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** The chunks as a stream, one at a time with a short pause, like the harness's `answer`. */
function chunked (chunks: (string | Buffer)[]): Readable {
  return Readable.from((async function * () {
    for (const c of chunks) {
      yield Buffer.isBuffer(c) ? c : Buffer.from(c)
      await sleep(2)
    }
  })())
}

export function koaHarness ({ name, Koa }: KoaVersion): Harness {
  return {
    name,
    async start ({ cache: options, route, handler }) {
      const cache = createCache(options)
      const app = quietApp(Koa)
      app.use(cache.koa(route))
      app.use(async ctx => {
        const r: OriginResponse = await handler({ method: ctx.method, url: ctx.originalUrl, headers: ctx.headers })
        if (r.delay) await sleep(r.delay)
        if (r.fail) throw new Error('handler failed')
        ctx.status = r.status ?? 200
        for (const [k, v] of Object.entries(r.headers ?? {})) ctx.set(k, v)
        ctx.body = r.chunks ? chunked(r.chunks) : r.body ?? ''
      })
      return serveWithCache(app.callback() as http.RequestListener, cache)
    },
  }
}

for (const version of koaVersions) behaviour(koaHarness(version))
