/**
 * Cache keys: `{namespace}:{method}:{path}?{sorted query}[:u={user}][:h={name}={value}...]`.
 *
 * Every part that comes from the request is encoded so that no input can forge another key:
 * the path is normalised to visible ASCII with no `?`, the query is re-serialised as
 * form-urlencoded (which percent-encodes `:`, `&` and `#`), and the user and header values are
 * percent-encoded. `?` is always present, so the first `:` after it starts the user part.
 */
import type { IncomingHttpHeaders } from 'node:http'
import picomatch from 'picomatch'

/** How a request's key is built. */
export interface KeyOptions {
  /**
   * Who the response is for; `undefined` (or null, or '') means shared. Receives the Node
   * request (Express's `req`, Koa's `ctx.req`, the proxy's request). Keying on the user makes
   * the cache private per user: `private` responses become storable for that user.
   */
  user?: (req: any) => string | number | undefined | null
  /** Query parameters left out of the key: names or globs such as `utm_*`. Default: none. */
  ignoreQuery?: string[]
  /** Request headers whose values become part of the key (lower-cased names). Default: none. */
  headers?: string[]
}

/** The parts of a key that are decided once per route, not per request. */
export interface KeyPlan {
  ignore?: (name: string) => boolean
  headers: string[]
  /**
   * `:h={name}=` (the field is present) and `:h={name}` (absent) for each of `headers`, built
   * once: a key then joins two parts per field rather than four.
   */
  present: string[]
  absent: string[]
}

export function planKey (options: KeyOptions | undefined): KeyPlan {
  const ignore = options?.ignoreQuery?.length ? picomatch(options.ignoreQuery) : undefined
  const headers = (options?.headers ?? []).map(h => h.toLowerCase())
  return { ignore, headers, present: headers.map(h => ':h=' + h + '='), absent: headers.map(h => ':h=' + h) }
}

/** Characters a path keeps as they are; everything else is percent-encoded (UTF-8). */
const NEEDS_WORK = /[^!-~]|[?#]|%(?![0-9A-F]{2})/

/**
 * Normalises a request path for keying without changing what the origin would see: percent
 * escapes get upper-case hex (RFC 3986 §6.2.2.1), bytes outside visible ASCII are escaped, and a
 * `%` that starts no valid escape is escaped itself. `%2F`, `;`, `..` and `%00` are NOT decoded
 * or resolved: the origin receives them as sent, so they must key as sent (SECURITY.md).
 */
export function normalisePath (path: string): string {
  if (!NEEDS_WORK.test(path)) return path
  let out = ''
  for (let i = 0; i < path.length; i++) {
    const c = path[i]
    if (c === '%' && /^[0-9a-fA-F]{2}$/.test(path.slice(i + 1, i + 3))) {
      out += '%' + path.slice(i + 1, i + 3).toUpperCase()
      i += 2
    } else if (c === '%' || c === '?' || c === '#') {
      out += '%' + c.charCodeAt(0).toString(16).toUpperCase()
    } else if (c < '!' || c > '~') {
      const cp = path.codePointAt(i)!
      out += utf8Escapes(cp)
      if (cp > 0xffff) i++
    } else out += c
  }
  return out
}

/**
 * The query in canonical form: parameters sorted by name (stable, so repeated names keep their
 * order, which origins may rely on), ignored names removed, names and values re-encoded as
 * application/x-www-form-urlencoded. Re-encoding works on the bytes the escapes stand for, so it
 * is lossless: `%FF` (not UTF-8) stays `%FF` rather than becoming U+FFFD, which would share a key
 * with `%EF%BF%BD`.
 */
export function normaliseQuery (query: string, ignore?: (name: string) => boolean): string {
  if (query === '') return ''
  const kept: [string, string][] = []
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = eq === -1 ? part : part.slice(0, eq)
    if (ignore && ignore(decodedName(name))) continue
    kept.push([formEncode(name), eq === -1 ? '' : formEncode(part.slice(eq + 1))])
  }
  kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  return kept.map(([k, v]) => k + '=' + v).join('&')
}

/**
 * A parameter name as the ignore globs see it (decoded; lossy, which is fine for matching). The
 * leading "&" keeps URLSearchParams from stripping a leading "?", which is part of the name here.
 */
function decodedName (name: string): string {
  return new URLSearchParams('&' + name + '=').keys().next().value ?? ''
}

