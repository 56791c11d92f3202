/**
 * The engine's semantics through the proxy, configured the way an operator would (YAML-shaped
 * config, no programmatic options): a pure RFC 9111 shared cache by default, route rules for
 * TTLs, bypass, users and tags, targeted Cache-Control, ranges, stale serving.
 */
import { expect } from 'chai'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { send, sleep } from '../support/http.js'
import { startOrigin, startProxy, type Origin, type Running } from './support.js'

describe('proxy: caching', function () {
  this.timeout(10_000)
  let origin: Origin
  let proxy: Running
  let handle: (req: IncomingMessage, res: ServerResponse) => void

  beforeEach(async () => {
    origin = await startOrigin((req, res) => handle(req, res))
  })
  afterEach(async () => {
    await proxy?.close()
    await origin.close()
  })

  const reply = (res: ServerResponse, status: number, headers: Record<string, string | string[]>, body = '') => {
    res.writeHead(status, { 'content-type': 'text/plain', ...headers })
    res.end(body)
  }

  describe('with no route rules', () => {
    beforeEach(async () => { proxy = await startProxy(origin.url) })

    it('stores only what the origin allows: nothing without freshness information', async () => {
      handle = (_req, res) => reply(res, 200, {}, `n=${origin.count()}`)
      await send(proxy.url + '/plain')
      const b = await send(proxy.url + '/plain')
      expect(b.text).to.equal('n=2')
      expect(b.headers['x-cache']).to.equal('MISS')
    })

    it('answers a miss, then hits, then 304 to a matching If-None-Match', async () => {
      handle = (_req, res) => reply(res, 200, { 'cache-control': 'max-age=60', etag: '"v1"' }, 'hello')
      const a = await send(proxy.url + '/p')
      const b = await send(proxy.url + '/p')
      const c = await send(proxy.url + '/p', { headers: { 'if-none-match': '"v1"' } })
      expect([a.headers['x-cache'], b.headers['x-cache']]).to.deep.equal(['MISS', 'HIT'])
      expect(b.text).to.equal('hello')
      expect(c.status).to.equal(304)
      expect(origin.count()).to.equal(1)
    })

    it('stores heuristically fresh responses (§4.2.2: Last-Modified, no explicit freshness)', async () => {
      const lm = new Date(Date.now() - 10 * 86400_000).toUTCString()
      handle = (_req, res) => reply(res, 200, { 'last-modified': lm }, 'prices')
      await send(proxy.url + '/prices')
      expect((await send(proxy.url + '/prices')).headers['x-cache']).to.equal('HIT')
    })

    it('revalidates an expired entry with the stored validators and serves the 304-freshened entry (X-Cache REVALIDATED)', async () => {
      handle = (req, res) => {
        if (req.headers['if-none-match'] === '"r1"') return reply(res, 304, { etag: '"r1"', 'cache-control': 'max-age=0' })
        reply(res, 200, { etag: '"r1"', 'cache-control': 'max-age=0' }, 'body one')
      }
      await send(proxy.url + '/rv')
      const b = await send(proxy.url + '/rv', { headers: { 'if-none-match': '"someone-elses"' } })
      expect(b.status).to.equal(200)
      expect(b.text).to.equal('body one')
      expect(b.headers['x-cache']).to.equal('REVALIDATED')
      // The cache sent its own validator, not the client's.
      expect(origin.requests[1].headers['if-none-match']).to.equal('"r1"')
    })

    it('keeps one variant per Vary value', async () => {
      handle = (req, res) => reply(res, 200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, String(req.headers['accept-language']))
      for (const lang of ['en', 'fr', 'en', 'fr']) {
        const r = await send(proxy.url + '/news', { headers: { 'accept-language': lang } })
        expect(r.text).to.equal(lang)
      }
      expect(origin.count()).to.equal(2)
    })

    it('passes requests with Authorization by, and never stores responses that set cookies', async () => {
      handle = (req, res) => reply(res, 200, req.url === '/cookie' ? { 'cache-control': 'max-age=60', 'set-cookie': 'sid=1' } : { 'cache-control': 'max-age=60' }, 'x')
      const a = await send(proxy.url + '/auth', { headers: { authorization: 'Bearer a' } })
      await send(proxy.url + '/auth', { headers: { authorization: 'Bearer a' } })
      expect(a.headers['x-cache']).to.equal('BYPASS')
      expect(origin.count('/auth')).to.equal(2)
      await send(proxy.url + '/cookie')
      const c = await send(proxy.url + '/cookie')
      expect(c.headers['set-cookie']).to.deep.equal(['sid=1'])
      expect(origin.count('/cookie')).to.equal(2)
    })

    it('obeys CDN-Cache-Control over Cache-Control (RFC 9213) and does not forward it', async () => {
      handle = (_req, res) => reply(res, 200, { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }, 'cdn')
      const a = await send(proxy.url + '/cdn')
      const b = await send(proxy.url + '/cdn')
      expect(b.headers['x-cache']).to.equal('HIT')
      for (const r of [a, b]) {
        expect(r.headers['cdn-cache-control']).to.equal(undefined)
        expect(r.headers['cache-control']).to.equal('no-store')
      }
    })

    it('obeys Surrogate-Control too, and consumes Surrogate-Key for purging by tag', async () => {
      handle = (_req, res) => reply(res, 200, { 'surrogate-control': 'max-age=60', 'surrogate-key': 'reports' }, 'r')
      const a = await send(proxy.url + '/report')
      expect(a.headers['surrogate-control']).to.equal(undefined)
      expect(a.headers['surrogate-key']).to.equal(undefined)
      expect((await send(proxy.url + '/report')).headers['x-cache']).to.equal('HIT')
      await proxy.proxy.cache.invalidate({ tag: 'reports' })
      expect((await send(proxy.url + '/report')).headers['x-cache']).to.equal('MISS')
    })

    it('answers a Range request from the stored full response (206, 416; If-Range mismatch: 200)', async () => {
      handle = (_req, res) => reply(res, 200, { 'cache-control': 'max-age=60', etag: '"d1"' }, '0123456789')
      await send(proxy.url + '/range')
      const part = await send(proxy.url + '/range', { headers: { range: 'bytes=2-4' } })
      expect(part.status).to.equal(206)
      expect(part.text).to.equal('234')
      expect(part.headers['content-range']).to.equal('bytes 2-4/10')
      const beyond = await send(proxy.url + '/range', { headers: { range: 'bytes=20-' } })
      expect(beyond.status).to.equal(416)
      expect(beyond.headers['content-range']).to.equal('bytes */10')
      const changed = await send(proxy.url + '/range', { headers: { range: 'bytes=2-4', 'if-range': '"d0"' } })
      expect(changed.status).to.equal(200)
      expect(changed.text).to.equal('0123456789')
      expect(origin.count()).to.equal(1)
    })

    it('serves stale within stale-while-revalidate and refreshes once in the background, with no client', async () => {
      let n = 0
      handle = (_req, res) => {
        const body = `v${++n}`
        setTimeout(() => reply(res, 200, { 'cache-control': 'max-age=0, stale-while-revalidate=60' }, body), n === 1 ? 0 : 50)
      }
      await send(proxy.url + '/swr')
      const stale = await Promise.all([1, 2, 3].map(() => send(proxy.url + '/swr')))
      expect(stale.map(r => [r.text, r.headers['x-cache']])).to.deep.equal([['v1', 'STALE'], ['v1', 'STALE'], ['v1', 'STALE']])
      await sleep(150)
      expect(origin.count()).to.equal(2)
      // The refresh went upstream as GET, with the forwarding fields of the request that triggered it.
      expect(origin.requests[1].method).to.equal('GET')
      expect(origin.requests[1].headers['x-forwarded-for']).to.equal('127.0.0.1')
      expect(proxy.proxy.cache.engine.pending).to.equal(0)
    })

    it('serves stale within stale-if-error when the upstream resets or is gone', async () => {
      let n = 0
      handle = (req, res) => (++n === 1 ? reply(res, 200, { 'cache-control': 'max-age=0, stale-if-error=60' }, 'good') : req.socket.destroy())
      await send(proxy.url + '/sie')
      const reset = await send(proxy.url + '/sie')
      expect([reset.status, reset.text, reset.headers['x-cache']]).to.deep.equal([200, 'good', 'STALE'])
      await origin.close()
      const down = await send(proxy.url + '/sie')
      expect([down.status, down.text]).to.deep.equal([200, 'good'])
      expect(down.headers['cache-status']).to.match(/detail=stale-if-error/)
    })

    it('serves stale within stale-if-error when the upstream answers 5xx', async () => {
      let n = 0
      handle = (_req, res) => (++n === 1 ? reply(res, 200, { 'cache-control': 'max-age=0, stale-if-error=60' }, 'good') : reply(res, 503, {}, 'down'))
      await send(proxy.url + '/sie5')
      const b = await send(proxy.url + '/sie5')
      expect([b.status, b.text]).to.deep.equal([200, 'good'])
    })

    it('invalidates after an unsafe method, streaming its body through both ways', async () => {
      handle = (req, res) => {
        if (req.method === 'POST') {
          const chunks: Buffer[] = []
          req.on('data', c => chunks.push(c))
          req.on('end', () => reply(res, 201, { location: '/items/1' }, `got ${Buffer.concat(chunks).toString()}`))
          return
        }
        reply(res, 200, { 'cache-control': 'max-age=60' }, `item ${origin.count()}`)
      }
      await send(proxy.url + '/items/1')
      const posted = await send(proxy.url + '/items', { method: 'POST', body: 'payload' })
      expect([posted.status, posted.text]).to.deep.equal([201, 'got payload'])
      expect(posted.headers['cache-status']).to.match(/fwd=method/)
      expect((await send(proxy.url + '/items/1')).headers['x-cache']).to.equal('MISS')
    })

    it('relays 1xx interim responses (103 Early Hints) to the client and never caches them', async () => {
      handle = (_req, res) => {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
        setTimeout(() => reply(res, 200, { 'cache-control': 'max-age=60' }, 'page'), 10)
      }
      const hints: number[] = []
      const links: unknown[] = []
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(proxy.url + '/hints', res => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        })
        req.on('information', info => {
          hints.push(info.statusCode)
          links.push(info.headers.link)
        })
        req.on('error', reject)
        req.end()
      })
      expect(status).to.equal(200)
      expect(hints).to.deep.equal([103])
      expect(links).to.deep.equal(['</style.css>; rel=preload; as=style'])
      const hit = await send(proxy.url + '/hints')
      expect(hit.headers['x-cache']).to.equal('HIT')
      expect(hit.headers.link).to.equal(undefined)
    })
  })

  describe('with route rules from the config', () => {
    beforeEach(async () => {
      proxy = await startProxy(origin.url, {
        routes: [
          { name: 'private', match: { path: '/admin/**' }, bypass: true },
          { name: 'me', match: { path: '/me' }, ttl: '1m', key: { user: { header: 'x-user-id' } } },
          { name: 'session', match: { path: '/cart' }, ttl: '1m', key: { user: { cookie: 'sid' } } },
          { name: 'api', match: { path: '/api/**', methods: ['GET'] }, ttl: '1m', tags: ['api'], key: { ignoreQuery: ['utm_*'] } },
        ],
      })
    })

    it('gives responses without freshness information the rule ttl, and nothing elsewhere', async () => {
      handle = (req, res) => reply(res, 200, {}, String(req.url))
      await send(proxy.url + '/api/a')
      expect((await send(proxy.url + '/api/a')).headers['x-cache']).to.equal('HIT')
      await send(proxy.url + '/other')
      expect((await send(proxy.url + '/other')).headers['x-cache']).to.equal('MISS')
    })

    it('ignores the configured query parameters in keys', async () => {
      handle = (req, res) => reply(res, 200, {}, String(req.url))
      await send(proxy.url + '/api/q?id=1&utm_source=x')
      const b = await send(proxy.url + '/api/q?utm_medium=y&id=1')
      expect(b.headers['x-cache']).to.equal('HIT')
    })

    it('bypasses the cache for a bypass rule', async () => {
      handle = (_req, res) => reply(res, 200, { 'cache-control': 'public, max-age=60' }, 'admin')
      await send(proxy.url + '/admin/x')
      const b = await send(proxy.url + '/admin/x')
      expect(b.headers['x-cache']).to.equal('BYPASS')
      expect(origin.count()).to.equal(2)
    })

    it('keeps one response per user, by header or by session cookie', async () => {
      handle = (req, res) => reply(res, 200, { 'cache-control': 'private' }, `${String(req.headers['x-user-id'] ?? req.headers.cookie)}`)
      for (const user of ['alice', 'bob', 'alice', 'bob']) {
        const r = await send(proxy.url + '/me', { headers: { 'x-user-id': user } })
        expect(r.text).to.equal(user)
      }
      for (const sid of ['sid=1', 'sid=2', 'sid=1']) {
        expect((await send(proxy.url + '/cart', { headers: { cookie: sid } })).text).to.equal(sid)
      }
      expect(origin.count('/me')).to.equal(2)
      expect(origin.count('/cart')).to.equal(2)
    })

    it('purges a rule\'s responses by its tags', async () => {
      handle = (req, res) => reply(res, 200, {}, String(req.url))
      await send(proxy.url + '/api/t')
      await proxy.proxy.cache.invalidate({ tag: 'api' })
      expect((await send(proxy.url + '/api/t')).headers['x-cache']).to.equal('MISS')
    })
  })

  describe('hit-for-miss (cache.hitForMiss)', () => {
    it('sends a URL whose response was not storable straight to the origin, for as long as configured', async () => {
      proxy = await startProxy(origin.url, { cache: { hitForMiss: '150ms' } })
      handle = (_req, res) => reply(res, 200, { 'set-cookie': 'session=1' }, 'personal')
      await send(proxy.url + '/me')
      const again = await send(proxy.url + '/me')
      expect(again.headers['cache-status']).to.match(/detail=set-cookie/)
      expect(proxy.proxy.cache.stats().hitForMiss).to.equal(1)
      await sleep(200)
      await send(proxy.url + '/me')
      expect(proxy.proxy.cache.stats().hitForMiss, 'forgotten after 150ms').to.equal(1)
      expect(origin.count()).to.equal(3)
    })
  })
})
