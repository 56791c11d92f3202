/**
 * Web cache deception (Omer Gil, 2017): a private page requested under a path that looks
 * static. cachefront never derives cacheability from a file extension, so a private answer is
 * never stored, whatever the path looks like.
 */
import { expect } from 'chai'
import express from 'express'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { createCache, type Cache } from '../../src/index.js'
import { send } from '../support/http.js'

describe('web cache deception', () => {
  let server: Server
  let cache: Cache
  let base: string
  before(async () => {
    cache = createCache({ namespace: `d-${randomUUID()}`, ttl: '1h' })
    const app = express()
    app.use(cache.express())
    // A typical vulnerable origin: it answers the profile for any path under /account, however
    // suffixed or encoded, marked private.
    app.use((req, res) => {
      res.set('cache-control', 'private, no-store').send(`profile of ${String(req.headers.cookie)}`)
    })
    server = await new Promise(resolve => { const s = app.listen(0, '127.0.0.1', () => resolve(s)) })
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => { server.closeAllConnections(); server.close(); await cache.close() })

  for (const p of ['/account/profile/x.css', '/account;x.css', '/account%2Fx.css', '/account/x.js', '/account/.png']) {
    it(`never stores a private answer to ${p}`, async () => {
      const victim = await send(base + p, { headers: { cookie: 'sid=victim' } })
      expect(victim.text).to.contain('victim')
      const attacker = await send(base + p)
      expect(attacker.text).to.not.contain('victim')
      expect(attacker.headers['x-cache']).to.not.equal('HIT')
    })
  }

  it('applies the route ttl only to responses without private/no-store, regardless of extension', async () => {
    expect(cache.stats().stores).to.equal(0)
  })
})
