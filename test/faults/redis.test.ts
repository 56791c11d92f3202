/**
 * Redis failing under load, through the Express middleware and through the proxy, each with a
 * redis-server of its own on a spare port: killed and restarted during 20 s of autocannon
 * traffic, frozen (SIGSTOP), and slowed by 500 ms (a TCP relay). Clients must not notice: no
 * failed request, no wrong body, latency bounded by the Redis command timeout; and once Redis
 * is back, the shared tier is used again.
 */
import { expect } from 'chai'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Cache } from '../../src/index.js'
import { startApp, subscribed, until } from '../support/apps.js'
import { send, sleep } from '../support/http.js'
import { describeLoad, load, type LoadResult } from '../support/load.js'
import { describeRedis, RedisServer, requireRedisServer, uniqueNamespace } from '../support/redis.js'
import { startRelay } from '../support/relay.js'
import { startOrigin, startProxy } from '../proxy/support.js'

/** Each Redis command is bounded by this (ms). */
const COMMAND_TIMEOUT = 100
/** What the origin takes per request (ms). */
const ORIGIN_DELAY = 5
/**
 * The longest a request may take while Redis is frozen or slow: an L2 read that first reads the
 * namespace's generation (two commands), a lock (one), each cut at the command timeout, then the
 * origin; plus scheduling noise with autocannon in the same process on two cores.
 */
const LATENCY_BOUND = 3 * COMMAND_TIMEOUT + ORIGIN_DELAY + 400
const PATHS = 200

interface Instance { url: string, cache: Cache, close(): Promise<void> }
type Handler = (req: IncomingMessage, res: ServerResponse) => void

interface Target {
  name: string
  /** One cache instance on `redis` (a URL), in front of `handler`. */
  start(namespace: string, redis: string, handler: Handler): Promise<Instance>
}

const redisOptions = (url: string) => ({ url, commandTimeout: `${COMMAND_TIMEOUT}ms`, breaker: { threshold: 3, coolDown: '500ms' } })

const targets: Target[] = [
  {
    name: 'express',
    start: async (namespace, redis, handler) => await startApp({ namespace, redis: redisOptions(redis) }, handler),
  },
  {
    name: 'proxy',
    async start (namespace, redis, handler) {
      const origin = await startOrigin(handler)
      const proxy = await startProxy(origin.url, { redis: redisOptions(redis), cache: { namespace } })
      return {
        url: proxy.url,
        cache: proxy.proxy.cache,
        async close () {
          await proxy.close()
          await origin.close()
        },
      }
    },
  },
]

/** An origin that names the path in its body, fresh for one second (so L2 is written all along). */
function countingOrigin (): { handler: Handler, calls: (path: string) => number } {
  const calls = new Map<string, number>()
  return {
    calls: path => calls.get(path) ?? 0,
    handler (req, res) {
      const path = req.url ?? '/'
      calls.set(path, (calls.get(path) ?? 0) + 1)
      setTimeout(() => {
        res.setHeader('content-type', 'text/plain')
        res.setHeader('cache-control', 'max-age=1')
        res.end(`body of ${path}`)
      }, ORIGIN_DELAY)
    },
  }
}

let unique = 0
/** Mostly a few hundred hot paths, and some that are always cold. */
const pick = (): string => Math.random() < 0.05 ? `/cold/${unique++}` : `/p/${Math.floor(Math.random() * PATHS)}`
const check = (path: string, body: string): boolean => body === `body of ${path}`

function report (label: string, r: LoadResult): void {
  process.stdout.write(`      ${describeLoad(label, r)}\n`)
}

