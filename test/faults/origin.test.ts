/**
 * The origin failing, through the proxy and through the Express middleware (whose handler
 * fetches from the same origin): down, slower than the timeout, resetting connections, a body
 * shorter than its Content-Length, an invalid Content-Length. With a stale entry that allows it,
 * the cache answers with it (stale-if-error); otherwise the proxy answers 502/504 and the
 * middleware lets the framework answer (Express: 500). A truncated body is never stored, a
 * failure never replaces a good entry, and the process keeps serving.
 */
import { expect } from 'chai'
import express from 'express'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import type { Cache } from '../../src/index.js'
import { createCache } from '../../src/index.js'
import { quiet } from '../support/apps.js'
import { sleep } from '../support/http.js'
import { startProxy } from '../proxy/support.js'

type Fault = 'down' | 'slow' | 'reset' | 'truncated' | 'truncated-chunked' | 'bad-length'
type Mode = 'ok' | Fault
const FAULTS: Fault[] = ['down', 'slow', 'reset', 'truncated', 'truncated-chunked', 'bad-length']
/** The proxy's response timeout and the middleware handler's request timeout (ms). */
const TIMEOUT = 300

/**
 * An origin written on raw sockets, so it can misbehave exactly: each answer names its path and
 * a serial number. Paths under /sie/ are stale at once but usable on error for a minute; others
 * are fresh for a minute.
 */
class FaultyOrigin {
  mode: Mode = 'ok'
  served = 0
  private readonly sockets = new Set<net.Socket>()
  private server: net.Server | undefined
  private constructor (readonly port: number) {}

  get url (): string { return `http://127.0.0.1:${this.port}` }

  static async start (): Promise<FaultyOrigin> {
    const probe = net.createServer().listen(0, '127.0.0.1')
    await new Promise(resolve => probe.once('listening', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise(resolve => probe.close(resolve))
    const origin = new FaultyOrigin(port)
    await origin.listen()
    return origin
  }

  /** Switches the behaviour; 'down' closes the listener (connections are refused), anything else reopens it. */
  async set (mode: Mode): Promise<void> {
    this.mode = mode
    if (mode === 'down' && this.server !== undefined) await this.close()
    if (mode !== 'down' && this.server === undefined) await this.listen()
  }

  async close (): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    if (server !== undefined) await new Promise(resolve => server.close(resolve))
  }

  private async listen (): Promise<void> {
    const server = net.createServer(socket => this.connection(socket))
    server.listen(this.port, '127.0.0.1')
    await new Promise(resolve => server.once('listening', resolve))
    this.server = server
  }

  private connection (socket: net.Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    let head = ''
    socket.on('data', chunk => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.removeAllListeners('data')
      const path = head.split(' ')[1] ?? '/'
      this.answer(socket, path)
    })
  }

