/**
 * 10,000 clients that abort mid-response through the proxy: afterwards no open sockets (client
 * side, upstream side, at the origin), no pending coalescing flights, and no heap growth beyond
 * noise. The middleware's counterpart is aborts.test.ts.
 */
import { expect } from 'chai'
import http from 'node:http'
import { sleep } from '../support/http.js'
import { abortMany } from '../support/aborts.js'
import { startOrigin, startProxy, type Origin, type Running } from '../proxy/support.js'

const ABORTS = Number(process.env.ABORTS ?? 10_000)

/** Upstream sockets the proxy holds: in use, idle in the pool, and requests waiting for one. */
function upstreamSockets (proxy: Running): { busy: number, idle: number, queued: number } {
  const agent = proxy.proxy.upstream.agent
  const count = (m: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(m).reduce((n, list) => n + (list?.length ?? 0), 0)
  return { busy: count(agent.sockets), idle: count(agent.freeSockets), queued: count(agent.requests) }
}

const connections = (server: http.Server): Promise<number> =>
  new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))))

describe(`faults: ${ABORTS} client aborts mid-response (proxy)`, function () {
  this.timeout(180_000)
  let origin: Origin
  let proxy: Running
  after(async () => {
    await proxy?.close()
    await origin?.close()
  })

  it('leaves no sockets (client, upstream, origin), no pending flights and no heap growth', async () => {
    // A slow, chunked, cacheable response: every client leaves after the first chunk.
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' })
      res.write('first chunk\n')
      const t = setTimeout(() => res.end('rest\n'), 20)
      res.on('close', () => clearTimeout(t))
    })
    // The test origin keeps every request it saw (for other tests' assertions); not here.
    origin.server.prependListener('request', () => { origin.requests.length = 0 })
    proxy = await startProxy(origin.url)
    const { port } = new URL(proxy.url)

    const run = (n: number, from: number): Promise<void> => abortMany(port, n, from)
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 100 && ((await connections(proxy.proxy.server)) > 0 || upstreamSockets(proxy).busy > 0); i++) await sleep(20)
      await sleep(100)
      global.gc?.()
    }

    await run(1000, 0) // warm up: JIT, pools
    await settle()
    const heapBefore = process.memoryUsage().heapUsed
    const originBefore = await origin.connections()
    const started = Date.now()
    await run(ABORTS, 1000)
    const seconds = (Date.now() - started) / 1000
    await settle()
    const heapAfter = process.memoryUsage().heapUsed
    const sockets = upstreamSockets(proxy)
    const clientSide = await connections(proxy.proxy.server)
    const originSide = await origin.connections()
    const stats = proxy.proxy.cache.stats()
    process.stdout.write(`      ${ABORTS} aborts in ${seconds.toFixed(1)} s: heap ${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB, ` +
      `client sockets ${clientSide}, upstream ${JSON.stringify(sockets)}, origin sockets ${originBefore} → ${originSide}, ` +
      `pending ${proxy.proxy.cache.engine.pending}, aborted ${stats.aborted}, stored ${stats.stores}\n`)

    expect(clientSide, 'open client sockets at the proxy').to.equal(0)
    expect(sockets.busy, 'upstream sockets in use').to.equal(0)
    expect(sockets.queued, 'requests waiting for an upstream socket').to.equal(0)
    // Idle kept-alive sockets may stay pooled (bounded by maxFreeSockets); nothing beyond them.
    expect(originSide, 'open sockets at the origin').to.be.at.most(sockets.idle)
    expect(proxy.proxy.cache.engine.pending, 'pending flights and refreshes').to.equal(0)
    expect(stats.aborted, 'aborts counted').to.be.at.least(ABORTS / 2)
    expect(heapAfter - heapBefore, 'heap growth in bytes').to.be.lessThan(32 * 1024 * 1024)
  })
})
