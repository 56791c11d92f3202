/**
 * The dashboard's routes, without a browser: the page and its assets, the token on every data
 * route, the event stream's JSON snapshots, purging; on the proxy's admin listener, mounted in
 * Express at /_cache, and in Koa.
 */
import { expect } from 'chai'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Koa from 'koa'
import { createCache, type Cache, type DashboardSnapshot } from '../../src/index.js'
import { send, type Reply } from '../support/http.js'
import { freePort, runBinary, startOrigin, startProxy, type Origin, type Running } from '../proxy/support.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

const TOKEN = 'dashboard-test-token'
const auth = { authorization: `Bearer ${TOKEN}` }

/** Reads `count` server-sent events from `url`, then disconnects. */
function readEvents (url: string, count: number, headers: Record<string, string> = auth): Promise<{ status: number, headers: http.IncomingHttpHeaders, events: { event: string, data: string }[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, res => {
      const events: { event: string, data: string }[] = []
      let buffer = ''
      const done = () => {
        req.destroy()
        resolve({ status: res.statusCode ?? 0, headers: res.headers, events })
      }
      if (res.statusCode !== 200) {
        res.resume()
        res.on('end', done)
        return
      }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let end
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (event !== undefined && data !== undefined) events.push({ event, data })
          if (events.length === count) return done()
        }
      })
    })
    req.on('error', err => { if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err) })
  })
}

