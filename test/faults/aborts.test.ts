/**
 * 10,000 clients that abort mid-response: afterwards no open sockets, no pending coalescing
 * flights, and no heap growth beyond noise. Long: runs in `npm run test:faults`.
 */
import { expect } from 'chai'
import express from 'express'
import http from 'node:http'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createCache } from '../../src/index.js'
import { sleep } from '../support/http.js'

const ABORTS = Number(process.env.ABORTS ?? 10_000)

describe(`${ABORTS} client aborts mid-response (middleware)`, function () {
  this.timeout(120_000)

  it('leaves no sockets, no pending flights and no heap growth', async () => {
    const cache = createCache({ namespace: `a-${randomUUID()}`, l1: { maxBytes: '16MB' } })
    const app = express()
    app.use(cache.express())
    // A slow, chunked, cacheable response: every client leaves after the first chunk.
    app.use((req, res) => {
      res.setHeader('content-type', 'text/plain')
      res.write('first chunk\n')
      const t = setTimeout(() => res.end('rest\n'), 20)
      res.on('close', () => clearTimeout(t))
    })
    const server = http.createServer(app)
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
    const { port } = server.address() as AddressInfo
    const agent = new http.Agent({ keepAlive: false, maxSockets: 64 })

    const abortOne = (i: number): Promise<void> => new Promise(resolve => {
      // Distinct URLs (mostly) so many leaders are cut off, and some repeats so waiters are too.
      const req = http.get({ host: '127.0.0.1', port, path: `/s/${i % 2000}`, agent }, res => {
        res.once('data', () => { req.destroy(); resolve() })
        res.once('end', () => resolve())
      })
      req.on('error', () => resolve())
    })
    const run = async (n: number, from: number): Promise<void> => {
      const batch = 64
      for (let i = 0; i < n; i += batch) await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => abortOne(from + i + j)))
    }

    await run(1000, 0) // warm up: JIT, pools
    await sleep(100)
    global.gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    await run(ABORTS, 1000)
    await sleep(300)
    global.gc?.()
    const heapAfter = process.memoryUsage().heapUsed
    const connections = await new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))))

    expect(connections, 'open server sockets').to.equal(0)
    expect(cache.engine.pending, 'pending flights and refreshes').to.equal(0)
    // Entries may be stored (the handler completes even when its client left), bounded by L1's
    // 16 MB; beyond that the heap must not grow with the number of aborts.
    expect(heapAfter - heapBefore, 'heap growth in bytes').to.be.lessThan(32 * 1024 * 1024)
    agent.destroy()
    server.close()
    await cache.close()
  })
})
