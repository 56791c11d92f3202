/**
 * Cache-poisoned denial of service (Nguyen, Lo Iacono, Federrath, "Your Cache Has Fallen",
 * CCS 2019): a request with a header the cache does not key on (oversized, a meta character, a
 * method override) makes the origin answer with an error, and the cache stores the error for
 * everyone. And headers a client sends to force the cache's hand. Through the Express and Koa
 * middleware and the proxy (the adapter harnesses), with a route ttl of an hour that overrides
 * the origin's freshness: the strongest configuration an operator can give.
 */
import { expect } from 'chai'
import { randomUUID } from 'node:crypto'
import type { Harness, Started } from '../adapters/harness.js'
import { expressHarness } from '../adapters/express.test.js'
import { koaHarness } from '../adapters/koa.test.js'
import { koaVersions } from '../adapters/koa-apps.js'
import { proxyHarness } from '../proxy/behaviour.test.js'
import { send } from '../support/http.js'

/** Error statuses an attacker may provoke (RFC 9110 §15.5, §15.6), the heuristically cacheable ones included. */
const ERRORS = [400, 403, 404, 405, 410, 413, 414, 431, 500, 501, 502, 503, 504]

/** Headers that caches or CDNs have been known to honour from clients, or that look like they might be. */
const FORCING: Array<Record<string, string>> = [
  { 'x-cache-bypass': '1' }, { 'x-bypass-cache': '1' }, { 'cache-bypass': 'true' }, { 'x-no-cache': '1' },
  { 'x-cache': 'MISS' }, { 'x-purge': '1' }, { 'x-refresh': '1' }, { 'x-cache-control': 'no-cache' },
  { 'surrogate-control': 'no-store' }, { 'cdn-cache-control': 'no-cache' }, { 'x-forwarded-for': '127.0.0.1' },
  { 'x-real-ip': '127.0.0.1' }, { cookie: 'bypass=1; nocache=1' }, { 'x-requested-with': 'XMLHttpRequest' },
  { pragma: 'no-cache', 'cache-control': 'max-age=3600' },
]

function cpdos (harness: Harness): void {
  describe(`cache-poisoned denial of service (${harness.name}, route ttl 1h with override)`, function () {
    this.timeout(10_000)
    let started: Started
    let calls = 0
    before(async () => {
      started = await harness.start({
        cache: { namespace: `cp-${randomUUID()}` },
        route: { ttl: '1h', override: true },
        // The origin fails with the status the request's X-Evil asks for; otherwise a good page
        // without caching headers (the route ttl makes it fresh for an hour).
        handler: req => {
          calls++
          const evil = req.headers['x-evil']
          if (evil !== undefined) return { status: Number(evil), headers: { 'content-type': 'text/plain' }, body: `error ${String(evil)}` }
          return { headers: { 'content-type': 'text/plain' }, body: `good ${calls}` }
        },
      })
    })
    after(async () => { await started.close() })

    for (const status of ERRORS) {
      it(`a ${status} provoked by a request header is never stored; the next client gets the page`, async () => {
        const path = `/e/${status}`
        const attacker = await send(started.url + path, { headers: { 'x-evil': String(status) } })
        expect(attacker.status).to.equal(status)
        const victim = await send(started.url + path)
        expect(victim.status).to.equal(200)
        expect(victim.text).to.match(/^good \d+$/)
        expect((await send(started.url + path)).headers['x-cache']).to.equal('HIT')
      })
    }

    it('a provoked error with Cache-Control: no-cache (or Pragma) revalidates, but never replaces the good entry', async () => {
      const path = '/nc'
      const good = await send(started.url + path)
      for (const bust of [{ 'cache-control': 'no-cache' }, { pragma: 'no-cache' }, { 'cache-control': 'max-age=0' }] as Array<Record<string, string>>) {
        const attacker = await send(started.url + path, { headers: { ...bust, 'x-evil': '500' } })
        // The error, or the fresh entry standing in for it (an error never replaces a usable entry).
        if (attacker.status === 200) expect(attacker.text).to.equal(good.text)
        else expect(attacker.status).to.equal(500)
        const victim = await send(started.url + path)
        expect(victim.status).to.equal(200)
        expect(victim.headers['x-cache']).to.equal('HIT')
        expect(victim.text).to.equal(good.text)
      }
    })

    describe('no request header forces a bypass or a refresh beyond what RFC 9111 allows', () => {
      for (const headers of FORCING) {
        it(`${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join(', ')}: answered from the cache`, async () => {
          const path = `/f/${randomUUID().slice(0, 8)}`
          const first = await send(started.url + path)
          const before = calls
          const r = await send(started.url + path, { headers })
          expect(r.headers['x-cache']).to.equal('HIT')
          expect(r.text).to.equal(first.text)
          expect(calls, 'origin requests').to.equal(before)
        })
      }
    })
  })
}

cpdos(expressHarness)
cpdos(koaHarness(koaVersions[0]))
cpdos(proxyHarness)
