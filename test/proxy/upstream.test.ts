/**
 * When the upstream misbehaves: refused, reset, slow, truncated, invalid. The proxy answers
 * 502 / 504 with a short plain body, cuts the client's connection when part of a response was
 * already sent, stores nothing partial, and keeps serving.
 */
import { expect } from 'chai'
import { spawn } from 'node:child_process'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { send, sleep } from '../support/http.js'
import { freePort, startOrigin, startProxy, type Origin, type Running } from './support.js'

/** Listens with the smallest accept queue and never accepts. */
const HOLD_PY = `
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
print(s.getsockname()[1], flush=True)
time.sleep(20)
`

/** GET through a fresh connection; resolves with what arrived, or with the error that ended it. */
function fetchRaw (url: string): Promise<{ status?: number, body: string, error?: string }> {
  return new Promise(resolve => {
    let body = ''
    let status: number | undefined
    const req = http.get(url, { agent: false }, res => {
      status = res.statusCode
      res.on('data', d => { body += d.toString() })
      res.on('end', () => resolve({ status, body }))
      res.on('error', err => resolve({ status, body, error: err.message }))
    })
    req.on('error', err => resolve({ status, body, error: err.message }))
  })
}

describe('proxy: upstream failures', function () {
  this.timeout(10_000)
  let origin: Origin | undefined
  let proxy: Running | undefined
  afterEach(async () => {
    await proxy?.close()
    await origin?.close()
    proxy = undefined
    origin = undefined
  })

  const serve = async (handle: (req: IncomingMessage, res: ServerResponse) => void, config: Parameters<typeof startProxy>[1] = {}) => {
    origin = await startOrigin(handle)
    proxy = await startProxy(origin.url, config)
    return proxy
  }

  it('answers 502 when the upstream refuses the connection, and counts it', async () => {
    // The refused port was free a moment ago; the proxy's own listeners (port 0) may be given
    // that very port, and the proxy would then forward to itself: choose again if so.
    for (;;) {
      const port = await freePort()
      proxy = await startProxy(`http://127.0.0.1:${port}`)
      if (![proxy.url, proxy.admin].some(u => u.endsWith(`:${port}`))) break
      await proxy.close()
    }
    const r = await send(proxy.url + '/x')
    expect(r.status).to.equal(502)
    expect(r.headers['content-type']).to.equal('text/plain; charset=utf-8')
    expect(r.headers['cache-status']).to.match(/detail=upstream-refused/)
    expect(r.text).to.match(/^502 Bad Gateway: /)
    const metrics = await (await fetch(proxy.admin + '/metrics')).text()
    expect(metrics).to.match(/cachefront_upstream_errors_total\{reason="refused"\} 1/)
    expect(metrics).to.match(/cachefront_requests_total\{cache_status="error"\} 1/)
  })

  it('answers 504 when the upstream is slower than the response timeout', async () => {
    await serve((_req, res) => { setTimeout(() => res.end('late'), 2000) }, { timeouts: { response: '150ms' } })
    const started = Date.now()
    const r = await send(proxy!.url + '/slow')
    expect(r.status).to.equal(504)
    expect(r.headers['cache-status']).to.match(/detail=upstream-timeout/)
    expect(Date.now() - started).to.be.below(1000)
  })

  it('answers 504 when connecting takes longer than the connect timeout', async function () {
    // A listener whose accept queue is full drops further SYNs, so connecting hangs. Node
    // always accepts, so the listener is a Python one that never does (skipped without python3).
    const holder = spawn('python3', ['-c', HOLD_PY], { stdio: ['ignore', 'pipe', 'ignore'] })
    holder.on('error', () => {})
    const port = await new Promise<number | undefined>(resolve => {
      holder.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())))
      holder.once('error', () => resolve(undefined))
    })
    if (port === undefined) return this.skip()
    const fillers = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')]
    try {
      await sleep(50)
      proxy = await startProxy(`http://127.0.0.1:${port}`, { timeouts: { connect: '150ms', response: '5s' } })
      const started = Date.now()
      const r = await send(proxy.url + '/c')
      expect(r.status).to.equal(504)
      expect(r.text).to.match(/did not answer in time/)
      expect(Date.now() - started).to.be.within(140, 1500)
    } finally {
      for (const f of fillers) f.destroy()
      holder.kill()
    }
  })

  it('answers 502 when the upstream resets before answering', async () => {
    await serve(req => req.socket.destroy())
    const r = await send(proxy!.url + '/reset')
    expect(r.status).to.equal(502)
    expect(r.headers['cache-status']).to.match(/detail=upstream-reset/)
  })

  it('answers 502 for a response that is not HTTP, and keeps serving', async () => {
    const garbage = net.createServer(s => s.once('data', () => s.end('SMTP ready\r\n\r\n')))
    garbage.listen(0, '127.0.0.1')
    await new Promise(resolve => garbage.once('listening', resolve))
    try {
      proxy = await startProxy(`http://127.0.0.1:${(garbage.address() as AddressInfo).port}`)
      const r = await send(proxy.url + '/bad')
      expect(r.status).to.equal(502)
      expect(r.headers['cache-status']).to.match(/detail=upstream-(protocol|reset)/)
      expect((await send(proxy.url + '/bad')).status).to.equal(502)
    } finally {
      garbage.close()
    }
  })

  it('cuts the client connection when the upstream fails mid-body, and stores nothing', async () => {
    let n = 0
    await serve((req, res) => {
      n++
      res.writeHead(200, { 'content-length': '100', 'cache-control': 'max-age=60' })
      res.write('x'.repeat(40))
      setTimeout(() => req.socket.destroy(), 20)
    })
    const r = await fetchRaw(proxy!.url + '/cut')
    expect(r.status).to.equal(200)
    expect(r.error).to.be.a('string')
    expect(r.body.length).to.be.below(100)
    await fetchRaw(proxy!.url + '/cut')
    expect(n).to.equal(2)
  })

  it('cuts the client connection when the body stalls past the response timeout', async () => {
    await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '10' })
      res.write('12345')
    }, { timeouts: { response: '150ms' } })
    const r = await fetchRaw(proxy!.url + '/stall')
    expect(r.status).to.equal(200)
    expect(r.error).to.be.a('string')
  })

  it('retries a request without a body once when a kept-alive connection was closed under it', async () => {
    let served = 0
    const perSocket = new WeakMap<object, number>()
    await serve((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1
      perSocket.set(req.socket, n)
      // The second request on a connection finds it closing: the keep-alive race.
      if (n === 2) return void req.socket.destroy()
      served++
      res.end('ok')
    })
    expect((await send(proxy!.url + '/k1')).status).to.equal(200)
    const r = await send(proxy!.url + '/k2')
    expect(r.status).to.equal(200)
    expect(served).to.equal(2)
    // k1, k2 on the kept-alive connection (reset), k2 again on a new one.
    expect(origin!.requests.map(q => q.url)).to.deep.equal(['/k1', '/k2', '/k2'])
  })

  it('never crashes on an invalid status line from the upstream', async () => {
    const odd = net.createServer(s => s.once('data', () => s.end('HTTP/1.1 99 Odd\r\ncontent-length: 0\r\n\r\n')))
    odd.listen(0, '127.0.0.1')
    await new Promise(resolve => odd.once('listening', resolve))
    try {
      proxy = await startProxy(`http://127.0.0.1:${(odd.address() as AddressInfo).port}`)
      const r = await send(proxy.url + '/odd')
      expect(r.status).to.equal(502)
    } finally {
      odd.close()
    }
  })
})

