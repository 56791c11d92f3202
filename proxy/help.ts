/**
 * The text of `cachefront-proxy --help`: the flags come from the same table that reads them
 * (config.ts OVERRIDES); the file reference lists every key of the schema (a test checks it).
 */
import { OVERRIDES } from './config.js'

export const NAME = 'cachefront-proxy'

export const HELP = `Usage: ${NAME} --upstream <url> [options]
       ${NAME} --config cachefront.yaml [options]
       ${NAME} warm --urls urls.txt | --sitemap sitemap.xml [--concurrency 8] [--target URL]

A caching reverse proxy: an RFC 9111 shared cache in front of an HTTP origin.
With no route rules it stores only what the origin's headers allow.

Options (each also settable in the config file; flags override env, env overrides the file):
${OVERRIDES.map(o => {
  const flag = `${o.short ? `-${o.short}, ` : '    '}--${o.flag}${o.arg ? ` <${o.arg}>` : ''}`
  const line = `  ${flag.padEnd(37)} ${o.help}`
  return o.env ? `${line}\n  ${''.padEnd(37)} env ${o.env}` : line
}).join('\n')}
  -c, --config <FILE>                   YAML or JSON configuration file
                                        env CACHEFRONT_CONFIG
      --check                           validate the configuration, print it (secrets masked), exit
  -h, --help                            show this help
  -v, --version                         show the version

Configuration file (YAML or JSON; unknown keys are errors; durations like 30s, 5m; sizes like 64MB):
  upstream: http://127.0.0.1:3000     # required
  listen:     { host: 0.0.0.0, port: 8080 }
  admin:      { enabled: true, host: 127.0.0.1, port: 8081,
                token: <secret>,       # POST /purge needs "Authorization: Bearer <token>"; none: purge disabled
                purgeMethod: true }    # also accept "PURGE <path>" on the main port (same token)
  redis:                               # optional shared tier; also what --workers share
    url: redis://127.0.0.1:6379
    cluster: { rootNodes: [{ url: redis://10.0.0.1:7000 }] }   # a Redis Cluster instead of url
    commandTimeout: 250ms              # a slower answer is a miss, never an error
    connectTimeout: 1s
    compressAbove: 1kb                 # larger bodies are stored brotli-compressed
    breaker: { threshold: 5, coolDown: 5s }      # leave a failing Redis alone for a while
    coalesce: true                     # coalesce misses across instances with a Redis lock
    lockPoll: 200ms
  cache:                               # the default route; see the engine's options
    namespace: cachefront
    ttl: none                          # freshness for responses that give none (none: pure RFC 9111)
    override: false                    # let ttl win over the origin's freshness
    l1: { maxBytes: 64MB, maxObjectSize: 1MB }
    lockTimeout: 10s                   # how long concurrent misses wait for the first one
    hitForMiss: 2m                     # how long a URL whose response was not storable skips that wait (0: off)
    jitter: 0.1                        # random extension of cache-assigned lifetimes
    staleWhileRevalidate: 0            # default windows when the response gives none (RFC 5861)
    staleIfError: 0
    keep: 1h                           # how long stale entries with validators are kept for 304s
    allowSetCookie: false              # store responses that set cookies (cookies never replayed)
    allowAuthorization: false          # answer requests with Authorization from the shared cache
    heuristic: { fraction: 0.1, max: 1d }        # RFC 9111 §4.2.2 from Last-Modified
    targeted: [cdn-cache-control, surrogate-control]   # RFC 9213, obeyed and not forwarded
    tagHeaders: [surrogate-key, cache-tag]       # response headers carrying purge tags
    cacheStatus: cachefront            # name in Cache-Status
    key: { user: { header: x-user-id } | { cookie: sid, hash: true },
           ignoreQuery: [utm_*], headers: [accept-language] }
  routes:                              # ordered; the first whose match holds applies
    - name: api
      match: { path: /api/**, regex: '^/api/v[0-9]+/', methods: [GET], host: '*.example.com' }
      ttl: 30s
      override: false
      staleWhileRevalidate: 1m
      staleIfError: 1h
      bypass: false                    # true: never look up or store
      key: { user: { header: x-user-id }, ignoreQuery: [utm_*], headers: [accept-language] }
      tags: [api]
      allowSetCookie: false
      allowAuthorization: false
  timeouts:   { connect: 5s, response: 60s, shutdown: 10s }
  forwarding:
    trustedHops: []                    # IPs/CIDRs (or loopback, private) whose X-Forwarded-*/Forwarded are kept
    host: upstream                     # Host sent upstream: upstream (its URL's) or client
    keyByHost: true                    # key by X-Forwarded-Host/Proto, so no Host header poisons another
    via: cachefront                    # Via pseudonym; false: none
    maxSockets: 256                    # concurrent upstream connections
    keepAlive: 4s                      # idle upstream connections kept (below the upstream's own timeout)
  log:        { level: info, access: info }      # access: level of the per-request line, or false
  warm: [/, /api/products]             # requested once listening, to fill the cache; or:
  #  warm: { urls: [/], file: urls.txt, sitemap: sitemap.xml, concurrency: 4 }
  workers: 1

Admin API (admin.host:admin.port): POST /purge {url|key|tag|prefix|all}, GET /stats, /metrics,
/healthz, /readyz, and the dashboard at / (it asks for admin.token). Exit codes: 0 after SIGTERM/SIGINT, 1 on a runtime failure, 2 on a bad
configuration or usage.
`

