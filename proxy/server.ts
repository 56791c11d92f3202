/**
 * `createProxy(config)`: the caching reverse proxy, in-process. Per request: rewrite the
 * forwarding fields, pick the route (first rule that matches), and hand the request to the
 * engine with the upstream as its origin. The engine decides everything about caching; this
 * module only wires the pieces: listeners, routes, upstream, admin API, access log, metrics,
 * graceful close.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders, type OutgoingHttpHeader } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { pino, type Logger } from 'pino'
import {
  createCache, createDashboard, OptionError, parseDuration, snapshotOf,
  type Cache, type CacheOptions, type Invalidation, type RouteOptions, type WarmReport,
} from '../src/index.js'
import { createAdminServer, json, purgeDenied, purgeKind, type AdminBackend } from './admin.js'
import { ConfigError, maskSecrets, type ProxyConfig } from './config.js'
import { Forwarding, HOST_KEY_FIELDS } from './forwarding.js'
import { ProxyMetrics } from './metrics.js'
import { Router, toKeyOptions } from './routes.js'
import { Upstream, type FailureReason, type RequestContext } from './upstream.js'
import { reachable, warmAtStartup } from './warm.js'

/** What embedding code (and the cluster worker) can add to a validated config. */
export interface ProxyExtras {
  /** Engine options laid over the config's `cache` section (functions allowed: key.user, tags, logger). */
  cache?: CacheOptions
  /** Options of the default route, the one that applies when no rule matches. */
  defaultRoute?: RouteOptions
  logger?: Logger
  /** How a purge reaches the cache; default: this process's cache. Cluster workers broadcast. */
  invalidate?: (what: Invalidation) => Promise<number>
  /** Serve the admin API from this process (default: when config.admin.enabled). */
  admin?: boolean
  /** Process-wide prom-client default metrics (CPU, memory, event loop) in /metrics. Default false. */
  defaultMetrics?: boolean
  /** Run the config's `warm` once listening (default true; cluster workers leave it to the primary). */
  warm?: boolean
}

export interface Proxy {
  readonly config: ProxyConfig
  readonly server: http.Server
  /** The admin listener; undefined when the admin API is off. */
  readonly admin: http.Server | undefined
  readonly cache: Cache
  readonly metrics: ProxyMetrics
  readonly upstream: Upstream
  readonly logger: Logger
  /** Starts both listeners; resolves with their URLs. */
  listen(): Promise<{ url: string, admin?: string }>
  /** This process's cache only (what a broadcast purge runs in each worker). */
  invalidate(what: Invalidation): Promise<number>
  /** Whether the proxy is listening and not shutting down. */
  readonly ready: boolean
  /** The config's `warm` run, once `listen` started it; resolves with its report (undefined if it could not run). */
  readonly warming: Promise<WarmReport | undefined> | undefined
  /** Stops accepting, lets in-flight requests finish (up to timeouts.shutdown), closes everything. */
  close(): Promise<void>
}

/**
 * The proxy's response: it carries the request's context (so nothing is allocated per request
 * beside it) and remembers the cache status it was answered with, for the access log and metrics.
 */
class ProxyResponse extends http.ServerResponse implements RequestContext {
  cacheLabel: string | undefined = undefined
  start = 0
  upstreamMs: number | undefined = undefined
  failure: FailureReason | undefined = undefined

  override writeHead (statusCode: number, reason?: any, headers?: any): this {
    const fields = typeof reason === 'string' ? headers : reason
    // Fields set beforehand (setHeader) count too: the engine's writer sets them when some were.
    this.cacheLabel = labelOf(fields) ?? labelOf(this.getHeaders()) ?? this.cacheLabel
    return typeof reason === 'string' ? super.writeHead(statusCode, reason, headers) : super.writeHead(statusCode, fields)
  }
}

/**
 * X-Cache values as metric labels, lower-cased once rather than per response. A Map: the
 * engine's values are constants whose hash V8 has already computed.
 */
