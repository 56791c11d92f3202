/**
 * Cache warming: what each answer's X-Cache / Cache-Status says (classify), URL lists and
 * sitemaps, `cache.warm(urls)` against an app, `cachefront-proxy warm` against a running proxy,
 * and the proxy's `warm` setting at startup.
 */
import { expect } from 'chai'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { classify, parseSitemap, parseUrlList, type WarmUrlResult } from '../src/warm.js'
import { loadWarmList } from '../proxy/warm.js'
import { startApp, type App } from './support/apps.js'
import { send } from './support/http.js'
import { runBinary, startOrigin, startProxy, type Child, type Origin, type Running } from './proxy/support.js'

function tempFile (name: string, content: string | Buffer): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'cachefront-warm-')), name)
  writeFileSync(file, content)
  return file
}

/** An origin with one path per outcome. */
function answer (url: string, res: import('node:http').ServerResponse): void {
  if (url.startsWith('/nostore')) res.setHeader('cache-control', 'no-store')
  else if (url.startsWith('/swr')) res.setHeader('cache-control', 'max-age=0, stale-while-revalidate=60')
  else if (url.startsWith('/boom')) res.statusCode = 500
  else if (url.startsWith('/missing')) res.statusCode = 404
  else res.setHeader('cache-control', 'max-age=60')
  res.end(`body of ${url}`)
}

