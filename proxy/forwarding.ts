/**
 * What a reverse proxy does to the messages it relays (RFC 9110 §7.6): hop-by-hop fields are
 * removed, Via and X-Forwarded-For/Proto/Host are set, and fields a client could use to make
 * the origin serve something other than what the cache keys (X-Forwarded-Host, X-Original-URL,
 * method overrides, ...) are believed only from trusted hops.
 *
 * The request is rewritten in place, before the cache sees it, so the cache keys, matches Vary
 * and checks Authorization against exactly the request the origin receives.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { HOP_KEYWORDS } from './config.js'

/** Hop-by-hop request fields (RFC 9110 §7.6.1), and fields meant for this proxy alone. */
const REQUEST_HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'proxy-authorization',
  // Node has already answered `Expect: 100-continue`; the upstream must not wait for it again.
  'expect',
]

/** Hop-by-hop response fields. */
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'])

/** Fields that say where the request came from or what it "really" was: from untrusted clients, never believed. */
const FORWARDING_FIELDS = [
  'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-prefix',
  'x-forwarded-server', 'x-real-ip', 'x-client-ip', 'x-original-host', 'x-host',
]

/**
 * Fields that make some origins serve another URL or run another method than the request line
 * says. The cache keys by the request line, so on a cacheable request they would let anyone
 * store one resource's (or one method's) response under another's key: never forwarded on
 * GET/HEAD, and from untrusted clients not on any method.
 */
const OVERRIDE_FIELDS = ['x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method']

/** The request fields that identify the forwarded host; part of every key when keyByHost is on. */
export const HOST_KEY_FIELDS = ['x-forwarded-host', 'x-forwarded-proto']

/** What `prepare` does with a request field it finds, by name. */
const HOP_BY_HOP = 1
const FORWARDING = 2
const OVERRIDE = 3
/** A Map: field names arrive as property keys, whose hash V8 has already computed. */
const KINDS = new Map<string, number>()
for (const name of REQUEST_HOP_BY_HOP) KINDS.set(name, HOP_BY_HOP)
for (const name of FORWARDING_FIELDS) KINDS.set(name, FORWARDING)
for (const name of OVERRIDE_FIELDS) KINDS.set(name, OVERRIDE)

const BASE = 'http://base.invalid'
/** Targets that the WHATWG URL parser (which http-proxy applies) leaves as they are. */
const PLAIN_TARGET = /^\/(?!\/)[\w\-.~!$&()*+,;=:@/%?]*$/
const DOT_SEGMENT = /\/\.|%2e/i

export interface ForwardingOptions {
  trustedHops: readonly string[]
  /** Pseudonym for Via, or false for none. */
  via: string | false
}

export class Forwarding {
  private readonly trusted: BlockList | undefined
  private readonly via: string | undefined
  /** The Via hop for the common versions, built once. */
  private readonly via11: string | undefined
  private readonly via10: string | undefined

  constructor (options: ForwardingOptions) {
    this.via = options.via === false ? undefined : options.via
    this.via11 = this.via === undefined ? undefined : '1.1 ' + this.via
    this.via10 = this.via === undefined ? undefined : '1.0 ' + this.via
    if (options.trustedHops.length === 0) return
    const list = new BlockList()
    for (const hop of options.trustedHops.flatMap(h => HOP_KEYWORDS[h] ?? [h])) {
      const [address, prefix] = hop.split('/')
      const family = isIPv4(address) ? 'ipv4' : 'ipv6'
      if (prefix === undefined) list.addAddress(address, family)
      else list.addSubnet(address, Number(prefix), family)
    }
    this.trusted = list
  }

  /** Whether the peer on this socket is a trusted proxy. */
  trusts (address: string | undefined): boolean {
    if (this.trusted === undefined || address === undefined) return false
    if (isIPv4(address)) return this.trusted.check(address, 'ipv4')
    if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return this.trusted.check(address.slice(7), 'ipv4')
    return isIPv6(address) && this.trusted.check(address, 'ipv6')
  }

