/**
 * `npm run demo`: the slow legacy API (examples/legacy-api, 200 ms per request) with
 * cachefront-proxy in front of it on the in-memory store, then a short guided tour through
 * real requests: misses and hits, 304s, private data, coalescing, invalidation, purging,
 * stale-if-error. Both keep running afterwards for you to try; Ctrl-C stops them.
 *
 * Env: PORT (proxy, 8080), ADMIN_PORT (8081), UPSTREAM_PORT (legacy API, 3000), DELAY_MS (200),
 * ADMIN_TOKEN (demo-token), TOUR=0 to skip the tour.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { createLegacyApi } from '../examples/legacy-api/app.js'
import { ConfigError, loadConfig } from './config.js'
import { createProxy } from './server.js'

const env = process.env
const port = Number(env.PORT ?? 8080)
const adminPort = Number(env.ADMIN_PORT ?? 8081)
const upstreamPort = Number(env.UPSTREAM_PORT ?? 3000)
const delayMs = Number(env.DELAY_MS ?? 200)
const token = env.ADMIN_TOKEN ?? 'demo-token'

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s)
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s)
const colour = (xCache: string) => {
  if (!process.stdout.isTTY) return xCache
  const code = xCache === 'HIT' || xCache === 'REVALIDATED' || xCache === 'STALE' ? 32 : xCache === 'MISS' || xCache === 'EXPIRED' ? 33 : 36
  return `\x1b[${code}m${xCache}\x1b[0m`
}

/** Prints the proxy's JSON log as short lines (access lines only once the tour is over). */
let tourRunning = true
const console$ = new Writable({
  write (chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split('\n')) {
      if (!line.startsWith('{')) continue
      const entry = JSON.parse(line) as Record<string, unknown>
      if (entry.component === 'access') {
        if (!tourRunning) {
          const upstream = entry.upstreamMs === undefined ? '' : dim(` upstream ${String(entry.upstreamMs)} ms`)
          process.stdout.write(`  ${String(entry.method)} ${String(entry.url)} ${String(entry.status)} ${colour(String(entry.cache).toUpperCase())} ${String(entry.ms)} ms${upstream}\n`)
        }
      } else if (Number(entry.level) >= 40) {
        process.stdout.write(dim(`  [${Number(entry.level) >= 50 ? 'error' : 'warn'}] ${String(entry.msg)}\n`))
      }
    }
    done()
  },
})

interface Shot { status: number, xCache: string, ms: number, originHits: string, body: string, etag?: string }

