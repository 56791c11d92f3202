/**
 * Hostile and malformed input, through the Express middleware and through the proxy (the same
 * checks on both, by way of the adapter harnesses): nothing crashes, nothing is served that
 * should not be, and invalid freshness reads as stale (RFC 9111 §4.2.1).
 */
import { expect } from 'chai'
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import type { Harness, Started } from '../adapters/harness.js'
import { expressHarness } from '../adapters/express.test.js'
import { proxyHarness } from '../proxy/behaviour.test.js'
import { send } from '../support/http.js'

function hostile (harness: Harness): void {
  describe(`hostile and malformed input (${harness.name})`, function () {
    this.timeout(10000)
    let started: Started
    let originHits: Record<string, number>
    /** The origin answers with whatever headers the `h` query parameter (JSON) lists. */
    before(async () => {
      originHits = {}
      started = await harness.start({
        cache: { namespace: `h-${randomUUID()}`, ttl: null },
        handler: req => {
          originHits[req.url] = (originHits[req.url] ?? 0) + 1
          const h = new URL(req.url, 'http://x').searchParams.get('h')
          return { headers: JSON.parse(h ?? '{}') as Record<string, string | string[]>, body: `body ${originHits[req.url]} of ${req.url}` }
        },
      })
    })
    after(async () => { await started.close() })

    const path = (h: Record<string, string | string[]>): string => `/r/${randomUUID()}?h=${encodeURIComponent(JSON.stringify(h))}`
    async function storedAfterTwo (h: Record<string, string | string[]>): Promise<boolean> {
      const p = path(h)
      const a = await send(started.url + p)
      expect(a.status).to.equal(200)
      const b = await send(started.url + p)
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
      const r = await send(started.url + path({ 'cache-control': 'max-age=60' }), { headers })
      expect(r.status).to.equal(200)
    })

    it('answers an over-long header block with 431, and keeps serving', async () => {
      const r = await send(started.url + '/x', { headers: { 'x-big': 'v'.repeat(20000) } }).catch(e => e as Error)
      if (!(r instanceof Error)) expect(r.status).to.equal(431)
      expect((await send(started.url + path({}))).status).to.equal(200)
    })

    describe('malformed requests are refused by the HTTP parser, and the server keeps serving', () => {
      const raw: Array<[string, string]> = [
        ['Content-Length and Transfer-Encoding together (request smuggling)', 'GET /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n'],
        ['two different Content-Lengths', 'GET /s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nxy'],
        ['a NUL in a header value', 'GET /s HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\nConnection: close\r\n\r\n'],
        ['a header folded over two lines (obs-fold)', 'GET /s HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n'],
        ['a request line of 20 KB', `GET /${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
        ['no Host in HTTP/1.1', 'GET /s HTTP/1.1\r\nConnection: close\r\n\r\n'],
      ]
      for (const [label, request] of raw) {
        it(label, async () => {
          const reply = await rawRequest(started, request)
          expect(reply).to.match(/^HTTP\/1\.1 4\d\d /)
          expect((await send(started.url + path({}))).status).to.equal(200)
        })
      }
    })

    describe('odd encodings in paths are keyed as sent, never merged', () => {
      const odd = ['/p/a%2Fb', '/p/a/b', '/p/a;x.css', '/p/a', '/p/%2e%2e/a', '/p/%00', '/p/caf%C3%A9', '/p/café', '/p/%c3%a9']
      it('gives each distinct raw path its own origin request (percent-case and raw unicode aside)', async () => {
        const before = Object.keys(originHits).length
        for (const p of odd) {
          const r = await rawRequest(started, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
          expect(r).to.match(/^HTTP\/1\.1 (200|400)/)
        }
        // '%c3%a9' and '%C3%A9' and a raw 'é' are one resource (RFC 3986 §6.2.2.1); the others are not.
        expect(Object.keys(originHits).length - before).to.be.greaterThan(5)
      })
      it('never answers one of them with another\'s stored body', async () => {
        const query = `?h=${encodeURIComponent(JSON.stringify({ 'cache-control': 'max-age=60' }))}`
        for (const round of [1, 2]) {
          for (const p of ['/q/a%2Fb', '/q/a/b', '/q/a;x.css', '/q/a', '/q/a%3Bx.css']) {
            const r = await rawRequest(started, `GET ${p}${query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
            expect(r, `${p}, round ${round}`).to.match(new RegExp(`\r\nx-cache: ${round === 1 ? 'MISS' : 'HIT'}\r\n`, 'i'))
            expect(r.endsWith(`\r\n\r\nbody 1 of ${p}${query}`), `${p}, round ${round}: ${r.slice(-120)}`).to.equal(true)
          }
        }
      })
    })
  })
}

/**
 * Sends bytes exactly as written (supertest/http would re-encode them); resolves with the whole
 * reply, once the server closes (every request says Connection: close). The socket is not
 * half-closed: Node's HTTP server drops a request whose client half-closes before it is answered.
 */
function rawRequest (started: Started, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(started.url)
    const s = net.connect(Number(port), '127.0.0.1', () => s.write(request))
    let out = ''
    s.on('data', d => { out += d })
    s.on('end', () => resolve(out))
    s.on('error', err => (out === '' ? reject(err) : resolve(out)))
  })
}

hostile(expressHarness)
hostile(proxyHarness)