describe('dashboard routes', function () {
  this.timeout(15_000)

  describe('on the proxy\'s admin listener', () => {
    let origin: Origin
    let proxy: Running
    beforeEach(async () => {
      origin = await startOrigin((req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'surrogate-key': 'pages' })
        res.end(`${req.url}`)
      })
      proxy = await startProxy(origin.url, { admin: { token: TOKEN } })
    })
    afterEach(async () => {
      await proxy.close()
      await origin.close()
    })

    it('serves the page and its assets (uPlot from node_modules) without the token', async () => {
      const page = await send(proxy.admin + '/')
      expect(page.status).to.equal(200)
      expect(page.headers['content-type']).to.match(/^text\/html/)
      expect(page.headers['content-security-policy']).to.include("script-src 'self'")
      expect(page.text).to.include('cachefront-proxy').and.include('assets/uPlot.iife.min.js').and.not.include('{{title}}')
      for (const [asset, type] of [['uPlot.iife.min.js', 'text/javascript'], ['uPlot.min.css', 'text/css'], ['dashboard.js', 'text/javascript'], ['dashboard.css', 'text/css']]) {
        const r = await send(`${proxy.admin}/assets/${asset}`)
        expect(r.status, asset).to.equal(200)
        expect(r.headers['content-type']).to.match(new RegExp(`^${type}`))
        expect(r.body.length).to.be.above(500)
      }
      expect((await send(proxy.admin + '/assets/../package.json')).status).to.equal(404)
      expect((await send(proxy.admin + '/assets/nothing.js')).status).to.equal(404)
    })

    it('answers 401 on every data route without the token or with a wrong one', async () => {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }] as Record<string, string>[]) {
        for (const [method, path] of [['GET', '/api/snapshot'], ['GET', '/api/events'], ['POST', '/api/purge']]) {
          const r = await send(proxy.admin + path, { method, headers, body: method === 'POST' ? '{"all":true}' : undefined })
          expect(r.status, `${method} ${path} ${JSON.stringify(headers)}`).to.equal(401)
          expect(r.headers['www-authenticate']).to.match(/^Bearer/)
        }
      }
    })

    it('sends JSON snapshots on the event stream, matching /stats', async () => {
      for (const p of ['/a', '/a', '/b']) await send(proxy.url + p)
      const { status, headers, events } = await readEvents(proxy.admin + '/api/events', 2)
      expect(status).to.equal(200)
      expect(headers['content-type']).to.match(/^text\/event-stream/)
      expect(headers['cache-control']).to.equal('no-store')
      expect(events.map(e => e.event)).to.deep.equal(['snapshot', 'snapshot'])
      const snapshot = JSON.parse(events[1].data) as DashboardSnapshot
      const stats = JSON.parse((await send(proxy.admin + '/stats')).text).cache
      expect(snapshot.totals).to.include({ hits: stats.hits, misses: stats.misses, entries: stats.entries })
      expect(snapshot.totals).to.include({ hits: 1, misses: 2 })
      expect(snapshot.top.hits).to.deep.equal([{ path: '/a', count: 1 }])
      expect(snapshot.series.time.length).to.equal(snapshot.series.hits.length)
      expect(snapshot.l1.maxBytes).to.equal(64 * 1024 * 1024)
    })

    it('purges through /api/purge, counts it in /metrics, and lists it in the snapshot', async () => {
      await send(proxy.url + '/a')
      expect((await send(proxy.url + '/a')).headers['x-cache']).to.equal('HIT')
      const bad = await send(proxy.admin + '/api/purge', { method: 'POST', headers: auth, body: '{"tag":""}' })
      expect(bad.status).to.equal(400)
      const r = await send(proxy.admin + '/api/purge', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"tag":"pages"}' })
      expect(r.status).to.equal(200)
      expect(JSON.parse(r.text)).to.deep.equal({ purged: 1, tag: 'pages' })
      expect((await send(proxy.url + '/a')).headers['x-cache']).to.equal('MISS')
      expect((await send(proxy.admin + '/metrics')).text).to.match(/cachefront_purges_total\{kind="tag"\} 1/)
      const snapshot = JSON.parse((await send(proxy.admin + '/api/snapshot', { headers: auth })).text) as DashboardSnapshot
      expect(snapshot.purges[0]).to.include({ kind: 'tag', value: 'pages', purged: 1 })
    })

    it('keeps the admin API where it was', async () => {
      expect((await send(proxy.admin + '/healthz')).status).to.equal(200)
      expect((await send(proxy.admin + '/stats')).status).to.equal(200)
      expect((await send(proxy.admin + '/nothing')).status).to.equal(404)
    })
  })

  it('answers 403 on the data routes when the proxy has no admin token', async () => {
    const origin = await startOrigin((_req, res) => res.end('x'))
    const proxy = await startProxy(origin.url)
    try {
      expect((await send(proxy.admin + '/')).status).to.equal(200)
      const r = await send(proxy.admin + '/api/snapshot', { headers: auth })
      expect(r.status).to.equal(403)
      expect(JSON.parse(r.text).error).to.match(/needs a token/)
    } finally {
      await proxy.close()
      await origin.close()
    }
  })

  it('with --workers 2: the primary sums the workers, warms once, and lists its purges once', async () => {
    const origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      res.end(`${req.url}`)
    })
    const port = await freePort()
    const adminPort = await freePort()
    const admin = `http://127.0.0.1:${adminPort}`
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cachefront-dashboard-')), 'cachefront.yaml')
    writeFileSync(file, `upstream: ${origin.url}\nwarm: [/a, /b, /c]\nlog: { level: warn }\n`)
    const child = runBinary(['-c', file, '--host', '127.0.0.1', '-p', String(port), '--admin-port', String(adminPort), '--workers', '2'], { CACHEFRONT_ADMIN_TOKEN: TOKEN })
    try {
      let snapshot: DashboardSnapshot | undefined
      for (let i = 0; ; i++) {
        const r = await send(admin + '/api/snapshot', { headers: auth }).catch(() => undefined)
        if (r?.status === 200) {
          snapshot = JSON.parse(r.text) as DashboardSnapshot
          if (snapshot.processes === 2 && snapshot.totals.misses >= 3) break
        }
        if (i > 300) throw new Error(`no snapshot of 2 warmed workers: ${r?.text} ${child.stdout()} ${child.stderr()}`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      // Warmed once (three misses in all, not three per worker).
      expect(origin.count()).to.equal(3)
      expect(snapshot.totals.misses).to.equal(3)
      expect(snapshot.l1.maxBytes).to.equal(2 * 64 * 1024 * 1024)
      const purge = await send(admin + '/api/purge', { method: 'POST', headers: auth, body: '{"all":true}' })
      expect(purge.status).to.equal(200)
      const after = JSON.parse((await send(admin + '/api/snapshot', { headers: auth })).text) as DashboardSnapshot
      expect(after.purges.map(p => p.kind)).to.deep.equal(['all'])
    } finally {
      child.process.kill('SIGTERM')
      const exit = await child.exited
      await origin.close()
      expect(exit).to.deep.equal({ code: 0, signal: null })
    }
  })

  describe('mounted in an app', () => {
    let cache: Cache
    let server: http.Server | undefined
    let base: string
    const listen = async (handler: http.RequestListener) => {
      const s = server = http.createServer(handler)
      s.listen(0, '127.0.0.1')
      await new Promise(resolve => s.once('listening', resolve))
      base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`
    }
    beforeEach(() => { cache = createCache({ logger: { debug () {}, info () {}, warn () {}, error () {} } }) })
    afterEach(async () => {
      const s = server
      server = undefined
      if (s !== undefined) {
        s.closeAllConnections()
        await new Promise(resolve => s.close(resolve))
      }
      await cache.close()
    })

    it('requires a token to be created', () => {
      expect(() => cache.dashboard({} as { token: string })).to.throw(TypeError, /token is required/)
      expect(() => cache.dashboard({ token: '' })).to.throw(TypeError, /token is required/)
    })

    it('in Express at /_cache: redirects to the slash, serves the page, guards the data, purges behind express.json()', async () => {
      const app = express()
      app.use(express.json())
      app.use('/_cache', cache.dashboard({ token: TOKEN, title: 'shop <cache>' }))
      app.use(cache.express())
      app.get('/p/:id', (_req, res) => { res.set('cache-control', 'max-age=60').send('product') })
      await listen(app)

      const redirect = await send(base + '/_cache')
      expect(redirect.status).to.equal(301)
      expect(redirect.headers.location).to.equal('/_cache/')
      const page = await send(base + '/_cache/')
      expect(page.status).to.equal(200)
      expect(page.text).to.include('shop &#60;cache&#62;')
      expect((await send(base + '/_cache/assets/uPlot.iife.min.js')).status).to.equal(200)
      expect((await send(base + '/_cache/api/snapshot')).status).to.equal(401)

      await send(base + '/p/1')
      await send(base + '/p/1')
      const snapshot = JSON.parse((await send(base + '/_cache/api/snapshot', { headers: auth })).text) as DashboardSnapshot
      expect(snapshot.totals).to.include({ hits: 1, misses: 1 })
      const purge: Reply = await send(base + '/_cache/api/purge', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ url: '/p/1' }) })
      expect(JSON.parse(purge.text)).to.deep.equal({ purged: 1, url: '/p/1' })
      expect((await send(base + '/p/1')).headers['x-cache']).to.equal('MISS')
      // Paths it does not serve go on to the rest of the app.
      expect((await send(base + '/_cache/elsewhere')).status).to.equal(404)
    })

    it('in Koa with koaDashboard at its prefix; other paths go on down the chain', async () => {
      const app = new Koa()
      app.use(cache.koaDashboard({ token: TOKEN, prefix: '/_cache' }))
      app.use(cache.koa())
      app.use(ctx => {
        ctx.set('cache-control', 'max-age=60')
        ctx.body = `page ${ctx.path}`
      })
      await listen(app.callback())
      expect((await send(base + '/_cache')).status).to.equal(301)
      expect((await send(base + '/_cache/')).text).to.include('<title>cachefront')
      expect((await send(base + '/_cache/api/snapshot')).status).to.equal(401)
      expect((await send(base + '/hello')).text).to.equal('page /hello')
      await send(base + '/hello')
      const { events } = await readEvents(base + '/_cache/api/events', 1)
      expect(JSON.parse(events[0].data).totals).to.include({ hits: 1, misses: 1 })
    })

    it('ends its open event streams when the cache closes', async () => {
      await listen(cache.dashboard({ token: TOKEN, interval: 50 }) as unknown as http.RequestListener)
      const ended = new Promise<number>((resolve, reject) => {
        http.get(base + '/api/events', { headers: auth, agent: false }, res => {
          let events = 0
          res.setEncoding('utf8')
          res.on('data', (c: string) => { events += c.split('event: snapshot').length - 1 })
          res.on('end', () => resolve(events))
        }).on('error', reject)
      })
      await new Promise(resolve => setTimeout(resolve, 200))
      await cache.close()
      expect(await ended).to.be.at.least(2)
      cache = createCache()
    })
  })
})
