/**
 * The cross-instance lock protocol (lock.ts) on its own: two `Locks` on one namespace stand for
 * two instances; notices are delivered by hand (bus.ts does it in a cache).
 */
import type { RedisClientType } from '@keyv/redis'
import { expect } from 'chai'
import { RedisStore, redisKeys } from '../../src/l2.js'
import { Locks } from '../../src/lock.js'
import { sleep } from '../support/http.js'
import { describeRedis, dropNamespace, rawClient, RedisServer, REDIS_URL, requireRedisServer, uniqueNamespace } from '../support/redis.js'

describeRedis('Locks (coalescing across instances)', function () {
  let raw: RedisClientType
  let namespace: string
  const stores: RedisStore[] = []

  before(async function () { raw = await rawClient() })
  beforeEach(function () { namespace = uniqueNamespace('lock') })
  afterEach(async function () {
    for (const store of stores.splice(0)) await store.close()
    await dropNamespace(raw, namespace)
  })
  after(async function () { raw?.destroy() })

  function instance (ttlMs = 2000, pollMs = 50, url = REDIS_URL): Locks {
    const store = new RedisStore({ url, namespace, breaker: { threshold: 1, coolDownMs: 60_000 }, commandTimeout: 200 })
    stores.push(store)
    return new Locks(store, { ttlMs, pollMs })
  }
  const nothing = async (): Promise<undefined> => undefined
  const lockKey = (key: string): string => redisKeys(namespace).lock(key)

  it('takes the lock with a random token and lockTimeout as its TTL', async function () {
    const a = instance(2000)
    const lead = await a.lead('k', nothing)
    expect(lead?.lock).to.not.equal(undefined)
    expect(await raw.get(lockKey('k'))).to.match(/^[\w-]{22}$/)
    expect(await raw.pTTL(lockKey('k'))).to.be.within(1500, 2000)
    lead!.lock!.release(undefined)
    await until(async () => await raw.exists(lockKey('k')) === 0)
  })

  it('hands a waiter what the leader stored once its notice comes', async function () {
    const [a, b] = [instance(), instance(5000, 5000)]
    const held = (await a.lead('k', nothing))!.lock!
    let stored: string | undefined
    const waiting = b.lead('k', async () => stored)
    await sleep(30)
    stored = 'the entry'
    held.release(Promise.resolve())
    b.notify('k', 'set') // what the bus does with the leader's `set` notice
    const started = Date.now()
    expect(await waiting).to.deep.equal({ found: 'the entry' })
    expect(Date.now() - started).to.be.below(50)
    expect(b.stats).to.include({ contended: 1, notified: 1, found: 1, polled: 0 })
  })

  it('sends a waiter to the origin, without the lock, when the leader stored nothing', async function () {
    const [a, b] = [instance(), instance(5000, 5000)]
    const held = (await a.lead('k', nothing))!.lock!
    const waiting = b.lead('k', nothing)
    await sleep(30)
    held.release(undefined)
    b.notify('k', 'release')
    expect(await waiting).to.equal(undefined)
    await until(async () => await raw.exists(lockKey('k')) === 0)
  })

  it('releases by compare-and-delete: a lock that expired and was taken by another stays', async function () {
    const [a, b] = [instance(100), instance(2000)]
    const first = (await a.lead('k', nothing))!.lock!
    await sleep(150) // a's lock expired
    const second = await b.lead('k', nothing)
    expect(second?.lock).to.not.equal(undefined)
    const token = await raw.get(lockKey('k'))
    first.release(undefined)
    await sleep(50)
    expect(await raw.get(lockKey('k')), "b's lock").to.equal(token)
  })

  it('notices a crashed leader\'s lock expire by polling, and takes over', async function () {
    const [a, b] = [instance(200), instance(2000, 50)]
    await a.lead('k', nothing) // and never releases: a crashed
    const started = Date.now()
    const lead = await b.lead('k', nothing)
    expect(lead?.lock, 'b leads now').to.not.equal(undefined)
    expect(Date.now() - started).to.be.within(150, 200 + 50 + 100)
    expect(b.stats).to.include({ contended: 1, polled: 1, acquired: 1 })
  })

  it('reads L2 once it holds the lock: an entry stored just before is used, and the lock given back', async function () {
    const a = instance()
    const lead = await a.lead('k', async () => 'stored a moment ago')
    expect(lead).to.deep.equal({ found: 'stored a moment ago' })
    await until(async () => await raw.exists(lockKey('k')) === 0)
  })

  it('answers undefined at once while Redis is unavailable (the engine coalesces in-process)', async function () {
    const a = instance(2000, 50, 'redis://127.0.0.1:1')
    expect(await a.lead('k', nothing)).to.equal(undefined) // the failure opens the breaker (threshold 1)
    const started = Date.now()
    expect(await a.lead('k', nothing)).to.equal(undefined)
    expect(Date.now() - started).to.be.below(20)
    expect(a.stats.unavailable).to.equal(2)
  })

  it('gives back a lock whose release failed (Redis frozen, breaker open) once Redis answers again, so the key\'s next miss leads at once', async function () {
    requireRedisServer(this)
    const server = await RedisServer.start()
    try {
      const store = new RedisStore({ url: server.url, namespace, breaker: { threshold: 1, coolDownMs: 100 }, commandTimeout: 100 })
      stores.push(store)
      const a = new Locks(store, { ttlMs: 10_000, pollMs: 50 })
      const held = (await a.lead('k', nothing))!.lock!
      server.pause()
      await store.get('x') // times out: the breaker opens
      held.release(undefined) // skipped while the breaker is open: the lock stays in Redis for its 10 s
      await sleep(20)
      server.resume()
      const direct = await rawClient(server.url)
      expect(await direct.exists(lockKey('k')), 'the lock left behind').to.equal(1)
      direct.destroy()
      await sleep(150) // the breaker's cool-down...
      await store.get('probe') // ...and a probe (a cache's next L2 read) closes it
      expect(store.stats.state).to.equal('closed')
      const started = Date.now()
      const lead = await a.lead('k', nothing)
      expect(lead?.lock, 'leads again').to.not.equal(undefined)
      expect(Date.now() - started, 'ms to lead').to.be.below(200)
      expect(a.stats).to.include({ reclaimed: 1, contended: 0 })
      lead!.lock!.release(undefined)
    } finally {
      await server.kill()
    }
  })

  it('ends every wait on close', async function () {
    const [a, b] = [instance(), instance(5000, 5000)]
    await a.lead('k', nothing)
    const waiting = b.lead('k', nothing)
    await sleep(20)
    b.close()
    expect(await waiting).to.equal(undefined)
  })
})

async function until (check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 2000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out')
    await sleep(10)
  }
}
