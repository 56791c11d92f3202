/**
 * Cache warming: request each URL through the cache, a few at a time, and tell from the
 * answer's X-Cache / Cache-Status what the cache did with it: stored it now, had it fresh
 * already, served it stale (refreshing it), or could not keep it. Used by `cache.warm(urls)`,
 * `cachefront-proxy warm` and the proxy's `warm` setting.
 *
 * Each URL is fetched with GET and its body read to the end (a cache stores only complete
 * bodies). Absolute URLs go to their own origin, unless `target` says where the cache is: then
 * the request goes there, with the URL's host in `Host` so the entry is keyed as the real
 * clients' requests will be. Paths are resolved against `base`.
 */
import http from 'node:http'
import https from 'node:https'
import { parseDuration, type Duration } from './units.js'

export type WarmOutcome = 'stored' | 'fresh' | 'stale' | 'not-cacheable' | 'failed'

/** One URL's result. */
export interface WarmUrlResult {
  url: string
  outcome: WarmOutcome
  /** The response status; undefined when there was no response. */
  status?: number
  /** X-Cache, or the Cache-Status member that decided. */
  cache?: string
  /** Why it failed: the error, or the status. */
  error?: string
  ms: number
}

/** What a warming run did; `failures` lists the URLs that failed (the first 100). */
export interface WarmReport {
  total: number
  /** Not in the cache, and stored now (or revalidated and stored again). */
  stored: number
  /** Already fresh in the cache. */
  fresh: number
  /** Served stale; the cache refreshes it in the background. */
  stale: number
  /** Answered, but the cache did not store it (its headers, a bypass rule, its size). */
  notCacheable: number
  /** No response, or a 4xx/5xx status. */
  failed: number
  failures: WarmUrlResult[]
  ms: number
}

export interface WarmUrlOptions {
  /** Requests in flight at once (default 8). */
  concurrency?: number
  /** What paths are resolved against, e.g. 'http://127.0.0.1:3000'. */
  base?: string | URL
  /** Send every request to this origin (the cache), keeping each URL's host in `Host`. */
  target?: string | URL
  /** Extra request headers (an Accept-Encoding to warm that variant, say). */
  headers?: Record<string, string>
  /** Give up on one URL after this long (default '30s'). */
  timeout?: Duration
  /** Called after each URL, with how many are done. */
  onResult?: (result: WarmUrlResult, done: number, total: number) => void
  /** Stops starting new requests (those in flight are aborted). */
  signal?: AbortSignal
}

const MAX_FAILURES_LISTED = 100

export async function warm (urls: Iterable<string>, options: WarmUrlOptions = {}): Promise<WarmReport> {
  const list = [...urls].map(u => u.trim()).filter(u => u !== '')
  const concurrency = options.concurrency ?? 8
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new TypeError(`warm: concurrency must be a positive whole number, received ${String(concurrency)}`)
  const timeout = parseDuration(options.timeout ?? '30s', 'timeout')
  const base = options.base === undefined ? undefined : new URL(String(options.base))
  const target = options.target === undefined ? undefined : new URL(String(options.target))
  const requests = list.map(u => plan(u, base, target))
  const agents = { http: new http.Agent({ keepAlive: true, maxSockets: concurrency }), https: new https.Agent({ keepAlive: true, maxSockets: concurrency }) }
  const summary: WarmReport = { total: list.length, stored: 0, fresh: 0, stale: 0, notCacheable: 0, failed: 0, failures: [], ms: 0 }
  const started = performance.now()
  let next = 0
  let done = 0

  const worker = async () => {
    while (next < requests.length && options.signal?.aborted !== true) {
      const i = next++
      const result = await fetchOne(list[i], requests[i], options.headers, timeout, agents, options.signal)
      count(summary, result)
      done++
      options.onResult?.(result, done, list.length)
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker))
  } finally {
    agents.http.destroy()
    agents.https.destroy()
  }
  summary.ms = Math.round(performance.now() - started)
  return summary
}

function count (summary: WarmReport, result: WarmUrlResult): void {
  switch (result.outcome) {
    case 'stored': summary.stored++; break
    case 'fresh': summary.fresh++; break
    case 'stale': summary.stale++; break
    case 'not-cacheable': summary.notCacheable++; break
    case 'failed':
      summary.failed++
      if (summary.failures.length < MAX_FAILURES_LISTED) summary.failures.push(result)
      break
  }
}

/** Where one URL's request goes, or why it cannot. */
type Plan = { url: URL, host?: string } | { error: string }

