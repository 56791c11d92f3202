/**
 * The dashboard in a real browser: Debian's headless Chromium driven by playwright-core, against
 * the proxy in front of a test origin, under traffic. The page must show what `/stats` says,
 * update without a reload, and purge a tag through its form. A screenshot is saved to
 * test/artifacts/dashboard.png.
 *
 * Its own suite (npm run test:browser; .mocharc.browser.json), so `npm test` stays fast.
 * Without /usr/bin/chromium it is skipped, saying so, unless CI=true, where it fails.
 */
import { expect } from 'chai'
import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type Locator, type Page } from 'playwright-core'
import { send, sleep } from '../support/http.js'
import { ROOT, startOrigin, startProxy, type Origin, type Running } from '../proxy/support.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const ARTIFACTS = path.join(ROOT, 'test', 'artifacts')
const TOKEN = 'browser-test-token-1234'

describe('dashboard in headless Chromium', function () {
  this.timeout(60_000)
  let origin: Origin
  let proxy: Running
  let browser: Browser
  let page: Page

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`)
      console.log(`    (skipped: ${CHROMIUM} is not installed; apt-get install -y chromium)`)
      return this.skip()
    }
    origin = await startOrigin((req, res) => {
      const url = req.url ?? '/'
      const tag = url.startsWith('/products/') ? 'products' : url.startsWith('/news/') ? 'news' : 'other'
      // A few milliseconds of "work", so the latency card has something to show.
      setTimeout(() => {
        if (url.startsWith('/private')) {
          res.writeHead(200, { 'cache-control': 'private, no-store', 'content-type': 'text/plain' })
        } else {
          res.writeHead(200, { 'cache-control': 'max-age=300', 'surrogate-key': tag, 'content-type': 'text/plain' })
        }
        res.end(`${url}: ${'x'.repeat(2000)}`)
      }, 2 + (url.length % 7) * 3)
    })
    proxy = await startProxy(origin.url, { admin: { token: TOKEN } })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS })
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  })

  after(async () => {
    await browser?.close()
    await proxy?.close()
    await origin?.close()
  })

  const get = (p: string, headers: Record<string, string> = {}) => send(proxy.url + p, { headers })
  /** A number the page shows, by its data-stat name (its exact value, not the formatted text). */
  const shown = async (name: string) => Number(await page.locator(`[data-stat="${name}"]`).first().getAttribute('data-value'))
  const stats = async () => JSON.parse((await send(proxy.admin + '/stats')).text) as { cache: Record<string, number> }

  /** Mixed traffic: mostly hits on a few products, some news, misses on new paths, uncacheable and POST requests. */
  async function traffic (round: number): Promise<void> {
    const batch: Promise<unknown>[] = []
    for (let i = 0; i < 15; i++) batch.push(get(`/products/${i % 5}`))
    for (let i = 0; i < 3; i++) batch.push(get(`/news/${i}`))
    batch.push(get(`/products/new-${round}`), get('/private/me'))
    batch.push(send(proxy.url + '/orders', { method: 'POST', body: '{}' }))
    await Promise.all(batch)
  }

  it('asks for the token, then shows the numbers /stats has, updating live', async () => {
    for (let round = 0; round < 4; round++) {
      await traffic(round)
      await sleep(300)
    }
    await page.goto(proxy.admin + '/')
    await page.locator('#login-form').waitFor({ state: 'visible' })
    // Nothing but the form until a token is accepted.
    expect(await page.locator('#main').isVisible()).to.equal(false)

    // A wrong token is refused with a message, and the form stays.
    await page.fill('#token', 'not-the-token')
    await page.click('#login-form button[type=submit]')
    await hasText(page.locator('#login-error'), 'not accepted')

    await page.fill('#token', TOKEN)
    await page.click('#login-form button[type=submit]')
    await page.locator('#connection.live').waitFor()
    await page.locator('#main').waitFor({ state: 'visible' })

    // Live: more traffic shows up without a reload.
    const before = await waitForNumber(() => shown('hits'), n => n > 0)
    for (let round = 4; round < 12; round++) {
      await traffic(round)
      await sleep(400)
    }
    await waitForNumber(() => shown('hits'), n => n > before)

    // Quiet now: what the page shows settles on exactly what /stats says.
    const s = (await stats()).cache
    for (const name of ['hits', 'misses', 'stale', 'bypassed', 'coalesced', 'stores', 'entries']) {
      await waitForNumber(() => shown(name), n => n === s[name], `${name} shown should be ${s[name]}`)
    }
    expect(await shown('requests')).to.equal(s.hits + s.misses + s.stale + s.revalidated + s.bypassed)
    const ratio = (s.hits + s.stale + s.revalidated) / (s.hits + s.stale + s.revalidated + s.misses)
    expect(await shown('hitRatio')).to.be.closeTo(ratio, 1e-9)
    expect(await page.locator('[data-stat="hitRatio"]').textContent()).to.equal(`${(ratio * 100).toFixed(1)}%`)
    expect(await shown('l1Bytes')).to.equal(s.bytes)
    expect(await shown('latencyCount')).to.be.above(0)
    expect(await page.locator('#l2-state').getAttribute('data-value')).to.equal('none')

    // The most hit paths are the products, and the misses include the new ones.
    const topHits = await page.locator('#top-hits tbody td:first-child').allTextContents()
    expect(topHits.slice(0, 5).sort()).to.deep.equal(['/products/0', '/products/1', '/products/2', '/products/3', '/products/4'])
    expect((await page.locator('#top-misses').textContent()) ?? '').to.include('/products/new-')

    // Both charts drew.
    expect(await page.locator('#chart-rps canvas').count()).to.equal(1)
    expect(await page.locator('#chart-ratio canvas').count()).to.equal(1)

    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true })
  })

  it('purges a tag through the form: the entries are gone, the purge is listed', async () => {
    await get('/products/1')
    expect((await get('/products/1')).headers['x-cache']).to.equal('HIT')
    expect((await get('/news/1')).headers['x-cache']).to.equal('HIT')

    await page.selectOption('#purge-kind', 'tag')
    await page.fill('#purge-value', 'products')
    await page.click('#purge-submit')
    await hasText(page.locator('#purge-result.ok'), 'Purged tag products')
    const purged = Number(await page.locator('#purge-result').getAttribute('data-purged'))
    expect(purged).to.be.at.least(5)
    await hasText(page.locator('#purges tbody tr').first(), 'tag: products')

    expect((await get('/products/1')).headers['x-cache']).to.equal('MISS')
    expect((await get('/news/1')).headers['x-cache']).to.equal('HIT')
    const metrics = (await send(proxy.admin + '/metrics')).text
    expect(metrics).to.match(/cachefront_purges_total\{kind="tag"\} 1/)

    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-purged.png'), fullPage: true })
  })
})

/** Polls until `test` holds (the page updates once a second). */
async function waitForNumber (read: () => Promise<number>, test: (n: number) => boolean, message = 'condition', ms = 10_000): Promise<number> {
  const deadline = Date.now() + ms
  let last = NaN
  while (Date.now() < deadline) {
    last = await read()
    if (test(last)) return last
    await sleep(100)
  }
  throw new Error(`timed out: ${message} (last value ${last})`)
}

/** Polls until the element's text contains `text`. */
async function hasText (locator: Locator, text: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  let last = ''
  while (Date.now() < deadline) {
    last = (await locator.textContent()) ?? ''
    if (last.includes(text)) return
    await sleep(100)
  }
  throw new Error(`timed out waiting for "${text}"; the text was "${last}"`)
}
