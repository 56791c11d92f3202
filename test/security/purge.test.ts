/**
 * Purging is authenticated (the proxy): on the admin port and with `PURGE` on the main port,
 * nothing but `Authorization: Bearer <the token>` purges; no header a client controls (a
 * forwarded address, another scheme, a near miss of the token) stands in for it. The admin API
 * listens on loopback unless told otherwise.
 */
import { expect } from 'chai'
import type { AddressInfo } from 'node:net'
import { parseConfig } from '../../proxy/config.js'
import { send } from '../support/http.js'
import { startOrigin, startProxy, type Origin, type Running } from '../proxy/support.js'

const TOKEN = 'purge-token-0123456789'

/** Authorization values (or their absence) that must not purge, with what they try. */
const REFUSED: Array<[string, Record<string, string>]> = [
  ['no Authorization', {}],
  ['a wrong token', { authorization: 'Bearer wrong-token-0123456789' }],
  ['the token with one character more', { authorization: `Bearer ${TOKEN}x` }],
  ['the token less its last character', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
  ['the token in another case', { authorization: `Bearer ${TOKEN.toUpperCase()}` }],
  ['an empty bearer', { authorization: 'Bearer ' }],
  ['the token without the Bearer scheme', { authorization: TOKEN }],
  ['the token as Basic credentials', { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }],
  ['the token followed by another', { authorization: `Bearer ${TOKEN} ${TOKEN}` }],
  ['the token in a header of its own', { 'x-admin-token': TOKEN, 'x-purge-token': TOKEN }],
  ['a forwarded loopback address', { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1', forwarded: 'for=127.0.0.1' }],
]

describe('purge authentication (proxy)', function () {
  this.timeout(10_000)
  let origin: Origin
  let proxy: Running
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      res.end(`${req.url} #${origin.count()}`)
    })
    proxy = await startProxy(origin.url, { admin: { token: TOKEN } })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
  })

  const hit = async (path: string): Promise<boolean> => (await send(proxy.url + path)).headers['x-cache'] === 'HIT'

  for (const [label, headers] of REFUSED) {
    it(`${label}: 401 on the admin port and for PURGE, and nothing is purged`, async () => {
      await send(proxy.url + '/kept')
      const admin = await send(proxy.admin + '/purge', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"all":true}' })
      expect(admin.status).to.equal(401)
      expect(admin.headers['www-authenticate']).to.match(/^Bearer /)
      const purge = await send(proxy.url + '/kept', { method: 'PURGE', headers })
      expect(purge.status).to.equal(401)
      expect(await hit('/kept')).to.equal(true)
    })
  }

  it('the token itself purges (the check above is not refusing everything)', async () => {
    await send(proxy.url + '/gone')
    const purge = await send(proxy.url + '/gone', { method: 'PURGE', headers: { authorization: `Bearer ${TOKEN}` } })
    expect(purge.status).to.equal(200)
    expect(await hit('/gone')).to.equal(false)
  })

  it('the admin API listens on loopback by default', async () => {
    expect(parseConfig({ upstream: 'http://127.0.0.1:1' }).admin.host).to.equal('127.0.0.1')
    expect((proxy.proxy.admin!.address() as AddressInfo).address).to.equal('127.0.0.1')
  })

  it('without a configured token, purging is disabled (403), whatever the request says', async () => {
    const open = await startProxy(origin.url)
    try {
      for (const [, headers] of REFUSED) {
        expect((await send(open.admin + '/purge', { method: 'POST', headers, body: '{"all":true}' })).status).to.equal(403)
      }
      expect((await send(open.url + '/x', { method: 'PURGE', headers: { authorization: 'Bearer anything' } })).status).to.equal(403)
    } finally {
      await open.close()
    }
  })
})