const LABELS = new Map(['HIT', 'MISS', 'STALE', 'PASS', 'BYPASS', 'REVALIDATED', 'EXPIRED'].map(v => [v, v.toLowerCase()]))

/** The cache status label of a response head: X-Cache lower-cased, else what Cache-Status says. */
function labelOf (headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): string | undefined {
  if (headers === undefined) return undefined
  let xCache: unknown
  let cacheStatus: unknown
  if (Array.isArray(headers)) {
    // The engine's prepared arrays end with Age, X-Cache and Cache-Status: look from the end.
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      const name = headers[i]
      if (name === 'x-cache') xCache = headers[i + 1]
      else if (name === 'cache-status') cacheStatus = headers[i + 1]
      if (xCache !== undefined) break
    }
  } else {
    xCache = headers['x-cache']
    cacheStatus = headers['cache-status']
  }
  if (typeof xCache === 'string' && xCache !== '') return LABELS.get(xCache) ?? xCache.toLowerCase()
  if (typeof cacheStatus === 'string') {
    if (cacheStatus.includes('fwd=method')) return 'pass'
    if (cacheStatus.includes('detail=upstream-')) return 'error'
    if (cacheStatus.includes('only-if-cached')) return 'miss'
  }
  return undefined
}

export function createProxy (config: ProxyConfig, extras: ProxyExtras = {}): Proxy {
  const logger = extras.logger ?? pino({ name: 'cachefront-proxy', level: config.log.level })
  const cache = buildCache(config, extras, logger)
  const settings = cache.engine.settings
  const forwarding = new Forwarding({ trustedHops: config.forwarding.trustedHops, via: config.forwarding.via })
  const router = new Router({
    settings,
    rules: config.routes,
    keyFields: config.forwarding.keyByHost ? HOST_KEY_FIELDS : [],
    defaultRoute: extras.defaultRoute,
  })
  const metrics = new ProxyMetrics(cache, { defaultMetrics: extras.defaultMetrics ?? false })
  const upstreamLog = logger.child({ component: 'upstream' })
  const upstream = new Upstream({
    target: new URL(config.upstream),
    connectTimeout: parseDuration(config.timeouts.connect, 'timeouts.connect'),
    responseTimeout: parseDuration(config.timeouts.response, 'timeouts.response'),
    changeOrigin: config.forwarding.host === 'upstream',
    maxSockets: config.forwarding.maxSockets,
    keepAlive: parseDuration(config.forwarding.keepAlive, 'forwarding.keepAlive'),
    forwarding,
    cacheStatus: settings.cacheStatus,
    onResponse: seconds => metrics.origin(seconds),
    onFailure: (reason, err, req) => {
      metrics.upstreamError(reason)
      upstreamLog.warn({ reason, err: err.message, method: req.method, url: req.url }, 'upstream request failed')
    },
  })
  const shutdownMs = parseDuration(config.timeouts.shutdown, 'timeouts.shutdown')
  const local = (what: Invalidation) => cache.invalidate(what)
  const invalidate = extras.invalidate ?? local
  const access = config.log.access
  const accessLog = access === false ? undefined : logger.child({ component: 'access' })
  const purgeMethod = config.admin.purgeMethod
  let listening = false
  let closing = false

  const onError = (err: unknown, what: string) => logger.error({ err }, `${what} failed`)

  function onRequest (req: IncomingMessage, res: ProxyResponse): void {
    if (accessLog !== undefined) res.start = performance.now()
    // While shutting down, no connection is kept for another request.
    if (closing) res.shouldKeepAlive = false
    forwarding.prepare(req)
    let pending: void | Promise<void>
    if (req.method === 'PURGE' && purgeMethod) pending = purgeTarget(req, res)
    else {
      try {
        pending = cache.engine.handle(req, res, router.pick(req), upstream, res)
      } catch (err) {
        pending = Promise.reject(err)
      }
    }
    // A response already ended here (a hit) is counted now, unless the access log wants its
    // timing at close: a listener per request costs a hit more than the counting does.
    if (pending === undefined && res.writableEnded && !logsAccess()) return void metrics.request(res.cacheLabel ?? 'none')
    // 'close' is emitted on a later tick, so a listener added now still hears it.
    res.on('close', onClose)
    if (pending !== undefined) pending.catch(err => internalError(err, req, res))
  }

  function logsAccess (): boolean {
    return accessLog !== undefined && accessLog.isLevelEnabled(access as string)
  }

  /** One listener shared by every response (`this` is the response): no closure per request. */
  function onClose (this: ProxyResponse): void {
    const res = this
    const req = res.req
    const label = res.cacheLabel ?? (res.failure !== undefined ? 'error' : 'none')
    metrics.request(label)
    if (!logsAccess()) return
    accessLog![access as 'info']({
      method: req.method,
      url: req.url,
      status: res.statusCode,
      cache: label,
      upstreamMs: res.upstreamMs === undefined ? undefined : Math.round(res.upstreamMs * 10) / 10,
      ms: Math.round((performance.now() - res.start) * 10) / 10,
      remote: req.socket.remoteAddress,
      ...(res.writableFinished ? {} : { aborted: true }),
    })
  }

  function internalError (err: unknown, req: IncomingMessage, res: ProxyResponse): void {
    logger.error({ err, method: req.method, url: req.url }, 'request failed')
    if (res.headersSent) return void res.destroy()
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
    res.end('500 Internal Server Error\n')
  }

  /** `PURGE <path>` on the main port: the admin API's URL purge, with the same token. */
  async function purgeTarget (req: IncomingMessage, res: ProxyResponse): Promise<void> {
    req.resume()
    const denied = purgeDenied(config.admin.token, req.headers.authorization)
    if (denied !== undefined) {
      if (denied[0] === 401) res.setHeader('www-authenticate', 'Bearer realm="cachefront"')
      res.cacheLabel = 'purge'
      return json(res, denied[0], { error: denied[1] })
    }
    try {
      const purged = await invalidate({ url: req.url ?? '/' })
      metrics.purge('url')
      res.cacheLabel = 'purge'
      json(res, 200, { purged, url: req.url })
    } catch (err) {
      onError(err, 'PURGE')
      res.cacheLabel = 'purge'
      json(res, 503, { error: (err as Error).message })
    }
  }

  // Typed as a plain server: node's typings cannot express a ServerResponse subclass here.
  const server = http.createServer({ ServerResponse: ProxyResponse as unknown as typeof http.ServerResponse }, onRequest as unknown as http.RequestListener)
  /** Upgraded connections: no longer HTTP, so closeAllConnections does not see them. */
  const tunnels = new Set<Duplex>()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return plainOverUpgrade(req, socket as Socket)
    tunnels.add(socket)
    socket.once('close', () => tunnels.delete(socket))
    forwarding.prepare(req, true)
    upstream.upgrade(req, socket, head, err => logger.debug({ err: err.message, url: req.url }, 'websocket proxying failed'))
  })

  /** Another Upgrade (h2c, say) is declined: the request is answered as plain HTTP/1.1, then the connection closes. */
  function plainOverUpgrade (req: IncomingMessage, socket: Socket): void {
    const res = new ProxyResponse(req)
    res.assignSocket(socket)
    res.shouldKeepAlive = false
    res.once('finish', () => {
      res.detachSocket(socket)
      socket.end()
    })
    onRequest(req, res)
  }

  const backend: AdminBackend = {
    token: config.admin.token,
    invalidate,
    purged: kind => metrics.purge(kind),
    stats: async () => ({ cache: cache.stats(), requests: { ...metrics.requestCounts }, pid: process.pid, uptimeSeconds: Math.round(process.uptime()) }),
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    readiness: () => ({ ready: listening && !closing, redis: redisState(cache) }),
  }
  const admin = (extras.admin ?? config.admin.enabled) ? createAdminServer(backend, onError) : undefined
  if (admin !== undefined) {
    backend.dashboard = createDashboard({
      snapshot: () => snapshotOf(cache.engine),
      invalidate: async what => {
        const purged = await invalidate(what)
        metrics.purge(purgeKind(what))
        return purged
      },
    }, { token: config.admin.token, title: 'cachefront-proxy' })
  }
  let warming: Promise<WarmReport | undefined> | undefined
  const stopWarming = new AbortController()

  return {
    config,
    server,
    admin,
    cache,
    metrics,
    upstream,
    logger,
    invalidate: local,
    get ready () { return listening && !closing },
    get warming () { return warming },

    async listen () {
      const url = await listenOn(server, config.listen.port, config.listen.host)
      const adminUrl = admin === undefined ? undefined : await listenOn(admin, config.admin.port, config.admin.host)
      listening = true
      logger.info({ listen: url, admin: adminUrl, upstream: config.upstream }, `cachefront-proxy listening on ${url}, forwarding to ${config.upstream}`)
      logger.debug({ config: maskSecrets(config) }, 'effective configuration')
      if (config.warm !== undefined && extras.warm !== false) {
        warming = warmAtStartup(config.warm, reachable(url), logger, stopWarming.signal).catch(() => undefined)
      }
      return adminUrl === undefined ? { url } : { url, admin: adminUrl }
    },

    async close () {
      if (closing) return
      closing = true
      stopWarming.abort()
      const drained = new Promise<void>(resolve => {
        if (!server.listening) return resolve()
        server.close(() => resolve())
      })
      // Idle keep-alive connections go now, busy ones as soon as their response is done.
      server.closeIdleConnections()
      const sweep = setInterval(() => server.closeIdleConnections(), 25)
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<boolean>(resolve => { timer = setTimeout(resolve, shutdownMs, true) })
      const late = await Promise.race([drained.then(() => false), deadline])
      clearInterval(sweep)
      clearTimeout(timer)
      if (late) {
        logger.warn({ timeoutMs: shutdownMs, websockets: tunnels.size }, 'shutdown: cutting requests and WebSockets still open')
        server.closeAllConnections()
        for (const socket of tunnels) socket.destroy()
        await drained
      }
      backend.dashboard?.close()
      if (admin?.listening) {
        const closed = new Promise<void>(resolve => admin.close(() => resolve()))
        admin.closeAllConnections()
        await closed
      }
      upstream.close()
      await cache.close()
    },
  }
}

