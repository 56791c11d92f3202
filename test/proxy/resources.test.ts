/**
 * Resources under abuse: clients that abort leave no upstream connection behind, and a large
 * download streams through in bounded memory, also to a client that reads slowly.
 */
import { expect } from 'chai'
import http from 'node:http'
import { Readable } from 'node:stream'
import { sleep } from '../support/http.js'
import { startOrigin, startProxy, type Origin, type Running } from './support.js'

const MiB = 1024 * 1024

/** Upstream sockets the proxy holds: in use, idle in the pool, and requests waiting for one. */
function upstreamSockets (proxy: Running): { busy: number, idle: number, queued: number } {
  const agent = proxy.proxy.upstream.agent
  const count = (m: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(m).reduce((n, list) => n + (list?.length ?? 0), 0)
  return { busy: count(agent.sockets), idle: count(agent.freeSockets), queued: count(agent.requests) }
}

async function until (condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

describe('proxy: resources', function () {
  this.timeout(30_000)
  let origin: Origin
  let proxy: Running
  afterEach(async () => {
    await proxy?.close()
    await origin?.close()
  })

  it('1,000 aborted requests leave no open upstream sockets', async () => {
    // The origin never answers: every request is still in flight when its client aborts.
    origin = await startOrigin(() => {})
    proxy = await startProxy(origin.url)
    const agent = new http.Agent({ keepAlive: false })
    const total = 1000
    const batch = 100
    for (let start = 0; start < total; start += batch) {
      const requests = Array.from({ length: batch }, (_, i) => {
        const req = http.get(`${proxy.url}/hang?i=${start + i}`, { agent })
        req.on('error', () => {})
        return req
      })
      await until(() => origin.count() >= start + batch, 5000, `the origin to see ${start + batch} requests`)
      for (const req of requests) req.destroy()
    }
    expect(origin.count()).to.equal(total)
    await until(async () => (await origin.connections()) === 0, 5000, 'the origin\'s connections to close')
    const sockets = upstreamSockets(proxy)
    expect(sockets).to.deep.equal({ busy: 0, idle: 0, queued: 0 })
    expect(proxy.proxy.cache.engine.pending).to.equal(0)
    const stats = proxy.proxy.cache.stats()
    expect(stats.aborted).to.equal(total)
    expect(stats.originErrors).to.equal(0)
  })

  for (const framing of ['content-length', 'chunked'] as const) {
    it(`streams a 100 MB download (${framing}) through in bounded memory, to a client that pauses`, async () => {
      const size = 100 * MiB
      const block = Buffer.alloc(64 * 1024, 0x61)
      let sent = 0
      origin = await startOrigin((_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'cache-control': 'public, max-age=3600',
          ...(framing === 'content-length' ? { 'content-length': String(size) } : {}),
        })
        Readable.from((function * () {
          while (sent < size) {
            sent += block.length
            yield block
          }
        })()).pipe(res)
      })
      proxy = await startProxy(origin.url)
      const memory = () => process.memoryUsage().rss
      globalThis.gc?.()
      const before = memory()
      let peak = before
      const sampler = setInterval(() => { peak = Math.max(peak, memory()) }, 20)
      try {
        let sentWhilePaused = 0
      const received = await new Promise<number>((resolve, reject) => {
          http.get(`${proxy.url}/download`, { agent: false }, res => {
            let bytes = 0
            let paused = false
            res.on('data', (chunk: Buffer) => {
              bytes += chunk.length
              // Halfway, stop reading for a while: backpressure must reach the upstream.
              if (!paused && bytes > size / 2) {
                paused = true
                res.pause()
                setTimeout(() => {
                  sentWhilePaused = sent
                  res.resume()
                }, 500)
              }
            })
            res.on('end', () => resolve(bytes))
            res.on('error', reject)
          }).on('error', reject)
        })
        expect(received).to.equal(size)
        // The pause held the origin back: it got at most a few socket buffers ahead.
        expect(sentWhilePaused / MiB, 'MiB the origin had sent when the client resumed').to.be.below(size / 2 / MiB + 24)
      } finally {
        clearInterval(sampler)
      }
      const growth = (peak - before) / MiB
      expect(growth, `RSS grew by ${growth.toFixed(1)} MiB`).to.be.below(64)
      // Too large to store: the next request streams from the origin again.
      expect(proxy.proxy.cache.stats().entries).to.equal(0)
    })
  }
})
