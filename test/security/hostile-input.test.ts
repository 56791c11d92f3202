/**
 * Hostile and malformed input through the Express middleware: nothing crashes, nothing is
 * served that should not be, and invalid freshness reads as stale (RFC 9111 §4.2.1).
 */
import { expect } from 'chai'
import express from 'express'
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { createCache, type Cache } from '../../src/index.js'
import { send } from '../support/http.js'

describe('hostile and malformed input (middleware)', function () {
  this.timeout(10000)
  let server: Server
  let cache: Cache
  let base: string
  let originHits: Record<string, number>
  /** The origin answers with whatever headers the `h` query parameter (JSON) lists. */
  before(async () => {
    cache = createCache({ namespace: `h-${randomUUID()}`, ttl: null })
    originHits = {}
    const app = express()
    app.use(cache.express())
    app.use((req, res) => {
      originHits[req.originalUrl] = (originHits[req.originalUrl] ?? 0) + 1
      const headers = JSON.parse(String(req.query.h ?? '{}')) as Record<string, string | string[]>
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
      res.end(`body ${originHits[req.originalUrl]}`)
    })
    server = await new Promise(resolve => { const s = app.listen(0, '127.0.0.1', () => resolve(s)) })
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => { server.closeAllConnections(); server.close(); await cache.close() })

  const path = (h: Record<string, string | string[]>): string => `/r/${randomUUID()}?h=${encodeURIComponent(JSON.stringify(h))}`
  async function storedAfterTwo (h: Record<string, string | string[]>): Promise<boolean> {
    const p = path(h)
    const a = await send(base + p)
    expect(a.status).to.equal(200)
    const b = await send(base + p)
    expect(b.status).to.equal(200)
    return b.headers['x-cache'] === 'HIT'
  }

  describe('malformed Cache-Control reads as stale, never as fresh', () => {
    for (const cc of ['max-age=abc', 'max-age=-1', 'max-age=1.5', 'max-age=', 'max-age="-5"', 's-maxage=x, public']) {
      it(`does not reuse a response with "${cc}"`, async () => {
        expect(await storedAfterTwo({ 'cache-control': cc })).to.equal(false)
      })
    }
    it('uses the first of duplicated directives', async () => {
      expect(await storedAfterTwo({ 'cache-control': 'max-age=0, max-age=3600' })).to.equal(false)
      expect(await storedAfterTwo({ 'cache-control': 'max-age=3600, max-age=0' })).to.equal(true)
    })
    it('clamps a huge max-age instead of overflowing', async () => {
      expect(await storedAfterTwo({ 'cache-control': 'max-age=99999999999999999999999' })).to.equal(true)
    })
    it('lets no-store win over max-age in contradictory headers', async () => {
      expect(await storedAfterTwo({ 'cache-control': ['max-age=3600', 'no-store'] })).to.equal(false)
    })
  })

  describe('invalid Expires and Date (RFC 9111 §5.3)', () => {
    for (const expires of ['0', '-1', 'tomorrow', 'Thu, 99 Foo 2026 00:00:00 GMT']) {
      it(`treats Expires: ${expires} as already expired`, async () => {
        expect(await storedAfterTwo({ expires })).to.equal(false)
      })
    }
    it('ignores an invalid Date and uses the response time', async () => {
      const expires = new Date(Date.now() + 3600_000).toUTCString()
      expect(await storedAfterTwo({ expires, date: 'not a date' })).to.equal(true)
    })
  })

  it('survives an oversized set of request headers', async () => {
    const headers: Record<string, string> = {}
    for (let i = 0; i < 90; i++) headers[`x-h${i}`] = 'v'.repeat(100)
    const r = await send(base + path({ 'cache-control': 'max-age=60' }), { headers })
    expect(r.status).to.equal(200)
  })

  it('answers an over-long header block with 431, and keeps serving', async () => {
    const r = await send(base + '/x', { headers: { 'x-big': 'v'.repeat(20000) } }).catch(e => e as Error)
    if (!(r instanceof Error)) expect(r.status).to.equal(431)
    expect((await send(base + path({}))).status).to.equal(200)
  })

  describe('odd encodings in paths are keyed as sent, never merged', () => {
    const odd = ['/p/a%2Fb', '/p/a/b', '/p/a;x.css', '/p/a', '/p/%2e%2e/a', '/p/%00', '/p/caf%C3%A9', '/p/café', '/p/%c3%a9']
    it('gives each distinct raw path its own origin request (percent-case and raw unicode aside)', async () => {
      for (const p of odd) {
        const r = await rawGet(p)
        expect(r).to.match(/^HTTP\/1\.1 (200|400)/)
      }
      // '%c3%a9' and '%C3%A9' and a raw 'é' are one resource (RFC 3986 §6.2.2.1); the others are not.
      const keys = Object.keys(originHits).filter(k => k.startsWith('/p/'))
      expect(keys.length).to.be.greaterThan(5)
    })
  })

  /** Sends a request line exactly as written (supertest/http would re-encode it). */
  function rawGet (p: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const { port } = server.address() as AddressInfo
      const s = net.connect(port, '127.0.0.1', () => s.end(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))
      let out = ''
      s.on('data', d => { out += d })
      s.on('end', () => resolve(out))
      s.on('error', reject)
    })
  }
})