describe('warming', function () {
  this.timeout(30_000)

  describe('classify', () => {
    const cases: [string | undefined, string | undefined, string][] = [
      ['HIT', 'cachefront; hit', 'fresh'],
      ['STALE', 'cachefront; hit; detail=stale-while-revalidate', 'stale'],
      ['REVALIDATED', 'cachefront; fwd=stale; fwd-status=304', 'stored'],
      ['MISS', 'cachefront; fwd=uri-miss; stored', 'stored'],
      ['EXPIRED', 'cachefront; fwd=stale; stored', 'stored'],
      ['MISS', 'cachefront; fwd=uri-miss; detail=no-store', 'not-cacheable'],
      ['BYPASS', 'cachefront; fwd=bypass; detail=route', 'not-cacheable'],
      [undefined, 'cdn; hit, cachefront; fwd=uri-miss; stored', 'stored'],
      [undefined, 'cachefront; hit', 'fresh'],
      [undefined, 'cachefront; hit; detail=stale-while-revalidate', 'stale'],
      [undefined, undefined, 'not-cacheable'],
    ]
    for (const [xCache, cacheStatus, outcome] of cases) {
      it(`X-Cache ${xCache ?? '(none)'}, Cache-Status ${cacheStatus ?? '(none)'}: ${outcome}`, () => {
        expect(classify(xCache, cacheStatus)[0]).to.equal(outcome)
      })
    }
  })

  describe('lists', () => {
    it('reads one URL per line, skipping blank lines and # comments', () => {
      expect(parseUrlList('# pages\n/a\n\n  /b?x=1  # the b page\r\nhttp://h/c#frag\n')).to.deep.equal(['/a', '/b?x=1', 'http://h/c#frag'])
    })

    it('reads a sitemap\'s <loc>s (entities decoded, CDATA and namespaces allowed) and tells an index apart', () => {
      const urlset = `<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <url><loc>https://shop.example/a?x=1&amp;y=2</loc><lastmod>2026-01-01</lastmod></url>
        <url><loc><![CDATA[https://shop.example/b]]></loc></url></urlset>`
      expect(parseSitemap(urlset)).to.deep.equal({ index: false, urls: ['https://shop.example/a?x=1&y=2', 'https://shop.example/b'] })
      const index = '<sm:sitemapindex xmlns:sm="x"><sm:sitemap><sm:loc>https://shop.example/s1.xml</sm:loc></sm:sitemap></sm:sitemapindex>'
      expect(parseSitemap(index)).to.deep.equal({ index: true, urls: ['https://shop.example/s1.xml'] })
    })

    it('follows a sitemap index, reads gzipped sitemaps, and drops duplicates', async () => {
      const origin = await startOrigin((req, res) => {
        if (req.url === '/s1.xml') return void res.end('<urlset><url><loc>/a</loc></url><url><loc>/b</loc></url></urlset>')
        res.end(gzipSync('<urlset><url><loc>/b</loc></url><url><loc>/c</loc></url></urlset>'))
      })
      try {
        const index = tempFile('index.xml', `<sitemapindex><sitemap><loc>${origin.url}/s1.xml</loc></sitemap><sitemap><loc>${origin.url}/s2.xml.gz</loc></sitemap></sitemapindex>`)
        expect(await loadWarmList({ urls: ['/a'], sitemap: index })).to.deep.equal(['/a', '/b', '/c'])
        const gz = tempFile('sitemap.xml.gz', gzipSync('<urlset><url><loc>/z</loc></url></urlset>'))
        expect(await loadWarmList({ sitemap: gz })).to.deep.equal(['/z'])
      } finally {
        await origin.close()
      }
    })
  })

  describe('cache.warm(urls)', () => {
    let app: App
    beforeEach(async () => { app = await startApp({}, (req, res) => answer(req.url ?? '/', res)) })
    afterEach(() => app.close())

    it('counts stored, already fresh, stale, not cacheable and failed', async () => {
      const urls = ['/a', '/b', '/swr', '/nostore', '/boom', '/missing', 'http://127.0.0.1:1/refused', 'ftp://example/x']
      const seen: WarmUrlResult[] = []
      const first = await app.cache.warm(urls, { base: app.url, concurrency: 3, onResult: r => seen.push(r) })
      expect(first).to.include({ total: 8, stored: 3, fresh: 0, stale: 0, notCacheable: 1, failed: 4 })
      expect(first.failures.map(f => f.url).sort()).to.deep.equal(['/boom', '/missing', 'ftp://example/x', 'http://127.0.0.1:1/refused'])
      expect(first.failures.find(f => f.url === '/boom')).to.include({ status: 500, error: 'status 500' })
      expect(seen).to.have.length(8)

      const second = await app.cache.warm(urls.slice(0, 4), { base: app.url })
      expect(second).to.include({ total: 4, stored: 0, fresh: 2, stale: 1, notCacheable: 1, failed: 0 })
      expect((await send(app.url + '/a')).headers['x-cache']).to.equal('HIT')
    })

    it('warms absolute URLs, and runs no more than `concurrency` requests at once', async () => {
      let inFlight = 0
      let most = 0
      const slow = await startOrigin((req, res) => {
        inFlight++
        most = Math.max(most, inFlight)
        setTimeout(() => {
          inFlight--
          res.setHeader('cache-control', 'max-age=60')
          res.end('x')
        }, 20)
      })
      try {
        const urls = Array.from({ length: 12 }, (_, i) => `${slow.url}/p${i}`)
        const report = await app.cache.warm(urls, { concurrency: 3 })
        // The origin answers directly here (no cache in front): answered, not stored.
        expect(report).to.include({ total: 12, notCacheable: 12 })
        expect(most).to.equal(3)
      } finally {
        await slow.close()
      }
    })

    it('says a path needs a base URL', async () => {
      const report = await app.cache.warm(['/a'])
      expect(report.failed).to.equal(1)
      expect(report.failures[0].error).to.match(/needs a base URL/)
    })
  })

  describe('the proxy', () => {
    let origin: Origin
    let proxy: Running
    const children: Child[] = []
    beforeEach(async () => { origin = await startOrigin((req, res) => answer(req.url ?? '/', res)) })
    afterEach(async () => {
      for (const c of children.splice(0)) if (c.process.exitCode === null) c.process.kill('SIGKILL')
      await proxy?.close()
      await origin.close()
    })

    it('cachefront-proxy warm --urls: a line per URL off a terminal, a summary, exit 0; then all fresh', async () => {
      proxy = await startProxy(origin.url)
      const list = tempFile('urls.txt', '# warm these\n/a\n/b\n/nostore\n')
      const first = runBinary(['warm', '--urls', list, '--concurrency', '2', '--target', proxy.url])
      children.push(first)
      expect((await first.exited).code, first.stderr()).to.equal(0)
      const out = first.stdout()
      expect(out).to.match(/\[1\/3\] (stored|not-cacheable) +200/)
      expect(out).to.match(/stored +2\n/)
      expect(out).to.match(/not cacheable +1\n/)
      expect(out).to.match(/failed +0\n/)
      expect((await send(proxy.url + '/a')).headers['x-cache']).to.equal('HIT')

      const second = runBinary(['warm', '--urls', list, '--target', proxy.url, '--json'])
      children.push(second)
      expect((await second.exited).code).to.equal(0)
      expect(JSON.parse(second.stdout())).to.include({ total: 3, stored: 0, fresh: 2, notCacheable: 1, failed: 0 })
    })

    it('cachefront-proxy warm --sitemap keeps each URL\'s host, and exits 1 when some failed', async () => {
      proxy = await startProxy(origin.url)
      const sitemap = tempFile('sitemap.xml', '<urlset><url><loc>http://shop.example/a</loc></url><url><loc>http://shop.example/boom</loc></url></urlset>')
      const run = runBinary(['warm', '--sitemap', sitemap, '--target', proxy.url])
      children.push(run)
      expect((await run.exited).code).to.equal(1)
      expect(run.stdout()).to.include('failed: http://shop.example/boom (status 500)')
      // Keyed as shop.example's clients will ask for it.
      expect((await send(proxy.url + '/a', { headers: { host: 'shop.example' } })).headers['x-cache']).to.equal('HIT')
      expect((await send(proxy.url + '/a')).headers['x-cache']).to.equal('MISS')
    })

    it('cachefront-proxy warm: usage errors exit 2', async () => {
      const none = runBinary(['warm'])
      const bad = runBinary(['warm', '--urls', 'x.txt', '--concurrency', 'lots'])
      const help = runBinary(['warm', '--help'])
      children.push(none, bad, help)
      expect((await none.exited).code).to.equal(2)
      expect(none.stderr()).to.match(/give --urls <file> or --sitemap/)
      expect((await bad.exited).code).to.equal(2)
      expect(bad.stderr()).to.match(/--concurrency: expected an integer/)
      expect((await help.exited).code).to.equal(0)
      expect(help.stdout()).to.match(/^Usage: cachefront-proxy warm/)
    })

    it('warms the config\'s `warm` list once listening', async () => {
      proxy = await startProxy(origin.url, { warm: ['/a', '/b', '/boom'] })
      const report = await proxy.proxy.warming
      expect(report).to.include({ total: 3, stored: 2, failed: 1 })
      expect((await send(proxy.url + '/b')).headers['x-cache']).to.equal('HIT')
    })

    it('warms from a file and a sitemap named in the config', async () => {
      const file = tempFile('urls.txt', '/a\n')
      const sitemap = tempFile('sitemap.xml', '<urlset><url><loc>/b</loc></url></urlset>')
      proxy = await startProxy(origin.url, { warm: { urls: ['/c'], file, sitemap, concurrency: 2 } })
      expect(await proxy.proxy.warming).to.include({ total: 3, stored: 3 })
    })
  })
})
