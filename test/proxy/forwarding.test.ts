/**
 * Standard reverse-proxy behaviour (RFC 9110 §7.6): hop-by-hop fields, Via, X-Forwarded-*,
 * forwarding fields from untrusted clients, Host, keying by host against poisoning, WebSocket.
 */
import { expect } from 'chai'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import { send } from '../support/http.js'
import { startOrigin, startProxy, type Origin, type Running } from './support.js'

describe('proxy: forwarding', function () {
  this.timeout(10_000)
  let origin: Origin
  let proxy: Running
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' })
    res.end(String(req.headers['x-forwarded-host']))
  }

  beforeEach(async () => {
    origin = await startOrigin((req, res) => handle(req, res))
  })
  afterEach(async () => {
    await proxy?.close()
    await origin.close()
  })

  describe('with no trusted hops', () => {
    beforeEach(async () => { proxy = await startProxy(origin.url) })

    it('sets X-Forwarded-For/Proto/Host and Via, and sends the upstream\'s Host', async () => {
      await send(proxy.url + '/h', { headers: { host: 'shop.example:8080' } })
      const h = origin.requests[0].headers
      expect(h['x-forwarded-for']).to.equal('127.0.0.1')
      expect(h['x-forwarded-proto']).to.equal('http')
      expect(h['x-forwarded-host']).to.equal('shop.example:8080')
      expect(h.via).to.equal('1.1 cachefront')
      expect(h.host).to.equal(new URL(origin.url).host)
    })

    it('replaces forwarding fields a client made up, and drops URL and method overrides (cache poisoning)', async () => {
      await send(proxy.url + '/spoof', {
        headers: {
          'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https',
          forwarded: 'for=6.6.6.6;host=evil.example', 'x-original-url': '/admin', 'x-rewrite-url': '/admin',
          'x-http-method-override': 'DELETE', 'x-real-ip': '6.6.6.6',
        },
      })
      const h = origin.requests[0].headers
      expect(h['x-forwarded-for']).to.equal('127.0.0.1')
      expect(h['x-forwarded-host']).to.match(/^127\.0\.0\.1:\d+$/)
      expect(h['x-forwarded-proto']).to.equal('http')
      for (const name of ['forwarded', 'x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-real-ip']) {
        expect(h[name], name).to.equal(undefined)
      }
    })

    it('keys by the forwarded host: a Host header cannot poison another host\'s entry', async () => {
      const evil = await send(proxy.url + '/page', { headers: { host: 'evil.example' } })
      expect(evil.text).to.equal('evil.example')
      const good = await send(proxy.url + '/page', { headers: { host: 'shop.example' } })
      expect(good.text).to.equal('shop.example')
      expect(good.headers['x-cache']).to.equal('MISS')
      expect((await send(proxy.url + '/page', { headers: { host: 'shop.example' } })).headers['x-cache']).to.equal('HIT')
    })

    it('removes hop-by-hop request fields, those named by Connection included', async () => {
      await send(proxy.url + '/hop', {
        headers: { connection: 'keep-alive, x-secret', 'x-secret': 'hop', 'keep-alive': 'timeout=5', te: 'trailers', 'proxy-authorization': 'Basic eA==', 'x-kept': 'yes' },
      })
      const h = origin.requests[0].headers
      for (const name of ['x-secret', 'keep-alive', 'te', 'proxy-authorization']) expect(h[name], name).to.equal(undefined)
      expect(h['x-kept']).to.equal('yes')
    })

    it('removes hop-by-hop response fields and adds Via, on a miss and on a hit', async () => {
      handle = (_req, res) => {
        res.writeHead(200, { connection: 'x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5', 'cache-control': 'max-age=60', 'x-end': 'kept' })
        res.end('ok')
      }
      for (const r of [await send(proxy.url + '/rh'), await send(proxy.url + '/rh')]) {
        expect(r.headers['x-hop']).to.equal(undefined)
        expect(r.headers['x-end']).to.equal('kept')
        expect(r.headers.via).to.equal('1.1 cachefront')
      }
    })

    it('sends the path the cache keyed: dot segments resolved before keying', async () => {
      handle = (req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.end(req.url)
      }
      const raw = await rawRequest(proxy.url, 'GET /a/../b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      expect(raw).to.match(/^HTTP\/1\.1 200 /)
      expect(origin.requests[0].url).to.equal('/b')
      expect((await send(proxy.url + '/b', { headers: { host: 'x' } })).headers['x-cache']).to.equal('HIT')
    })

    it('proxies a WebSocket upgrade and then the bytes both ways', async () => {
      origin.server.on('upgrade', (req: IncomingMessage, socket: net.Socket) => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-Via: ' + String(req.headers.via) + '\r\n\r\n')
        socket.on('data', d => socket.write(Buffer.from(d.toString().toUpperCase())))
        socket.on('end', () => socket.end())
      })
      const { headers, socket } = await new Promise<{ headers: http.IncomingHttpHeaders, socket: net.Socket }>((resolve, reject) => {
        const req = http.request(proxy.url + '/ws', { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
        req.on('upgrade', (res, s) => resolve({ headers: res.headers, socket: s }))
        req.on('response', res => reject(new Error(`no upgrade: ${res.statusCode}`)))
        req.on('error', reject)
        req.end()
      })
      expect(headers['x-seen-via']).to.equal('1.1 cachefront')
      socket.write('ping')
      const echoed = await new Promise<string>(resolve => socket.once('data', d => resolve(d.toString())))
      expect(echoed).to.equal('PING')
      socket.destroy()
    })

    it('answers a request offering another Upgrade (h2c) as plain HTTP/1.1', async () => {
      const r = await send(proxy.url + '/h2c', { headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAAP__' } })
      expect(r.status).to.equal(200)
      expect(origin.requests[0].headers.upgrade).to.equal(undefined)
      expect(origin.requests[0].headers['http2-settings']).to.equal(undefined)
    })
  })

  describe('behind trusted hops', () => {
    beforeEach(async () => { proxy = await startProxy(origin.url, { forwarding: { trustedHops: ['loopback'], host: 'client' } }) })

    it('keeps their X-Forwarded-* and Forwarded, appending this hop, and passes the client\'s Host', async () => {
      await send(proxy.url + '/t', { headers: { host: 'shop.example', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'www.shop.example', 'x-forwarded-proto': 'https', forwarded: 'for=203.0.113.9', via: '1.1 edge' } })
      const h = origin.requests[0].headers
      expect(h['x-forwarded-for']).to.equal('203.0.113.9, 127.0.0.1')
      expect(h['x-forwarded-host']).to.equal('www.shop.example')
      expect(h['x-forwarded-proto']).to.equal('https')
      expect(h.forwarded).to.equal('for=203.0.113.9')
      expect(h.via).to.equal('1.1 edge, 1.1 cachefront')
      expect(h.host).to.equal('shop.example')
    })

    it('still drops URL and method overrides on cacheable requests', async () => {
      await send(proxy.url + '/o', { headers: { 'x-original-url': '/admin', 'x-http-method-override': 'PUT' } })
      expect(origin.requests[0].headers['x-original-url']).to.equal(undefined)
      expect(origin.requests[0].headers['x-http-method-override']).to.equal(undefined)
    })

    it('keys by the forwarded protocol too', async () => {
      handle = (req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.end(String(req.headers['x-forwarded-proto']))
      }
      expect((await send(proxy.url + '/proto', { headers: { 'x-forwarded-proto': 'https' } })).text).to.equal('https')
      expect((await send(proxy.url + '/proto', { headers: { 'x-forwarded-proto': 'http' } })).text).to.equal('http')
    })
  })
})

/** Sends raw bytes (for request targets a client library would normalise) and returns the raw answer. */
function rawRequest (base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(text))
    let out = ''
    socket.on('data', d => { out += d.toString() })
    socket.on('end', () => resolve(out))
    socket.on('error', reject)
  })
}
