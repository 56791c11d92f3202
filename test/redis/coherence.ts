/**
 * L1 coherence across instances, shared by the single-Redis and the Cluster runs: after an
 * invalidation (or a new version of a key) on instance A, instances B and C, which held the old
 * version in L1, serve the new one within 100 ms.
 */
import { expect } from 'chai'
import type { CacheOptions } from '../../src/index.js'
import { startApp, subscribed, until, type App } from '../support/apps.js'
import { send } from '../support/http.js'
import { uniqueNamespace } from '../support/redis.js'

/** The issue's bound: from the start of the purge on A to B answering with the new content. */
export const COHERENCE_MS = 100

export interface CoherenceOptions {
  redis: () => CacheOptions['redis']
  /** Removes the namespace's keys after each test. */
  drop: (namespace: string) => Promise<void>
}

export function coherenceSuite (label: string, options: CoherenceOptions): void {
  describe(`L1 coherence across instances (${label})`, function () {
    this.timeout(10_000)
    let apps: App[] = []
    let namespace: string
    const measured: Array<[string, number]> = []

    afterEach(async function () {
      await Promise.all(apps.map(async a => await a.close()))
      apps = []
      await options.drop(namespace)
    })
    after(function () {
      if (measured.length > 0) {
        process.stdout.write(`      [coherence ${label}] purge on A → new content on B and C: ${measured.map(([what, ms]) => `${what} ${ms} ms`).join(', ')}\n`)
      }
    })

    const cases: Array<[string, (a: App, ns: string) => Promise<unknown>]> = [
      ['key', async (a, ns) => await a.cache.invalidate({ key: `${ns}:GET:/p?` })],
      ['url', async a => await a.cache.invalidate({ url: '/p' })],
      ['tag', async a => await a.cache.invalidate({ tag: 'product' })],
      ['prefix', async a => await a.cache.invalidate({ prefix: '/p' })],
      ['all', async a => await a.cache.invalidate({ all: true })],
      // A new version of the key, written by A: B and C drop the old one from L1.
      ['new version', async a => await send(a.url + '/p', { headers: { 'cache-control': 'no-cache' } })]
    ]

    for (const [what, purge] of cases) {
      it(`${what}: B and C serve the new content within ${COHERENCE_MS} ms`, async function () {
        namespace = uniqueNamespace('coherence')
        let version = 1
        for (let i = 0; i < 3; i++) {
          apps.push(await startApp({ namespace, redis: options.redis() }, (_req, res) => {
            res.setHeader('cache-control', 'max-age=600')
            res.setHeader('surrogate-key', 'product')
            res.end(`v${version}`)
          }))
        }
        const [a, b, c] = apps
        await subscribed(a.cache, b.cache, c.cache)
        expect((await send(a.url + '/p')).text).to.equal('v1')
        for (const x of [b, c]) {
          await until(async () => (await send(x.url + '/p')).headers['x-cache'] === 'HIT', 'the entry in L2')
          expect((await send(x.url + '/p')).text, 'held in L1').to.equal('v1')
        }

        version = 2
        const started = Date.now()
        await purge(a, namespace)
        let elapsed = 0
        for (const x of [b, c]) {
          while ((await send(x.url + '/p')).text !== 'v2') {
            if (Date.now() - started > 2000) throw new Error(`${what}: still the old content after 2 s`)
          }
          elapsed = Math.max(elapsed, Date.now() - started)
        }
        measured.push([what, elapsed])
        expect(elapsed).to.be.below(COHERENCE_MS)
        // Each instance hears every notice of the others, and none of its own.
        const l2 = apps.map(x => x.cache.stats().l2!)
        const sent = l2.reduce((n, s) => n + s.published, 0)
        await until(() => apps.every((x, i) => x.cache.stats().l2!.received === sent - l2[i].published), 'every notice to arrive', 1000)
      })
    }
  })
}
