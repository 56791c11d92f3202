/**
 * The proxy's configuration: one zod schema for the YAML/JSON file, with environment variables
 * and command-line flags laid over it (file < env < flags). Everything is validated before the
 * proxy starts; a problem is reported with the field's path, where its value came from, what
 * was expected and what was received. Unknown keys are errors.
 *
 * Durations and sizes are validated here and kept as written (`'30s'`, `'64MB'`): the engine
 * parses its own (src/units.ts), and the proxy parses its timeouts with the same functions.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { parseDuration, parseSize, type Duration, type Size } from '../src/index.js'

// ---- value types --------------------------------------------------------------------------

const DURATION = "expected a duration such as '500ms', '30s', '5m', '1h' or a number of milliseconds"
const SIZE = "expected a size such as '512kb', '64MB' or a number of bytes"

function valid (parse: () => unknown): boolean {
  try { parse(); return true } catch { return false }
}

const duration = z.custom<Duration>(v => (typeof v === 'string' || typeof v === 'number') && valid(() => parseDuration(v, '')), { error: DURATION })
/** A duration, or `null` / `'none'` for none. */
const optionalTtl = z.custom<Duration | 'none' | null>(
  v => v === null || v === 'none' || ((typeof v === 'string' || typeof v === 'number') && valid(() => parseDuration(v, ''))),
  { error: `${DURATION}, or null / 'none' for no cache-assigned freshness` },
).transform(v => (v === 'none' ? null : v))
const size = z.custom<Size>(v => (typeof v === 'string' || typeof v === 'number') && valid(() => parseSize(v, '')), { error: SIZE })
const port = z.number({ error: 'expected an integer from 0 to 65535 (0: any free port)' }).int().min(0).max(65535)
const host = z.string({ error: 'expected a host name or IP address to listen on' }).min(1)
const bool = z.boolean({ error: 'expected true or false' })
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const headerName = z.string({ error: 'expected a header field name' }).regex(TOKEN, 'expected a header field name').transform(s => s.toLowerCase())
const headerNames = z.array(headerName, { error: 'expected a list of header field names' })
const fraction = z.number({ error: 'expected a number from 0 to 1' }).min(0).max(1)
const upstreamUrl = z.url({
  protocol: /^https?$/,
  error: iss => iss.input === undefined
    ? 'required: the origin to forward to (--upstream, CACHEFRONT_UPSTREAM or upstream: in the file)'
    : 'expected an http:// or https:// URL such as http://127.0.0.1:3000',
})
const redisUrl = z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' })
const tags = z.array(z.string().regex(/^[^\s,]+$/, 'expected a tag: no spaces or commas'), { error: 'expected a list of tags' })

/** `loopback` and `private` name the usual ranges; anything else is an IP address or a CIDR block. */
export const HOP_KEYWORDS: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', '127.0.0.0/8', '::1/128'],
}

/** Whether `value` is an IP address, a CIDR block (`10.0.0.0/8`, `fd00::/8`) or a keyword above. */
export function isHop (value: string): boolean {
  if (Object.hasOwn(HOP_KEYWORDS, value)) return true
  const [address, prefix, ...rest] = value.split('/')
  const family = net.isIP(address)
  if (family === 0 || rest.length > 0) return false
  if (prefix === undefined) return true
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)
}

const hop = z.string({ error: 'expected an IP address, a CIDR block or loopback / private' })
  .refine(isHop, { error: "expected an IP address, a CIDR block such as '10.0.0.0/8', or 'loopback' / 'private'" })

// ---- sections -----------------------------------------------------------------------------

/** Whose response it is: a request header's value, or a cookie's. Keyed per user, the cache is private per user. */
const userKey = z.strictObject({
  /** The request header naming the user (e.g. x-user-id, authorization). */
  header: headerName.optional(),
  /** The cookie naming the user's session. */
  cookie: z.string().regex(TOKEN, 'expected a cookie name').optional(),
  /** Keep a digest of the value in keys instead of the value (default: true for cookies). */
  hash: bool.optional(),
}, { error: 'expected { header: <name> } or { cookie: <name> }' })
  .refine(u => (u.header === undefined) !== (u.cookie === undefined), { error: 'expected exactly one of header or cookie' })

