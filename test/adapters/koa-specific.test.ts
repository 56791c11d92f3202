/**
 * What only the Koa adapter has to get right, on Koa 3 and Koa 2: every form of `ctx.body`,
 * `ctx.set` headers, koa-compress on either side of the cache, errors through Koa's own
 * handling, @koa/router routes, background refreshes through `app.callback()`.
 */
import Router from '@koa/router'
import { expect } from 'chai'
import type Koa from 'koa'
import compress from 'koa-compress'
import { randomUUID } from 'node:crypto'
import http, { IncomingMessage } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { createCache, type Cache, type CacheOptions, type Logger } from '../../src/index.js'
import { send, sleep } from '../support/http.js'
import { koaVersions, listen, quietApp, type Listening } from './koa-apps.js'

const silent: Logger = { debug () {}, info () {}, warn () {}, error () {} }

/** GET that gives up after `ms`: whether the body was complete, and what came. */
function sendAtMost (url: string, ms: number): Promise<{ complete: boolean, text: string }> {
  return new Promise((resolve, reject) => {
    let text = ''
    const req = http.get(url, res => {
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ complete: res.complete, text }))
      res.on('error', () => resolve({ complete: false, text }))
    })
    req.on('error', () => resolve({ complete: false, text }))
    req.setTimeout(ms, () => req.destroy())
    req.on('close', () => resolve({ complete: false, text }))
    void reject
  })
}