function request (method: string, path: string, headers: Record<string, string> = {}, body?: string, base = `http://127.0.0.1:${port}`): Promise<Shot> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method, headers, agent: false }, res => {
      let text = ''
      res.on('data', d => { text += d.toString() })
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        xCache: String(res.headers['x-cache'] ?? (String(res.headers['cache-status'] ?? '').includes('fwd=method') ? 'PASS' : '-')),
        ms: Math.round(performance.now() - started),
        originHits: String(res.headers['x-origin-hits'] ?? '-'),
        body: text,
        etag: res.headers.etag,
      }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function show (method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Shot> {
  const r = await request(method, path, headers, body)
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join(', ')
  const what = `${method} ${path}${extra ? dim(`  (${extra})`) : ''}`
  process.stdout.write(`   ${what.padEnd(process.stdout.isTTY ? 62 : 54)} ${String(r.status)}  ${colour(r.xCache).padEnd(process.stdout.isTTY ? 20 : 11)} ${String(r.ms).padStart(4)} ms  ${dim(`origin hits for this path: ${r.originHits}`)}\n`)
  return r
}

const step = (n: number, title: string, note?: string) => {
  process.stdout.write(`\n${bold(`${n}. ${title}`)}\n`)
  if (note) process.stdout.write(dim(`   ${note}\n`))
}

async function tour (): Promise<void> {
  step(1, 'A miss, then hits', 'The first request waits for the slow API; the next ones are answered from memory.')
  const first = await show('GET', '/products')
  await show('GET', '/products')
  await show('GET', '/products')

  step(2, 'Conditional requests', 'A client that already has the response gets a 304 from the cache; the API is not asked.')
  await show('GET', '/products', { 'if-none-match': first.etag ?? '"x"' })

  step(3, 'Revalidation', '/stock is "no-cache": stored, but checked with the API each time (it answers a cheap 304).')
  await show('GET', '/stock')
  await show('GET', '/stock')

  step(4, 'Per-user and cookie-setting responses are never shared', '/me is private; /session sets a cookie.')
  await show('GET', '/me', { 'x-user-id': 'alice' })
  await show('GET', '/me', { 'x-user-id': 'bob' })
  await show('GET', '/session')
  await show('GET', '/session')

  step(5, 'Coalescing', '20 clients ask for /slow?ms=600 at once: one request reaches the API.')
  const started = performance.now()
  const all = await Promise.all(Array.from({ length: 20 }, () => request('GET', '/slow?ms=600')))
  process.stdout.write(`   20 × GET /slow?ms=600  →  ${all.filter(r => r.status === 200).length} answers in ${Math.round(performance.now() - started)} ms, origin hits: ${all[0].originHits}\n`)

  step(6, 'Invalidation after a write (RFC 9111 §4.4)', 'A POST changes product 1: its cached copy is dropped.')
  await show('GET', '/products/1')
  await show('GET', '/products/1')
  await show('POST', '/products/1', { 'content-type': 'application/json' }, '{"price": 7.5}')
  await show('GET', '/products/1')

  step(7, 'Purging by tag through the admin API', `/report carries Surrogate-Key: reports. curl -X POST -H 'Authorization: Bearer ${token}' -d '{"tag":"reports"}' http://127.0.0.1:${adminPort}/purge`)
  await show('GET', '/report')
  await show('GET', '/report')
  const purged = await request('POST', '/purge', { authorization: `Bearer ${token}` }, '{"tag":"reports"}', `http://127.0.0.1:${adminPort}`)
  process.stdout.write(`   POST admin /purge {"tag":"reports"}  →  ${purged.status} ${purged.body.replace(/\s+/g, ' ').trim()}\n`)
  await show('GET', '/report')

  step(8, 'Stale-if-error', '/flaky fails every other time; its max-age is 1 s and stale-if-error 60 s.')
  await show('GET', '/flaky')
  await new Promise(resolve => setTimeout(resolve, 1100))
  await show('GET', '/flaky')
}

async function main (): Promise<void> {
  const api = createLegacyApi({ delayMs })
  await new Promise<void>((resolve, reject) => {
    api.server.once('error', err => reject(new Error(`legacy API: cannot listen on 127.0.0.1:${upstreamPort}: ${err.message} (set UPSTREAM_PORT)`)))
    api.server.listen(upstreamPort, '127.0.0.1', () => resolve())
  })
  const upstream = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`
  const config = loadConfig({
    flags: { upstream, host: '127.0.0.1', port: String(port), 'admin-port': String(adminPort), 'admin-token': token, 'log-level': 'info' },
  })
  const proxy = createProxy(config, { logger: pino({ name: 'cachefront-proxy', level: 'info' }, console$) })
  let urls: { url: string, admin?: string }
  try {
    urls = await proxy.listen()
  } catch (err) {
    api.server.close()
    throw new Error(`${(err as Error).message} (set PORT / ADMIN_PORT)`)
  }

  process.stdout.write(`${bold('cachefront demo')}\n`)
  process.stdout.write(`   legacy API       ${upstream}  ${dim(`(${delayMs} ms per request; see examples/legacy-api/README.md)`)}\n`)
  process.stdout.write(`   cachefront-proxy ${urls.url}  ${dim('(in-memory store, no route rules: a pure RFC 9111 shared cache)')}\n`)
  process.stdout.write(`   admin API        ${urls.admin ?? '-'}  ${dim(`(token: ${token})`)}\n`)
  process.stdout.write(`   dashboard        ${urls.admin ?? '-'}/#token=${encodeURIComponent(token)}  ${dim('(live; open it in a browser)')}\n`)

  const stop = () => {
    process.stdout.write('\nstopping...\n')
    Promise.all([proxy.close(), new Promise(resolve => { api.server.close(resolve); api.server.closeAllConnections() })])
      .then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)

  if (env.TOUR !== '0') await tour()
  tourRunning = false
  process.stdout.write(`\n${bold('Your turn')} ${dim('(every request through the proxy is listed below; Ctrl-C stops both servers)')}\n`)
  process.stdout.write(`   curl -i ${urls.url}/products\n`)
  process.stdout.write(`   curl -i ${urls.url}/news -H 'Accept-Language: fr'\n`)
  process.stdout.write(`   curl -s ${urls.admin ?? ''}/stats\n`)
  process.stdout.write(`   curl -s ${urls.admin ?? ''}/metrics | grep ^cachefront_\n`)
}

main().catch(err => {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`)
  else process.stderr.write(`demo: ${(err as Error).message}\n`)
  process.exit(1)
})
