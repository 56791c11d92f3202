/**
 * One behaviour suite for every adapter (Express, Koa, the proxy): the same requests, the same
 * answers. Each test starts its own cache (unique namespace) in front of a scripted origin.
 */
import { expect } from 'chai'
import { randomUUID } from 'node:crypto'
import type { Harness, OriginHandler, OriginRequest, OriginResponse, Started } from './harness.js'
import type { CacheOptions, RouteOptions } from '../../src/index.js'
import { send, sleep, type Reply } from '../support/http.js'

/** A started cache plus a log of what reached the origin. */
interface Rig extends Started {
  calls: OriginRequest[]
  count(path?: string): number
  get(path: string, headers?: Record<string, string>): Promise<Reply>
}

export function behaviour (harness: Harness): void {
  describe(`adapter behaviour: ${harness.name}`, function () {
    this.timeout(15000)
    let open: Rig[] = []
    afterEach(async () => {
      await Promise.all(open.map(r => r.close()))
      open = []
    })

    async function rig (handler: OriginHandler, options: { cache?: CacheOptions, route?: RouteOptions } = {}): Promise<Rig> {
      const calls: OriginRequest[] = []
      const started = await harness.start({
        cache: { namespace: `t-${randomUUID()}`, ...options.cache },
        route: options.route,
        handler: req => {
          calls.push(req)
          return handler(req)
        },
      })
      const r: Rig = {
        ...started,
        calls,
        count: path => calls.filter(c => path === undefined || c.url === path).length,
        get: (path, headers) => send(started.url + path, { headers }),
      }
      open.push(r)
      return r
    }

    const ok = (body: string | Buffer, headers: Record<string, string | string[]> = {}): OriginResponse =>
      ({ status: 200, headers: { 'content-type': 'text/plain', ...headers }, body })

    describe('miss, then hit (RFC 9111 §4)', () => {
      it('runs the handler once and answers the second request from the cache', async () => {
        let n = 0
        const r = await rig(() => ok(`n=${++n}`))
        const a = await r.get('/a')
        const b = await r.get('/a')
        expect(a.text).to.equal('n=1')
        expect(b.text).to.equal('n=1')
        expect(r.count('/a')).to.equal(1)
        expect(a.headers['x-cache']).to.equal('MISS')
        expect(a.headers['cache-status']).to.match(/fwd=uri-miss; stored/)
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.headers['cache-status']).to.match(/; hit$/)
        expect(b.headers.age).to.match(/^\d+$/)
      })

      it('gives back every header of the original response except hop-by-hop ones and Set-Cookie', async () => {
        const r = await rig(() => ok('x', {
          'content-type': 'application/vnd.test+json', 'access-control-allow-origin': '*',
          'x-custom': 'yes', link: ['</a>; rel=preload', '</b>; rel=preload'],
        }))
        await r.get('/h')
        const b = await r.get('/h')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.headers['content-type']).to.equal('application/vnd.test+json')
        expect(b.headers['access-control-allow-origin']).to.equal('*')
        expect(b.headers['x-custom']).to.equal('yes')
        expect(b.headers.link).to.equal('</a>; rel=preload, </b>; rel=preload')
        expect(b.headers['content-length']).to.equal('1')
      })

      it('keys on the query, in any parameter order', async () => {
        const r = await rig(req => ok(req.url))
        await r.get('/q?a=1&b=2')
        const b = await r.get('/q?b=2&a=1')
        const c = await r.get('/q?a=2&b=2')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(c.headers['x-cache']).to.equal('MISS')
      })

      it('round-trips a binary body byte for byte', async () => {
        const bytes = Buffer.alloc(256 * 8)
        for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256
        const r = await rig(() => ({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body: bytes }))
        const a = await r.get('/bin')
        const b = await r.get('/bin')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(Buffer.compare(a.body, bytes)).to.equal(0)
        expect(Buffer.compare(b.body, bytes)).to.equal(0)
      })

      it('stores a body written in chunks', async () => {
        const r = await rig(() => ({ status: 200, headers: { 'content-type': 'text/plain' }, chunks: ['one,', 'two,', 'three'] }))
        const a = await r.get('/chunks')
        const b = await r.get('/chunks')
        expect(a.text).to.equal('one,two,three')
        expect(b.text).to.equal('one,two,three')
        expect(b.headers['x-cache']).to.equal('HIT')
      })
    })

    describe('freshness (RFC 9111 §4.2)', () => {
      it('expires an entry after the route ttl', async () => {
        let n = 0
        const r = await rig(() => ok(`n=${++n}`), { route: { ttl: '150ms' }, cache: { jitter: 0 } })
        await r.get('/ttl')
        expect((await r.get('/ttl')).text).to.equal('n=1')
        await sleep(250)
        const c = await r.get('/ttl')
        expect(c.text).to.equal('n=2')
        expect(c.headers['x-cache']).to.match(/^(MISS|EXPIRED)$/)
      })

      it('lets the origin max-age win over the route ttl', async () => {
        let n = 0
        const r = await rig(() => ok(`n=${++n}`, { 'cache-control': 'max-age=0' }), { route: { ttl: '1h' } })
        await r.get('/ma')
        const b = await r.get('/ma')
        expect(b.text).to.equal('n=2')
      })

      it('lets an override route ttl win over the origin max-age', async () => {
        let n = 0
        const r = await rig(() => ok(`n=${++n}`, { 'cache-control': 'max-age=0' }), { route: { ttl: '1h', override: true } })
        await r.get('/ov')
        expect((await r.get('/ov')).text).to.equal('n=1')
      })

      it('never stores an error status that the origin did not mark fresh (cache-poisoned DoS)', async () => {
        let n = 0
        const r = await rig(() => ({ status: 500, headers: { 'content-type': 'text/plain' }, body: `n=${++n}` }), { route: { ttl: '1h' } })
        await r.get('/err')
        expect((await r.get('/err')).text).to.equal('n=2')
      })

      it('stores an error status the origin explicitly marked fresh', async () => {
        let n = 0
        const r = await rig(() => ({ status: 503, headers: { 'cache-control': 'max-age=60' }, body: `n=${++n}` }))
        await r.get('/e503')
        const b = await r.get('/e503')
        expect(b.status).to.equal(503)
        expect(b.text).to.equal('n=1')
      })
    })

    describe('conditional requests (RFC 9110 §13, RFC 9111 §4.3.2)', () => {
      it('answers If-None-Match with 304 on a hit, with the §15.4.5 fields', async () => {
        const r = await rig(() => ok('etagged', { etag: '"v1"', 'cache-control': 'max-age=60' }))
        await r.get('/c')
        const b = await r.get('/c', { 'if-none-match': 'W/"v1"' })
        expect(b.status).to.equal(304)
        expect(b.body.length).to.equal(0)
        expect(b.headers.etag).to.equal('"v1"')
        expect(b.headers['cache-control']).to.equal('max-age=60')
        expect(b.headers['content-type']).to.equal(undefined)
        expect(r.count()).to.equal(1)
      })

      it('answers If-Modified-Since with 304 on a hit', async () => {
        const lm = new Date(Date.now() - 3600_000).toUTCString()
        const r = await rig(() => ok('lm', { 'last-modified': lm, 'cache-control': 'max-age=60' }))
        await r.get('/ims')
        const b = await r.get('/ims', { 'if-modified-since': new Date().toUTCString() })
        expect(b.status).to.equal(304)
      })

      it('answers a conditional miss with 304 and still stores the full response', async () => {
        const r = await rig(() => ok('full body', { etag: '"m1"', 'cache-control': 'max-age=60' }))
        const a = await r.get('/cm', { 'if-none-match': '"m1"' })
        expect(a.status).to.equal(304)
        const b = await r.get('/cm')
        expect(b.status).to.equal(200)
        expect(b.text).to.equal('full body')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(r.count()).to.equal(1)
      })

      it('computes an ETag at store time when the origin sent none', async () => {
        const r = await rig(() => ok('no etag here'))
        await r.get('/ne')
        const b = await r.get('/ne')
        expect(b.headers.etag).to.match(/^W\/"/)
        const c = await r.get('/ne', { 'if-none-match': b.headers.etag as string })
        expect(c.status).to.equal(304)
      })

      it('revalidates a stale entry with the origin and freshens it on 304 (§4.3.4)', async () => {
        let n = 0
        const r = await rig(req => {
          n++
          if (req.headers['if-none-match'] === '"r1"') return { status: 304, headers: { etag: '"r1"', 'cache-control': 'max-age=60', 'x-fresh': 'yes' } }
          return ok('revalidated body', { etag: '"r1"', 'cache-control': 'max-age=0' })
        })
        await r.get('/rv')
        const b = await r.get('/rv')
        expect(b.status).to.equal(200)
        expect(b.text).to.equal('revalidated body')
        expect(b.headers['x-cache']).to.equal('REVALIDATED')
        expect(b.headers['x-fresh']).to.equal('yes')
        const c = await r.get('/rv')
        expect(c.headers['x-cache']).to.equal('HIT')
        expect(n).to.equal(2)
      })
    })

    describe('who a response is for (RFC 9111 §3, §3.5)', () => {
      it('never serves one user\'s response to another', async () => {
        const r = await rig(req => ok(`for ${String(req.headers['x-user-id'])}`, { 'cache-control': 'private, max-age=60' }),
          { cache: { key: { user: (req: { headers: Record<string, string> }) => req.headers['x-user-id'] } } })
        const a = await r.get('/me', { 'x-user-id': 'alice' })
        const b = await r.get('/me', { 'x-user-id': 'bob' })
        const a2 = await r.get('/me', { 'x-user-id': 'alice' })
        const b2 = await r.get('/me', { 'x-user-id': 'bob' })
        expect(a.text).to.equal('for alice')
        expect(b.text).to.equal('for bob')
        expect(a2.text).to.equal('for alice')
        expect(b2.text).to.equal('for bob')
        expect(a2.headers['x-cache']).to.equal('HIT')
        expect(b2.headers['x-cache']).to.equal('HIT')
      })

      it('does not store a private response in the shared cache', async () => {
        const r = await rig(() => ok('mine', { 'cache-control': 'private, max-age=60' }))
        await r.get('/p')
        const b = await r.get('/p')
        expect(b.headers['x-cache']).to.equal('MISS')
        expect(b.headers['cache-status']).to.match(/detail=private/)
        expect(r.count()).to.equal(2)
      })

      it('does not store no-store responses', async () => {
        const r = await rig(() => ok('x', { 'cache-control': 'no-store' }))
        await r.get('/ns')
        await r.get('/ns')
        expect(r.count()).to.equal(2)
      })

      it('does not store a response to a request with no-store', async () => {
        const r = await rig(() => ok('x'))
        await r.get('/rns', { 'cache-control': 'no-store' })
        const b = await r.get('/rns')
        expect(b.headers['x-cache']).to.equal('MISS')
      })

      it('sends requests with Authorization to the origin and does not share their answer', async () => {
        const r = await rig(req => ok(`auth ${String(req.headers.authorization)}`))
        const a = await r.get('/auth', { authorization: 'Bearer alice' })
        const b = await r.get('/auth', { authorization: 'Bearer bob' })
        const c = await r.get('/auth')
        expect(a.text).to.equal('auth Bearer alice')
        expect(b.text).to.equal('auth Bearer bob')
        expect(c.text).to.equal('auth undefined')
        expect(a.headers['x-cache']).to.equal('BYPASS')
        expect(r.count()).to.equal(3)
      })

      it('shares an answer to an authenticated request when the origin says public (§3.5)', async () => {
        const r = await rig(() => ok('public doc', { 'cache-control': 'public, max-age=60' }))
        await r.get('/pub', { authorization: 'Bearer alice' })
        const b = await r.get('/pub')
        expect(b.headers['x-cache']).to.equal('HIT')
      })

      it('does not store responses that set cookies, and never replays a cookie', async () => {
        let n = 0
        const r = await rig(() => ok(`c${++n}`, { 'set-cookie': `sid=${n}` }))
        const a = await r.get('/cookie')
        const b = await r.get('/cookie')
        expect(a.headers['set-cookie']).to.deep.equal(['sid=1'])
        expect(b.headers['set-cookie']).to.deep.equal(['sid=2'])
        expect(b.headers['cache-status']).to.match(/detail=set-cookie/)
      })

      it('stores a cookie-setting response when allowed, without the cookie', async () => {
        const r = await rig(() => ok('cookie ok', { 'set-cookie': 'sid=1' }), { route: { allowSetCookie: true } })
        await r.get('/cookie2')
        const b = await r.get('/cookie2')
        expect(b.headers['x-cache']).to.equal('HIT')
        expect(b.headers['set-cookie']).to.equal(undefined)
      })
    })

    describe('Vary (RFC 9111 §4.1)', () => {
      it('stores one variant per value of the varying header, normalised', async () => {
        const r = await rig(req => ok(`lang=${String(req.headers['accept-language'])}`, { vary: 'Accept-Language' }))
        const en = await r.get('/v', { 'accept-language': 'en' })
        const fr = await r.get('/v', { 'accept-language': 'fr' })
        const en2 = await r.get('/v', { 'accept-language': 'EN' })
        const fr2 = await r.get('/v', { 'accept-language': 'fr' })
        expect(en.text).to.equal('lang=en')
        expect(fr.text).to.equal('lang=fr')
        expect(en2.text).to.equal('lang=en')
        expect(en2.headers['x-cache']).to.equal('HIT')
        expect(fr2.text).to.equal('lang=fr')
        expect(fr2.headers['x-cache']).to.equal('HIT')
        expect(r.count()).to.equal(2)
      })

      it('reports a vary-miss when the URL is stored but not this variant', async () => {
        const r = await rig(() => ok('x', { vary: 'x-variant' }))
        await r.get('/vm', { 'x-variant': 'a' })
        const b = await r.get('/vm', { 'x-variant': 'b' })
        expect(b.headers['cache-status']).to.match(/fwd=vary-miss/)
      })

      it('never stores Vary: *', async () => {
        const r = await rig(() => ok('x', { vary: '*' }))
        await r.get('/vs')
        await r.get('/vs')
        expect(r.count()).to.equal(2)
      })
    })

    describe('coalescing', () => {
      it('runs the handler once for 100 concurrent cold requests', async () => {
        const r = await rig(() => ({ ...ok('slow'), delay: 100 }))
        const replies = await Promise.all(Array.from({ length: 100 }, () => r.get('/stampede')))
        expect(r.count('/stampede')).to.equal(1)
        expect(replies.every(x => x.status === 200 && x.text === 'slow')).to.equal(true)
        // Each follower either waited for the leader (collapsed) or, arriving after the entry was
        // stored, found it: every one of them is a hit, and most waited.
        expect(replies.filter(x => x.headers['x-cache'] === 'HIT').length).to.equal(99)
        const collapsed = replies.filter(x => /collapsed/.test(String(x.headers['cache-status']))).length
        expect(collapsed).to.be.greaterThan(0)
        expect(r.cache.stats().coalesced).to.equal(collapsed)
      })

      it('releases the waiters to the origin when the leader\'s response is not storable', async () => {
        let n = 0
        const r = await rig(() => ({ ...ok(`private ${++n}`, { 'cache-control': 'private' }), delay: 80 }))
        const replies = await Promise.all(Array.from({ length: 5 }, () => r.get('/nostore')))
        expect(r.count('/nostore')).to.equal(5)
        expect(new Set(replies.map(x => x.text)).size).to.equal(5)
      })
    })

    describe('hit-for-miss (a URL remembered as uncacheable is not coalesced)', () => {
      /**
       * An origin that, once armed, holds each request until `n` are inside it at once (or `ms`
       * passed): the most it held together says whether the cache sent them concurrently or one
       * behind another.
       */
      function gathering (n: number, respond: (i: number) => OriginResponse, ms = 3000) {
        let armed = false
        let inside = 0
        let most = 0
        let seen = 0
        let release: () => void = () => {}
        const all = new Promise<void>(resolve => { release = resolve })
        return {
          most: () => most,
          arm () { armed = true },
          handler: async (): Promise<OriginResponse> => {
            const i = ++seen
            if (!armed) return respond(i)
            most = Math.max(most, ++inside)
            if (inside >= n) release()
            await Promise.race([all, sleep(ms)])
            inside--
            return respond(i)
          },
        }
      }

      it('sends concurrent misses for a URL whose last response could not be stored straight to the origin', async () => {
        const origin = gathering(3, i => ok(`own ${i}`, { 'cache-control': 'no-store' }))
        const r = await rig(origin.handler)
        const first = await r.get('/uncacheable')
        expect(first.headers['cache-status']).to.match(/detail=no-store/)
        origin.arm()
        const replies = await Promise.all([1, 2, 3].map(() => r.get('/uncacheable')))
        expect(origin.most(), 'the three requests were inside the origin together').to.equal(3)
        expect(new Set(replies.map(x => x.text)).size, 'each its own response').to.equal(3)
        for (const x of replies) {
          expect(x.headers['x-cache']).to.equal('MISS')
          expect(x.headers['cache-status']).to.match(/fwd=uri-miss; detail=no-store/)
        }
        expect(r.cache.stats().hitForMiss).to.equal(3)
        expect(r.cache.stats().coalesced).to.equal(0)
      })

      it('stores the first storable response, which ends it: the next misses are coalesced again', async () => {
        let n = 0
        const r = await rig(() => ({ ...ok(`v${++n}`, { 'cache-control': n === 1 ? 'no-store' : 'max-age=60' }), delay: 50 }))
        await r.get('/turns')
        const stored = await r.get('/turns')
        expect(stored.headers['cache-status']).to.match(/; stored$/)
        expect((await r.get('/turns')).headers['x-cache']).to.equal('HIT')
        expect(r.cache.stats().hitForMiss).to.equal(1)
        await r.cache.invalidate({ url: '/turns' })
        const replies = await Promise.all(Array.from({ length: 5 }, () => r.get('/turns')))
        expect(r.count('/turns'), 'one origin request for the five').to.equal(3)
        expect(replies.every(x => x.text === 'v3')).to.equal(true)
        expect(r.cache.stats().hitForMiss).to.equal(1)
      })

      it('does not remember a server error (5xx): a failing origin stays coalesced', async () => {
        const r = await rig(() => ({ status: 503, headers: { 'content-type': 'text/plain' }, body: 'down', delay: 20 }))
        await r.get('/down')
        await r.get('/down')
        expect(r.cache.stats().hitForMiss).to.equal(0)
      })

      it('does not remember a request\'s own no-store (RFC 9111 §5.2.1.5), nor a bypassed request\'s answer', async () => {
        const r = await rig(req => ok('x', req.headers.authorization !== undefined ? { 'cache-control': 'no-store' } : {}))
        await r.get('/asked', { 'cache-control': 'no-store' })
        await r.get('/asked')
        expect((await r.get('/asked')).headers['x-cache']).to.equal('HIT')
        await r.get('/authed', { authorization: 'Bearer a' })
        expect((await r.get('/authed')).headers['cache-status']).to.match(/; stored$/)
        expect(r.cache.stats().hitForMiss).to.equal(0)
      })

      it('does not remember a 206 to a Range request that reached the origin', async () => {
        const r = await rig(req => req.headers.range !== undefined
          ? { status: 206, headers: { 'content-type': 'text/plain', 'content-range': 'bytes 0-1/4' }, body: 'ab' }
          : ok('abcd'))
        await r.get('/ranged', { range: 'bytes=0-1' })
        expect((await r.get('/ranged')).headers['cache-status']).to.match(/; stored$/)
        expect(r.cache.stats().hitForMiss).to.equal(0)
      })

      it('remembers a response too large to store (l1.maxObjectSize)', async () => {
        const r = await rig(() => ok('y'.repeat(2048)), { cache: { l1: { maxObjectSize: '1kb' } } })
        await r.get('/big')
        await r.get('/big')
        expect(r.cache.stats().hitForMiss).to.equal(1)
      })

      it('forgets after hitForMiss, and remembers nothing with hitForMiss: 0', async () => {
        const r = await rig(() => ok('x', { 'cache-control': 'private' }), { cache: { hitForMiss: '100ms' } })
        await r.get('/p')
        await r.get('/p')
        expect(r.cache.stats().hitForMiss).to.equal(1)
        await sleep(150)
        await r.get('/p')
        expect(r.cache.stats().hitForMiss).to.equal(1)

        const off = await rig(() => ok('x', { 'cache-control': 'private' }), { cache: { hitForMiss: 0 } })
        await off.get('/p')
        await off.get('/p')
        expect(off.cache.stats().hitForMiss).to.equal(0)
      })

      it('forgets every key on invalidate({ all: true })', async () => {
        const r = await rig(() => ok('x', { 'set-cookie': 'a=1' }))
        await r.get('/c')
        await r.cache.invalidate({ all: true })
        await r.get('/c')
        expect(r.cache.stats().hitForMiss).to.equal(0)
      })
    })

    describe('stale serving (RFC 5861)', () => {
      it('serves stale within stale-while-revalidate and refreshes once in the background', async () => {
        let n = 0
        const r = await rig(() => ({ ...ok(`v${++n}`, { 'cache-control': 'max-age=1, stale-while-revalidate=30' }), delay: n > 1 ? 50 : 0 }))
        await r.get('/swr')
        await sleep(1100)
        const replies = await Promise.all(Array.from({ length: 10 }, () => r.get('/swr')))
        expect(replies.every(x => x.text === 'v1' && x.headers['x-cache'] === 'STALE')).to.equal(true)
        await sleep(200)
        expect(r.count('/swr')).to.equal(2)
        const after = await r.get('/swr')
        expect(after.text).to.equal('v2')
        expect(after.headers['x-cache']).to.equal('HIT')
      })

      it('serves stale when the origin fails, within stale-if-error', async () => {
        let n = 0
        const r = await rig(() => (++n === 1 ? ok('good', { 'cache-control': 'max-age=1, stale-if-error=60' }) : { status: 503, body: 'down' }))
        await r.get('/sie')
        await sleep(1100)
        const b = await r.get('/sie')
        expect(b.status).to.equal(200)
        expect(b.text).to.equal('good')
        expect(b.headers['x-cache']).to.equal('STALE')
      })

      it('serves stale when the handler fails outright, within stale-if-error', async () => {
        let n = 0
        const r = await rig(() => (++n === 1 ? ok('good', { 'cache-control': 'max-age=1, stale-if-error=60' }) : { fail: true }))
        await r.get('/sie2')
        await sleep(1100)
        const b = await r.get('/sie2')
        expect(b.status).to.equal(200)
        expect(b.text).to.equal('good')
      })

      it('never serves a must-revalidate response stale', async () => {
        let n = 0
        const r = await rig(() => (++n === 1 ? ok('good', { 'cache-control': 'max-age=1, must-revalidate, stale-if-error=60' }) : { status: 503, body: 'down' }))
        await r.get('/mr')
        await sleep(1100)
        const b = await r.get('/mr', { 'cache-control': 'max-stale=60' })
        expect(b.status).to.equal(503)
      })
    })

    describe('request directives (RFC 9111 §5.2.1)', () => {
      it('goes to the origin for request no-cache and stores the result', async () => {
        let n = 0
        const r = await rig(() => ok(`n=${++n}`))
        await r.get('/rnc')
        const b = await r.get('/rnc', { 'cache-control': 'no-cache' })
        expect(b.text).to.equal('n=2')
        expect((await r.get('/rnc')).text).to.equal('n=2')
      })

      it('answers only-if-cached with 504 when nothing is stored', async () => {
        const r = await rig(() => ok('x'))
        const a = await r.get('/oic', { 'cache-control': 'only-if-cached' })
        expect(a.status).to.equal(504)
        expect(r.count()).to.equal(0)
      })
    })

    describe('HEAD (RFC 9110 §9.3.2)', () => {
      it('answers HEAD from the GET entry without a body', async () => {
        const r = await rig(() => ok('body for head'))
        await r.get('/head')
        const h = await send(r.url + '/head', { method: 'HEAD' })
        expect(h.status).to.equal(200)
        expect(h.headers['x-cache']).to.equal('HIT')
        expect(h.headers['content-length']).to.equal('13')
        expect(h.body.length).to.equal(0)
        expect(r.count()).to.equal(1)
      })
    })

    describe('size limits', () => {
      it('streams a body larger than maxObjectSize through without storing it', async () => {
        const big = Buffer.alloc(300 * 1024, 7)
        const r = await rig(() => ({ status: 200, headers: { 'content-type': 'application/octet-stream' }, chunks: [big.subarray(0, 150 * 1024), big.subarray(150 * 1024)] }),
          { cache: { l1: { maxObjectSize: '100kb' } } })
        const a = await r.get('/big')
        const b = await r.get('/big')
        expect(a.body.length).to.equal(big.length)
        expect(Buffer.compare(b.body, big)).to.equal(0)
        expect(r.count()).to.equal(2)
      })
    })

    describe('invalidation', () => {
      it('invalidates the GET entry after a successful POST to the same URL (§4.4)', async () => {
        let n = 0
        const r = await rig(req => (req.method === 'POST' ? { status: 204 } : ok(`n=${++n}`)))
        await r.get('/item')
        expect((await r.get('/item')).headers['x-cache']).to.equal('HIT')
        const p = await send(r.url + '/item', { method: 'POST', body: 'x' })
        expect(p.status).to.equal(204)
        const c = await r.get('/item')
        expect(c.text).to.equal('n=2')
      })

      it('invalidates the Location of an unsafe method\'s answer when same-origin (§4.4)', async () => {
        let n = 0
        const r = await rig(req => (req.method === 'POST' ? { status: 201, headers: { location: '/things/1' } } : ok(`n=${++n}`)))
        await r.get('/things/1')
        await send(r.url + '/things', { method: 'POST', body: 'x' })
        expect((await r.get('/things/1')).text).to.equal('n=2')
      })

      it('does not invalidate after an unsafe method fails', async () => {
        const r = await rig(req => (req.method === 'DELETE' ? { status: 500 } : ok('kept')))
        await r.get('/keep')
        await send(r.url + '/keep', { method: 'DELETE' })
        expect((await r.get('/keep')).headers['x-cache']).to.equal('HIT')
      })

      it('invalidates by URL, tag (route and Surrogate-Key), prefix and all', async () => {
        const r = await rig(req => ok(req.url, { 'surrogate-key': 'origin-tag' }), { route: { tags: ['route-tag'] } })
        const warm = async (): Promise<void> => { for (const p of ['/x/1', '/x/2', '/y/1']) await r.get(p) }
        const hit = async (p: string): Promise<boolean> => (await r.get(p)).headers['x-cache'] === 'HIT'
        await warm()
        expect((await r.get('/x/1')).headers['surrogate-key']).to.equal(undefined)
        await r.cache.invalidate({ url: '/x/1' })
        expect(await hit('/x/1')).to.equal(false)
        expect(await hit('/x/2')).to.equal(true)
        await r.cache.invalidate({ tag: 'route-tag' })
        expect(await hit('/y/1')).to.equal(false)
        await r.cache.invalidate({ tag: 'origin-tag' })
        expect(await hit('/y/1')).to.equal(false)
        await r.cache.invalidate({ prefix: '/x/' })
        expect(await hit('/x/1')).to.equal(false)
        expect(await hit('/x/2')).to.equal(false)
        expect(await hit('/y/1')).to.equal(true)
        await r.cache.invalidate({ all: true })
        expect(await hit('/y/1')).to.equal(false)
      })
    })
  })
}