for (const { name, Koa: KoaCtor } of koaVersions) {
  describe(`koa adapter: ${name}`, function () {
    this.timeout(15000)
    let open: (() => Promise<void>)[] = []
    afterEach(async () => {
      await Promise.all(open.map(close => close()))
      open = []
    })

    interface Rig extends Listening { app: Koa, cache: Cache }

    /** An app with `build` laid out on it, served on an ephemeral port, closed after the test. */
    async function rig (build: (app: Koa, cache: Cache) => void, options: CacheOptions = {}): Promise<Rig> {
      const cache = createCache({ namespace: `k-${randomUUID()}`, logger: silent, ...options })
      const app = quietApp(KoaCtor)
      build(app, cache)
      const server = await listen(app)
      open.push(async () => {
        await server.close()
        await cache.close()
      })
      return { ...server, app, cache }
    }

    /** The cache in front of one final handler. */
    function simple (handler: Koa.Middleware, options: CacheOptions = {}): Promise<Rig & { count: () => number }> {
      let n = 0
      return rig((app, cache) => {
        app.use(cache.koa())
        app.use(async (ctx, next) => {
          n++
          await handler(ctx, next)
        })
      }, options).then(r => ({ ...r, count: () => n }))
    }

    describe('every form of ctx.body', () => {
      it('stores a string body', async () => {
        const r = await simple(ctx => { ctx.body = 'hello, koa' })
        const a = await send(r.url + '/s')
        const b = await send(r.url + '/s')
        expect(a.text).to.equal('hello, koa')
        expect(a.headers['x-cache']).to.equal('MISS')
        expect(b.text).to.equal('hello, koa')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.headers['content-type']).to.equal('text/plain; charset=utf-8')
        expect(b.headers['content-length']).to.equal('10')
        expect(r.count()).to.equal(1)
      })

      it('stores a Buffer body byte for byte', async () => {
        const bytes = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256))
        const r = await simple(ctx => { ctx.body = bytes })
        await send(r.url + '/b')
        const b = await send(r.url + '/b')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.headers['content-type']).to.equal('application/octet-stream')
        expect(Buffer.compare(b.body, bytes)).to.equal(0)
      })

      it('stores an object body as the JSON Koa sends', async () => {
        const r = await simple(ctx => { ctx.body = { id: 7, tags: ['a', 'b'] } })
        const a = await send(r.url + '/j')
        const b = await send(r.url + '/j')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.headers['content-type']).to.equal('application/json; charset=utf-8')
        expect(JSON.parse(b.text)).to.deep.equal({ id: 7, tags: ['a', 'b'] })
        expect(b.text).to.equal(a.text)
      })

      it('stores a null body as the 204 Koa sends', async () => {
        const r = await simple(ctx => { ctx.body = null })
        const a = await send(r.url + '/n')
        const b = await send(r.url + '/n')
        expect(a.status).to.equal(204)
        expect(b.status).to.equal(204)
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.body.length).to.equal(0)
        expect(b.headers['content-length']).to.equal(undefined)
        expect(r.count()).to.equal(1)
      })

      it('streams a stream body to the client as it comes while storing it', async () => {
        let release!: () => void
        const released = new Promise<void>(resolve => { release = resolve })
        const r = await simple(ctx => {
          const body = new PassThrough()
          body.write('first,')
          released.then(() => body.end('second'))
          ctx.type = 'text'
          ctx.body = body
        })
        // The first chunk reaches the client while the handler still holds the second.
        const first = await new Promise<string>((resolve, reject) => {
          http.get(r.url + '/stream', res => {
            let text = ''
            res.on('data', (c: Buffer) => {
              text += c.toString()
              if (text === 'first,') resolve(text)
            })
            res.on('end', () => reject(new Error(`ended with ${text}`)))
          }).on('error', reject)
        })
        expect(first).to.equal('first,')
        release()
        await sleep(50)
        const b = await send(r.url + '/stream')
        expect(b.text).to.equal('first,second')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.headers['content-length']).to.equal('12')
      })

      it('streams a stream body larger than maxObjectSize through without storing it', async () => {
        const big = Buffer.alloc(200 * 1024, 3)
        const r = await simple(ctx => { ctx.body = Readable.from([big.subarray(0, 100 * 1024), big.subarray(100 * 1024)]) },
          { l1: { maxObjectSize: '64kb' } })
        const a = await send(r.url + '/big')
        const b = await send(r.url + '/big')
        expect(Buffer.compare(a.body, big)).to.equal(0)
        expect(Buffer.compare(b.body, big)).to.equal(0)
        expect(b.headers['x-cache']).to.equal('MISS')
        expect(r.count()).to.equal(2)
      })

      it('does not store a stream that fails half way, and reports the error', async () => {
        let n = 0
        const errors: Error[] = []
        const r = await simple(ctx => {
          n++
          const body = new PassThrough()
          body.write('partial')
          if (n === 1) setTimeout(() => body.destroy(new Error('stream broke')), 10)
          else setTimeout(() => body.end(), 10)
          ctx.body = body
        })
        r.app.on('error', err => errors.push(err))
        // Koa 3 destroys the response; Koa 2 leaves it open (the client gives up here).
        const first = await sendAtMost(r.url + '/broken', 200)
        expect(first.complete).to.equal(false)
        const b = await send(r.url + '/broken')
        expect(b.headers['x-cache']).to.equal('MISS')
        expect(b.text).to.equal('partial')
        expect(errors.map(e => e.message)).to.include('stream broke')
        expect(r.cache.engine.pending).to.equal(0)
      })

      it('answers a conditional miss on a stream body with 304 and stores the full body', async () => {
        const r = await simple(ctx => {
          ctx.set('ETag', '"s1"')
          ctx.set('Cache-Control', 'max-age=60')
          ctx.type = 'text'
          ctx.body = Readable.from(['str', 'eamed'])
        })
        const a = await send(r.url + '/cs', { headers: { 'if-none-match': '"s1"' } })
        expect(a.status).to.equal(304)
        expect(a.body.length).to.equal(0)
        const b = await send(r.url + '/cs')
        expect(b.text).to.equal('streamed')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(r.count()).to.equal(1)
      })
    })

    describe('headers', () => {
      it('gives back headers set with ctx.set, ctx.type and ctx.lastModified on hits', async () => {
        const lm = new Date(Date.now() - 60_000)
        const r = await simple(ctx => {
          ctx.set('X-Custom', 'yes')
          ctx.set({ 'Access-Control-Allow-Origin': '*', Link: ['</a>; rel=preload', '</b>; rel=preload'] })
          ctx.type = 'html'
          ctx.lastModified = lm
          ctx.body = '<p>hi</p>'
        })
        await send(r.url + '/h')
        const b = await send(r.url + '/h')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.headers['x-custom']).to.equal('yes')
        expect(b.headers['access-control-allow-origin']).to.equal('*')
        expect(b.headers.link).to.equal('</a>; rel=preload, </b>; rel=preload')
        expect(b.headers['content-type']).to.equal('text/html; charset=utf-8')
        expect(b.headers['last-modified']).to.equal(lm.toUTCString())
      })

      it('gives the user key function the Node request (ctx.req)', async () => {
        const seen: unknown[] = []
        const r = await simple(ctx => { ctx.body = `for ${String(ctx.get('x-user'))}` }, {
          key: { user: (req: IncomingMessage) => { seen.push(req); return req.headers['x-user'] as string | undefined } },
        })
        await send(r.url + '/me', { headers: { 'x-user': 'alice' } })
        const bob = await send(r.url + '/me', { headers: { 'x-user': 'bob' } })
        const alice = await send(r.url + '/me', { headers: { 'x-user': 'alice' } })
        expect(bob.text).to.equal('for bob')
        expect(alice.text).to.equal('for alice')
        expect(alice.headers['x-cache']).to.equal('HIT')
        expect(seen.length).to.be.greaterThan(0)
        expect(seen.every(req => req instanceof IncomingMessage)).to.equal(true)
      })
    })

    describe('the hit path', () => {
      it('answers before downstream middleware runs, and outer middleware sees the status it sent', async () => {
        const statuses: number[] = []
        let downstream = 0
        const r = await rig((app, cache) => {
          app.use(async (ctx, next) => {
            await next()
            statuses.push(ctx.status)
            // Too late on a hit (the head is sent); Koa ignores it.
            ctx.set('X-After', 'late')
          })
          app.use(cache.koa())
          app.use(ctx => {
            downstream++
            ctx.status = 203
            ctx.body = 'made'
          })
        })
        await send(r.url + '/hp')
        const b = await send(r.url + '/hp')
        expect(b.status).to.equal(203)
        expect(b.text).to.equal('made')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(downstream).to.equal(1)
        expect(statuses).to.deep.equal([203, 203])
      })
    })

    describe('koa-compress', () => {
      const text = 'cachefront '.repeat(400)
      const orders: [string, (app: Koa, cache: Cache) => void][] = [
        ['compress outside the cache', (app, cache) => { app.use(compress()); app.use(cache.koa()) }],
        ['compress inside the cache', (app, cache) => { app.use(cache.koa()); app.use(compress()) }],
      ]
      for (const [order, layout] of orders) {
        it(`${order}: a gzip client and an identity client each get their own stored variant`, async () => {
          let n = 0
          const r = await rig((app, cache) => {
            layout(app, cache)
            app.use(ctx => {
              n++
              ctx.type = 'text'
              ctx.body = text
            })
          })
          const gzip = { 'accept-encoding': 'gzip' }
          const g1 = await send(r.url + '/z', { headers: gzip })
          const g2 = await send(r.url + '/z', { headers: gzip })
          const i1 = await send(r.url + '/z')
          const i2 = await send(r.url + '/z')
          const g3 = await send(r.url + '/z', { headers: gzip })
          for (const g of [g1, g2, g3]) {
            expect(g.headers['content-encoding']).to.equal('gzip')
            expect(gunzipSync(g.body).toString()).to.equal(text)
            expect(String(g.headers.vary)).to.match(/accept-encoding/i)
          }
          for (const i of [i1, i2]) {
            expect(i.headers['content-encoding']).to.equal(undefined)
            expect(i.text).to.equal(text)
          }
          expect([g1, g2, i1, i2, g3].map(x => x.headers['x-cache'])).to.deep.equal(['MISS', 'HIT', 'MISS', 'HIT', 'HIT'])
          expect(Buffer.compare(g2.body, g1.body)).to.equal(0)
          expect(g2.headers['content-length']).to.equal(String(g1.body.length))
          expect(n).to.equal(2)
        })
      }
    })

    describe('errors', () => {
      it('lets an error thrown downstream reach the app \'error\' event and Koa\'s 500', async () => {
        const errors: Error[] = []
        const r = await simple(() => { throw new Error('handler blew up') })
        r.app.on('error', err => errors.push(err))
        const a = await send(r.url + '/e')
        expect(a.status).to.equal(500)
        expect(a.text).to.equal('Internal Server Error')
        expect(errors.map(e => e.message)).to.deep.equal(['handler blew up'])
        expect(r.cache.engine.pending).to.equal(0)
      })

      it('lets an outer error middleware catch it, and does not store what it renders as an error', async () => {
        const caught: string[] = []
        let n = 0
        const r = await rig((app, cache) => {
          app.use(async (ctx, next) => {
            try {
              await next()
            } catch (err) {
              caught.push((err as Error).message)
              ctx.status = 503
              ctx.body = { error: 'try later' }
            }
          })
          app.use(cache.koa())
          app.use(() => { throw new Error(`failure ${++n}`) })
        })
        const a = await send(r.url + '/oe')
        const b = await send(r.url + '/oe')
        expect(a.status).to.equal(503)
        expect(JSON.parse(a.text)).to.deep.equal({ error: 'try later' })
        expect(b.headers['x-cache']).to.equal('MISS')
        expect(caught).to.deep.equal(['failure 1', 'failure 2'])
      })

      it('passes ctx.throw(404) on as the 404 it is, even with a stale entry', async () => {
        let n = 0
        const r = await simple(ctx => {
          if (++n > 1) ctx.throw(404, 'gone')
          ctx.set('Cache-Control', 'max-age=1, stale-if-error=60')
          ctx.body = 'here'
        })
        await send(r.url + '/gone')
        await sleep(1100)
        const b = await send(r.url + '/gone')
        expect(b.status).to.equal(404)
        expect(b.text).to.equal('gone')
      })

      it('serves stale within stale-if-error and still reports the error', async () => {
        let n = 0
        const errors: Error[] = []
        const r = await simple(ctx => {
          if (++n > 1) throw new Error('origin down')
          ctx.set('Cache-Control', 'max-age=1, stale-if-error=60')
          ctx.set('X-Kept', 'yes')
          ctx.body = 'good'
        })
        r.app.on('error', err => errors.push(err))
        await send(r.url + '/sie')
        await sleep(1100)
        const b = await send(r.url + '/sie')
        expect(b.status).to.equal(200)
        expect(b.text).to.equal('good')
        expect(b.headers['x-cache']).to.equal('STALE')
        expect(b.headers['cache-status']).to.match(/detail=stale-if-error/)
        expect(b.headers['x-kept']).to.equal('yes')
        expect(b.headers['content-type']).to.equal('text/plain; charset=utf-8')
        expect(errors.map(e => e.message)).to.deep.equal(['origin down'])
        expect(r.cache.stats().originErrors).to.equal(1)
      })

      it('answers stale with the stored head only, none of the error response\'s fields', async () => {
        let n = 0
        const r = await rig((app, cache) => {
          app.use(async (ctx, next) => {
            ctx.set('X-Request-Id', 'r-1')
            await next()
          })
          app.use(cache.koa())
          app.use(ctx => {
            if (++n > 1) {
              const err = Object.assign(new Error('down'), { headers: { 'X-Error': 'yes' } })
              throw err
            }
            ctx.set('Cache-Control', 'max-age=1, stale-if-error=60')
            ctx.body = null
          })
        })
        await send(r.url + '/sie204')
        await sleep(1100)
        const b = await send(r.url + '/sie204')
        expect(b.status).to.equal(204)
        expect(b.headers['x-cache']).to.equal('STALE')
        expect(b.headers['x-error']).to.equal(undefined)
        expect(b.headers['content-type']).to.equal(undefined)
        expect(b.headers['content-length']).to.equal(undefined)
        expect(b.headers['x-request-id']).to.equal('r-1')
      })
    })

    describe('background refresh (stale-while-revalidate)', () => {
      it('refreshes through the app, past a @koa/router route, once', async () => {
        let n = 0
        const r = await rig((app, cache) => {
          const router = new Router()
          router.get('/items/:id', cache.koa({ ttl: '1s', staleWhileRevalidate: '30s' }), async ctx => {
            const v = ++n
            if (v > 1) await sleep(50)
            ctx.body = `item ${ctx.params.id} v${v}`
          })
          app.use(router.routes())
        }, { jitter: 0 })
        await send(r.url + '/items/1')
        await sleep(1100)
        const stale = await Promise.all([1, 2, 3].map(() => send(r.url + '/items/1')))
        expect(stale.map(s => s.text)).to.deep.equal(['item 1 v1', 'item 1 v1', 'item 1 v1'])
        expect(stale.every(s => s.headers['x-cache'] === 'STALE')).to.equal(true)
        await sleep(150)
        expect(n).to.equal(2)
        const fresh = await send(r.url + '/items/1')
        expect(fresh.text).to.equal('item 1 v2')
        expect(fresh.headers['x-cache']).to.equal('HIT')
      })

      it('reports a failed refresh on the app \'error\' event and keeps serving the stale entry', async () => {
        let n = 0
        const errors: Error[] = []
        const r = await simple(ctx => {
          if (++n > 1) throw new Error('refresh failed')
          ctx.set('Cache-Control', 'max-age=1, stale-while-revalidate=30')
          ctx.body = 'v1'
        })
        r.app.on('error', err => errors.push(err))
        await send(r.url + '/rf')
        await sleep(1100)
        expect((await send(r.url + '/rf')).headers['x-cache']).to.equal('STALE')
        await sleep(50)
        expect(errors.map(e => e.message)).to.deep.equal(['refresh failed'])
        expect(r.cache.engine.pending).to.equal(0)
        const again = await send(r.url + '/rf')
        expect(again.text).to.equal('v1')
        expect(again.headers['x-cache']).to.equal('STALE')
      })

      it('releases a refresh that never reaches the cache middleware', async () => {
        let n = 0
        const r = await rig((app, cache) => {
          // Something in front of the cache answers the detached request itself (it has no peer address).
          app.use(async (ctx, next) => {
            if (ctx.req.socket.remoteAddress === undefined) {
              ctx.body = 'blocked'
              return
            }
            await next()
          })
          app.use(cache.koa({ ttl: '1s', staleWhileRevalidate: '30s' }))
          app.use(ctx => { ctx.body = `v${++n}` })
        }, { jitter: 0 })
        await send(r.url + '/blocked')
        await sleep(1100)
        expect((await send(r.url + '/blocked')).text).to.equal('v1')
        await sleep(50)
        expect(r.cache.engine.pending).to.equal(0)
        expect((await send(r.url + '/blocked')).headers['x-cache']).to.equal('STALE')
        expect(n).to.equal(1)
      })
    })

    describe('@koa/router', () => {
      it('applies per-route TTLs and tags, and invalidates by tag', async () => {
        const hits: Record<string, number> = {}
        const count = (p: string): number => (hits[p] = (hits[p] ?? 0) + 1)
        const r = await rig((app, cache) => {
          const router = new Router()
          router.get('/report', cache.koa({ ttl: '10m', tags: ['reports'] }), ctx => { ctx.body = `report ${count('report')}` })
          router.get('/ticker', cache.koa({ ttl: '150ms' }), ctx => { ctx.body = `ticker ${count('ticker')}` })
          router.get('/summary', cache.koa({ ttl: '10m', tags: ['reports', 'summary'] }), ctx => { ctx.body = { n: count('summary') } })
          router.get('/plain', ctx => { ctx.body = `plain ${count('plain')}` })
          app.use(router.routes())
        }, { jitter: 0 })
        for (const p of ['/report', '/ticker', '/summary', '/plain']) await send(r.url + p)
        expect((await send(r.url + '/report')).headers['x-cache']).to.equal('HIT')
        expect((await send(r.url + '/ticker')).headers['x-cache']).to.equal('HIT')
        expect((await send(r.url + '/plain')).text).to.equal('plain 2')
        await sleep(250)
        expect((await send(r.url + '/ticker')).text).to.equal('ticker 2')
        expect((await send(r.url + '/report')).text).to.equal('report 1')

        expect(await r.cache.invalidate({ tag: 'reports' })).to.be.greaterThan(0)
        const report = await send(r.url + '/report')
        const summary = await send(r.url + '/summary')
        expect(report.text).to.equal('report 2')
        expect(report.headers['x-cache']).to.equal('MISS')
        expect(JSON.parse(summary.text)).to.deep.equal({ n: 2 })
        expect((await send(r.url + '/ticker')).headers['x-cache']).to.equal('HIT')
      })

      it('lets the first of two cache middlewares on one request apply, and warns once', async () => {
        const warnings: string[] = []
        let n = 0
        const r = await rig((app, cache) => {
          const router = new Router()
          router.get('/twice', cache.koa({ ttl: '10m' }), ctx => { ctx.body = `twice ${++n}` })
          app.use(cache.koa())
          app.use(router.routes())
        }, { lockTimeout: '5s', logger: { ...silent, warn: (_obj: object, msg?: string) => { warnings.push(String(msg)) } } })
        const started = Date.now()
        const a = await send(r.url + '/twice')
        const b = await send(r.url + '/twice')
        await send(r.url + '/twice?other')
        expect(Date.now() - started).to.be.lessThan(1000)
        expect(a.text).to.equal('twice 1')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(warnings.filter(w => /two cache middlewares/.test(w)).length).to.equal(1)
      })

      it('invalidates a route\'s entry after a POST to it', async () => {
        let n = 0
        const r = await rig((app, cache) => {
          const router = new Router()
          router.get('/doc', cache.koa({ ttl: '10m' }), ctx => { ctx.body = `doc ${++n}` })
          router.post('/doc', cache.koa(), ctx => { ctx.status = 204 })
          app.use(router.routes())
        })
        await send(r.url + '/doc')
        expect((await send(r.url + '/doc')).headers['x-cache']).to.equal('HIT')
        expect((await send(r.url + '/doc', { method: 'POST', body: 'x' })).status).to.equal(204)
        expect((await send(r.url + '/doc')).text).to.equal('doc 2')
      })
    })
  })
}
