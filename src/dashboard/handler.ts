/**
 * The dashboard as a plain Node request handler, `(req, res, next?)`: a single page (no build
 * step; its script and styles in ./public, uPlot served from node_modules/uplot/dist), and the
 * JSON it reads. Paths are relative to where it is mounted:
 *
 *   GET  /               the page (public: it holds no data, and asks for the token)
 *   GET  /assets/<file>  its script, styles and uPlot
 *   GET  /api/snapshot   one snapshot as JSON                 } Authorization: Bearer <token>
 *   GET  /api/events     server-sent events: a snapshot a second  }
 *   POST /api/purge      { url | key | tag | prefix | all: true }  }
 *
 * Express mounts it as it is (`app.use('/_cache', handler)`), a bare `http.createServer`
 * serves it at `/`, and `koaDashboard` wraps it for Koa.
 */
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { Invalidation } from '../engine.js'
import { purgeDenied, readPurge } from './auth.js'
import type { DashboardSnapshot } from './snapshot.js'

/** Where the dashboard's data comes from: one cache, or (with --workers) all of them. */
export interface DashboardSource {
  snapshot(): DashboardSnapshot | Promise<DashboardSnapshot>
  invalidate(what: Invalidation): Promise<number>
}

export interface DashboardOptions {
  /** The bearer token that reads the data and purges. Required: without one, only the empty page is served. */
  token: string | undefined
  /** How often the event stream sends a snapshot, in ms (default 1000). */
  interval?: number
  /** Shown in the page's title and header (default 'cachefront'). */
  title?: string
}

/** A dashboard request handler, with `close()` to end its open event streams. */
export interface DashboardHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): Promise<void>
  /** Ends every open event stream (the cache calls it on close). */
  close(): void
}

/** Koa's context and next, typed structurally (Koa is not a dependency). */
export interface KoaDashboardContext {
  req: IncomingMessage
  res: ServerResponse
  path: string
  originalUrl: string
  respond?: boolean
  request?: { body?: unknown }
}
export type KoaDashboardMiddleware = ((ctx: KoaDashboardContext, next: () => Promise<unknown>) => Promise<void>) & { close(): void }

const PUBLIC = new URL('./public/', import.meta.url)
const require = createRequire(import.meta.url)

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
}

/** The files under /assets/: the page's own, and uPlot's distribution. */
const ASSETS: Record<string, () => string> = {
  'dashboard.js': () => fileURLToPath(new URL('dashboard.js', PUBLIC)),
  'dashboard.css': () => fileURLToPath(new URL('dashboard.css', PUBLIC)),
  'uPlot.iife.min.js': () => require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': () => require.resolve('uplot/dist/uPlot.min.css'),
}

/** File contents, read once. */
const files = new Map<string, Buffer>()
function file (path: string): Buffer {
  let body = files.get(path)
  if (body === undefined) files.set(path, body = readFileSync(path))
  return body
}

const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

