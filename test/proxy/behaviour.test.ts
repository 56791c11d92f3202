/**
 * The shared adapter behaviour suite, run against the proxy: a node:http origin answering from
 * the scripted handler (`fail: true` resets the connection), and the proxy in front of it with
 * the harness's cache options and its route as the default route.
 */
import { randomUUID } from 'node:crypto'
import { parseConfig } from '../../proxy/config.js'
import { createProxy } from '../../proxy/server.js'
import { DEFAULTS } from '../../src/index.js'
import { behaviour } from '../adapters/behaviour.js'
import { answer, type Harness } from '../adapters/harness.js'
import { startOrigin } from './support.js'

export const proxyHarness: Harness = {
  name: 'proxy',
  async start ({ cache, route, handler }) {
    const origin = await startOrigin((req, res) => {
      // Like the middleware harnesses' handlers, the scripted origin sends no Date unless told
      // to: a whole-second Date would give every response up to a second of apparent age
      // (RFC 9111 §4.2.3), and the suite's sub-second TTLs would flake.
      res.sendDate = false
      Promise.resolve(handler({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }))
        .then(r => (r.fail ? void req.socket.destroy() : answer(res, r)))
        .catch(() => req.socket.destroy())
    })
    const proxy = createProxy(parseConfig({
      upstream: origin.url,
      listen: { host: '127.0.0.1', port: 0 },
      admin: { enabled: false },
      log: { level: 'silent' },
      // The suite is written against createCache's defaults; the proxy's own default is no ttl
      // (a pure RFC 9111 cache), so the harness asks for the engine's.
      cache: { namespace: `t-${randomUUID()}`, ttl: DEFAULTS.ttl },
    }), { cache, defaultRoute: route })
    const { url } = await proxy.listen()
    return {
      url,
      cache: proxy.cache,
      async close () {
        await proxy.close()
        await origin.close()
      },
    }
  },
}

behaviour(proxyHarness)