const keyOptions = z.strictObject({
  user: userKey.optional(),
  /** Query parameters left out of the key: names or globs such as utm_*. */
  ignoreQuery: z.array(z.string().min(1), { error: 'expected a list of query parameter names or globs' }).optional(),
  /** Request headers whose values become part of the key. */
  headers: headerNames.optional(),
})

const regex = z.string({ error: 'expected a regular expression' }).superRefine((source, ctx) => {
  try {
    new RegExp(source) // eslint-disable-line no-new
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `expected a valid regular expression (${(err as Error).message})` })
  }
})
const oneOrMany = (item: z.ZodString, what: string) => z.union([item, z.array(item).min(1)], { error: `expected ${what} or a list of them` })

const match = z.strictObject({
  /** Path globs (picomatch), matched against the path without the query. */
  path: oneOrMany(z.string().min(1), 'a path glob such as /api/**').optional(),
  /** A regular expression tested against the path and query. */
  regex: regex.optional(),
  /** Request methods (default: any). */
  methods: z.array(z.string().regex(TOKEN, 'expected a method name').transform(m => m.toUpperCase()), { error: 'expected a list of methods' }).min(1).optional(),
  /** Host globs, matched against the Host header without its port. */
  host: oneOrMany(z.string().min(1), 'a host name or glob such as *.example.com').optional(),
})

const route = z.strictObject({
  /** A label for logs. */
  name: z.string().optional(),
  match: match.optional(),
  ttl: optionalTtl.optional(),
  override: bool.optional(),
  staleWhileRevalidate: duration.optional(),
  staleIfError: duration.optional(),
  bypass: bool.optional(),
  key: keyOptions.optional(),
  tags: tags.optional(),
  allowSetCookie: bool.optional(),
  allowAuthorization: bool.optional(),
})

