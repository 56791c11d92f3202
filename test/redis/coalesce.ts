/**
 * Coalescing across instances, shared by the single-Redis and the Cluster runs: three cache
 * instances on one namespace (three Express apps in this process) in front of one origin.
 */
import { expect } from 'chai'
import type { CacheOptions } from '../../src/index.js'
import { redisKeys } from '../../src/l2.js'
import { startApp, subscribed, type App } from '../support/apps.js'
import { send, sleep, type Reply } from '../support/http.js'
import { uniqueNamespace } from '../support/redis.js'

export interface CoalesceOptions {
  redis: () => CacheOptions['redis']
  drop: (namespace: string) => Promise<void>
  /** SET key value PX ms on the Redis the instances use (to play a crashed instance's lock). */
  setRaw: (key: string, value: string, px: number) => Promise<void>
}

export function coalesceSuite (label: string, options: CoalesceOptions): void {
  describe(`coalescing across instances (${label})`, function () {
    this.timeout(15_000)
    let apps: App[] = []
    let namespace: string
    let calls: string[]

    afterEach(async function () {
      await Promise.all(apps.map(async a => await a.close()))
      apps = []
      await options.drop(namespace)
    })

    /** Three instances on a fresh namespace; `answer` writes the origin's response. */
    async function three (answer: (url: string, headers: Record<string, unknown>, n: number) => { headers: Record<string, string>, body: string, delay?: number }): Promise<App[]> {
      namespace = uniqueNamespace('coalesce')
      calls = []
      for (let i = 0; i < 3; i++) {
        apps.push(await startApp({ namespace, redis: options.redis(), lockTimeout: '10s' }, async (req, res) => {
          calls.push(req.url ?? '')
          const r = answer(req.url ?? '', req.headers, calls.length)
          await sleep(r.delay ?? 50)
          for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v)
          res.end(r.body)
        }))
      }
      await subscribed(...apps.map(a => a.cache))
      return apps
    }

    /** `n` concurrent GETs of `path` on each app. */
    async function burst (path: string, n: number, headers?: (app: number) => Record<string, string>): Promise<Reply[][]> {
      return await Promise.all(apps.map(async (app, i) => await Promise.all(Array.from({ length: n }, async () => await send(app.url + path, { headers: headers?.(i) })))))
    }

    it('100 concurrent cold requests to each of 3 instances: the origin sees 1', async function () {
      await three((_url, _h, n) => ({ headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, body: `origin call ${n}` }))
      const replies = await burst('/cold', 100)
      expect(calls).to.have.length(1)
      for (const r of replies.flat()) {
        expect(r.status).to.equal(200)
        expect(r.text).to.equal('origin call 1')
      }
      const collapsed = replies.map(rs => rs.filter(r => /collapsed/.test(String(r.headers['cache-status']))).length)
      const l2 = apps.map(a => a.cache.stats().l2!.locks!)
      expect(l2.reduce((n, s) => n + s.acquired, 0), 'one lock taken').to.equal(1)
      expect(l2.reduce((n, s) => n + s.contended, 0), 'the other instances waited').to.be.at.least(2)
      // All but the leader's: collapsed onto the leader's response, or (arriving later) a plain hit.
      expect(replies.flat().filter(r => /; (hit|fwd=miss; collapsed)$/.test(String(r.headers['cache-status'])))).to.have.length(299)
      process.stdout.write(`      [coalesce ${label}] 3 × 100 cold requests: origin requests ${calls.length}; collapsed per instance ${collapsed.join('/')}; waits ended by notice ${l2.reduce((n, s) => n + s.notified, 0)}, by poll ${l2.reduce((n, s) => n + s.polled, 0)}\n`)
    })

    it('a response that may not be stored sends every waiter to the origin at once, never a collapsed hit', async function () {
      await three((_url, _h, n) => ({ headers: { 'cache-control': 'no-store' }, body: `private ${n}` }))
      const started = Date.now()
      const replies = (await burst('/nostore', 5)).flat()
      expect(Date.now() - started, 'released by the notice, not after lockTimeout').to.be.below(2000)
      expect(calls).to.have.length(15)
      expect(new Set(replies.map(r => r.text)).size, 'each request its own response').to.equal(15)
      for (const r of replies) expect(String(r.headers['cache-status'])).to.not.match(/collapsed/)
    })

    it('then each instance sends that URL\'s misses straight to the origin: no lock, no waiting (hit-for-miss)', async function () {
      await three((_url, _h, n) => ({ headers: { 'cache-control': 'no-store' }, body: `private ${n}` }))
      await burst('/nostore', 5)
      const locks = () => apps.map(a => a.cache.stats().l2!.locks!).reduce((n, s) => n + s.acquired + s.contended, 0)
      const before = locks()
      const replies = (await burst('/nostore', 5)).flat()
      expect(calls).to.have.length(30)
      expect(new Set(replies.map(r => r.text)).size, 'each request its own response').to.equal(15)
      expect(locks(), 'no lock taken or waited for').to.equal(before)
      expect(apps.map(a => a.cache.stats().hitForMiss)).to.deep.equal([5, 5, 5])
    })

    it('a waiter on another instance gets only its own variant (Vary)', async function () {
      await three((_url, headers) => ({
        headers: { 'cache-control': 'max-age=60', vary: 'accept-language' },
        body: `lang=${String(headers['accept-language'])}`,
        delay: 100
      }))
      const langs = ['en', 'fr', 'en']
      const replies = await burst('/v', 10, i => ({ 'accept-language': langs[i] }))
      replies.forEach((rs, i) => { for (const r of rs) expect(r.text).to.equal(`lang=${langs[i]}`) })
      expect(calls.length, 'one per variant, at most one more for a waiter that found the other').to.be.within(2, 3)
    })

    it('waits out a crashed leader\'s lock (lockTimeout), then goes to the origin', async function () {
      await three(() => ({ headers: { 'cache-control': 'max-age=60' }, body: 'after the crash', delay: 0 }))
      const [a] = apps
      // An instance that took the lock and died: its lock expires after 400 ms.
      await options.setRaw(redisKeys(namespace).lock(`${namespace}:GET:/crash?`), 'token-of-a-dead-instance', 400)
      const started = Date.now()
      const r = await send(a.url + '/crash')
      const waited = Date.now() - started
      expect(r.text).to.equal('after the crash')
      expect(waited).to.be.within(350, 400 + 200 + 250) // the poll interval (200 ms) and some slack
      expect(a.cache.stats().l2!.locks).to.include({ contended: 1, polled: 1 })
      expect(calls).to.have.length(1)
    })
  })
}
