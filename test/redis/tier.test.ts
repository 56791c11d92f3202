/**
 * `createCache({ redis })`: the Redis tier behind L1, through the Express middleware, with
 * several cache instances on one namespace standing for the instances of one application.
 */
import { randomBytes } from 'node:crypto'
import { createClient, type RedisClientType } from '@keyv/redis'
import { expect } from 'chai'
import { createCache, DEFAULTS, OptionError } from '../../src/index.js'
import { RedisStore, redisKeys } from '../../src/l2.js'
import { startApp, subscribed, quiet, until, type App, type Handler } from '../support/apps.js'
import { send, sleep } from '../support/http.js'
import { describeRedis, dropNamespace, rawClient, REDIS_URL, RedisServer, requireRedisServer, uniqueNamespace } from '../support/redis.js'

describeRedis('Redis tier (createCache({ redis }))', function () {
  this.timeout(10_000)
  let raw: RedisClientType
  let apps: App[] = []
  let namespace: string
  let calls: number

  before(async function () { raw = await rawClient() })
  beforeEach(function () {
    namespace = uniqueNamespace('tier')
    calls = 0
  })
  afterEach(async function () {
    await Promise.all(apps.map(async a => await a.close()))
    apps = []
    await dropNamespace(raw, namespace)
  })
  after(async function () { raw?.destroy() })

  /** `n` instances of one application on the test's namespace. */
  async function instances (n: number, handler: Handler, redis: object | string = REDIS_URL): Promise<App[]> {
    const started: App[] = []
    for (let i = 0; i < n; i++) {
      started.push(await startApp({ namespace, redis: redis as string }, async (req, res) => {
        calls++
        await handler(req, res)
      }))
    }
    apps.push(...started)
    await subscribed(...started.map(a => a.cache))
    return started
  }

  const text = (body: string): Handler => (_req, res) => {
    res.setHeader('cache-control', 'max-age=60')
    res.setHeader('content-type', 'text/plain')
    res.end(body)
  }

  describe('reads: L1, then L2, then the origin', function () {
    it('answers from L2 what another instance stored, then from its own L1', async function () {
      const [a, b] = await instances(2, text('shared'))
      const first = await send(a.url + '/p')
      expect(first.headers['x-cache']).to.equal('MISS')
      await until(async () => await raw.exists(redisKeys(namespace).entry(`${namespace}:GET:/p?`)) === 1, 'the L2 write')

      const fromL2 = await send(b.url + '/p')
      expect(fromL2.text).to.equal('shared')
      expect(fromL2.headers['x-cache']).to.equal('HIT')
      expect(calls).to.equal(1)
      expect(b.cache.stats().entries, 'filled into L1').to.equal(1)
      // From L1 now: no Redis read.
      await raw.configResetStat()
      expect((await send(b.url + '/p')).headers['x-cache']).to.equal('HIT')
      expect(await raw.info('commandstats')).to.not.match(/cmdstat_get:/)
    })

    it('on a key remembered as uncacheable, skips L2 until its own response is stored; only-if-cached still looks', async function () {
      const [a, b] = await instances(2, (_req, res) => {
        res.setHeader('cache-control', calls === 1 ? 'no-store' : 'max-age=60')
        res.end(`call ${calls}`)
      })
      expect((await send(a.url + '/turn')).headers['cache-status']).to.match(/detail=no-store/)
      expect((await send(b.url + '/turn')).headers['cache-status']).to.match(/; stored$/)
      await until(async () => await raw.exists(redisKeys(namespace).entry(`${namespace}:GET:/turn?`)) === 1, 'the L2 write')
      const asked = await send(a.url + '/turn', { headers: { 'cache-control': 'only-if-cached' } })
      expect(asked.status).to.equal(200)
      expect(asked.text).to.equal('call 2')
      expect(calls).to.equal(2)
    })

    it('round-trips a binary body byte for byte through L2', async function () {
      const bytes = randomBytes(100_000)
      const [a, b] = await instances(2, (_req, res) => {
        res.setHeader('cache-control', 'max-age=60')
        res.setHeader('content-type', 'application/octet-stream')
        res.end(bytes)
      })
      await send(a.url + '/bin')
      await until(() => a.cache.stats().l2!.bytesStored > 0, 'the L2 write')
      const got = await send(b.url + '/bin')
      expect(got.headers['x-cache']).to.equal('HIT')
      expect(got.body.equals(bytes)).to.equal(true)
    })

    it('shows what compression saved in stats().l2', async function () {
      const html = '<tr><td>cachefront</td><td>42</td></tr>\n'.repeat(1000)
      const [a] = await instances(1, text(html))
      await send(a.url + '/big')
      await until(() => a.cache.stats().l2!.bytesStored > 0, 'the L2 write')
      const l2 = a.cache.stats().l2!
      expect(l2.bytesIn).to.be.above(html.length)
      expect(l2.bytesStored).to.be.below(l2.bytesIn / 10)
      expect(l2.saved).to.equal(l2.bytesIn - l2.bytesStored)
      expect(l2).to.include({ state: 'closed', errors: 0, timeouts: 0, corrupt: 0, subscribed: true })
    })

    it('answers a miss without waiting for the L2 write', async function () {
      const [a] = await instances(1, text('fast'))
      const l2 = a.cache.engine.store.l2 as RedisStore
      let writes = 0
      l2.set = async () => { writes++; await new Promise(() => {}) } // a write that never ends
      const started = Date.now()
      const miss = await send(a.url + '/w')
      expect(miss.text).to.equal('fast')
      expect(Date.now() - started).to.be.below(200)
      expect(writes).to.equal(1)
      expect((await send(a.url + '/w')).headers['x-cache']).to.equal('HIT')
    })
  })

  describe('one round trip per L2 read', function () {
    let server: RedisServer
    before(async function () {
      requireRedisServer(this)
      server = await RedisServer.start()
    })
    after(async function () { await server?.kill() })

    it('reads an entry with one GET, and stores it with one MULTI (entry, tag sets, notice)', async function () {
      const [a, b] = await instances(2, text('x'), server.url)
      const client = await rawClient(server.url)
      try {
        await send(a.url + '/warm') // both instances have read the generation by now
        await send(b.url + '/warm')
        await client.configResetStat()
        await send(a.url + '/one')
        await until(() => a.cache.stats().l2!.bytesStored > 40, 'the L2 write')
        // The lock's release follows the L2 write, a moment later.
        await until(async () => (await commandCalls(client)).eval === 1, 'the lock\'s release')
        const miss = await commandCalls(client)
        await client.configResetStat()
        expect((await send(b.url + '/one')).headers['x-cache']).to.equal('HIT')
        expect(await commandCalls(client)).to.deep.equal({ get: 1 })
        // The miss: a GET (L2), the lock (SET NX) and a second GET once it is held (double-checked
        // locking), the entry's MULTI (SET, SADD and two PEXPIREs for its URL tag, PUBLISH), and the
        // lock's release: an EVAL, whose GET and DEL Redis counts too.
        expect(miss).to.deep.equal({ get: 2 + 1, set: 2, del: 1, multi: 1, sadd: 1, pexpire: 2, publish: 1, exec: 1, eval: 1 })
      } finally {
        client.destroy()
      }
    })

    it('answers a burst of requests for one cold key with the Redis commands of a single miss', async function () {
      const [a] = await instances(1, async (req, res) => { await sleep(50); text('once')(req, res) }, server.url)
      const client = await rawClient(server.url)
      try {
        await send(a.url + '/warm')
        await until(async () => (await commandCalls(client)).eval === 1, 'the lock\'s release')
        await client.configResetStat()
        // The first L2 read is held until every request has asked for its key: the others join it.
        const store = a.cache.engine.store
        const l2 = store.l2 as RedisStore
        const get = l2.get.bind(l2)
        let open!: () => void
        const gate = new Promise<void>(resolve => { open = resolve })
        let held = false
        l2.get = async key => { if (!held) { held = true; await gate } return await get(key) }
        const fetch = store.fetch.bind(store)
        let lookups = 0
        store.fetch = (key, fresh) => { lookups++; return fetch(key, fresh) }

        const burst = Array.from({ length: 40 }, async () => await send(a.url + '/burst'))
        await until(() => lookups === 40, 'every request to look up its key')
        open()
        const replies = await Promise.all(burst)
        expect(replies.map(r => r.text)).to.deep.equal(Array(40).fill('once'))
        expect(calls).to.equal(1 + 1)
        await until(async () => (await commandCalls(client)).eval === 1, 'the lock\'s release')
        // As for one miss: one GET for the lookup, the lock and its double check, the entry's MULTI, the release.
        expect(await commandCalls(client)).to.deep.equal({ get: 2 + 1, set: 2, del: 1, multi: 1, sadd: 1, pexpire: 2, publish: 1, exec: 1, eval: 1 })
      } finally {
        client.destroy()
      }
    })

    it('sends no Redis command for a miss on a key remembered as uncacheable (hit-for-miss)', async function () {
      const [a] = await instances(1, (_req, res) => { res.setHeader('cache-control', 'no-store'); res.end('mine') }, server.url)
      const client = await rawClient(server.url)
      try {
        await send(a.url + '/warm')
        await client.configResetStat()
        await send(a.url + '/mine')
        // The first miss looks up L2 and takes the lock like any other, and learns.
        expect((await commandCalls(client)).get).to.be.at.least(1)
        await until(async () => (await commandCalls(client)).eval === 1, 'the lock\'s release')
        await client.configResetStat()
        const again = await send(a.url + '/mine')
        expect(again.text).to.equal('mine')
        expect(await commandCalls(client), 'no L2 lookup, no lock').to.deep.equal({})
        expect(a.cache.stats().hitForMiss).to.equal(1)
        expect(a.cache.stats().l2!.locks!.acquired).to.equal(1 + 1)
      } finally {
        client.destroy()
      }
    })
  })

  describe('invalidate({ all: true })', function () {
    it('bumps the generation (one INCR), leaving older entries to expire, and every instance follows', async function () {
      let version = 1
      const [a, b] = await instances(2, (req, res) => text(`v${version} ${req.url}`)(req, res))
      for (const app of [a, b]) for (const p of ['/x', '/y']) await send(app.url + p)
      expect(calls).to.equal(2)
      const old = redisKeys(namespace, 0).entry(`${namespace}:GET:/x?`)
      expect(await raw.exists(old)).to.equal(1)

      version = 2
      await a.cache.invalidate({ all: true })
      expect(await raw.get(redisKeys(namespace).generation)).to.equal('1')
      expect(await raw.pTTL(old), 'left to expire').to.be.above(0)
      await until(async () => (await send(b.url + '/x')).text === 'v2 /x', 'b to serve the new version', 1000, 5)
      expect((await send(a.url + '/y')).text).to.equal('v2 /y')
      expect(b.cache.stats().l2!.generation).to.equal(1)
      expect(a.cache.stats().l2!.generation).to.equal(1)
    })
  })

  describe('options', function () {
    it('takes a URL, or { url | cluster | client, ... }, and says which field is wrong', function () {
      expect(() => createCache({ redis: 'http://127.0.0.1:6379' })).to.throw(OptionError, 'redis.url')
      expect(() => createCache({ redis: { url: REDIS_URL, cluster: { rootNodes: [{ url: REDIS_URL }] } } })).to.throw(OptionError, 'one of url, cluster, client')
      expect(() => createCache({ redis: { cluster: { rootNodes: [] } } })).to.throw(OptionError, 'redis.cluster.rootNodes')
      expect(() => createCache({ redis: { commandTimeout: 0 } })).to.throw(OptionError, 'redis.commandTimeout')
      expect(() => createCache({ redis: { breaker: { threshold: 0 } } })).to.throw(OptionError, 'redis.breaker.threshold')
      expect(() => createCache({ redis: { compressAbove: 'lots' } })).to.throw(OptionError, 'redis.compressAbove')
      expect(DEFAULTS.redis).to.include({ commandTimeout: '250ms', compressAbove: '1kb', lockPoll: '200ms' })
    })

    it('uses a client the user built, and leaves it open on close', async function () {
      const client = createClient({ url: REDIS_URL, disableOfflineQueue: true }) as unknown as RedisClientType
      await client.connect()
      try {
        const [a, b] = await instances(2, text('own client'), { client })
        await send(a.url + '/c')
        await until(() => a.cache.stats().l2!.bytesStored > 0, 'the L2 write')
        expect((await send(b.url + '/c')).headers['x-cache']).to.equal('HIT')
        await Promise.all(apps.splice(0).map(async x => await x.close()))
        expect(client.isReady).to.equal(true)
      } finally {
        client.destroy()
      }
    })

    it('with coalesce: false, takes no locks (coalescing stays per instance)', async function () {
      const [a] = await instances(1, text('x'), { url: REDIS_URL, coalesce: false })
      await send(a.url + '/n')
      expect(a.cache.stats().l2!.locks).to.equal(undefined)
      expect(await raw.exists(redisKeys(namespace).lock(`${namespace}:GET:/n?`))).to.equal(0)
    })

    it('without redis, has no l2 in stats', async function () {
      const cache = createCache({ logger: quiet })
      expect(cache.stats().l2).to.equal(undefined)
      await cache.close()
      await sleep(0)
    })
  })
})

async function commandCalls (client: RedisClientType): Promise<Record<string, number>> {
  const calls: Record<string, number> = {}
  for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] !== 'info' && !m[1].startsWith('config') && m[1] !== 'ping') calls[m[1]] = Number(m[2])
  }
  return calls
}
