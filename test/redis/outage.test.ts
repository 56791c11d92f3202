/**
 * Redis failures are invisible to clients: a redis-server of the test's own, killed, paused and
 * restarted under two cache instances serving through the Express middleware.
 */
import { expect } from 'chai'
import { StoreUnavailableError } from '../../src/l2.js'
import { recorder, startApp, subscribed, until, type App } from '../support/apps.js'
import { send, sleep, type Reply } from '../support/http.js'
import { describeRedis, RedisServer, requireRedisServer, uniqueNamespace } from '../support/redis.js'

describeRedis('Redis tier: outages', function () {
  this.timeout(20_000)
  let server: RedisServer
  let apps: App[] = []
  let calls: Record<string, number>
  let logs: Array<ReturnType<typeof recorder>>

  before(async function () {
    requireRedisServer(this)
    server = await RedisServer.start()
  })
  beforeEach(async function () {
    calls = {}
    logs = [recorder(), recorder()]
    const namespace = uniqueNamespace('outage')
    for (const logger of logs) {
      apps.push(await startApp({
        namespace,
        logger,
        redis: { url: server.url, commandTimeout: '100ms', breaker: { threshold: 3, coolDown: '300ms' } }
      }, async (req, res) => {
        const path = req.url ?? ''
        calls[path] = (calls[path] ?? 0) + 1
        await sleep(20)
        res.setHeader('cache-control', 'max-age=60')
        res.end(`body of ${path}`)
      }))
    }
    await subscribed(...apps.map(a => a.cache))
  })
  afterEach(async function () {
    server.resume()
    await Promise.all(apps.map(async a => await a.close()))
    apps = []
    await server.kill()
    await server.restart() // empty again
  })
  after(async function () { await server?.kill() })

  /** `n` concurrent requests per round, spread over both instances and over cached and cold paths. */
  async function traffic (rounds: number, label: string): Promise<Reply[]> {
    const replies: Reply[] = []
    for (let round = 0; round < rounds; round++) {
      replies.push(...await Promise.all([
        send(apps[0].url + '/warm'),
        send(apps[1].url + '/warm'),
        send(apps[round % 2].url + `/${label}-${round}`),
        send(apps[round % 2].url + `/${label}-${round}`),
        send(apps[(round + 1) % 2].url + `/${label}-${round % 3}`)
      ]))
    }
    return replies
  }

  function expectAllAnswered (replies: Reply[]): void {
    for (const r of replies) {
      expect(r.status).to.equal(200)
      expect(r.text).to.match(/^body of \//)
    }
  }

  it('no request fails while Redis is down; L2 hits resume once it is back; state changes are logged once each', async function () {
    const [a, b] = apps
    await send(a.url + '/warm')
    await until(async () => (await send(b.url + '/warm')).headers['x-cache'] === 'HIT', 'b to read /warm from L2')

    await server.kill()
    const started = Date.now()
    const down = await traffic(20, 'down')
    expectAllAnswered(down)
    expect(down).to.have.length(100)
    expect(Date.now() - started, '100 requests in 20 rounds').to.be.below(20 * (20 + 3 * 100 + 100))
    expect(a.cache.stats().l2!.state).to.not.equal('closed')
    expect(a.cache.stats().l2!.skipped, 'the breaker kept requests away from Redis').to.be.above(0)
    expect(a.cache.stats().l2!.locks!.unavailable, 'locks fell back to in-process coalescing').to.be.above(0)
    // In-process coalescing still holds with the breaker open.
    const cold = await Promise.all(Array.from({ length: 20 }, async () => await send(a.url + '/cold-while-down')))
    expectAllAnswered(cold)
    expect(calls['/cold-while-down']).to.equal(1)
    // A purge cannot reach the shared tier: it says so (the local L1 is purged all the same).
    const purge = await a.cache.invalidate({ url: '/warm' }).then(() => undefined, (e: unknown) => e)
    expect(purge).to.be.instanceOf(StoreUnavailableError)

    await server.restart()
    await until(async () => {
      await traffic(1, 'up')
      return apps.every(x => x.cache.stats().l2!.state === 'closed' && x.cache.stats().l2!.subscribed)
    }, 'both breakers to close and both subscriptions to resume', 10_000, 50)
    expect(b.cache.stats().l2!.gaps, 'b dropped its L1 when notices flowed again').to.be.at.least(1)

    // L2 hits again: what a stores, b answers without the origin.
    await send(a.url + '/after')
    await until(async () => (await send(b.url + '/after')).headers['x-cache'] === 'HIT', 'b to read /after from L2')
    expect(calls['/after']).to.equal(1)

    for (const log of logs) {
      const changes = log.lines.filter(([, msg]) => /circuit/.test(msg ?? '')).map(([, msg]) => /circuit ([a-z-]+)/.exec(msg!)![1])
      expect(changes[0]).to.equal('open')
      expect(changes.at(-1)).to.equal('closed')
      for (let i = 1; i < changes.length; i++) expect(changes[i], `change ${i}: ${changes.join(' → ')}`).to.not.equal(changes[i - 1])
      const failing = log.lines.filter(([, msg]) => /failing/.test(msg ?? '')).length
      expect(failing, 'one "failing" line per breaker state at most').to.be.at.most(changes.length + 1)
    }
  })

  it('no request waits longer than the command timeout when Redis hangs', async function () {
    const [a] = apps
    await send(a.url + '/warm')
    server.pause()
    const times: number[] = []
    const replies = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const started = Date.now()
      const r = await send(a.url + `/hang-${i % 10}`)
      times.push(Date.now() - started)
      return r
    }))
    expectAllAnswered(replies)
    // An L2 read (100 ms), then the lock (100 ms), then the origin (20 ms): each bounded.
    expect(Math.max(...times)).to.be.below(2 * 100 + 20 + 150)
    expect(a.cache.stats().l2!.timeouts).to.be.above(0)
    server.resume()
  })
})
