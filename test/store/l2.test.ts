import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient, type RedisClientType } from '@keyv/redis'
import { expect } from 'chai'
import type { BreakerState } from '../../src/breaker.js'
import type { Entry } from '../../src/entry.js'
import { decodeNotice, encodeNotice, RedisStore, redisKeys, StoreUnavailableError, type L2Operation, type RedisStoreOptions } from '../../src/l2.js'
import { OptionError } from '../../src/units.js'
import { makeEntry, makeVary } from '../support/entries.js'
import { describeRedis, dropNamespace, rawClient, REDIS_URL, RedisServer, requireRedisServer, uniqueNamespace } from '../support/redis.js'
import { storeContract } from './contract.js'

const LONG = 60_000

describeRedis('RedisStore', function () {
  let raw: RedisClientType
  const stores: RedisStore[] = []
  const namespaces: string[] = []

  /** A store over a fresh namespace of the shared Redis, closed and emptied after the test. */
  function open (options: Partial<RedisStoreOptions> = {}): RedisStore {
    const namespace = uniqueNamespace('l2')
    namespaces.push(namespace)
    const store = new RedisStore({ url: REDIS_URL, namespace, ...options })
    stores.push(store)
    return store
  }

  before(async function () { raw = await rawClient() })
  afterEach(async function () {
    for (const store of stores.splice(0)) await store.close()
    for (const namespace of namespaces.splice(0)) await dropNamespace(raw, namespace)
  })
  after(async function () { raw?.destroy() })

  storeContract('RedisStore', async () => {
    const store = open()
    return { store, cleanup: async () => { await store.close(); await dropNamespace(raw, store.namespace) } }
  })

  describe('options', function () {
    it('requires a non-empty namespace', function () {
      expect(() => new RedisStore({ namespace: '' })).to.throw(OptionError, 'namespace')
    })

    it('rejects a commandTimeout that is not a positive number', function () {
      expect(() => new RedisStore({ namespace: 'x', commandTimeout: 0 })).to.throw(OptionError, 'commandTimeout')
    })
  })

  describe('keys', function () {
    it('puts entries and tag sets under one hash tag, cf:{namespace}:', async function () {
      const store = open()
      await store.set('GET:/a', makeEntry({ tags: ['t1'] }), LONG)
      const k = redisKeys(store.namespace)
      expect(await raw.exists([k.entry('GET:/a'), k.tag('t1')])).to.equal(2)
      expect(k.entry('GET:/a')).to.equal(`cf:{${store.namespace}}:0:e:GET:/a`)
      expect(redisKeys(store.namespace, 7).tag('t1')).to.equal(`cf:{${store.namespace}}:7:t:t1`)
    })

    it('gives a tag set a ttl that only grows, to the longest-lived member', async function () {
      const store = open()
      const t = redisKeys(store.namespace).tag('t')
      await store.set('a', makeEntry({ tags: ['t'] }), 10_000)
      const first = await raw.pTTL(t)
      expect(first).to.be.within(9_000, 10_000)
      await store.set('b', makeEntry({ tags: ['t'] }), 30_000)
      expect(await raw.pTTL(t)).to.be.within(29_000, 30_000)
      await store.set('c', makeEntry({ tags: ['t'] }), 1_000)
      expect(await raw.pTTL(t)).to.be.within(29_000, 30_000)
    })

    it('clear is one INCR of the generation: older keys are unreachable at once and left to expire', async function () {
      const store = open()
      const old = redisKeys(store.namespace, 0)
      await store.set('a', makeEntry({ tags: ['x', 'y'] }), LONG)
      await store.set('b', makeVary({ tags: ['x'] }), LONG)
      await store.clear()
      expect(store.stats.generation).to.equal(1)
      expect(await raw.get(old.generation)).to.equal('1')
      expect(await store.get('a')).to.equal(undefined)
      expect(await store.get('b')).to.equal(undefined)
      expect(await store.deleteTag('x')).to.equal(0)
      // Still there, with their TTLs, for Redis to expire.
      expect(await raw.pTTL(old.entry('a'))).to.be.within(LONG - 5_000, LONG)
      expect(await raw.pTTL(old.tag('x'))).to.be.within(LONG - 5_000, LONG)

      const entry = makeEntry({ tags: ['x'] })
      await store.set('a', entry, LONG)
      expect(await raw.exists(redisKeys(store.namespace, 1).entry('a'))).to.equal(1)
      expect(await store.get('a')).to.deep.equal(entry)
      expect(await store.deleteTag('x')).to.equal(1)
    })

    it('a store learns another one\'s clear when told to read the generation again', async function () {
      const a = open()
      const b = new RedisStore({ url: REDIS_URL, namespace: a.namespace })
      stores.push(b)
      await a.set('k', makeEntry(), LONG)
      expect(await b.get('k')).to.not.equal(undefined)
      await a.clear()
      expect(await b.get('k'), 'until told, b reads its generation').to.not.equal(undefined)
      b.forgetGeneration()
      expect(await b.get('k')).to.equal(undefined)
      expect(b.stats.generation).to.equal(1)
    })

    it('reads a generation key that is not a number as an error, not as generation 0', async function () {
      const store = open()
      await raw.set(redisKeys(store.namespace).generation, 'garbage')
      expect(await store.get('k')).to.equal(undefined)
      expect(store.stats.errors).to.equal(1)
    })
  })

  describe('notices', function () {
    /** Every message on the namespace's channel while `fn` runs. */
    async function heard (namespace: string, fn: () => Promise<void>): Promise<unknown[]> {
      const sub = raw.duplicate()
      const messages: unknown[] = []
      await sub.connect()
      await sub.subscribe(redisKeys(namespace).channel, m => messages.push(JSON.parse(m)))
      try {
        await fn()
        await sleep(50)
      } finally {
        sub.destroy()
      }
      return messages
    }

    it('announces set, delete, deleteTag, deletePrefix and clear after applying them, with the sender\'s id', async function () {
      const store = open({ instanceId: 'me' })
      const messages = await heard(store.namespace, async () => {
        await store.set('GET:/a', makeEntry({ tags: ['t'] }), LONG)
        await store.delete('GET:/a')
        await store.deleteTag('t')
        await store.deletePrefix('GET:/')
        await store.clear()
      })
      expect(messages).to.deep.equal([
        { from: 'me', op: 'set', key: 'GET:/a' },
        { from: 'me', op: 'delete', key: 'GET:/a' },
        { from: 'me', op: 'tag', tag: 't' },
        { from: 'me', op: 'prefix', prefix: 'GET:/' },
        { from: 'me', op: 'all' }
      ])
      expect(store.stats.published).to.equal(5)
    })

    it('decodes its own notices and nothing else', function () {
      expect(decodeNotice(encodeNotice('i', { op: 'tag', tag: 'x' }))).to.deep.equal({ from: 'i', op: 'tag', tag: 'x' })
      for (const text of ['', 'null', '{}', '{"from":1,"op":"all"}', '{"from":"i","op":"set"}', '{"from":"i","op":"nope"}', '[1]']) {
        expect(decodeNotice(text), text).to.equal(undefined)
      }
    })
  })

  describe('bodies', function () {
    it('round-trips random binary bodies below and above the compression threshold', async function () {
      const store = open()
      for (const size of [1, 255, 1024, 1025, 70_000]) {
        const entry = makeEntry({ body: randomBytes(size) })
        await store.set(`bin-${size}`, entry, LONG)
        const got = await store.get(`bin-${size}`) as Entry
        expect(got.body.equals(entry.body), `${size} bytes`).to.equal(true)
      }
    })

    it('stores a compressible body above compressAbove compressed, and reads it back whole', async function () {
      const store = open({ compressAbove: 1024 })
      const body = Buffer.from('<tr><td>cachefront</td><td>42</td></tr>\n'.repeat(2000))
      const entry = makeEntry({ body })
      await store.set('big', entry, LONG)
      const stored = await raw.strLen(redisKeys(store.namespace).entry('big'))
      expect(stored).to.be.below(body.length / 10)
      expect(store.stats.bytesStored).to.equal(stored)
      expect(store.stats.bytesIn).to.be.above(body.length)
      expect(await store.get('big')).to.deep.equal(entry)
    })

    it('stores a body of compressAbove bytes or less uncompressed', async function () {
      const store = open({ compressAbove: 1024 })
      const body = Buffer.from('a'.repeat(1024))
      await store.set('small', makeEntry({ body }), LONG)
      expect(await raw.strLen(redisKeys(store.namespace).entry('small'))).to.be.above(body.length)
      expect(store.stats.bytesStored).to.equal(store.stats.bytesIn)
    })
  })

  describe('large invalidations', function () {
    it('deletes a tag with more members than one batch, and a prefix spanning several SCAN pages', async function () {
      this.timeout(20_000)
      const store = open()
      const entry = makeEntry({ tags: ['many'] })
      for (let i = 0; i < 450; i++) await store.set(`GET:/tagged/${i}`, entry, LONG)
      for (let i = 0; i < 2100; i++) await store.set(`GET:/prefixed/${i}`, makeEntry(), LONG)
      expect(await store.deleteTag('many')).to.equal(450)
      expect(await store.deletePrefix('GET:/prefixed/')).to.equal(2100)
      expect(await dropNamespace(raw, store.namespace)).to.equal(0)
    })
  })

  describe('unreadable values', function () {
    for (const [label, seed] of [
      ['a foreign string', async (k: string) => { await raw.set(k, 'not an entry') }],
      ['a truncated entry', async (k: string) => { await raw.set(k, Buffer.from('CF\x01\x00\x00\x00\x00\x09\x00\x00\x00\x00{"v":1,', 'latin1')) }],
      ['a list (WRONGTYPE)', async (k: string) => { await raw.rPush(k, 'x') }]
    ] as const) {
      it(`reads ${label} as a miss, deletes it and counts it`, async function () {
        const store = open()
        const k = redisKeys(store.namespace).entry('GET:/foreign')
        await seed(k)
        expect(await store.get('GET:/foreign')).to.equal(undefined)
        expect(store.stats).to.include({ corrupt: 1, errors: 0 })
        for (let i = 0; i < 20 && await raw.exists(k) === 1; i++) await sleep(10)
        expect(await raw.exists(k)).to.equal(0)
      })
    }

    it('deleteTag leaves a member alone whose value is not an entry', async function () {
      const store = open()
      const k = redisKeys(store.namespace)
      await store.set('a', makeEntry({ tags: ['t'] }), LONG)
      await raw.set(k.entry('a'), 'replaced by someone else')
      expect(await store.deleteTag('t')).to.equal(0)
      expect(await raw.exists(k.entry('a'))).to.equal(1)
    })
  })

  describe('a client passed in', function () {
    it('is used as is, read as bytes only by the store, and left open by close()', async function () {
      const client = createClient({ url: REDIS_URL }) as unknown as RedisClientType
      await client.connect()
      const store = new RedisStore({ client, namespace: uniqueNamespace('l2-own') })
      namespaces.push(store.namespace)
      const entry = makeEntry({ body: randomBytes(64) })
      await store.set('k', entry, LONG)
      expect(await store.get('k')).to.deep.equal(entry)
      expect(store.client).to.equal(client)
      await store.close()
      expect(client.isReady).to.equal(true)
      expect(typeof await client.get(redisKeys(store.namespace).entry('k'))).to.equal('string')
      client.destroy()
    })
  })

  describe('with its own redis-server', function () {
    this.timeout(20_000)
    let server: RedisServer

    before(async function () {
      requireRedisServer(this)
      server = await RedisServer.start()
    })
    afterEach(async function () {
      // Tests may leave it killed or paused: bring it back, empty.
      server.resume()
      await server.kill()
      await server.restart()
    })
    after(async function () { await server?.kill() })

    /** A store on the test server with fast timings, recording what it reports. */
    function onServer (coolDownMs = 300, extra: Partial<RedisStoreOptions> = {}): { store: RedisStore, errors: Array<[Error, L2Operation]>, states: Array<[BreakerState, Error | undefined]> } {
      const errors: Array<[Error, L2Operation]> = []
      const states: Array<[BreakerState, Error | undefined]> = []
      const store = new RedisStore({
        url: server.url,
        namespace: uniqueNamespace('l2-srv'),
        commandTimeout: 200,
        breaker: { threshold: 3, coolDownMs },
        onError: (err, op) => errors.push([err, op]),
        onStateChange: (state, err) => states.push([state, err]),
        ...extra,
      })
      stores.push(store)
      return { store, errors, states }
    }

    async function commandCalls (client: RedisClientType): Promise<Record<string, number>> {
      const calls: Record<string, number> = {}
      for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (m[1] !== 'info' && !m[1].startsWith('config')) calls[m[1]] = Number(m[2])
      }
      return calls
    }

    it('makes one GET per get, hit or miss, and writes a set (with its notice) as one MULTI', async function () {
      const { store } = onServer()
      const client = await rawClient(server.url)
      try {
        await store.set('k', makeEntry({ tags: ['a', 'b'] }), LONG) // also: connected before counting
        await client.configResetStat()
        await store.get('k')
        await store.get('missing')
        expect(await commandCalls(client)).to.deep.equal({ get: 2 })
        await client.configResetStat()
        await store.set('k2', makeEntry({ tags: ['a', 'b'] }), LONG)
        expect(await commandCalls(client)).to.deep.equal({ multi: 1, set: 1, sadd: 2, pexpire: 4, publish: 1, exec: 1 })
      } finally {
        client.destroy()
      }
    })

    it('when Redis is killed: get and set resolve at once without throwing, the breaker opens and logs once', async function () {
      const { store, errors, states } = onServer(60_000) // no probe may interfere with the counts
      const entry = makeEntry()
      await store.set('k', entry, LONG)
      expect(await store.get('k')).to.deep.equal(entry)

      await server.kill()
      for (let i = 0; i < 8; i++) {
        const started = Date.now()
        expect(await store.get('k')).to.equal(undefined)
        await store.set('k', entry, LONG)
        expect(Date.now() - started, 'get + set').to.be.below(2 * 200 + 200)
      }
      expect(store.stats.state).to.equal('open')
      expect(store.stats.errors).to.equal(3)
      expect(store.stats.skipped).to.equal(16 - 3)
      expect(errors).to.have.length(1)
      expect(states.map(s => s[0])).to.deep.equal(['open'])
      expect(states[0][1]).to.be.instanceOf(Error)
    })

    it('rejects invalidations with StoreUnavailableError while Redis is down, open breaker included', async function () {
      const { store } = onServer(60_000)
      await store.set('k', makeEntry(), LONG)
      await server.kill()
      const calls: Array<[L2Operation, () => Promise<unknown>]> = [
        ['delete', async () => await store.delete('k')],
        ['deleteTag', async () => await store.deleteTag('t')],
        ['deletePrefix', async () => await store.deletePrefix('k')],
        ['clear', async () => await store.clear()],
        ['delete', async () => await store.delete('k')]
      ]
      for (const [operation, call] of calls) {
        const err = await call().then(() => undefined, (e: unknown) => e)
        expect(err, operation).to.be.instanceOf(StoreUnavailableError)
        expect(err).to.include({ operation })
        expect((err as StoreUnavailableError).cause).to.be.instanceOf(Error)
      }
      expect(store.stats.state).to.equal('open')
    })

    it('after a restart: the breaker probes, closes, and gets hit again', async function () {
      const { store, states } = onServer()
      await store.set('k', makeEntry(), LONG)
      await server.kill()
      for (let i = 0; i < 3; i++) await store.get('k')
      expect(store.stats.state).to.equal('open')

      await server.restart()
      const entry = makeEntry({ body: Buffer.from('after restart') })
      const deadline = Date.now() + 10_000
      while (store.stats.state !== 'closed' && Date.now() < deadline) {
        await store.get('k')
        await sleep(50)
      }
      expect(store.stats.state).to.equal('closed')
      await store.set('k', entry, LONG)
      expect(await store.get('k')).to.deep.equal(entry)

      const sequence = states.map(s => s[0])
      expect(sequence[0]).to.equal('open')
      expect(sequence.at(-2)).to.equal('half-open')
      expect(sequence.at(-1)).to.equal('closed')
      for (let i = 1; i < sequence.length; i++) expect(sequence[i], `change ${i}`).to.not.equal(sequence[i - 1])
    })

    it('a command still unwritten at commandTimeout is dropped, never sent late (the connection backed up behind a hung Redis)', async function () {
      this.timeout(30_000)
      // Stored uncompressed, so the big body is encoded at once and the socket fills at once.
      const { store } = onServer(60_000, { compressAbove: 64 << 20 })
      await store.set('warm', makeEntry(), LONG) // connected
      const key = `${redisKeys(store.namespace).prefix}late`
      const client = await rawClient(server.url)
      try {
        server.pause()
        // More than the socket buffers hold (incompressible): the connection stops draining, and
        // node-redis keeps later commands waiting to be written.
        const big = store.set('big', makeEntry({ body: randomBytes(32 << 20) }), LONG)
        await sleep(300) // written as far as the socket takes it
        const r = await store.call('lock', ['SET', key, '1', 'PX', '60000'])
        expect(r.ok).to.equal(false)
        expect(store.stats.timeouts).to.be.at.least(1)
        server.resume()
        await big
        await sleep(500) // whatever was written is executed by now
        expect(await client.exists(key)).to.equal(0)
        expect(await client.exists(redisKeys(store.namespace).entry('big'))).to.equal(1)
      } finally {
        client.destroy()
      }
    })

    it('when Redis hangs: each call ends at commandTimeout, counted as a timeout; late replies are ignored', async function () {
      const { store, errors } = onServer()
      const [one, two] = [makeEntry({ body: Buffer.from('one') }), makeEntry({ body: Buffer.from('two') })]
      await store.set('one', one, LONG)
      await store.set('two', two, LONG)

      server.pause()
      for (let i = 0; i < 3; i++) {
        const started = Date.now()
        expect(await store.get('one')).to.equal(undefined)
        expect(Date.now() - started).to.be.within(190, 200 + 250)
      }
      expect(store.stats).to.include({ timeouts: 3, errors: 3, state: 'open' })
      expect(errors).to.have.length(1)
      expect(errors[0][1]).to.equal('get')

      server.resume()
      await sleep(350) // cool-down; the three abandoned GETs are answered meanwhile
      expect(await store.get('two')).to.deep.equal(two)
      expect(store.stats.state).to.equal('closed')
      expect(await store.get('one')).to.deep.equal(one)
    })
  })
})
