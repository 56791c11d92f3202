/**
 * What only the Express adapter has to prove: every way an Express handler writes a response is
 * captured, `compression` works in either order, errors reach Express, and Express 4 works too.
 */
import { expect } from 'chai'
import compression from 'compression'
import express from 'express'
import express4 from 'express4'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import zlib from 'node:zlib'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { createCache, OptionError, type Cache, type CacheOptions } from '../../src/index.js'
import { behaviour } from './behaviour.js'
import { makeExpressHarness } from './express-harness.js'
import { send, type Reply } from '../support/http.js'

type App = ReturnType<typeof express>

behaviour(makeExpressHarness({ name: 'express 4', express: express4 as unknown as typeof express }))

function listen (app: App): Promise<Server> {
  return new Promise(resolve => { const s = app.listen(0, '127.0.0.1', () => resolve(s)) })
}
const urlOf = (s: Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`
async function closeAll (server: Server, cache: Cache): Promise<void> {
  server.closeAllConnections()
  await new Promise(resolve => server.close(resolve))
  await cache.close()
}

describe('express adapter', function () {
  this.timeout(10000)
  let server: Server
  let cache: Cache
  let base: string
  let hits: Record<string, number>

  async function start (build: (app: App, cache: Cache) => void, options: CacheOptions = {}): Promise<void> {
    cache = createCache({ namespace: `x-${randomUUID()}`, ...options })
    hits = {}
    const app = express()
    app.use((req, _res, next) => { hits[req.path] = (hits[req.path] ?? 0) + 1; next() })
    build(app, cache)
    server = await listen(app)
    base = urlOf(server)
  }
  afterEach(async () => { if (server) await closeAll(server, cache) })

  const twice = async (p: string, headers?: Record<string, string>): Promise<[Reply, Reply]> =>
    [await send(base + p, { headers }), await send(base + p, { headers })]

  describe('captures the response however the handler writes it', () => {
    const file = path.join(os.tmpdir(), `cachefront-${process.pid}.bin`)
    before(() => fs.writeFileSync(file, Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251))))
    after(() => fs.rmSync(file, { force: true }))

    const cases: [string, express.RequestHandler, (r: Reply) => void][] = [
      ['res.send', (_q, s) => { s.send('<p>sent</p>') }, r => { expect(r.text).to.equal('<p>sent</p>'); expect(r.headers['content-type']).to.match(/text\/html/) }],
      ['res.json', (_q, s) => { s.json({ a: 1 }) }, r => expect(JSON.parse(r.text)).to.deep.equal({ a: 1 })],
      ['res.write in chunks', (_q, s) => { s.type('text'); s.write('a'); s.write(Buffer.from('b')); s.end('c') }, r => expect(r.text).to.equal('abc')],
      ['stream.pipe(res)', (_q, s) => { s.type('text'); Readable.from(['x', 'y', 'z']).pipe(s) }, r => expect(r.text).to.equal('xyz')],
      ['res.sendFile', (_q, s) => { s.sendFile(file, { maxAge: 60_000 }) }, r => expect(Buffer.compare(r.body, fs.readFileSync(file))).to.equal(0)],
      ['res.end(buffer)', (_q, s) => { s.end(Buffer.from([0, 255, 1, 254])) }, r => expect([...r.body]).to.deep.equal([0, 255, 1, 254])],
    ]
    for (const [name, handler, check] of cases) {
      it(`stores and replays ${name}`, async () => {
        await start((app, c) => app.get('/w', c.express({ ttl: '1m' }), handler))
        const [a, b] = await twice('/w')
        check(a)
        check(b)
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(hits['/w']).to.equal(2) // the counting middleware runs; the handler ran once
        expect(cache.stats().stores).to.equal(1)
      })
    }
  })

  it('keeps on a hit the fields earlier middleware set, the stored ones winning where both name one', async () => {
    await start((app, c) => {
      // Like a CORS middleware before the cache: it sets fields on every response, hit or miss.
      app.use((_q, s, next) => { s.setHeader('Access-Control-Allow-Origin', '*'); s.setHeader('Content-Type', 'text/x-early'); next() })
      app.get('/early', c.express({ ttl: '1m' }), (_q, s) => { s.type('text/plain').send('body') })
    })
    const [miss, hit] = await twice('/early')
    expect(hit.headers['x-cache']).to.equal('HIT')
    for (const r of [miss, hit]) {
      expect(r.text).to.equal('body')
      expect(r.headers['access-control-allow-origin']).to.equal('*')
      expect(r.headers['x-powered-by']).to.equal('Express')
      expect(r.headers['content-type']).to.match(/^text\/plain/)
    }
    expect(hit.headers.age).to.match(/^\d+$/)
    expect(hit.headers.etag).to.equal(miss.headers.etag)
    // Each field once: setting the stored fields over the early ones must not duplicate any.
    expect(hit.rawHeaders.filter((_, i) => i % 2 === 0).map(n => n.toLowerCase()).filter(n => n === 'content-type')).to.have.length(1)
  })

  it('answers a hit before downstream middleware runs', async () => {
    let downstream = 0
    await start((app, c) => {
      app.use(c.express())
      app.use((_q, _s, next) => { downstream++; next() })
      app.get('/d', (_q, s) => { s.send('d') })
    })
    await twice('/d')
    expect(downstream).to.equal(1)
  })

  it('lets a second cache middleware on the same request step aside instead of waiting on itself', async () => {
    await start((app, c) => { app.use(c.express()); app.get('/twice', c.express({ ttl: '1m' }), (_q, s) => { s.send('once') }) }, { lockTimeout: '5s' })
    const t0 = Date.now()
    const [a, b] = await twice('/twice')
    expect(Date.now() - t0).to.be.lessThan(1000)
    expect(a.text).to.equal('once')
    expect(b.headers['x-cache']).to.equal('HIT')
  })

  it('keys on the full URL inside mounted routers, so two mounts never share entries', async () => {
    await start((app, c) => {
      for (const mount of ['/a', '/b']) {
        const router = express.Router()
        router.use(c.express())
        router.get('/item', (_q, s) => { s.send(`from ${mount}`) })
        app.use(mount, router)
      }
    })
    await send(base + '/a/item')
    expect((await send(base + '/b/item')).text).to.equal('from /b')
    expect((await send(base + '/a/item')).text).to.equal('from /a')
  })

  it('applies per-route ttl and tags, and invalidates by tag', async () => {
    let n = 0
    await start((app, c) => app.get('/report', c.express({ ttl: '10m', tags: ['reports'] }), (_q, s) => { s.send(`r${++n}`) }))
    const [, b] = await twice('/report')
    expect(b.text).to.equal('r1')
    expect(await cache.invalidate({ tag: 'reports' })).to.be.greaterThan(0)
    expect((await send(base + '/report')).text).to.equal('r2')
  })

  it('takes tags from a function of the request and response', async () => {
    await start((app, c) => app.get('/u/:id', c.express({ tags: (req: express.Request) => [`user:${req.params?.id ?? req.url.split('/')[2]}`] }), (req, s) => { s.send(req.params.id) }))
    await twice('/u/42')
    await cache.invalidate({ tag: 'user:42' })
    expect((await send(base + '/u/42')).headers['x-cache']).to.not.equal('HIT')
  })

  it('passes handler errors to Express error handling', async () => {
    let seen: Error | undefined
    await start((app, c) => {
      app.get('/boom', c.express(), () => { throw new Error('kaboom') })
      app.use((err: Error, _q: express.Request, s: express.Response, _n: express.NextFunction) => { seen = err; s.status(500).send('handled') })
    })
    const r = await send(base + '/boom')
    expect(r.status).to.equal(500)
    expect(r.text).to.equal('handled')
    expect(seen?.message).to.equal('kaboom')
  })

  it('treats a corrupted or unknown-version entry as a miss', async () => {
    let n = 0
    await start((app, c) => app.get('/corrupt', c.express(), (_q, s) => { s.send(`c${++n}`) }))
    await send(base + '/corrupt')
    const store = cache.engine.store.l1 as unknown as { getSync(k: string): Record<string, unknown> | undefined }
    const key = `${cache.engine.settings.namespace}:GET:/corrupt?`
    const entry = store.getSync(key)
    expect(entry).to.not.equal(undefined)
    entry!.v = 99
    const r = await send(base + '/corrupt')
    expect(r.status).to.equal(200)
    expect(r.text).to.equal('c2')
    expect(r.headers['x-cache']).to.equal('MISS')
  })

  it('leaves ignored query parameters out of the key', async () => {
    await start((app, c) => app.get('/q', c.express(), (req, s) => { s.send(String(req.query.id)) }), { key: { ignoreQuery: ['utm_*'] } })
    await send(base + '/q?id=1&utm_source=a')
    const b = await send(base + '/q?utm_campaign=b&id=1')
    expect(b.headers['x-cache']).to.equal('HIT')
  })

  it('adds configured request headers to the key', async () => {
    await start((app, c) => app.get('/t', c.express(), (req, s) => { s.send(String(req.headers['x-tenant'])) }), { key: { headers: ['X-Tenant'] } })
    await send(base + '/t', { headers: { 'x-tenant': 'a' } })
    const b = await send(base + '/t', { headers: { 'x-tenant': 'b' } })
    expect(b.text).to.equal('b')
    expect(b.headers['x-cache']).to.equal('MISS')
  })

  describe('with the compression middleware', () => {
    const body = 'compressible text '.repeat(200)
    for (const order of ['compression before the cache', 'compression after the cache']) {
      it(`serves correct bodies to gzip and identity clients (${order})`, async () => {
        await start((app, c) => {
          if (order.includes('before')) { app.use(compression({ threshold: 0 })); app.use(c.express()) } else { app.use(c.express()); app.use(compression({ threshold: 0 })) }
          app.get('/z', (_q, s) => { s.type('text').send(body) })
        })
        for (let round = 0; round < 2; round++) {
          for (const encoding of ['gzip', 'identity']) {
            const r = await send(base + '/z', { headers: { 'accept-encoding': encoding } })
            const text = r.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(r.body).toString() : r.text
            expect(text, `${encoding} round ${round}`).to.equal(body)
            if (encoding === 'identity') expect(r.headers['content-encoding']).to.equal(undefined)
          }
        }
        expect(cache.stats().hits).to.be.greaterThan(0)
      })
    }
  })

  it('rejects invalid options with an error naming the field', () => {
    expect(() => createCache({ ttl: 'soon' })).to.throw(OptionError, /^ttl:/)
    expect(() => createCache({ l1: { maxBytes: 'lots' } })).to.throw(OptionError, /l1\.maxBytes/)
    expect(() => createCache().express({ staleIfError: -1 })).to.throw(OptionError, /route\.staleIfError/)
  })
})