export function createDashboard (source: DashboardSource, options: DashboardOptions): DashboardHandler {
  const interval = options.interval ?? 1000
  const title = escapeHtml(options.title ?? 'cachefront')
  const streams = new Set<ServerResponse>()

  const handler = async function dashboard (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): Promise<void> {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const method = req.method ?? 'GET'
    const get = method === 'GET' || method === 'HEAD'
    try {
      if (path === '/' || path === '') {
        if (!get) return notAllowed(res, 'GET, HEAD')
        // Mounted at /_cache and asked for /_cache: the page's relative links need the slash.
        const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl
        const originalPath = original?.split('?')[0]
        if (originalPath !== undefined && !originalPath.endsWith('/')) {
          res.writeHead(301, { location: originalPath + '/' + (q === -1 ? '' : url.slice(q)), 'cache-control': 'no-cache' })
          return void res.end()
        }
        const html = file(fileURLToPath(new URL('index.html', PUBLIC))).toString('utf8').replaceAll('{{title}}', title)
        res.writeHead(200, { 'content-type': TYPES['.html'], 'content-length': Buffer.byteLength(html), ...PAGE_HEADERS })
        return void res.end(method === 'HEAD' ? undefined : html)
      }
      if (path.startsWith('/assets/')) {
        const name = path.slice('/assets/'.length)
        const locate = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined
        if (locate === undefined) return notFound(res, next)
        if (!get) return notAllowed(res, 'GET, HEAD')
        const body = file(locate())
        res.writeHead(200, {
          'content-type': TYPES[name.slice(name.lastIndexOf('.'))],
          'content-length': body.length,
          'x-content-type-options': 'nosniff',
          'cache-control': 'no-cache',
        })
        return void res.end(method === 'HEAD' ? undefined : body)
      }
      if (path === '/api/snapshot' || path === '/api/events' || path === '/api/purge') {
        const denied = purgeDenied(options.token, req.headers.authorization)
        if (denied !== undefined) {
          req.resume()
          const message = denied[0] === 403 ? 'the dashboard is disabled: it needs a token (admin.token or CACHEFRONT_ADMIN_TOKEN; cache.dashboard({ token }))' : denied[1]
          if (denied[0] === 401) res.setHeader('www-authenticate', 'Bearer realm="cachefront"')
          return json(res, denied[0], { error: message })
        }
        if (path === '/api/purge') {
          if (method !== 'POST') return notAllowed(res, 'POST')
          return await purge(source, req, res)
        }
        if (!get) return notAllowed(res, 'GET, HEAD')
        if (path === '/api/snapshot') return json(res, 200, await source.snapshot())
        return events(req, res)
      }
      return notFound(res, next)
    } catch (err) {
      if (next !== undefined) return next(err)
      if (res.headersSent) return void res.destroy()
      const unavailable = (err as Error).name === 'StoreUnavailableError'
      json(res, unavailable ? 503 : 500, { error: unavailable ? (err as Error).message : 'internal error' })
    }
  } as DashboardHandler

  /** Server-sent events: `event: snapshot` with the JSON, every `interval` ms, until the client leaves. */
  function events (req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    })
    res.write('retry: 2000\n\n')
    streams.add(res)
    let busy = false
    const send = async () => {
      if (busy) return
      busy = true
      try {
        const data = JSON.stringify(await source.snapshot())
        if (!res.writableEnded) {
          res.write(`event: snapshot\ndata: ${data}\n\n`)
          // Compression middleware holds output until flushed.
          ;(res as ServerResponse & { flush?: () => void }).flush?.()
        }
      } catch (err) {
        if (!res.writableEnded) res.write(`event: problem\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`)
      } finally {
        busy = false
      }
    }
    void send()
    const timer = setInterval(send, interval)
    timer.unref()
    const stop = () => {
      clearInterval(timer)
      streams.delete(res)
    }
    res.once('close', stop)
    req.once('close', stop)
  }

  handler.close = () => {
    for (const res of streams) res.end()
    streams.clear()
  }
  return handler
}

/**
 * The dashboard for Koa, at `prefix` (default '/_cache'): `app.use(cache.koaDashboard({ token }))`.
 * Requests outside the prefix go on down the chain; those inside are answered by the handler
 * with Koa's own response handling turned off.
 */
export function koaDashboard (handler: DashboardHandler, prefix = '/_cache'): KoaDashboardMiddleware {
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  const middleware = async function cachefrontDashboard (ctx: KoaDashboardContext, next: () => Promise<unknown>): Promise<void> {
    if (ctx.path !== base && !ctx.path.startsWith(base + '/')) {
      await next()
      return
    }
    ctx.respond = false
    const req = ctx.req as IncomingMessage & { originalUrl?: string, body?: unknown }
    req.originalUrl = ctx.originalUrl
    req.url = ctx.originalUrl.slice(base.length) || '/'
    if (ctx.request?.body !== undefined && req.body === undefined) req.body = ctx.request.body
    await handler(req, ctx.res)
  } as KoaDashboardMiddleware
  middleware.close = () => handler.close()
  return middleware
}

async function purge (source: DashboardSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const request = await readPurge(req)
  if ('error' in request) return json(res, request.status, { error: request.error })
  const purged = await source.invalidate(request.what)
  return json(res, 200, { purged, ...request.what })
}

function notFound (res: ServerResponse, next: ((err?: unknown) => void) | undefined): void {
  if (next !== undefined) return next()
  json(res, 404, { error: 'not found' })
}

function notAllowed (res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow)
  json(res, 405, { error: `method not allowed; use ${allow}` })
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  })
  res.end(text)
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}
