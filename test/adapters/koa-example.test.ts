/** The Koa example app (examples/koa) answers as its README says. */
import { expect } from 'chai'
import { randomUUID } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { createApp } from '../../examples/koa/app.js'
import { send } from '../support/http.js'
import { listen, type Listening } from './koa-apps.js'

describe('examples/koa', () => {
  let server: Listening
  let close: () => Promise<void>
  beforeEach(async () => {
    const { app, cache } = createApp({ delayMs: 0, cache: { namespace: `ex-${randomUUID()}` } })
    app.silent = true
    server = await listen(app)
    close = async () => {
      await server.close()
      await cache.close()
    }
  })
  afterEach(() => close())

  it('caches /products and invalidates it after POST /products', async () => {
    const a = await send(server.url + '/products')
    const b = await send(server.url + '/products')
    expect([a.headers['x-cache'], b.headers['x-cache']]).to.deep.equal(['MISS', 'HIT'])
    expect(b.text).to.equal(a.text)
    expect((await send(server.url + '/products', { method: 'POST' })).status).to.equal(204)
    const c = await send(server.url + '/products')
    expect(c.headers['x-cache']).to.equal('MISS')
    expect(JSON.parse(c.text).products[0].price).to.equal(11)
  })

  it('stores /report compressed per Accept-Encoding and purges it by tag', async () => {
    const gzip = { 'accept-encoding': 'gzip' }
    const a = await send(server.url + '/report', { headers: gzip })
    const b = await send(server.url + '/report', { headers: gzip })
    expect(b.headers['x-cache']).to.equal('HIT')
    expect(b.headers['content-encoding']).to.equal('gzip')
    expect(gunzipSync(b.body).toString()).to.equal(gunzipSync(a.body).toString())
    expect((await send(server.url + '/report')).headers['content-encoding']).to.equal(undefined)
    const purge = await send(server.url + '/admin/purge?tag=reports', { method: 'POST' })
    expect(JSON.parse(purge.text).purged).to.be.greaterThan(0)
    expect((await send(server.url + '/report', { headers: gzip })).headers['x-cache']).to.equal('MISS')
  })

  it('caches /me per user', async () => {
    await send(server.url + '/me', { headers: { 'x-user-id': 'alice' } })
    const bob = await send(server.url + '/me', { headers: { 'x-user-id': 'bob' } })
    const alice = await send(server.url + '/me', { headers: { 'x-user-id': 'alice' } })
    expect(JSON.parse(bob.text)).to.deep.equal({ user: 'bob' })
    expect(JSON.parse(alice.text)).to.deep.equal({ user: 'alice' })
    expect(alice.headers['x-cache']).to.equal('HIT')
  })
})
