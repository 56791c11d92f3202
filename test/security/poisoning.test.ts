/**
 * Web cache poisoning through unkeyed headers (James Kettle, "Practical Web Cache Poisoning",
 * 2018): an attacker's request carries a header the cache does not key on but the origin uses
 * (X-Forwarded-Host, X-Forwarded-Proto, Forwarded, X-Original-URL, X-Rewrite-URL,
 * X-HTTP-Method-Override), the origin builds a poisoned response from it, and the cache hands
 * that response to everyone else.
 *
 * Through the proxy: those fields are dropped or overwritten from untrusted clients, and
 * believed from trusted hops only as part of the key, so no attempt reaches another client.
 * Through the middleware: the application decides what it trusts; SECURITY.md documents keying
 * on such headers (`key.headers`) or not trusting them (Express's `trust proxy`). The tests
 * show both, and that without either the risk is real.
 */
import { expect } from 'chai'
import express from 'express'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { createCache, type CacheOptions } from '../../src/index.js'
import { send } from '../support/http.js'
import { startOrigin, startProxy, type Origin, type Running } from '../proxy/support.js'

/** A typical vulnerable origin: it builds absolute links, and honours URL and method overrides. */
function reflecting (req: IncomingMessage, res: ServerResponse): void {
  const h = req.headers
  const host = h['x-forwarded-host'] ?? h.host
  const proto = h['x-forwarded-proto'] ?? 'http'
  const path = String(h['x-original-url'] ?? h['x-rewrite-url'] ?? req.url)
  const method = String(h['x-http-method-override'] ?? req.method)
  res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'public, max-age=60' })
  res.end(`<a href="${String(proto)}://${String(host)}${path}">${method} ${path}</a> forwarded=${h.forwarded ?? ''}`)
}

/** One poisoned field at a time, then all of them together. */
const ATTACKS: Array<[string, Record<string, string>]> = [
  ['X-Forwarded-Host', { 'x-forwarded-host': 'evil.example' }],
  ['X-Forwarded-Proto', { 'x-forwarded-proto': 'javascript' }],
  ['Forwarded', { forwarded: 'for=6.6.6.6;host=evil.example;proto=https' }],
  ['X-Original-URL', { 'x-original-url': '/evil' }],
  ['X-Rewrite-URL', { 'x-rewrite-url': '/evil' }],
  ['X-HTTP-Method-Override', { 'x-http-method-override': 'EVIL' }],
  ['all of them', {
    'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'javascript', forwarded: 'host=evil.example',
    'x-original-url': '/evil', 'x-rewrite-url': '/evil', 'x-http-method-override': 'EVIL', 'x-host': 'evil.example',
  }],
]

const poisoned = (body: string): boolean => /evil|javascript|EVIL|6\.6\.6\.6/.test(body)