  private answer (socket: net.Socket, path: string): void {
    const mode = this.mode
    if (mode === 'slow') return // never answers: the timeout must
    if (mode === 'reset') return void socket.resetAndDestroy()
    const body = `good ${++this.served} for ${path}`
    const cc = path.startsWith('/sie/') ? 'max-age=0, stale-if-error=60' : 'max-age=60'
    const head = (length: string) =>
      `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: ${cc}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`
    if (mode === 'truncated') {
      // 100 bytes announced, 20 sent, then the connection goes.
      socket.write(head('100') + 'x'.repeat(20))
      setTimeout(() => socket.destroy(), 20)
      return
    }
    if (mode === 'truncated-chunked') {
      // A chunked body whose last chunk never comes.
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: ${cc}\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n${'x'.repeat(20)}\r\n`)
      setTimeout(() => socket.destroy(), 20)
      return
    }
    if (mode === 'bad-length') return void socket.end(head('12abc') + body)
    socket.end(head(String(Buffer.byteLength(body))) + body)
  }
}

interface Front { url: string, cache: Cache, close(): Promise<void> }

interface Target {
  name: string
  start(origin: FaultyOrigin): Promise<Front>
  /** The status a client gets for each fault when nothing is stored (undefined: the connection is cut after the head). */
  expected: Record<Fault, number>
}

const targets: Target[] = [
  {
    name: 'proxy',
    expected: { down: 502, slow: 504, reset: 502, truncated: 200, 'truncated-chunked': 200, 'bad-length': 502 },
    async start (origin) {
      const proxy = await startProxy(origin.url, { timeouts: { response: `${TIMEOUT}ms`, connect: `${TIMEOUT}ms` } })
      return { url: proxy.url, cache: proxy.proxy.cache, close: () => proxy.close() }
    },
  },
  {
    name: 'express middleware',
    expected: { down: 500, slow: 500, reset: 500, truncated: 200, 'truncated-chunked': 200, 'bad-length': 500 },
    async start (origin) {
      const cache = createCache({ logger: quiet })
      const app = express()
      app.set('env', 'test') // Express's default error handler, without stack traces on stderr
      app.use(cache.express())
      // A typical handler that relays another service: its failures go to next(err).
      app.use((req, res, next) => {
        const up = http.get(origin.url + req.originalUrl, { agent: false, timeout: TIMEOUT }, r => {
          res.status(r.statusCode ?? 502)
          for (const name of ['cache-control', 'content-type', 'content-length']) {
            const value = r.headers[name]
            if (value !== undefined) res.setHeader(name, value)
          }
          // A body cut short upstream must not look complete downstream.
          r.on('aborted', () => res.destroy())
          r.on('error', () => res.destroy())
          r.pipe(res)
        })
        up.on('timeout', () => up.destroy(new Error(`the origin did not answer within ${TIMEOUT} ms`)))
        up.on('error', next)
      })
      const server = app.listen(0, '127.0.0.1')
      await new Promise(resolve => server.once('listening', resolve))
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        cache,
        async close () {
          server.closeAllConnections()
          await new Promise(resolve => server.close(resolve))
          await cache.close()
        },
      }
    },
  },
]

interface Got { status?: number, body: string, headers: http.IncomingHttpHeaders, error?: string }

/** GET on a fresh connection; resolves with what arrived, or with the error that cut it. */
function get (url: string): Promise<Got> {
  return new Promise(resolve => {
    let body = ''
    let status: number | undefined
    let headers: http.IncomingHttpHeaders = {}
    const req = http.get(url, { agent: false }, res => {
      status = res.statusCode
      headers = res.headers
      res.on('data', d => { body += d.toString() })
      res.on('end', () => resolve({ status, body, headers }))
      res.on('error', err => resolve({ status, body, headers, error: err.message }))
      res.on('aborted', () => resolve({ status, body, headers, error: 'aborted' }))
    })
    req.on('error', err => resolve({ status, body, headers, error: err.message }))
  })
}

describe('faults: the origin fails', function () {
  this.timeout(20_000)

  for (const target of targets) {
    describe(`through the ${target.name}`, function () {
      let origin: FaultyOrigin
      let front: Front
      before(async () => {
        origin = await FaultyOrigin.start()
        front = await target.start(origin)
      })
      after(async () => {
        await front?.close()
        await origin?.close()
      })
      afterEach(async () => { await origin.set('ok') })

      for (const fault of FAULTS) {
        const expected = target.expected[fault]
        const cut = fault === 'truncated' || fault === 'truncated-chunked'
        const outcome = cut ? 'cuts the connection after the head' : `answers ${expected}`
        it(`${fault}, nothing stored: ${outcome}; stores nothing; the next good answer is served whole, then hit`, async () => {
          const path = `/fresh/${fault}`
          const stores = front.cache.stats().stores
          await origin.set(fault)
          const bad = await get(front.url + path)
          expect(bad.status, JSON.stringify(bad)).to.equal(expected)
          if (cut) {
            expect(bad.error, 'the client sees the cut').to.be.a('string')
            expect(bad.body.length).to.be.below(100)
          } else {
            expect(bad.error).to.equal(undefined)
          }
          expect(bad.headers['x-cache']).to.not.equal('HIT')
          expect(front.cache.stats().stores, 'entries stored by the failure').to.equal(stores)

          await origin.set('ok')
          const good = await get(front.url + path)
          expect(good.status).to.equal(200)
          expect(good.body).to.match(new RegExp(`^good \\d+ for ${path}$`))
          expect(good.headers['x-cache']).to.equal('MISS')
          const again = await get(front.url + path)
          expect(again.headers['x-cache']).to.equal('HIT')
          expect(again.body).to.equal(good.body)
        })

        it(`${fault}, a stale entry that allows stale-if-error: ${cut ? 'cuts the connection, keeps the entry' : 'answers with the entry'}`, async () => {
          const path = `/sie/${fault}`
          const first = await get(front.url + path)
          expect(first.status).to.equal(200)
          const stores = front.cache.stats().stores
          await origin.set(fault)
          const r = await get(front.url + path)
          if (cut) {
            // The head went out before the body failed: cutting the connection is the only honest signal.
            expect(r.error).to.be.a('string')
            expect(r.body).to.not.equal(first.body)
          } else {
            expect(r.status).to.equal(200)
            expect(r.body).to.equal(first.body)
            expect(r.headers['cache-status']).to.match(/stale-if-error/)
          }
          expect(front.cache.stats().stores, 'entries stored by the failure').to.equal(stores)
          await origin.set('ok')
          const good = await get(front.url + path)
          expect(good.status).to.equal(200)
          expect(good.body).to.not.equal(first.body)
          expect(good.body).to.match(new RegExp(`^good \\d+ for ${path}$`))
        })
      }

      it('20 concurrent clients of a truncated response: none is handed it whole, nothing is stored', async () => {
        const stores = front.cache.stats().stores
        await origin.set('truncated')
        const replies = await Promise.all(Array.from({ length: 20 }, async () => await get(front.url + '/fresh/crowd')))
        for (const r of replies) {
          expect(r.error, JSON.stringify(r)).to.be.a('string')
          expect(r.headers['x-cache']).to.not.equal('HIT')
        }
        expect(front.cache.stats().stores).to.equal(stores)
      })

      it('has served everything above without crashing, and has no flights left', async () => {
        await sleep(50)
        expect(front.cache.engine.pending).to.equal(0)
        expect((await get(front.url + '/fresh/last')).status).to.equal(200)
      })
    })
  }
})