const cache = z.strictObject({
  namespace: z.string().min(1).optional(),
  /** Default freshness for responses without their own; null (the default): a pure RFC 9111 shared cache. */
  ttl: optionalTtl.default(null),
  override: bool.optional(),
  l1: z.strictObject({ maxBytes: size.optional(), maxObjectSize: size.optional() }).optional(),
  lockTimeout: duration.optional(),
  hitForMiss: duration.optional(),
  jitter: fraction.optional(),
  staleWhileRevalidate: duration.optional(),
  staleIfError: duration.optional(),
  keep: duration.optional(),
  allowSetCookie: bool.optional(),
  allowAuthorization: bool.optional(),
  heuristic: z.strictObject({ fraction: fraction.optional(), max: duration.optional() }).optional(),
  targeted: headerNames.optional(),
  tagHeaders: headerNames.optional(),
  cacheStatus: z.string().regex(TOKEN, 'expected a token (letters, digits, -)').optional(),
  key: keyOptions.optional(),
})

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const logLevel = z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` })

export const configSchema = z.strictObject({
  /** The origin every request goes to. */
  upstream: upstreamUrl,
  listen: z.strictObject({
    host: host.default('0.0.0.0'),
    port: port.default(8080),
  }).prefault({}),
  admin: z.strictObject({
    enabled: bool.default(true),
    host: host.default('127.0.0.1'),
    port: port.default(8081),
    /** Bearer token for purges; without one, purging is disabled. */
    token: z.string({ error: 'expected a string' }).min(1).optional(),
    /** Also accept `PURGE <path>` on the main port (same token). */
    purgeMethod: bool.default(true),
  }).prefault({}),
  /** The shared tier (see the engine's RedisOptions); also what --workers share. */
  redis: z.strictObject({
    url: redisUrl,
    /** A Redis Cluster instead of `url`, from one or more of its nodes. */
    cluster: z.strictObject({ rootNodes: z.array(z.strictObject({ url: redisUrl }), { error: 'expected a list of { url }' }).min(1) }).optional(),
    commandTimeout: duration.optional(),
    connectTimeout: duration.optional(),
    compressAbove: size.optional(),
    breaker: z.strictObject({ threshold: z.number({ error: 'expected a positive integer' }).int().min(1).optional(), coolDown: duration.optional() }).optional(),
    /** Coalesce misses across instances with a Redis lock. */
    coalesce: bool.optional(),
    lockPoll: duration.optional(),
  }).partial({ url: true }).optional(),
  cache: cache.prefault({}),
  routes: z.array(route, { error: 'expected a list of route rules' }).default([]),
  timeouts: z.strictObject({
    /** Connecting to the upstream. */
    connect: duration.default('5s'),
    /** Waiting for the upstream's response head, and between two reads of its body. */
    response: duration.default('60s'),
    /** How long in-flight requests may finish after SIGTERM/SIGINT. */
    shutdown: duration.default('10s'),
  }).prefault({}),
  forwarding: z.strictObject({
    /** Addresses of proxies in front of this one whose X-Forwarded-* and Forwarded fields are kept. */
    trustedHops: z.array(hop, { error: 'expected a list of IP addresses or CIDR blocks' }).default([]),
    /** The Host sent upstream: the upstream URL's ('upstream') or the client's ('client'). */
    host: z.enum(['upstream', 'client'], { error: "expected 'upstream' or 'client'" }).default('upstream'),
    /** Key responses by the forwarded host and protocol (X-Forwarded-Host/Proto), so no Host header can poison another host's entries. */
    keyByHost: bool.default(true),
    /** The pseudonym in Via; false: no Via. */
    via: z.union([z.string().regex(TOKEN, 'expected a token such as cachefront'), z.literal(false)], { error: 'expected a token such as cachefront, or false' }).default('cachefront'),
    /** Upper bound of concurrent upstream connections. */
    maxSockets: z.number({ error: 'expected a positive integer' }).int().min(1).default(256),
    /** How long an idle upstream connection is kept for reuse; 0: no keep-alive. Keep it below the upstream's own keep-alive timeout. */
    keepAlive: duration.default('4s'),
  }).prefault({}),
  log: z.strictObject({
    level: logLevel.default('info'),
    /** The level of the one-line-per-request access log; false: none. */
    access: z.union([logLevel, z.literal(false)], { error: `expected one of ${LOG_LEVELS.join(', ')} or false` }).default('info'),
  }).prefault({}),
  /**
   * URLs requested through the proxy once it listens, to fill the cache: paths, or absolute
   * URLs (sent to this proxy with their host in Host). A list, or urls/file/sitemap with a
   * concurrency. With --workers, the primary warms once every worker is ready.
   */
  warm: z.union([
    z.array(z.string().min(1), { error: 'expected a list of URLs or paths' }),
    z.strictObject({
      urls: z.array(z.string().min(1), { error: 'expected a list of URLs or paths' }).default([]),
      /** A file listing URLs, one per line (# comments). */
      file: z.string().min(1).optional(),
      /** A sitemap.xml: a file, or an http(s) URL. */
      sitemap: z.string().min(1).optional(),
      concurrency: z.number({ error: 'expected an integer from 1 to 256' }).int().min(1).max(256).default(4),
    }),
  ], { error: 'expected a list of URLs, or { urls, file, sitemap, concurrency }' })
    .transform(w => (Array.isArray(w) ? { urls: w, concurrency: 4 } : w))
    .optional(),
  /** Processes serving requests (node:cluster); share a cache only through redis. */
  workers: z.number({ error: 'expected an integer from 1 to 64' }).int().min(1).max(64).default(1),
})

export type ProxyConfig = z.output<typeof configSchema>
export type ProxyConfigInput = z.input<typeof configSchema>
export type RouteRule = ProxyConfig['routes'][number]
export type UserKey = z.output<typeof userKey>
export type ConfigKeyOptions = z.output<typeof keyOptions>

// ---- overrides from the environment and the command line ----------------------------------

type Kind = 'string' | 'int' | 'duration' | 'size' | 'ttl' | 'list' | 'off'

/** One setting that can come from a flag and/or an environment variable. */
export interface Override {
  flag: string
  short?: string
  env?: string
  /** Where it goes in the config. */
  path: string[]
  kind: Kind
  /** For --help. */
  arg?: string
  help: string
}

/** Every flag and environment variable that sets a config field. `--help` is generated from this too. */
export const OVERRIDES: readonly Override[] = [
  { flag: 'upstream', short: 'u', env: 'CACHEFRONT_UPSTREAM', path: ['upstream'], kind: 'string', arg: 'URL', help: 'origin to forward to (required), e.g. http://127.0.0.1:3000' },
  { flag: 'host', env: 'CACHEFRONT_HOST', path: ['listen', 'host'], kind: 'string', arg: 'HOST', help: 'address to listen on (default 0.0.0.0)' },
  { flag: 'port', short: 'p', env: 'CACHEFRONT_PORT', path: ['listen', 'port'], kind: 'int', arg: 'PORT', help: 'port to listen on (default 8080; 0: any free port)' },
  { flag: 'admin-host', env: 'CACHEFRONT_ADMIN_HOST', path: ['admin', 'host'], kind: 'string', arg: 'HOST', help: 'admin API address (default 127.0.0.1)' },
  { flag: 'admin-port', env: 'CACHEFRONT_ADMIN_PORT', path: ['admin', 'port'], kind: 'int', arg: 'PORT', help: 'admin API port (default 8081)' },
  { flag: 'admin-token', env: 'CACHEFRONT_ADMIN_TOKEN', path: ['admin', 'token'], kind: 'string', arg: 'TOKEN', help: 'bearer token for purges; prefer the env var (argv is visible in ps)' },
  { flag: 'no-admin', path: ['admin', 'enabled'], kind: 'off', help: 'do not start the admin API' },
  { flag: 'redis', env: 'CACHEFRONT_REDIS_URL', path: ['redis', 'url'], kind: 'string', arg: 'URL', help: 'shared Redis tier, e.g. redis://127.0.0.1:6379' },
  { flag: 'namespace', env: 'CACHEFRONT_NAMESPACE', path: ['cache', 'namespace'], kind: 'string', arg: 'NAME', help: 'prefix of every key (default cachefront)' },
  { flag: 'ttl', env: 'CACHEFRONT_TTL', path: ['cache', 'ttl'], kind: 'ttl', arg: 'DURATION', help: "freshness for responses that give none (default none: pure RFC 9111)" },
  { flag: 'max-bytes', env: 'CACHEFRONT_MAX_BYTES', path: ['cache', 'l1', 'maxBytes'], kind: 'size', arg: 'SIZE', help: 'memory for cached responses (default 64MB)' },
  { flag: 'max-object-size', env: 'CACHEFRONT_MAX_OBJECT_SIZE', path: ['cache', 'l1', 'maxObjectSize'], kind: 'size', arg: 'SIZE', help: 'larger responses stream through uncached (default 1MB)' },
  { flag: 'stale-while-revalidate', env: 'CACHEFRONT_STALE_WHILE_REVALIDATE', path: ['cache', 'staleWhileRevalidate'], kind: 'duration', arg: 'DURATION', help: 'default stale-while-revalidate window (default 0)' },
  { flag: 'stale-if-error', env: 'CACHEFRONT_STALE_IF_ERROR', path: ['cache', 'staleIfError'], kind: 'duration', arg: 'DURATION', help: 'default stale-if-error window (default 0)' },
  { flag: 'connect-timeout', env: 'CACHEFRONT_CONNECT_TIMEOUT', path: ['timeouts', 'connect'], kind: 'duration', arg: 'DURATION', help: 'connecting to the upstream (default 5s); then 504 or stale-if-error' },
  { flag: 'response-timeout', env: 'CACHEFRONT_RESPONSE_TIMEOUT', path: ['timeouts', 'response'], kind: 'duration', arg: 'DURATION', help: 'waiting for the response head or the next body read (default 60s)' },
  { flag: 'shutdown-timeout', env: 'CACHEFRONT_SHUTDOWN_TIMEOUT', path: ['timeouts', 'shutdown'], kind: 'duration', arg: 'DURATION', help: 'time in-flight requests get on SIGTERM (default 10s)' },
  { flag: 'trusted-hops', env: 'CACHEFRONT_TRUSTED_HOPS', path: ['forwarding', 'trustedHops'], kind: 'list', arg: 'LIST', help: 'comma-separated IPs/CIDRs (or loopback, private) whose X-Forwarded-* are kept' },
  { flag: 'log-level', env: 'CACHEFRONT_LOG_LEVEL', path: ['log', 'level'], kind: 'string', arg: 'LEVEL', help: 'fatal, error, warn, info (default), debug, trace or silent' },
  { flag: 'workers', short: 'w', env: 'CACHEFRONT_WORKERS', path: ['workers'], kind: 'int', arg: 'N', help: 'processes serving requests (default 1); they share a cache only through --redis' },
]

/** Where a config value came from, for error messages: 'listen.port' → '--port'. */
export type Origins = Map<string, string>

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map(p => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Flags as node:util parseArgs returns them. */
export type Flags = Record<string, string | boolean | undefined>

/**
 * The effective configuration: the file (YAML or JSON) when there is one, then environment
 * variables, then flags. Throws ConfigError.
 */
export function loadConfig ({ file, flags = {}, env = {} }: { file?: string, flags?: Flags, env?: NodeJS.ProcessEnv }): ProxyConfig {
  const origins: Origins = new Map()
  const data = file === undefined ? {} : readConfigFile(file)
  if (file !== undefined) origins.set('', file)
  for (const o of OVERRIDES) {
    const raw = o.env === undefined ? undefined : env[o.env]
    if (raw !== undefined && raw !== '') setPath(data, o.path, convert(raw, o.kind), origins, o.env!)
  }
  for (const o of OVERRIDES) {
    const raw = flags[o.flag]
    if (raw !== undefined) setPath(data, o.path, o.kind === 'off' ? !raw : convert(String(raw), o.kind), origins, `--${o.flag}`)
  }
  return parseConfig(data, origins)
}

/** Validates a config object (already merged); defaults filled in. Throws ConfigError. */
export function parseConfig (input: unknown, origins: Origins = new Map()): ProxyConfig {
  const result = configSchema.safeParse(input, { reportInput: true })
  if (!result.success) throw new ConfigError(result.error.issues.map(issue => describeIssue(issue, origins)))
  const config = result.data
  const problems: string[] = []
  const upstream = new URL(config.upstream)
  if (upstream.search !== '' || upstream.hash !== '') problems.push(`upstream: expected a URL without query or fragment, received ${JSON.stringify(config.upstream)}`)
  if (config.admin.enabled && config.admin.port !== 0 && config.admin.port === config.listen.port && sameHost(config.admin.host, config.listen.host)) {
    problems.push(`admin.port: expected a port other than listen.port (${config.listen.port}), or --no-admin`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

function sameHost (a: string, b: string): boolean {
  const any = (h: string) => h === '0.0.0.0' || h === '::'
  return a === b || any(a) || any(b)
}

function readConfigFile (file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([`--config: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`])
  }
  let data: unknown
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both; duplicate keys are errors.
    data = parseYaml(text, { prettyErrors: true })
  } catch (err) {
    throw new ConfigError([`${file}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0].replace(/:\s*$/, '')}`])
  }
  if (data === null || data === undefined) return {}
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError([`${file}: expected a mapping of options at the top level`])
  return data as Record<string, unknown>
}

function convert (raw: string, kind: Kind): unknown {
  const text = raw.trim()
  switch (kind) {
    case 'int': return /^\d+$/.test(text) ? Number(text) : text
    case 'duration':
    case 'size': return /^\d+$/.test(text) ? Number(text) : text
    case 'ttl': return text === 'none' || text === 'null' ? null : /^\d+$/.test(text) ? Number(text) : text
    case 'list': return text.split(',').map(s => s.trim()).filter(s => s !== '')
    default: return raw
  }
}

function setPath (data: Record<string, unknown>, path: string[], value: unknown, origins: Origins, origin: string): void {
  let at: Record<string, unknown> = data
  for (const part of path.slice(0, -1)) {
    const next = at[part]
    if (next === null || typeof next !== 'object' || Array.isArray(next)) at[part] = {}
    at = at[part] as Record<string, unknown>
  }
  at[path[path.length - 1]] = value
  origins.set(path.join('.'), origin)
}

// ---- reporting ----------------------------------------------------------------------------

const SECRET_PATHS = new Set(['admin.token'])

function describeIssue (issue: z.core.$ZodIssue, origins: Origins): string {
  const path = formatPath(issue.path)
  const from = originOf(issue.path, origins)
  const where = from === undefined ? path : `${path} (from ${from})`
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeys(issue.path)
    return issue.keys.map(key => {
      const at = path === '' ? key : `${path}.${key}`
      const near = allowed && closest(key, allowed)
      const hint = near ? `; did you mean "${near}"?` : allowed ? `; expected one of: ${allowed.join(', ')}` : ''
      return `${at}${from === undefined ? '' : ` (from ${from})`}: unknown option${hint}`
    }).join('\n  ')
  }
  const message = issue.message.replace(/^Invalid input: /, '')
  const input = (issue as { input?: unknown }).input
  const received = input === undefined ? '' : `, received ${SECRET_PATHS.has(path) ? '"***"' : show(input)}`
  return `${where === '' ? '(top level)' : where}: ${message}${received}`
}

function formatPath (path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`
  return out
}

