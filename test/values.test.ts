/**
 * Caching values, not only responses (cache.wrap / get / set / delete / warmValues): on the same
 * store, tags and purges as responses, coalesced in process and across instances.
 */
import { expect } from 'chai'
import express from 'express'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { createCache, type Cache } from '../src/index.js'
import { send, sleep } from './support/http.js'
import { describeRedis, REDIS_URL, uniqueNamespace } from './support/redis.js'

describe('values (cache.wrap, get, set, delete)', function () {
  this.timeout(10000)
  let cache: Cache
  beforeEach(() => { cache = createCache({ namespace: uniqueNamespace('values'), jitter: 0, dependencies: true }) })
  afterEach(async () => { await cache.close() })

  describe('wrap (cache-aside, read-through)', () => {
    it('calls the loader once and answers later calls from the cache', async () => {
      let calls = 0
      const load = async (): Promise<{ id: number, name: string }> => { calls++; return { id: 42, name: 'Ada' } }
      expect(await cache.wrap('user:42', load)).to.deep.equal({ id: 42, name: 'Ada' })
      expect(await cache.wrap('user:42', load)).to.deep.equal({ id: 42, name: 'Ada' })
      expect(calls).to.equal(1)
      expect(cache.stats().valueHits).to.equal(1)
    })

    it('infers the loader\'s type for the result (checked by tsc --noEmit)', async () => {
      const n: number = await cache.wrap('n', async () => 7)
      const s: string = await cache.wrap('s', () => 'text')
      // @ts-expect-error a number is not a string
      const wrong: string = await cache.wrap('n2', async () => 7)
      expect([n, s, typeof wrong]).to.deep.equal([7, 'text', 'number'])
    })

    it('coalesces 100 concurrent calls into one loader call', async () => {
      let calls = 0
      const load = async (): Promise<string> => { calls++; await sleep(50); return 'once' }
      const results = await Promise.all(Array.from({ length: 100 }, () => cache.wrap('hot', load)))
      expect(calls).to.equal(1)
      expect(results.every(r => r === 'once')).to.equal(true)
    })

    it('rethrows a loader error when nothing is stored, and caches nothing', async () => {
      let calls = 0
      const failing = async (): Promise<string> => { calls++; throw new Error('db down') }
      let caught: Error | undefined
      try { await cache.wrap('fails', failing) } catch (err) { caught = err as Error }
      expect(caught?.message).to.equal('db down')
      expect(await cache.get('fails')).to.equal(undefined)
      await cache.wrap('fails', failing).catch(() => undefined)
      expect(calls).to.equal(2)
      expect(cache.stats().loaderErrors).to.equal(2)
    })

    it('returns the stale value when the loader throws within stale-if-error', async () => {
      await cache.wrap('sie', async () => 'good', { ttl: 50, staleIfError: '1m' })
      await sleep(80)
      expect(await cache.wrap('sie', async () => { throw new Error('down') }, { ttl: 50, staleIfError: '1m' })).to.equal('good')
    })

    it('serves the stale value within stale-while-revalidate and refreshes once in the background', async () => {
      let version = 0
      const load = async (): Promise<string> => { version++; await sleep(20); return `v${version}` }
      await cache.wrap('swr', load, { ttl: 50, staleWhileRevalidate: '1m' })
      await sleep(80)
      const stale = await Promise.all(Array.from({ length: 10 }, () => cache.wrap('swr', load, { ttl: 50, staleWhileRevalidate: '1m' })))
      expect(stale.every(v => v === 'v1')).to.equal(true)
      await sleep(60)
      expect(version).to.equal(2)
      expect(await cache.wrap('swr', load, { ttl: 5000 })).to.equal('v2')
    })

    it('expires a value after its ttl', async () => {
      let n = 0
      await cache.wrap('ttl', async () => ++n, { ttl: 40 })
      await sleep(70)
      expect(await cache.wrap('ttl', async () => ++n, { ttl: 40 })).to.equal(2)
    })

    it('stores Buffers as they are and uses a custom serializer when given', async () => {
      const bytes = Buffer.from([0, 1, 2, 255])
      await cache.wrap('bin', async () => bytes)
      expect(Buffer.compare(await cache.get<Buffer>('bin') as Buffer, bytes)).to.equal(0)
      const serializer = { serialize: (d: Date) => d.toISOString(), deserialize: (b: Buffer) => new Date(b.toString()) }
      const when = new Date('2026-01-02T03:04:05.000Z')
      await cache.wrap('date', async () => when, { serializer })
      const got = await cache.get('date', { serializer })
      expect(got).to.be.instanceOf(Date)
      expect((got as Date).toISOString()).to.equal(when.toISOString())
    })

    it('does not cache undefined', async () => {
      let calls = 0
      await cache.wrap('u', async () => { calls++; return undefined })
      await cache.wrap('u', async () => { calls++; return undefined })
      expect(calls).to.equal(2)
    })
  })

  describe('get, set (write-through), delete', () => {
    it('sets and gets a value, and deletes it', async () => {
      expect(await cache.get('k')).to.equal(undefined)
      await cache.set('k', { a: 1 }, { ttl: '1m' })
      expect(await cache.get('k')).to.deep.equal({ a: 1 })
      expect(await cache.delete('k')).to.equal(true)
      expect(await cache.get('k')).to.equal(undefined)
    })

    it('makes wrap answer what set wrote', async () => {
      await cache.set('price:1', 10)
      expect(await cache.wrap('price:1', async () => 99)).to.equal(10)
    })

    it('purges values by tag, prefix-free keys and all, with the same invalidate as responses', async () => {
      await cache.set('a', 1, { tags: ['t1'] })
      await cache.set('b', 2, { tags: ['t2'] })
      await cache.invalidate({ tag: 't1' })
      expect(await cache.get('a')).to.equal(undefined)
      expect(await cache.get('b')).to.equal(2)
      await cache.invalidate({ all: true })
      expect(await cache.get('b')).to.equal(undefined)
    })

    it('keeps value keys apart from response keys', async () => {
      await cache.set('GET:/x?', 'a value')
      expect(cache.stats().entries).to.equal(1)
      expect(await cache.get('GET:/x?')).to.equal('a value')
    })
  })

  describe('warmValues', () => {
    it('loads what is not fresh, with a concurrency limit, and summarises', async () => {
      await cache.set('w1', 'already')
      let running = 0
      let peak = 0
      const loader = (v: string) => async (): Promise<string> => { running++; peak = Math.max(peak, running); await sleep(10); running--; return v }
      const summary = await cache.warmValues([
        { key: 'w1', loader: loader('x') },
        ...Array.from({ length: 8 }, (_, i) => ({ key: `w${i + 2}`, loader: loader(`v${i}`) })),
        { key: 'bad', loader: async () => { throw new Error('nope') } },
      ], { concurrency: 3 })
      expect(summary).to.deep.include({ stored: 8, fresh: 1, failed: 1 })
      expect(summary.errors).to.deep.equal([{ key: 'bad', error: 'nope' }])
      expect(peak).to.be.at.most(3)
      expect(await cache.get('w5')).to.equal('v3')
    })

    it('is also cache.warm([{ key, loader }])', async () => {
      const summary = await cache.warm([{ key: 'cw', loader: async () => 'warm' }])
      expect(summary).to.deep.include({ stored: 1, fresh: 0, failed: 0 })
      expect(await cache.get('cw')).to.equal('warm')
    })
  })

  describe('responses that depend on values', () => {
    let server: Server
    let base: string
    let built = 0
    beforeEach(async () => {
      built = 0
      const app = express()
      app.use(cache.express({ ttl: '1h' }))
      app.get('/users/:id', async (req, res) => {
        built++
        const user = await cache.wrap(`user:${req.params.id}`, async () => ({ id: req.params.id, v: built }), { tags: [`user:${req.params.id}`] })
        res.json(user)
      })
      app.post('/profile', express.text(), (req, res) => {
        res.set({ 'content-location': '/profile', 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).send(`saved ${String(req.body)}`)
      })
      server = await new Promise(resolve => { const s = app.listen(0, '127.0.0.1', () => resolve(s)) })
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterEach(() => { server.closeAllConnections(); server.close() })

    it('purges a response when a tag of a value it read is purged (cascading invalidation)', async () => {
      await send(base + '/users/42')
      expect((await send(base + '/users/42')).headers['x-cache']).to.equal('HIT')
      await cache.invalidate({ tag: 'user:42' })
      const after = await send(base + '/users/42')
      expect(after.headers['x-cache']).to.not.equal('HIT')
      expect(built).to.equal(2)
    })

    it('purges a response when a value it read is deleted', async () => {
      await send(base + '/users/7')
      await cache.delete('user:7')
      expect((await send(base + '/users/7')).headers['x-cache']).to.not.equal('HIT')
    })

    it('leaves responses that did not read the value alone', async () => {
      await send(base + '/users/1')
      await send(base + '/users/2')
      await cache.invalidate({ tag: 'user:1' })
      expect((await send(base + '/users/2')).headers['x-cache']).to.equal('HIT')
    })

    it('records no dependencies unless asked to (dependencies: false is the default)', async () => {
      const plain = createCache({ namespace: uniqueNamespace('values-off') })
      expect(plain.engine.dependencies).to.equal(undefined)
      await plain.close()
    })

    it('stores a POST answer with explicit freshness and its own Content-Location as the GET response (RFC 9110 §9.3.3)', async () => {
      const post = await send(base + '/profile', { method: 'POST', body: 'alice', headers: { 'content-type': 'text/plain' } })
      expect(post.text).to.equal('saved alice')
      const get = await send(base + '/profile')
      expect(get.headers['x-cache']).to.equal('HIT')
      expect(get.text).to.equal('saved alice')
    })
  })
})

describeRedis('values across instances sharing Redis', function () {
  this.timeout(15000)
  let a: Cache
  let b: Cache
  beforeEach(() => {
    const namespace = uniqueNamespace('values-redis')
    a = createCache({ namespace, redis: REDIS_URL })
    b = createCache({ namespace, redis: REDIS_URL })
  })
  afterEach(async () => {
    await a.invalidate({ all: true }).catch(() => undefined)
    await Promise.all([a.close(), b.close()])
  })

  it('reads on one instance what the other set (write-through)', async () => {
    await a.set('shared', { n: 1 })
    expect(await b.get('shared')).to.deep.equal({ n: 1 })
  })

  it('coalesces concurrent wraps on two instances into one loader call', async () => {
    let calls = 0
    const load = async (): Promise<string> => { calls++; await sleep(100); return 'loaded' }
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).wrap('cold', load)))
    expect(calls).to.equal(1)
    expect(results.every(r => r === 'loaded')).to.equal(true)
  })

  it('drops the other instance\'s copy when a value is set again or purged by tag', async () => {
    await a.set('p', 1, { tags: ['price'] })
    expect(await b.get('p')).to.equal(1)
    await a.set('p', 2, { tags: ['price'] })
    await sleep(100)
    expect(await b.get('p')).to.equal(2)
    await b.invalidate({ tag: 'price' })
    await sleep(100)
    expect(await a.get('p')).to.equal(undefined)
  })
})