const HEX2 = /^[0-9a-fA-F]{2}$/

/** The characters formByte keeps as they are: a component of only these is already canonical. */
const FORM_PLAIN = /^[0-9A-Za-z*\-._]*$/

/** One form-urlencoded component in canonical form: `+` and `%20` alike become `+`, escapes of unreserved bytes are decoded, every other byte is `%XX`. */
function formEncode (s: string): string {
  if (FORM_PLAIN.test(s)) return s
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '%' && HEX2.test(s.slice(i + 1, i + 3))) {
      out += formByte(parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
    } else if (c === '+') {
      out += '+'
    } else {
      const cp = s.codePointAt(i)!
      if (cp < 0x80) out += formByte(cp)
      else out += utf8Escapes(cp)
      if (cp > 0xffff) i++
    }
  }
  return out
}

function formByte (b: number): string {
  if (b === 0x20) return '+'
  if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
      b === 0x2a || b === 0x2d || b === 0x2e || b === 0x5f) return String.fromCharCode(b)
  return '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase()
}

/**
 * `%XX` escapes of a code point's UTF-8 bytes. A lone surrogate (possible in a JS string, never
 * in a request line) is encoded as its WTF-8 bytes, which no valid UTF-8 text produces, rather
 * than throwing like encodeURIComponent or becoming U+FFFD like Buffer.from.
 */
function utf8Escapes (cp: number): string {
  const bytes = cp < 0x80
    ? [cp]
    : cp < 0x800
      ? [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
      : cp < 0x10000
        ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
        : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
  let out = ''
  for (const b of bytes) out += '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase()
  return out
}

/** What encodeURIComponent leaves as it is. */
const UNRESERVED = /^[\w\-.!~*'()]*$/

/**
 * The last text encoded and its encoding: the values keyed per request (a forwarded host with a
 * port, a user id under load) repeat from one request to the next, and comparing is cheaper than
 * encoding.
 */
let lastText = ''
let lastEncoded = ''

/** encodeURIComponent, except that a lone surrogate is escaped (see utf8Escapes) instead of throwing. */
function encodeText (s: string): string {
  if (s === lastText) return lastEncoded
  if (UNRESERVED.test(s)) return s
  const encoded = encodeTextOnce(s)
  lastText = s
  lastEncoded = encoded
  return encoded
}

function encodeTextOnce (s: string): string {
  try {
    return encodeURIComponent(s)
  } catch {
    let out = ''
    for (const ch of s) {
      const cp = ch.codePointAt(0)!
      out += cp >= 0xd800 && cp <= 0xdfff ? utf8Escapes(cp) : encodeURIComponent(ch)
    }
    return out
  }
}

/** `{path}?{query}` normalised: the resource part of a key, also used as the URL tag. */
export function resourceOf (url: string, ignore?: (name: string) => boolean): string {
  const q = url.indexOf('?')
  if (q === -1) return normalisePath(url) + '?'
  return normalisePath(url.slice(0, q)) + '?' + normaliseQuery(url.slice(q + 1), ignore)
}

/**
 * The primary key. HEAD shares GET's key: a HEAD request is answered from the GET entry
 * (RFC 9110 §9.3.2: the same header fields as GET).
 */
export function primaryKey (
  namespace: string,
  method: string,
  resource: string,
  user: string | undefined,
  plan: KeyPlan,
  headers: IncomingHttpHeaders,
): string {
  // Every store lookup hashes the key and compares it with the stored one. Joined, the key is
  // one flat string; a concatenation (a V8 cons string) would be copied for each: V8 hashes a
  // cons string through a scratch copy, and compares one with a flat string in its runtime.
  const parts = [namespace, method === 'GET' || method === 'HEAD' ? ':GET:' : ':' + method + ':', resource]
  if (user !== undefined) parts.push(':u=', encodeText(user))
  const names = plan.headers
  for (let i = 0; i < names.length; i++) {
    const v = headers[names[i]]
    if (v === undefined) parts.push(plan.absent[i])
    else parts.push(plan.present[i], encodeText(Array.isArray(v) ? v.join(',') : v))
  }
  return parts.join('')
}

/** The user part of a key from `KeyOptions.user`, or undefined for a shared response. */
export function userOf (fn: KeyOptions['user'], req: unknown): string | undefined {
  if (fn === undefined) return undefined
  const u = fn(req)
  return u === undefined || u === null || u === '' ? undefined : String(u)
}
