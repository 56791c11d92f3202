/**
 * The admin API, on its own listener (127.0.0.1 by default):
 *
 *   POST /purge    { url | key | tag | prefix | all: true }, Authorization: Bearer <token>
 *   GET  /stats    counters as JSON
 *   GET  /metrics  Prometheus text
 *   GET  /healthz  the process is alive
 *   GET  /readyz   listening and not shutting down; reports the Redis tier's state without failing on it
 *   GET  /         the dashboard (src/dashboard): the page, /assets/*, and /api/* (token required)
 *
 * Without a configured token, purging is disabled (403), never open.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { DashboardHandler, Invalidation } from '../src/index.js'
import { purgeDenied, readPurge } from '../src/dashboard/auth.js'

// The token check and the purge shape are the dashboard's too: one copy, in src/dashboard.
export { bearerMatches, purgeDenied, purgeRequest } from '../src/dashboard/auth.js'

export interface Readiness {
  ready: boolean
  [detail: string]: unknown
}

/** What the admin API serves: one process's cache, or (with --workers) all of them through the primary. */
export interface AdminBackend {
  /** The purge token; undefined disables purging. */
  token: string | undefined
  invalidate(what: Invalidation): Promise<number>
  stats(): Promise<unknown>
  metrics(): Promise<{ contentType: string, body: string }>
  readiness(): Readiness
  /** Counts a purge (by kind) where it was requested. */
  purged?(kind: string): void
  /** The dashboard, served at `/`, `/assets/*` and `/api/*`. */
  dashboard?: DashboardHandler
}


/** The kind of an invalidation, for metrics and logs. */
export function purgeKind (what: Invalidation): string {
  return Object.keys(what)[0]
}

export function createAdminServer (backend: AdminBackend, onError: (err: unknown, what: string) => void): http.Server {
  const server = http.createServer((req, res) => {
    route(backend, req, res).catch(err => {
      onError(err, `admin ${req.method} ${req.url}`)
      if (res.headersSent) return void res.destroy()
      const unavailable = (err as Error).name === 'StoreUnavailableError'
      json(res, unavailable ? 503 : 500, { error: unavailable ? (err as Error).message : 'internal error' })
    })
  })
  return server
}

async function route (backend: AdminBackend, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]
  const method = req.method ?? 'GET'
  const get = method === 'GET' || method === 'HEAD'
  if (backend.dashboard !== undefined && (path === '/' || path.startsWith('/assets/') || path.startsWith('/api/'))) {
    return backend.dashboard(req, res)
  }
  switch (path) {
    case '/purge':
      if (method !== 'POST') return notAllowed(res, 'POST')
      return purge(backend, req, res)
    case '/stats':
      if (!get) return notAllowed(res, 'GET, HEAD')
      return json(res, 200, await backend.stats())
    case '/metrics': {
      if (!get) return notAllowed(res, 'GET, HEAD')
      const { contentType, body } = await backend.metrics()
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
      return void res.end(body)
    }
    case '/healthz':
      if (!get) return notAllowed(res, 'GET, HEAD')
      return json(res, 200, { status: 'ok' })
    case '/readyz': {
      if (!get) return notAllowed(res, 'GET, HEAD')
      const readiness = backend.readiness()
      return json(res, readiness.ready ? 200 : 503, readiness)
    }
    default:
      return json(res, 404, { error: `no admin endpoint ${path}; try POST /purge, GET /stats, /metrics, /healthz, /readyz, or / (the dashboard)` })
  }
}

async function purge (backend: AdminBackend, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const denied = purgeDenied(backend.token, req.headers.authorization)
  if (denied !== undefined) {
    // Unread bodies must not be left on a connection that stays open.
    req.resume()
    if (denied[0] === 401) res.setHeader('www-authenticate', 'Bearer realm="cachefront"')
    return json(res, denied[0], { error: denied[1] })
  }
  const request = await readPurge(req)
  if ('error' in request) return json(res, request.status, { error: request.error })
  const what = request.what
  const purged = await backend.invalidate(what)
  backend.purged?.(purgeKind(what))
  return json(res, 200, { purged, ...what })
}

function notAllowed (res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow)
  json(res, 405, { error: `method not allowed; use ${allow}` })
}

export function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n'
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}
