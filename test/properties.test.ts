import { expect } from 'chai'
import fc from 'fast-check'
import type { IncomingHttpHeaders } from 'node:http'
import { planKey, primaryKey, resourceOf } from '../src/key.js'
import { variantSuffix } from '../src/vary.js'
import { explicitLifetime, parseHttpDate, storability, usability, usableOnError, type PolicyRules, type Storable } from '../src/policy.js'
import { DELTA_SECONDS_MAX, parseCacheControl } from '../src/cache-control.js'

// ---- (1) keys -------------------------------------------------------------------------------

/** Pieces that stress every separator and escape the key format uses, and some ordinary text. */
const TRICKY = [
  ':', '?', '#', '&', '=', '%', '+', ' ', '/', ';', '.', ',', '\n', '\r', '\t', '\u0000', '\u007f',
  'é', 'ß', '😀', '\u00a0', '%2F', '%2f', '%3A', '%3a', '%20', '%FF', '%ff', '%EF%BF%BD', '%zz', '%4',
  ':u=', ':h=', '#x=', '&x-user-id=', 'a', 'A', 'b', '%41', 'utm_x', 'x',
]
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TRICKY) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 2 }) },
)
const text = (maxLength = 6) => fc.array(piece, { maxLength }).map(parts => parts.join(''))
/** As text, plus lone surrogates: possible in a JS string (a user id from JSON), never on the wire. */
const jsText = fc.array(fc.oneof(piece, fc.constantFrom('\ud800', '\udfff', '\ufffd')), { maxLength: 5 }).map(p => p.join(''))

interface KeyInput {
  method: string
  url: string
  user: string | undefined
  tenant: string | undefined
  language: string | undefined
  userId: string | undefined
}

function keyInputOf (path: fc.Arbitrary<string>, query: fc.Arbitrary<string>, user: fc.Arbitrary<string>, value: fc.Arbitrary<string>): fc.Arbitrary<KeyInput> {
  return fc.record({
    method: fc.constantFrom('GET', 'HEAD', 'OPTIONS'),
    url: fc.tuple(path, fc.option(query, { nil: undefined })).map(([p, q]) => '/' + p + (q === undefined ? '' : '?' + q)),
    user: fc.option(user, { nil: undefined }),
    tenant: fc.option(value, { nil: undefined }),
    language: fc.option(value, { nil: undefined }),
    userId: fc.option(value, { nil: undefined }),
  })
}

const FIELDS = ['method', 'url', 'user', 'tenant', 'language', 'userId'] as const

const keyInput = keyInputOf(text(), text(8), jsText, text())

/**
 * A small alphabet of near-equivalents, so that random pairs often normalise alike or nearly
 * alike: this is where a lossy normalisation would show up as a shared key.
 */
const NEAR = ['a', 'A', '%41', '%61', '+', ' ', '%20', '%2B', '%FF', '%ff', '%EF%BF%BD', '\ufffd', '%C3%A9', 'é', '%',
  '%25', '=', '%3D', '&', '%26', ':', '%3A', '#', '%23', '/', '%2F', '%2f', '?', ',', ', ', 'utm_x', 'x']
const nearPieces = fc.array(fc.constantFrom(...NEAR), { maxLength: 4 })
const NEAR_FIELDS = ['path', 'query', 'user', 'tenant', 'language', 'userId'] as const
type NearParts = { method: string } & { [F in typeof NEAR_FIELDS[number]]: string[] | undefined }

const nearParts: fc.Arbitrary<NearParts> = fc.record({
  method: fc.constantFrom('GET', 'HEAD'),
  path: nearPieces,
  query: fc.option(nearPieces, { nil: undefined }),
  user: fc.option(fc.array(fc.constantFrom(...NEAR, '\ud800', '\udc00'), { maxLength: 4 }), { nil: undefined }),
  tenant: fc.option(nearPieces, { nil: undefined }),
  language: fc.option(nearPieces, { nil: undefined }),
  userId: fc.option(nearPieces, { nil: undefined }),
})