function originOf (path: readonly PropertyKey[], origins: Origins): string | undefined {
  for (let n = path.length; n > 0; n--) {
    const o = origins.get(path.slice(0, n).join('.'))
    if (o !== undefined) return o
  }
  return undefined
}

function show (value: unknown): string {
  const text = JSON.stringify(value)
  if (text === undefined) return String(value)
  return text.length > 80 ? text.slice(0, 77) + '...' : text
}

/** The keys the schema allows at `path`, for "did you mean" hints. */
function allowedKeys (path: readonly PropertyKey[]): string[] | undefined {
  let schema: z.core.$ZodType | undefined = configSchema
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType => {
    const def = s._zod.def as { type: string, innerType?: z.core.$ZodType, in?: z.core.$ZodType, schema?: z.core.$ZodType }
    if (def.innerType) return unwrap(def.innerType)
    if (def.type === 'pipe' && def.in) return unwrap(def.in)
    return s
  }
  for (const part of [...path, undefined]) {
    if (schema === undefined) return undefined
    schema = unwrap(schema)
    const def = schema._zod.def as { type: string, shape?: Record<string, z.core.$ZodType>, element?: z.core.$ZodType }
    if (part === undefined) return def.type === 'object' && def.shape ? Object.keys(def.shape) : undefined
    if (def.type === 'object' && def.shape) schema = def.shape[String(part)]
    else if (def.type === 'array') schema = def.element
    else return undefined
  }
  return undefined
}

/** The allowed key nearest to `key` (case-insensitive edit distance ≤ 2), if any. */
function closest (key: string, allowed: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of allowed) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) { best = candidate; bestDistance = d }
  }
  return best
}

function distance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const here = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = here
    }
  }
  return row[b.length]
}

/** The config as it can be logged: the admin token and the Redis password masked. */
export function maskSecrets (config: ProxyConfig): ProxyConfig {
  const masked = structuredClone(config)
  if (masked.admin.token !== undefined) masked.admin.token = '***'
  const hide = (u: string) => {
    const url = new URL(u)
    if (url.password === '') return u
    url.password = '***'
    return url.toString()
  }
  if (masked.redis?.url !== undefined) masked.redis.url = hide(masked.redis.url)
  for (const node of masked.redis?.cluster?.rootNodes ?? []) node.url = hide(node.url)
  return masked
}
