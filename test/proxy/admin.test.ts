/**
 * The admin API (purge with its token, stats, metrics, health, readiness), PURGE on the main
 * port, and the access log.
 */
import { expect } from 'chai'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { send, type Reply } from '../support/http.js'
import { startOrigin, startProxy, type Origin, type Running } from './support.js'

const TOKEN = 'a-long-enough-test-token'

describe('proxy: admin API', function () {
  this.timeout(10_000)
  let origin: Origin
  let proxy: Running

  beforeEach(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'surrogate-key': req.url?.startsWith('/r') ? 'reports' : 'other' })
      res.end(`${req.url} #${origin.count()}`)
    })
  })
  afterEach(async () => {
    await proxy.close()
    await origin.close()
  })

  const purge = (body: unknown, token?: string): Promise<Reply> => send(proxy.admin + '/purge', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const cached = async (path: string) => (await send(proxy.url + path)).headers['x-cache'] === 'HIT'

  describe('with a token', () => {
    beforeEach(async () => { proxy = await startProxy(origin.url, { admin: { token: TOKEN } }) })

    it('purges by url, tag, prefix, key and all', async () => {
      for (const p of ['/a', '/r/1', '/r/2', '/b']) await send(proxy.url + p)
      expect(JSON.parse((await purge({ url: '/a' }, TOKEN)).text)).to.deep.equal({ purged: 1, url: '/a' })
      expect(await cached('/a')).to.equal(false)
      expect(await cached('/b')).to.equal(true)
      expect((await purge({ tag: 'reports' }, TOKEN)).status).to.equal(200)
      expect(await cached('/r/1')).to.equal(false)
      expect((await purge({ prefix: '/r/' }, TOKEN)).status).to.equal(200)
      expect(await cached('/r/2')).to.equal(false)
      // A key as the engine builds it: namespace, method, resource, then the forwarded host and protocol.
      const key = `${proxy.proxy.config.cache.namespace!}:GET:/b?:h=x-forwarded-host=${encodeURIComponent(new URL(proxy.url).host)}:h=x-forwarded-proto=http`
      expect(JSON.parse((await purge({ key }, TOKEN)).text).purged).to.equal(1)
      expect(await cached('/b')).to.equal(false)
      expect((await purge({ all: true }, TOKEN)).status).to.equal(200)
      expect(await cached('/b')).to.equal(false)
      const metrics = await (await send(proxy.admin + '/metrics')).text
      expect(metrics).to.match(/cachefront_purges_total\{kind="url"\} 1/)
      expect(metrics).to.match(/cachefront_purges_total\{kind="all"\} 1/)
    })

    it('answers 401 without a token or with a wrong one, and purges nothing', async () => {
      await send(proxy.url + '/a')
      const none = await purge({ all: true })
      expect(none.status).to.equal(401)
      expect(none.headers['www-authenticate']).to.match(/^Bearer/)
      expect((await purge({ all: true }, TOKEN + 'x')).status).to.equal(401)
      expect((await purge({ all: true }, 'short')).status).to.equal(401)
      expect((await send(proxy.admin + '/purge', { method: 'POST', headers: { authorization: `Basic ${TOKEN}` }, body: '{"all":true}' })).status).to.equal(401)
      expect(await cached('/a')).to.equal(true)
    })

    it('answers 400 for a body that is not one of the purge shapes', async () => {
      for (const body of ['not json', { url: '/a', tag: 'x' }, { all: false }, { tag: '' }, { nothing: 1 }, []]) {
        const r = await purge(body, TOKEN)
        expect(r.status, JSON.stringify(body)).to.equal(400)
        expect(JSON.parse(r.text).error).to.match(/exactly one of "url", "key", "tag", "prefix"/)
      }
    })

    it('accepts PURGE <path> on the main port with the same token', async () => {
      await send(proxy.url + '/p?x=1')
      expect((await send(proxy.url + '/p?x=1', { method: 'PURGE' })).status).to.equal(401)
      const r = await send(proxy.url + '/p?x=1', { method: 'PURGE', headers: { authorization: `Bearer ${TOKEN}` } })
      expect(r.status).to.equal(200)
      expect(JSON.parse(r.text)).to.deep.equal({ purged: 1, url: '/p?x=1' })
      expect(await cached('/p?x=1')).to.equal(false)
      expect(origin.requests.some(q => q.method === 'PURGE')).to.equal(false)
    })

    it('serves stats, metrics, health and readiness', async () => {
      await send(proxy.url + '/s')
      await send(proxy.url + '/s')
      const stats = JSON.parse((await send(proxy.admin + '/stats')).text)
      expect(stats.cache).to.include({ hits: 1, misses: 1, stores: 1, entries: 1 })
      expect(stats.requests).to.deep.equal({ miss: 1, hit: 1 })
      const metrics = await send(proxy.admin + '/metrics')
      expect(metrics.headers['content-type']).to.match(/^text\/plain/)
      for (const line of [
        /^cachefront_requests_total\{cache_status="hit"\} 1$/m,
        /^cachefront_requests_total\{cache_status="miss"\} 1$/m,
        /^cachefront_hit_ratio 0\.5$/m,
        /^cachefront_origin_duration_seconds_count 1$/m,
        /^cachefront_l1_entries 1$/m,
        /^cachefront_l1_bytes \d+$/m,
        /^cachefront_cache_events_total\{event="stored"\} 1$/m,
        /^cachefront_cache_events_total\{event="hit_for_miss"\} 0$/m,
        /^cachefront_l2_errors_total 0$/m,
      ]) expect(metrics.text).to.match(line)
      expect((await send(proxy.admin + '/healthz')).status).to.equal(200)
      const ready = await send(proxy.admin + '/readyz')
      expect(ready.status).to.equal(200)
      expect(JSON.parse(ready.text)).to.deep.equal({ ready: true, redis: 'none' })
      expect((await send(proxy.admin + '/nope')).status).to.equal(404)
      expect((await send(proxy.admin + '/stats', { method: 'DELETE' })).status).to.equal(405)
    })
  })

  describe('without a token', () => {
    beforeEach(async () => { proxy = await startProxy(origin.url) })

    it('refuses to purge (403), on the admin port and with PURGE alike', async () => {
      const r = await purge({ all: true }, 'anything')
      expect(r.status).to.equal(403)
      expect(JSON.parse(r.text).error).to.match(/purging is disabled: configure admin\.token/)
      expect((await send(proxy.url + '/x', { method: 'PURGE' })).status).to.equal(403)
    })
  })

  describe('with purgeMethod off', () => {
    beforeEach(async () => { proxy = await startProxy(origin.url, { admin: { token: TOKEN, purgeMethod: false } }) })

    it('passes PURGE to the upstream like any other method', async () => {
      await send(proxy.url + '/x', { method: 'PURGE' })
      expect(origin.requests[0].method).to.equal('PURGE')
    })
  })
})

