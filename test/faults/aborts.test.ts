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
import { abortMany } from '../support/aborts.js'

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

    const run = (n: number, from: number): Promise<void> => abortMany(port, n, from)

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
    server.close()
    await cache.close()
  })
})