function plan (raw: string, base: URL | undefined, target: URL | undefined): Plan {
  let url: URL
  try {
    url = new URL(raw, base ?? target)
  } catch {
    return { error: /^[a-z][a-z0-9+.-]*:/i.test(raw) ? 'not a valid URL' : 'a path needs a base URL (base, or target)' }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: `not an http(s) URL (${url.protocol})` }
  if (target === undefined || url.origin === target.origin) return { url }
  const sent = new URL(url.pathname + url.search, target)
  return { url: sent, host: url.host }
}

function fetchOne (
  raw: string,
  plan: Plan,
  extra: Record<string, string> | undefined,
  timeout: number,
  agents: { http: http.Agent, https: https.Agent },
  signal: AbortSignal | undefined,
): Promise<WarmUrlResult> {
  const started = performance.now()
  const ms = () => Math.round(performance.now() - started)
  if ('error' in plan) return Promise.resolve({ url: raw, outcome: 'failed', error: plan.error, ms: 0 })
  const { url, host } = plan
  const headers: Record<string, string> = { 'user-agent': 'cachefront-warm', accept: '*/*', ...extra }
  if (host !== undefined) headers.host = host
  const client = url.protocol === 'https:' ? https : http
  return new Promise(resolve => {
    const req = client.request(url, { method: 'GET', headers, agent: url.protocol === 'https:' ? agents.https : agents.http, signal }, res => {
      res.on('error', err => resolve({ url: raw, outcome: 'failed', status: res.statusCode, error: err.message, ms: ms() }))
      res.on('end', () => {
        const status = res.statusCode ?? 0
        const [outcome, cache] = classify(res.headers['x-cache'], res.headers['cache-status'])
        if (status >= 400) resolve({ url: raw, outcome: 'failed', status, cache, error: `status ${status}`, ms: ms() })
        else resolve({ url: raw, outcome, status, cache, ms: ms() })
      })
      // The whole body, so the cache can store it; nothing is kept here.
      res.resume()
    })
    req.setTimeout(timeout, () => req.destroy(new Error(`no answer within ${timeout} ms`)))
    req.on('error', err => resolve({ url: raw, outcome: 'failed', error: err.message, ms: ms() }))
    req.end()
  })
}

/**
 * What the cache did, from X-Cache (HIT, STALE, REVALIDATED, MISS, EXPIRED, BYPASS) and
 * Cache-Status (RFC 9211: `hit`, `fwd=...`, `stored`). The last Cache-Status member is the
 * cache nearest the client: the one warmed.
 */
export function classify (xCache: string | string[] | undefined, cacheStatus: string | string[] | undefined): [Exclude<WarmOutcome, 'failed'>, string | undefined] {
  const status = [cacheStatus ?? []].flat().join(', ')
  const member = status === '' ? undefined : status.split(',').at(-1)!.trim()
  const params = member === undefined ? [] : member.split(';').slice(1).map(p => p.trim().toLowerCase())
  const stored = params.includes('stored')
  const x = [xCache ?? []].flat().join(',').trim().toUpperCase()
  if (x !== '') {
    switch (x) {
      case 'HIT': return ['fresh', x]
      case 'STALE': return ['stale', x]
      case 'REVALIDATED': return ['stored', x]
      default: return [stored ? 'stored' : 'not-cacheable', x]
    }
  }
  if (member === undefined) return ['not-cacheable', undefined]
  if (params.includes('hit')) return [params.some(p => p.startsWith('detail=stale') || p === 'detail=max-stale') ? 'stale' : 'fresh', member]
  if (params.includes('fwd-status=304')) return ['stored', member]
  return [stored ? 'stored' : 'not-cacheable', member]
}

/** The URLs of a list: one per line; blank lines and `#` comments ignored. */
export function parseUrlList (text: string): string[] {
  return text.split(/\r?\n/).map(line => line.replace(/(^|\s)#.*$/, '').trim()).filter(line => line !== '')
}

/**
 * The `<loc>`s of a sitemap (sitemaps.org): page URLs from a `<urlset>`, or the sitemaps a
 * `<sitemapindex>` lists (`index: true`).
 */
export function parseSitemap (xml: string): { index: boolean, urls: string[] } {
  const index = /<(?:\w+:)?sitemapindex[\s>]/.test(xml)
  const urls: string[] = []
  for (const m of xml.matchAll(/<(?:\w+:)?loc>\s*(?:<!\[CDATA\[)?([\s\S]*?)(?:\]\]>)?\s*<\/(?:\w+:)?loc>/g)) {
    const url = decodeEntities(m[1].trim())
    if (url !== '') urls.push(url)
  }
  return { index, urls }
}

function decodeEntities (text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    switch (e.toLowerCase()) {
      case 'amp': return '&'
      case 'lt': return '<'
      case 'gt': return '>'
      case 'quot': return '"'
      case 'apos': return "'"
      default: return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
    }
  })
}
