/**
 * Web cache deception (Omer Gil, 2017): a private page requested under a path that looks
 * static. cachefront never derives cacheability from a file extension, so a private answer is
 * never stored, whatever the path looks like, through the middleware and through the proxy.
 */
import { expect } from 'chai'
import { randomUUID } from 'node:crypto'
import type { Harness, Started } from '../adapters/harness.js'
import { expressHarness } from '../adapters/express.test.js'
import { proxyHarness } from '../proxy/behaviour.test.js'
import { send } from '../support/http.js'

function deception (harness: Harness): void {
  describe(`web cache deception (${harness.name})`, () => {
    let started: Started
    before(async () => {
      // A typical vulnerable origin: it answers the profile for any path under /account, however
      // suffixed or encoded, marked private; the cache has a route ttl of an hour.
      started = await harness.start({
        cache: { namespace: `d-${randomUUID()}`, ttl: '1h' },
        handler: req => ({ headers: { 'cache-control': 'private, no-store' }, body: `profile of ${String(req.headers.cookie)}` }),
      })
    })
    after(async () => { await started.close() })

    for (const p of ['/account/profile/x.css', '/account;x.css', '/account%2Fx.css', '/account/x.js', '/account/.png']) {
      it(`never stores a private answer to ${p}`, async () => {
        const victim = await send(started.url + p, { headers: { cookie: 'sid=victim' } })
        expect(victim.text).to.contain('victim')
        const attacker = await send(started.url + p)
        expect(attacker.text).to.not.contain('victim')
        expect(attacker.headers['x-cache']).to.not.equal('HIT')
      })
    }

    it('applies the route ttl only to responses without private/no-store, regardless of extension', async () => {
      expect(started.cache.stats().stores).to.equal(0)
    })
  })
}

deception(expressHarness)
deception(proxyHarness)