describeRedis('faults: Redis under load', function () {
  this.timeout(90_000)
  before(function () { requireRedisServer(this) })

  for (const target of targets) {
    describe(`through the ${target.name}`, function () {
      let server: RedisServer | undefined
      const open: Instance[] = []
      afterEach(async function () {
        server?.resume()
        await Promise.all(open.splice(0).map(async i => await i.close()))
        await server?.kill()
        server = undefined
      })

      it('killed and restarted during 20 s of traffic: no failed request, and L2 is used again afterwards', async function () {
        server = await RedisServer.start()
        const namespace = uniqueNamespace('fault-kill')
        const origin = countingOrigin()
        const a = await target.start(namespace, server.url, origin.handler)
        open.push(a)
        await subscribed(a.cache)
        const s = server
        const r = await load({
          url: a.url, duration: 20, pick, check,
          at: [[5_000, async () => await s.kill()], [10_000, async () => await s.restart()]],
        })
        report(`${target.name}, Redis killed at 5 s, restarted at 10 s`, r)
        expect(r.stepErrors).to.deep.equal([])
        expect(r.failed, describeLoad('load', r)).to.equal(0)
        expect(r.requests).to.be.above(1000)
        const l2 = a.cache.stats().l2!
        expect(l2.errors + l2.skipped, 'the outage was noticed').to.be.above(0)

        // Back: the breaker closes, notices flow, and what one instance stores another reads.
        await until(async () => {
          await send(a.url + '/poke')
          const now = a.cache.stats().l2!
          return now.state === 'closed' && now.subscribed
        }, 'the breaker to close and the subscription to resume', 10_000, 50)
        const b = await target.start(namespace, server.url, origin.handler)
        open.push(b)
        await subscribed(b.cache)
        // One Host for both (the proxy keys by the forwarded host, and each listens on its own port).
        const headers = { host: 'shop.example' }
        expect((await send(a.url + '/after', { headers })).headers['x-cache']).to.equal('MISS')
        await until(async () => (await send(b.url + '/after', { headers })).headers['x-cache'] === 'HIT', 'the other instance to read /after from L2')
        expect(origin.calls('/after'), 'origin requests for /after').to.equal(1)
      })

      it('frozen (SIGSTOP) for 3 s: latency stays bounded by the command timeout, nothing fails', async function () {
        server = await RedisServer.start()
        const origin = countingOrigin()
        const a = await target.start(uniqueNamespace('fault-freeze'), server.url, origin.handler)
        open.push(a)
        await subscribed(a.cache)
        const s = server
        const r = await load({ url: a.url, duration: 10, pick, check, at: [[2_000, () => s.pause()], [5_000, () => s.resume()]] })
        report(`${target.name}, Redis frozen from 2 s to 5 s`, r)
        expect(r.stepErrors).to.deep.equal([])
        expect(r.failed, describeLoad('load', r)).to.equal(0)
        expect(a.cache.stats().l2!.timeouts, 'commands cut at the timeout').to.be.above(0)
        expect(r.latency.max, `max latency (bound ${LATENCY_BOUND} ms)`).to.be.below(LATENCY_BOUND)
      })

      it('a miss whose lock could not be released while Redis was frozen does not hold the key\'s next miss once Redis is back', async function () {
        server = await RedisServer.start()
        let slow = true
        const a = await target.start(uniqueNamespace('fault-lock'), server.url, (req, res) => {
          setTimeout(() => {
            res.setHeader('cache-control', 'max-age=1')
            res.end(`body of ${req.url}`)
          }, req.url === '/x' && slow ? 300 : ORIGIN_DELAY)
        })
        open.push(a)
        await subscribed(a.cache)
        // /x leads with a lock; Redis freezes while the origin answers, and the failures open the
        // breaker, so the lock's release is never sent: it stays in Redis for lockTimeout (10 s).
        const first = send(a.url + '/x')
        await sleep(100)
        server.pause()
        for (let i = 0; i < 5; i++) expect((await send(a.url + `/other-${i}`)).status).to.equal(200)
        expect((await first).status).to.equal(200)
        expect(a.cache.stats().l2!.state).to.not.equal('closed')
        await sleep(200)
        server.resume()
        await until(async () => {
          await send(a.url + '/poke')
          return a.cache.stats().l2!.state === 'closed'
        }, 'the breaker to close', 10_000, 50)
        await sleep(1100) // /x is stale now
        slow = false
        const started = Date.now()
        const r = await send(a.url + '/x')
        const ms = Date.now() - started
        process.stdout.write(`      ${target.name}: /x after Redis came back: ${ms} ms; locks ${JSON.stringify(a.cache.stats().l2!.locks)}\n`)
        expect(r.text).to.equal('body of /x')
        expect(ms, `ms for the next miss on /x (bound ${LATENCY_BOUND} ms)`).to.be.below(LATENCY_BOUND)
        expect(a.cache.stats().l2!.locks!.reclaimed, 'locks given back').to.be.above(0)
      })

      it('500 ms slower (TCP relay) for 3 s: latency stays bounded, late replies are never mixed up', async function () {
        server = await RedisServer.start()
        const relay = await startRelay(server.port)
        const origin = countingOrigin()
        const a = await target.start(uniqueNamespace('fault-slow'), relay.url, origin.handler)
        open.push(a, { url: '', cache: a.cache, close: async () => await relay.close() })
        await subscribed(a.cache)
        const r = await load({
          url: a.url, duration: 10, pick, check,
          at: [[2_000, () => { relay.delay = 500 }], [5_000, () => { relay.delay = 0 }]],
        })
        report(`${target.name}, Redis 500 ms slower from 2 s to 5 s`, r)
        expect(r.stepErrors).to.deep.equal([])
        expect(r.failed, describeLoad('load', r)).to.equal(0)
        expect(a.cache.stats().l2!.timeouts, 'commands cut at the timeout').to.be.above(0)
        expect(r.latency.max, `max latency (bound ${LATENCY_BOUND} ms)`).to.be.below(LATENCY_BOUND)
      })
    })
  }
})