function fromParts (p: NearParts): KeyInput {
  const join = (a: string[] | undefined) => a?.join('')
  return {
    method: p.method,
    url: '/' + (join(p.path) ?? '') + (p.query === undefined ? '' : '?' + p.query.join('')),
    user: join(p.user),
    tenant: join(p.tenant),
    language: join(p.language),
    userId: join(p.userId),
  }
}

/** Two inputs that differ in one piece of one field: a lossy normalisation shows up as a shared key here. */
const nearPair: fc.Arbitrary<[KeyInput, KeyInput]> = fc
  .tuple(nearParts, fc.constantFrom(...NEAR_FIELDS), fc.nat(), fc.constantFrom(...NEAR))
  .map(([a, field, at, piece]) => {
    const pieces = a[field] ?? []
    const changed = [...pieces]
    if (pieces.length === 0) changed.push(piece)
    else changed[at % pieces.length] = piece
    return [fromParts(a), fromParts({ ...a, [field]: changed })]
  })

const PLAN = planKey({ headers: ['x-tenant'], ignoreQuery: ['utm_x'] })
const VARY = ['accept-language', 'x-user-id']

function headersOf (i: KeyInput): IncomingHttpHeaders {
  const h: IncomingHttpHeaders = {}
  if (i.tenant !== undefined) h['x-tenant'] = i.tenant
  if (i.language !== undefined) h['accept-language'] = i.language
  if (i.userId !== undefined) h['x-user-id'] = i.userId
  return h
}

/** The full key of a variant: primary key plus Vary suffix, as the engine builds it. */
function fullKey (i: KeyInput): string {
  const headers = headersOf(i)
  return primaryKey('ns', i.method, resourceOf(i.url, PLAN.ignore), i.user, PLAN, headers) + variantSuffix(VARY, headers)
}

// The model: each input reduced by the documented normalisation, written independently of
// src/key.ts. Two inputs are "the same request" exactly when their models are equal.

const hex = (b: number) => (b < 16 ? '0' : '') + b.toString(16).toUpperCase()

/** UTF-8 bytes of a code point (lone surrogates as their 3-byte WTF-8 form). */
function utf8 (cp: number): number[] {
  if (cp < 0x80) return [cp]
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
}

/**
 * Path: escapes compare case-insensitively; characters outside visible ASCII (and "%" that starts
 * no escape, and "#") are the same as their UTF-8 escapes; nothing else is decoded.
 */
function pathModel (path: string): string {
  const tokens: string[] = []
  for (let i = 0; i < path.length; i++) {
    const c = path[i]
    if (c === '%' && /^[0-9a-fA-F]{2}$/.test(path.slice(i + 1, i + 3))) {
      tokens.push('b' + path.slice(i + 1, i + 3).toUpperCase())
      i += 2
    } else if (c === '%' || c === '#') {
      tokens.push('b' + hex(c.charCodeAt(0)))
    } else if (c >= '!' && c <= '~') {
      tokens.push('c' + c)
    } else {
      const cp = path.codePointAt(i)!
      for (const b of utf8(cp)) tokens.push('b' + hex(b))
      if (cp > 0xffff) i++
    }
  }
  return tokens.join(' ')
}

/** One form-urlencoded component as the bytes it stands for ("+" is a space). */
function formBytes (s: string): number[] {
  const out: number[] = []
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
    } else if (c === '+') {
      out.push(0x20)
    } else {
      const cp = s.codePointAt(i)!
      out.push(...utf8(cp))
      if (cp > 0xffff) i++
    }
  }
  return out
}