function buildCache (config: ProxyConfig, extras: ProxyExtras, logger: Logger): Cache {
  const c = config.cache
  const options: CacheOptions = {
    namespace: c.namespace,
    ttl: c.ttl,
    override: c.override,
    l1: c.l1,
    lockTimeout: c.lockTimeout,
    hitForMiss: c.hitForMiss,
    jitter: c.jitter,
    staleWhileRevalidate: c.staleWhileRevalidate,
    staleIfError: c.staleIfError,
    keep: c.keep,
    allowSetCookie: c.allowSetCookie,
    allowAuthorization: c.allowAuthorization,
    heuristic: c.heuristic,
    targeted: c.targeted,
    tagHeaders: c.tagHeaders,
    cacheStatus: c.cacheStatus,
    key: toKeyOptions(c.key),
    logger: logger.child({ component: 'cache' }),
    ...extras.cache,
  }
  if (config.redis !== undefined) options.redis = config.redis
  for (const k of Object.keys(options) as (keyof CacheOptions)[]) if (options[k] === undefined) delete options[k]
  let cache: Cache
  try {
    cache = createCache(options)
  } catch (err) {
    if (err instanceof OptionError) throw new ConfigError([`cache.${err.message}`])
    throw err
  }
  return cache
}

/** The Redis tier's breaker state (closed: healthy), 'none' without one. */
function redisState (cache: Cache): string {
  return cache.stats().l2?.state ?? 'none'
}

function listenOn (server: http.Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.message}`))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      const address = server.address() as AddressInfo
      const shown = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address
      resolve(`http://${shown}:${address.port}`)
    })
  })
}