  /**
   * Rewrites the request in place: its target in the form the upstream will receive it, then
   * its header fields. `upgrade` keeps Connection and Upgrade (WebSocket).
   */
  prepare (req: IncomingMessage, upgrade = false): void {
    const h = req.headers
    const url = req.url ?? '/'
    if (!PLAIN_TARGET.test(url) || DOT_SEGMENT.test(url)) normaliseTarget(req, url)

    const connection = h.connection
    if (connection !== undefined) {
      for (const token of connection.split(',')) {
        const name = token.trim().toLowerCase()
        if (name !== '' && name !== 'host' && !(upgrade && name === 'upgrade')) delete h[name]
      }
    }
    const remote = req.socket.remoteAddress
    // Decided lazily: most requests carry none of the fields below, and then nobody asks.
    let trusted: boolean | undefined
    // One pass over the fields the request has, rather than a lookup per field it might have.
    for (const name in h) {
      const kind = KINDS.get(name)
      if (kind === undefined) continue
      if (kind === HOP_BY_HOP) {
        if (!(upgrade && (name === 'connection' || name === 'upgrade'))) delete h[name]
      } else if (!(trusted ??= this.trusts(remote)) || (kind === OVERRIDE && (req.method === 'GET' || req.method === 'HEAD'))) {
        delete h[name]
      }
    }

    if (remote !== undefined) {
      const prior = h['x-forwarded-for']
      h['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote
    }
    if (h['x-forwarded-proto'] === undefined) h['x-forwarded-proto'] = (req.socket as TLSSocket).encrypted ? 'https' : 'http'
    if (h['x-forwarded-host'] === undefined && h.host !== undefined) h['x-forwarded-host'] = h.host
    if (this.via !== undefined) {
      const v = req.httpVersion
      const hop = v === '1.1' ? this.via11! : v === '1.0' ? this.via10! : `${v} ${this.via}`
      h.via = h.via ? `${h.via}, ${hop}` : hop
    }
  }

  /** The upstream response's fields as relayed: hop-by-hop fields removed, Via added. */
  response (headers: IncomingHttpHeaders, httpVersion: string): OutgoingHttpHeaders {
    const drop = connectionTokens(headers.connection)
    const out: OutgoingHttpHeaders = {}
    for (const name in headers) {
      if (RESPONSE_HOP_BY_HOP.has(name) || (drop !== undefined && drop.has(name))) continue
      out[name] = headers[name]
    }
    if (this.via !== undefined) {
      const hop = `${httpVersion} ${this.via}`
      out.via = headers.via ? `${headers.via}, ${hop}` : hop
    }
    return out
  }
}

/** The forwarded host a request is for (the first of a list a trusted hop may have built). */
export function forwardedHost (req: IncomingMessage): string | undefined {
  const value = req.headers['x-forwarded-host'] ?? req.headers.host
  if (value === undefined) return undefined
  const first = String(value).split(',')[0].trim().toLowerCase()
  // Without the port; IPv6 literals keep their brackets.
  return first.replace(/:\d*$/, '')
}

/**
 * The request target as the upstream receives it: http-proxy parses it as a WHATWG URL, which
 * resolves dot segments, turns `\` into `/` and percent-encodes some characters. Doing the same
 * here makes the cache key, and the routes match, the path the origin actually serves. An
 * absolute-form target (RFC 9112 §3.2.2) also replaces Host.
 */
function normaliseTarget (req: IncomingMessage, url: string): void {
  if (url === '*') return
  let parsed: URL
  try {
    parsed = new URL(url.startsWith('//') ? BASE + url : url, BASE)
  } catch {
    return
  }
  if (parsed.origin !== BASE && (parsed.protocol === 'http:' || parsed.protocol === 'https:')) req.headers.host = parsed.host
  req.url = parsed.pathname + parsed.search
}

function connectionTokens (value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined
  const out = new Set<string>()
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase()
    if (name !== '') out.add(name)
  }
  return out
}