describe('proxy: access log', function () {
  it('writes one line per request: method, path, status, cache status, upstream and total time', async () => {
    const lines: Record<string, unknown>[] = []
    const sink = new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(chunk.toString())); done() } })
    const origin = await startOrigin((_req, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end('x') })
    const proxy = await startProxy(origin.url, { log: { level: 'info', access: 'info' } }, { logger: pino({ level: 'info' }, sink) })
    try {
      await send(proxy.url + '/log?q=1')
      await send(proxy.url + '/log?q=1')
      const access = lines.filter(l => l.component === 'access')
      expect(access).to.have.length(2)
      expect(access[0]).to.include({ method: 'GET', url: '/log?q=1', status: 200, cache: 'miss' })
      expect(access[0].upstreamMs).to.be.a('number')
      expect(access[0].ms).to.be.a('number')
      expect(access[1]).to.include({ cache: 'hit' })
      expect(access[1].upstreamMs).to.equal(undefined)
      const started = lines.find(l => typeof l.msg === 'string' && l.msg.startsWith('cachefront-proxy listening on'))
      expect(started).to.include({ listen: proxy.url, admin: proxy.admin })
    } finally {
      await proxy.close()
      await origin.close()
    }
  })

  it('counts every request in the metrics when off: hits answered at once, 304s, HEADs, misses and errors', async () => {
    const origin = await startOrigin((req, res) => {
      if (req.url === '/gone') return void res.destroy()
      res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"v1"' })
      res.end('x')
    })
    const proxy = await startProxy(origin.url, { log: { level: 'silent', access: false } })
    try {
      await send(proxy.url + '/n')
      await send(proxy.url + '/n')
      await send(proxy.url + '/n', { method: 'HEAD' })
      expect((await send(proxy.url + '/n', { headers: { 'if-none-match': '"v1"' } })).status).to.equal(304)
      expect((await send(proxy.url + '/gone')).status).to.equal(502)
      expect(proxy.proxy.metrics.requestCounts).to.deep.equal({ miss: 1, hit: 3, error: 1 })
    } finally {
      await proxy.close()
      await origin.close()
    }
  })

  it('can be turned off', async () => {
    const lines: string[] = []
    const sink = new Writable({ write (chunk, _enc, done) { lines.push(chunk.toString()); done() } })
    const origin = await startOrigin((_req, res) => res.end('x'))
    const proxy = await startProxy(origin.url, { log: { level: 'info', access: false } }, { logger: pino({ level: 'info' }, sink) })
    try {
      await send(proxy.url + '/quiet')
      expect(lines.filter(l => l.includes('"component":"access"'))).to.have.length(0)
    } finally {
      await proxy.close()
      await origin.close()
    }
  })
})