describe('web cache poisoning through unkeyed headers', function () {
  this.timeout(10_000)

  describe('through the proxy, from untrusted clients', () => {
    let origin: Origin
    let proxy: Running
    before(async () => {
      origin = await startOrigin(reflecting)
      proxy = await startProxy(origin.url)
    })
    after(async () => {
      await proxy.close()
      await origin.close()
    })

    for (const [name, headers] of ATTACKS) {
      it(`${name}: the attacker's request stores a clean page, and the next client gets it`, async () => {
        const path = `/home-${randomUUID().slice(0, 8)}`
        const attacker = await send(proxy.url + path, { headers: { host: 'shop.example', ...headers } })
        expect(attacker.headers['x-cache']).to.equal('MISS')
        expect(poisoned(attacker.text), attacker.text).to.equal(false)
        const victim = await send(proxy.url + path, { headers: { host: 'shop.example' } })
        expect(victim.headers['x-cache']).to.equal('HIT')
        expect(victim.text).to.equal(`<a href="http://shop.example${path}">GET ${path}</a> forwarded=`)
      })
    }

    it('a cache-busting attacker (Cache-Control: no-cache, Pragma: no-cache) refreshes the entry, still clean', async () => {
      const path = '/busted'
      await send(proxy.url + path, { headers: { host: 'shop.example' } })
      for (const bust of [{ 'cache-control': 'no-cache' }, { pragma: 'no-cache' }] as Array<Record<string, string>>) {
        const attacker = await send(proxy.url + path, { headers: { host: 'shop.example', ...bust, ...ATTACKS.at(-1)![1] } })
        expect(poisoned(attacker.text)).to.equal(false)
        const victim = await send(proxy.url + path, { headers: { host: 'shop.example' } })
        expect(poisoned(victim.text), victim.text).to.equal(false)
      }
    })

    it('a Host header of the attacker\'s choice is keyed: other hosts never see its page', async () => {
      const attacker = await send(proxy.url + '/host', { headers: { host: 'evil.example' } })
      expect(attacker.text).to.contain('evil.example')
      const victim = await send(proxy.url + '/host', { headers: { host: 'shop.example' } })
      expect(victim.headers['x-cache']).to.equal('MISS')
      expect(poisoned(victim.text)).to.equal(false)
    })
  })

  describe('through the proxy, behind a trusted hop (whose X-Forwarded-* are believed)', () => {
    let origin: Origin
    let proxy: Running
    before(async () => {
      origin = await startOrigin(reflecting)
      proxy = await startProxy(origin.url, { forwarding: { trustedHops: ['loopback'] } })
    })
    after(async () => {
      await proxy.close()
      await origin.close()
    })

    it('keys by the forwarded host and protocol: a poisoned forwarded host stays with that host', async () => {
      const attacker = await send(proxy.url + '/t', { headers: { host: 'shop.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'javascript' } })
      expect(poisoned(attacker.text)).to.equal(true) // believed: it came through the trusted hop...
      const victim = await send(proxy.url + '/t', { headers: { host: 'shop.example', 'x-forwarded-host': 'shop.example', 'x-forwarded-proto': 'https' } })
      expect(victim.headers['x-cache']).to.equal('MISS') // ...but it is part of the key
      expect(victim.text).to.equal('<a href="https://shop.example/t">GET /t</a> forwarded=')
    })

    it('still never forwards URL or method overrides on cacheable requests', async () => {
      const attacker = await send(proxy.url + '/o', { headers: { host: 'shop.example', 'x-original-url': '/evil', 'x-rewrite-url': '/evil', 'x-http-method-override': 'EVIL' } })
      expect(poisoned(attacker.text)).to.equal(false)
      const victim = await send(proxy.url + '/o', { headers: { host: 'shop.example' } })
      expect(victim.headers['x-cache']).to.equal('HIT')
      expect(poisoned(victim.text)).to.equal(false)
    })
  })

  describe('a fat GET (content in a GET, which the key does not include)', () => {
    /** An origin that reads a GET's body (as body parsers in many frameworks do). */
    function readsBody (req: IncomingMessage, res: ServerResponse): void {
      let body = ''
      req.on('data', d => { body += d })
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60' })
        res.end(`callback=${new URLSearchParams(body).get('callback') ?? 'default'}`)
      })
    }
    const fat = { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '13' }

    it('through the proxy: answered, never stored', async () => {
      const origin = await startOrigin(readsBody)
      const proxy = await startProxy(origin.url)
      try {
        const attacker = await send(proxy.url + '/jsonp', { headers: fat, body: 'callback=evil' })
        expect(attacker.headers['x-cache']).to.equal('BYPASS')
        const victim = await send(proxy.url + '/jsonp')
        expect(victim.text).to.equal('callback=default')
        expect((await send(proxy.url + '/jsonp')).headers['x-cache']).to.equal('HIT')
      } finally {
        await proxy.close()
        await origin.close()
      }
    })

    it('through the Express middleware (body parsers read GET bodies too): answered, never stored', async () => {
      const cache = createCache({ namespace: `p-${randomUUID()}` })
      const a = express()
      a.use(cache.express())
      a.use(express.urlencoded({ extended: false }))
      a.get('/jsonp', (req, res) => {
        res.set('cache-control', 'public, max-age=60').type('text').send(`callback=${(req.body as { callback?: string } | undefined)?.callback ?? 'default'}`)
      })
      const server = a.listen(0, '127.0.0.1')
      await new Promise(resolve => server.once('listening', resolve))
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      try {
        const attacker = await send(url + '/jsonp', { headers: fat, body: 'callback=evil' })
        expect(attacker.text).to.equal('callback=evil')
        const victim = await send(url + '/jsonp')
        expect(victim.text).to.equal('callback=default')
      } finally {
        server.closeAllConnections()
        server.close()
        await cache.close()
      }
    })
  })

  describe('through the Express middleware', () => {
    /**
     * The cache in front of an app that builds links from the request: from the raw
     * X-Forwarded-Host/Proto fields (`reflecting`), or, given `trustProxy`, from Express's
     * req.hostname and req.protocol, which believe those fields only as `trust proxy` says.
     */
    async function app (options: CacheOptions, trustProxy?: boolean): Promise<{ url: string, close(): Promise<void> }> {
      const cache = createCache({ namespace: `p-${randomUUID()}`, ...options })
      const a = express()
      if (trustProxy !== undefined) a.set('trust proxy', trustProxy)
      a.use(cache.express())
      a.use((req, res) => {
        if (trustProxy === undefined) return reflecting(req, res)
        res.set('cache-control', 'public, max-age=60').send(`<a href="${req.protocol}://${req.hostname}${req.originalUrl}">home</a>`)
      })
      const server = a.listen(0, '127.0.0.1')
      await new Promise(resolve => server.once('listening', resolve))
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        async close () {
          server.closeAllConnections()
          await new Promise(resolve => server.close(resolve))
          await cache.close()
        },
      }
    }

    it('without key.headers, an app that trusts X-Forwarded-Host is poisoned: the risk SECURITY.md documents is real', async () => {
      const a = await app({})
      try {
        await send(a.url + '/home', { headers: { 'x-forwarded-host': 'evil.example' } })
        const victim = await send(a.url + '/home')
        expect(victim.headers['x-cache']).to.equal('HIT')
        expect(victim.text).to.contain('evil.example')
      } finally {
        await a.close()
      }
    })

    it('with key: { headers: [\'x-forwarded-host\', \'x-forwarded-proto\'] } (SECURITY.md), the poisoned page stays with its headers', async () => {
      const a = await app({ key: { headers: ['x-forwarded-host', 'x-forwarded-proto'] } })
      try {
        for (const headers of [{ 'x-forwarded-host': 'evil.example' }, { 'x-forwarded-proto': 'javascript' }] as Array<Record<string, string>>) {
          await send(a.url + '/home', { headers })
          const victim = await send(a.url + '/home')
          expect(poisoned(victim.text), victim.text).to.equal(false)
        }
      } finally {
        await a.close()
      }
    })

    it('with Express\'s trust proxy off (its default), req.hostname and req.protocol ignore the attacker\'s fields', async () => {
      const a = await app({}, false)
      try {
        const attacker = await send(a.url + '/home', { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'javascript', host: 'shop.example' } })
        expect(poisoned(attacker.text)).to.equal(false)
        const victim = await send(a.url + '/home', { headers: { host: 'shop.example' } })
        expect(victim.headers['x-cache']).to.equal('HIT')
        expect(victim.text).to.equal('<a href="http://shop.example/home">home</a>')
      } finally {
        await a.close()
      }
    })
  })
})