describe('proxy: closing', function () {
  this.timeout(10_000)

  it('finishes in-flight requests, refuses new ones, and reports not ready', async () => {
    const origin = await startOrigin((_req, res) => { setTimeout(() => res.end('done'), 200) })
    const proxy = await startProxy(origin.url, { timeouts: { shutdown: '5s' } })
    try {
      const inFlight = send(proxy.url + '/slow')
      await sleep(50)
      expect(proxy.proxy.ready).to.equal(true)
      const closed = proxy.close()
      expect(proxy.proxy.ready).to.equal(false)
      const r = await inFlight
      expect([r.status, r.text]).to.deep.equal([200, 'done'])
      await closed
      const after = await fetchRaw(proxy.url + '/slow')
      expect(after.error).to.match(/ECONNREFUSED/)
    } finally {
      await origin.close()
    }
  })

  it('cuts what is still open after the shutdown timeout, WebSockets included', async () => {
    const origin = await startOrigin(() => {})
    origin.server.on('upgrade', (_req, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
      socket.on('end', () => socket.end())
    })
    const proxy = await startProxy(origin.url, { timeouts: { shutdown: '150ms' } })
    try {
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const req = http.request(proxy.url + '/ws', { headers: { connection: 'Upgrade', upgrade: 'websocket' } })
        req.on('upgrade', (_res, s) => resolve(s))
        req.on('error', reject)
        req.end()
      })
      const hanging = fetchRaw(proxy.url + '/never')
      await sleep(50)
      const started = Date.now()
      await proxy.close()
      expect(Date.now() - started).to.be.within(100, 2000)
      expect((await hanging).error).to.be.a('string')
      await new Promise(resolve => socket.destroyed ? resolve(undefined) : socket.once('close', resolve))
    } finally {
      await origin.close()
    }
  })
})
