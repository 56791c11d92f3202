/**
 * Route rules, resolved once at startup into the engine's `Route`s: the first rule whose match
 * holds decides a request's TTL, stale windows, bypass, key and tags; the default route (the
 * `cache` section) applies to everything else. Per request, only the matchers run.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import picomatch from 'picomatch'
import type { KeyOptions, RouteOptions } from '../src/index.js'
import { resolveRoute, type Route, type Settings } from '../src/options.js'
import type { ConfigKeyOptions, RouteRule, UserKey } from './config.js'
import { forwardedHost } from './forwarding.js'

/** A rule ready to test: its matchers and its engine route. */
interface CompiledRule {
  name: string
  test(path: string, url: string, method: string, req: IncomingMessage): boolean
  route: Route
}

export interface RouterOptions {
  /** The engine's settings (`cache.engine.settings`): routes are laid over them. */
  settings: Settings
  rules: readonly RouteRule[]
  /** Request fields every key includes (the forwarded host and protocol). */
  keyFields: readonly string[]
  /** Programmatic options of the default route (embedding, tests). */
  defaultRoute?: RouteOptions
}

export class Router {
  private readonly rules: CompiledRule[]
  readonly fallback: Route

  constructor (options: RouterOptions) {
    const { settings, keyFields } = options
    // The cache-wide key options (the config's cache.key, and any programmatic ones over it).
    const base: KeyOptions = settings.options.key ?? {}
    this.rules = options.rules.map((rule, i) => ({
      name: rule.name ?? `routes[${i}]`,
      test: matcher(rule.match),
      route: resolveRoute(settings, routeOptions(rule, base, keyFields)),
    }))
    const programmatic = options.defaultRoute ?? {}
    const key: KeyOptions = { ...base, ...programmatic.key }
    this.fallback = resolveRoute(settings, { ...programmatic, key: { ...key, headers: union(key.headers, keyFields) } })
  }

  /** The route for this request: the first rule that matches, else the default. */
  pick (req: IncomingMessage): Route {
    const rules = this.rules
    if (rules.length === 0) return this.fallback
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = matchablePath(q === -1 ? url : url.slice(0, q))
    const method = req.method ?? 'GET'
    for (let i = 0; i < rules.length; i++) {
      if (rules[i].test(path, url, method, req)) return rules[i].route
    }
    return this.fallback
  }
}

function routeOptions (rule: RouteRule, base: KeyOptions, keyFields: readonly string[]): RouteOptions {
  const own = toKeyOptions(rule.key)
  const key: KeyOptions = { ...base, ...own, headers: union(own.headers ?? base.headers, keyFields) }
  const options: RouteOptions = { key }
  if (rule.ttl !== undefined) options.ttl = rule.ttl
  if (rule.override !== undefined) options.override = rule.override
  if (rule.staleWhileRevalidate !== undefined) options.staleWhileRevalidate = rule.staleWhileRevalidate
  if (rule.staleIfError !== undefined) options.staleIfError = rule.staleIfError
  if (rule.bypass !== undefined) options.bypass = rule.bypass
  if (rule.tags !== undefined) options.tags = rule.tags
  if (rule.allowSetCookie !== undefined) options.allowSetCookie = rule.allowSetCookie
  if (rule.allowAuthorization !== undefined) options.allowAuthorization = rule.allowAuthorization
  return options
}

/** The config's key section as engine KeyOptions; only the fields it sets, so merging keeps the rest. */
export function toKeyOptions (key: ConfigKeyOptions | undefined): KeyOptions {
  const out: KeyOptions = {}
  if (key === undefined) return out
  if (key.user !== undefined) out.user = userFunction(key.user)
  if (key.ignoreQuery !== undefined) out.ignoreQuery = key.ignoreQuery
  if (key.headers !== undefined) out.headers = key.headers
  return out
}

function union (a: readonly string[] | undefined, b: readonly string[]): string[] {
  return [...new Set([...(a ?? []), ...b])]
}

/**
 * Who a response is for, from a header or a cookie. Secrets (cookies, Authorization) are kept
 * in keys as a digest, so a key listing never shows a credential.
 */
export function userFunction (user: UserKey): (req: IncomingMessage) => string | undefined {
  const digest = user.hash ?? (user.cookie !== undefined || user.header === 'authorization' || user.header === 'cookie')
  const read = user.header !== undefined ? headerReader(user.header) : cookieReader(user.cookie!)
  return digest
    ? req => { const v = read(req); return v === undefined ? undefined : hash(v) }
    : read
}

function headerReader (name: string): (req: IncomingMessage) => string | undefined {
  return req => {
    const v = req.headers[name]
    if (v === undefined || v === '') return undefined
    return Array.isArray(v) ? v.join(',') : v
  }
}

function cookieReader (name: string): (req: IncomingMessage) => string | undefined {
  return req => {
    const header = req.headers.cookie
    if (header === undefined) return undefined
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=')
      if (eq === -1 || pair.slice(0, eq).trim() !== name) continue
      const value = pair.slice(eq + 1).trim()
      return value === '' ? undefined : value
    }
    return undefined
  }
}

function hash (value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22)
}

function matcher (match: RouteRule['match']): CompiledRule['test'] {
  if (match === undefined) return () => true
  const checks: CompiledRule['test'][] = []
  if (match.methods !== undefined) {
    const methods = new Set(match.methods)
    // HEAD is answered from GET's entry, so a rule for GET covers HEAD too.
    if (methods.has('GET')) methods.add('HEAD')
    checks.push((_p, _u, method) => methods.has(method))
  }
  if (match.path !== undefined) {
    const isMatch = picomatch(match.path, { dot: true })
    checks.push(path => isMatch(path))
  }
  if (match.regex !== undefined) {
    const re = new RegExp(match.regex)
    checks.push((_p, url) => re.test(url))
  }
  if (match.host !== undefined) {
    const isMatch = picomatch(match.host, { nocase: true, dot: true })
    checks.push((_p, _u, _m, req) => {
      const host = forwardedHost(req)
      return host !== undefined && isMatch(host)
    })
  }
  return (path, url, method, req) => {
    for (let i = 0; i < checks.length; i++) if (!checks[i](path, url, method, req)) return false
    return true
  }
}

const UNRESERVED_ESCAPE = /%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/gi

/**
 * The path rules match against: escapes of unreserved characters decoded (RFC 3986 §6.2.2.2),
 * so `/%61dmin` cannot slip past a rule for `/admin/**`. Other escapes, `%2F` included, stay.
 */
function matchablePath (path: string): string {
  if (path.indexOf('%') === -1) return path
  return path.replace(UNRESERVED_ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}