/** Query: the multiset of names, each with its values in order; "utm_x" left out; no query = empty query. */
function queryModel (query: string): string {
  const byName = new Map<string, string[]>()
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = formBytes(eq === -1 ? part : part.slice(0, eq))
    if (new TextDecoder().decode(Uint8Array.from(name)) === 'utm_x') continue
    const value = eq === -1 ? [] : formBytes(part.slice(eq + 1))
    const k = name.map(hex).join('')
    byName.set(k, [...(byName.get(k) ?? []), value.map(hex).join('')])
  }
  return JSON.stringify([...byName.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
}

/** Vary values (RFC 9111 §4.1): white space around commas and at the ends is insignificant; Accept-Language is case-insensitive. */
function varyModel (value: string | undefined, caseless: boolean): string | null {
  if (value === undefined) return null
  const v = value.replace(/[ \t]*,[ \t]*/g, ',').trim()
  return caseless ? v.toLowerCase() : v
}

function model (i: KeyInput): string {
  const q = i.url.indexOf('?')
  const path = q === -1 ? i.url : i.url.slice(0, q)
  const query = q === -1 ? '' : i.url.slice(q + 1)
  return JSON.stringify([
    i.method === 'HEAD' ? 'GET' : i.method,
    pathModel(path),
    queryModel(query),
    i.user ?? null,
    i.tenant ?? null,
    varyModel(i.language, true),
    varyModel(i.userId, false),
  ])
}

describe('property: no two distinct requests share a key', function () {
  it('gives equal keys exactly to inputs equal after the documented normalisation', function () {
    fc.assert(
      fc.property(fc.array(keyInput, { minLength: 2, maxLength: 24 }), inputs => {
        const byKey = new Map<string, string>()
        const byModel = new Map<string, string>()
        for (const input of inputs) {
          const k = fullKey(input)
          const m = model(input)
          const seenModel = byKey.get(k)
          if (seenModel !== undefined && seenModel !== m) {
            throw new Error(`distinct requests share the key ${JSON.stringify(k)}:\n  ${seenModel}\n  ${m}`)
          }
          const seenKey = byModel.get(m)
          if (seenKey !== undefined && seenKey !== k) {
            throw new Error(`one request has two keys:\n  ${seenKey}\n  ${k}\nfor ${m}`)
          }
          byKey.set(k, m)
          byModel.set(m, k)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('gives distinct keys to inputs that differ in one field only', function () {
    fc.assert(
      fc.property(keyInput, keyInput, fc.constantFrom(...FIELDS), (a, b, field) => {
        const c: KeyInput = { ...a, [field]: b[field] }
        if (model(a) !== model(c)) expect(fullKey(a)).to.not.equal(fullKey(c))
        else expect(fullKey(a)).to.equal(fullKey(c))
      }),
      { numRuns: 1000 },
    )
  })

  it('gives equal keys exactly to equivalent inputs, over an alphabet of near-equivalents', function () {
    fc.assert(
      fc.property(nearPair, ([a, c]) => {
        if (model(a) === model(c)) expect(fullKey(a), `${JSON.stringify(a)} vs ${JSON.stringify(c)}`).to.equal(fullKey(c))
        else expect(fullKey(a), `${JSON.stringify(a)} vs ${JSON.stringify(c)}`).to.not.equal(fullKey(c))
      }),
      { numRuns: 3000 },
    )
  })

  it('finds the equivalences the model claims (sanity check of the model itself)', function () {
    const pairs: Array<[Partial<KeyInput>, Partial<KeyInput>]> = [
      [{ method: 'HEAD' }, { method: 'GET' }],
      [{ url: '/a%2f' }, { url: '/a%2F' }],
      [{ url: '/é' }, { url: '/%C3%A9' }],
      [{ url: '/a?b=1&a=2' }, { url: '/a?a=2&b=1' }],
      [{ url: '/a?q=a+b' }, { url: '/a?q=a%20b' }],
      [{ url: '/a?' }, { url: '/a' }],
      [{ url: '/a?utm_x=1&b=2' }, { url: '/a?b=2' }],
      [{ language: 'EN, fr' }, { language: 'en,fr' }],
    ]
    const base: KeyInput = { method: 'GET', url: '/', user: undefined, tenant: undefined, language: undefined, userId: undefined }
    for (const [x, y] of pairs) {
      const a = { ...base, ...x }
      const b = { ...base, ...y }
      expect(model(a), JSON.stringify(x)).to.equal(model(b))
      expect(fullKey(a), JSON.stringify(x)).to.equal(fullKey(b))
    }
    const distinct: Array<[Partial<KeyInput>, Partial<KeyInput>]> = [
      [{ url: '/a%2F' }, { url: '/a/' }],
      [{ url: '/%41' }, { url: '/A' }],
      [{ url: '/a?q=%FF' }, { url: '/a?q=%EF%BF%BD' }],
      [{ url: '/a?a=1&a=2' }, { url: '/a?a=2&a=1' }],
      [{ user: 'a:h=x-tenant=1' }, { user: 'a', tenant: '1' }],
      [{ userId: 'Alice' }, { userId: 'alice' }],
      [{ userId: '' }, {}],
      [{ user: '\ud800' }, { user: '\ufffd' }],
    ]
    for (const [x, y] of distinct) {
      const a = { ...base, ...x }
      const b = { ...base, ...y }
      expect(model(a), JSON.stringify(x)).to.not.equal(model(b))
      expect(fullKey(a), JSON.stringify(x)).to.not.equal(fullKey(b))
    }
  })
})

// ---- (2) shared-cache safety ------------------------------------------------------------------

/** Directive tokens, with their meaning for the property; the traps hide names inside quotes. */
const DIRECTIVES = [
  'private', 'PRIVATE', ' Private ', 'private="x-a"', 'private="Set-Cookie"',
  'no-store', 'No-Store', 'no-cache', 'no-cache="set-cookie"', 'no-cache="x-a, x-b"',
  'public', 'Public', 'must-revalidate', 's-maxage=30', 's-maxage=abc', 'proxy-revalidate',
  'max-age=60', 'max-age=0', 'max-age=-1', 'max-age="60"', 'stale-while-revalidate=30', 'immutable',
  'foo="private, no-store"', 'foo="a, public, must-revalidate, s-maxage=1"', 'x-private', 'publicity',
]

const response = fc.record({
  method: fc.constantFrom('GET', 'HEAD'),
  status: fc.constantFrom(200, 203, 204, 206, 301, 302, 304, 404, 410, 500, 503),
  directives: fc.array(fc.constantFrom(...DIRECTIVES), { maxLength: 6 }),
  asArray: fc.boolean(),
  setCookie: fc.constantFrom(undefined, 'sid=1', ['a=1', 'b=2']),
  expires: fc.constantFrom(undefined, 'Mon, 01 Jan 2024 13:00:00 GMT', '0'),
  lastModified: fc.constantFrom(undefined, 'Sun, 01 Jan 2023 12:00:00 GMT'),
  authorization: fc.boolean(),
  requestNoStore: fc.boolean(),
  ttl: fc.constantFrom(undefined, 60_000),
  override: fc.boolean(),
  allowSetCookie: fc.boolean(),
  allowAuthorization: fc.boolean(),
})

/** A directive present as itself (not inside another's quotes), whatever its case and white space. */
const has = (tokens: string[], name: string) => tokens.some(t => t.trim().toLowerCase() === name)
const hasQualified = (tokens: string[], name: string) => tokens.some(t => t.trim().toLowerCase().startsWith(name + '='))

describe('property: a shared cache never stores what it must not', function () {
  it('refuses private, no-store, Set-Cookie and Authorization unless explicitly allowed', function () {
    const T0 = Date.UTC(2024, 0, 1, 12, 0, 0)
    fc.assert(
      fc.property(response, r => {
        const cc = r.asArray ? r.directives : r.directives.join(', ')
        const headers: Record<string, string | string[]> = { date: new Date(T0).toUTCString() }
        if (r.directives.length > 0) headers['cache-control'] = cc
        if (r.setCookie !== undefined) headers['set-cookie'] = r.setCookie
        if (r.expires !== undefined) headers.expires = r.expires
        if (r.lastModified !== undefined) headers['last-modified'] = r.lastModified
        const rules: PolicyRules = {
          ttl: r.ttl, override: r.override, staleWhileRevalidate: 0, staleIfError: 0,
          allowSetCookie: r.allowSetCookie, allowAuthorization: r.allowAuthorization,
          heuristicFraction: 0.1, heuristicMax: 86_400_000, targeted: [], jitter: 0,
        }
        const result = storability({
          method: r.method, status: r.status, headers, authorization: r.authorization,
          request: parseCacheControl(r.requestNoStore ? 'no-store' : undefined),
          privateCache: false, requestTime: T0, responseTime: T0, rules,
        })
        const d = r.directives
        const cookieNamed = d.some(t => /^(no-cache|private)="set-cookie"$/i.test(t.trim()))
        const mustRefuse = has(d, 'private') || has(d, 'no-store') || r.requestNoStore ||
          (r.setCookie !== undefined && !r.allowSetCookie && !cookieNamed) ||
          (r.authorization && !r.allowAuthorization && !has(d, 'public') && !hasQualified(d, 's-maxage') && !has(d, 'must-revalidate'))
        if (mustRefuse) {
          expect(result, `${JSON.stringify(r)} was stored`).to.be.a('string')
        } else if (typeof result !== 'string') {
          // Stored: what may not be replayed is stripped.
          if (r.setCookie !== undefined) expect(result.strip).to.include('set-cookie')
          // (An unqualified no-cache alongside covers every field: validation before any reuse.)
          if (d.includes('private="x-a"')) expect(result.strip).to.include('x-a')
          if (d.includes('no-cache="x-a, x-b"') && !has(d, 'no-cache')) expect(result.strip).to.include.members(['x-a', 'x-b'])
          if (has(d, 'no-cache')) expect(result.lifetime).to.equal(0)
        }
        // Never stored: statuses the cache does not understand, whatever the directives.
        if ([206, 304].includes(r.status)) expect(result).to.equal('status')
      }),
      { numRuns: 2000 },
    )
  })
})

// ---- (3) the policy functions over generated Cache-Control strings ---------------------------

const CC_NAMES = [
  'max-age', 's-maxage', 'no-cache', 'no-store', 'private', 'public', 'must-revalidate', 'proxy-revalidate',
  'stale-while-revalidate', 'stale-if-error', 'max-stale', 'min-fresh', 'only-if-cached', 'immutable', 'x-ext',
]
const CC_VALUES = ['0', '1', '60', '3600', '-1', '1.5', '+5', 'abc', '', '"60"', '"x, y"', '99999999999999999999', 'set-cookie', '"set-cookie, x-a"', ' 5']
/** One directive: a known or unknown name in any case, with no value, a valid one or a broken one. */
const directive = fc.tuple(fc.constantFrom(...CC_NAMES), fc.option(fc.constantFrom(...CC_VALUES), { nil: undefined }), fc.boolean())
  .map(([name, value, upper]) => (upper ? name.toUpperCase() : name) + (value === undefined ? '' : '=' + value))
/** Cache-Control text: directives joined by commas (with odd spacing), or arbitrary noise. */
const ccText = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fc.array(directive, { maxLength: 6 }), fc.constantFrom(', ', ',', ' ,  ', ',,')).map(([ds, sep]) => ds.join(sep)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
)
const T0 = Date.UTC(2024, 0, 1, 12, 0, 0)
const dateText = fc.constantFrom(undefined, new Date(T0).toUTCString(), new Date(T0 - 3600_000).toUTCString(), new Date(T0 + 3600_000).toUTCString(), '0', 'garbage', '')

const generated = fc.record({
  status: fc.constantFrom(200, 203, 204, 301, 308, 400, 403, 404, 405, 410, 414, 500, 501, 503),
  cc: fc.option(ccText, { nil: undefined }),
  request: fc.option(ccText, { nil: undefined }),
  expires: dateText,
  date: dateText,
  lastModified: fc.constantFrom(undefined, new Date(T0 - 10 * 86_400_000).toUTCString(), 'yesterday'),
  age: fc.constantFrom(undefined, '0', '30', '-5', 'abc', '99999999999999'),
  ttl: fc.constantFrom(undefined, 60_000, 3_600_000),
  override: fc.boolean(),
  privateCache: fc.boolean(),
  swrRule: fc.constantFrom(0, 30_000),
  sieRule: fc.constantFrom(0, 30_000),
})
type Generated = typeof generated extends fc.Arbitrary<infer T> ? T : never

function policyOf (g: Generated, request: string | undefined = g.request) {
  const headers: Record<string, string> = {}
  if (g.cc !== undefined) headers['cache-control'] = g.cc
  if (g.expires !== undefined) headers.expires = g.expires
  if (g.date !== undefined) headers.date = g.date
  if (g.lastModified !== undefined) headers['last-modified'] = g.lastModified
  if (g.age !== undefined) headers.age = g.age
  const rules: PolicyRules = {
    ttl: g.ttl, override: g.override, staleWhileRevalidate: g.swrRule, staleIfError: g.sieRule,
    allowSetCookie: false, allowAuthorization: false, heuristicFraction: 0.1, heuristicMax: 86_400_000, targeted: [], jitter: 0,
  }
  const result = storability({
    method: 'GET', status: g.status, headers, authorization: false, request: parseCacheControl(request),
    privateCache: g.privateCache, requestTime: T0 - 50, responseTime: T0, rules,
  })
  return { headers, result }
}

const finiteNonNegative = (n: number | undefined) => n === undefined || (Number.isFinite(n) && n >= 0)

describe('property: the policy over generated Cache-Control strings', function () {
  it('parses any Cache-Control without throwing, to delta-seconds that are whole, non-negative and bounded', function () {
    fc.assert(fc.property(fc.oneof(ccText, fc.string({ unit: 'grapheme', maxLength: 60 })), text => {
      const cc = parseCacheControl(text)
      for (const name of ['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error', 'min-fresh'] as const) {
        const v = cc[name]
        if (v !== undefined) expect(Number.isInteger(v) && v >= 0 && v <= DELTA_SECONDS_MAX, `${name}=${v} from ${JSON.stringify(text)}`).to.equal(true)
      }
      const stale = cc['max-stale']
      if (stale !== undefined) expect(stale === Infinity || (Number.isInteger(stale) && stale >= 0)).to.equal(true)
    }), { numRuns: 3000 })
  })

  it('decides any generated response without throwing, with finite, non-negative times', function () {
    fc.assert(fc.property(generated, g => {
      const { result } = policyOf(g)
      if (typeof result === 'string') return
      for (const n of [result.lifetime, result.initialAge, result.swr, result.sie]) expect(finiteNonNegative(n), JSON.stringify(result)).to.equal(true)
    }), { numRuns: 3000 })
  })

  it('never lets a request directive make storable what is not storable without it', function () {
    fc.assert(fc.property(generated, g => {
      const withRequest = policyOf(g).result
      const without = policyOf(g, undefined).result
      if (typeof withRequest !== 'string') {
        expect(without, JSON.stringify(g)).to.not.be.a('string')
        expect((without as Storable).lifetime).to.equal(withRequest.lifetime)
      }
    }), { numRuns: 2000 })
  })

  it('stores an error status only with the origin\'s own explicit freshness, whatever the route ttl or override', function () {
    fc.assert(fc.property(generated, g => {
      const { headers, result } = policyOf(g)
      if (g.status < 400 || typeof result === 'string') return
      const cc = parseCacheControl(headers['cache-control'])
      const explicit = explicitLifetime(cc, headers, parseHttpDate(headers.date) ?? T0, g.privateCache)
      expect(result.lifetime, JSON.stringify(g)).to.equal(result.noCache ? 0 : explicit ?? 0)
    }), { numRuns: 3000 })
  })

  it('never serves stale what must be revalidated, whatever the request\'s directives (max-stale, stale-if-error...)', function () {
    fc.assert(fc.property(generated, fc.integer({ min: 0, max: 10 * 86_400_000 }), (g, late) => {
      const { result } = policyOf(g, undefined)
      if (typeof result === 'string') return
      const entry = {
        responseTime: T0, initialAge: result.initialAge, staleAt: T0 + result.lifetime - result.initialAge,
        swr: result.swr, sie: result.sie, mustRevalidate: result.mustRevalidate, noCache: result.noCache, validator: false,
      }
      const request = parseCacheControl(g.request)
      const now = entry.staleAt + late
      const use = usability(entry, request, now)
      // Past staleAt nothing is fresh...
      expect(use, JSON.stringify({ g, late })).to.not.equal('fresh')
      // ...and a must-revalidate / no-cache / s-maxage response (shared) is never used stale.
      if (result.mustRevalidate || result.noCache) {
        expect(['stale-ok', 'swr']).to.not.include(use)
        expect(late === 0 || !usableOnError(entry, request, now)).to.equal(true)
      }
    }), { numRuns: 3000 })
  })
})
