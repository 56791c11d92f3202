import { expect } from 'chai'
import type { IncomingHttpHeaders } from 'node:http'
import {
  storability, explicitLifetime, heuristicLifetime, correctedInitialAge, parseAge, parseHttpDate,
  usability, usableOnError, requestDirectives, effectiveDirectives, isCacheableMethod, isSafeMethod,
  isUnderstoodStatus, isErrorStatus, HEURISTIC_STATUSES,
  type PolicyRules, type StorableInput, type Storable, type NotStorable, type ResponseHeaders, type Freshness,
} from '../src/policy.js'
import { parseCacheControl } from '../src/cache-control.js'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** A fixed clock: 2024-01-01T12:00:00Z. */
const T0 = Date.UTC(2024, 0, 1, 12, 0, 0)
const httpDate = (t: number): string => new Date(t).toUTCString()

const RULES: PolicyRules = {
  ttl: undefined,
  override: false,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  allowSetCookie: false,
  allowAuthorization: false,
  heuristicFraction: 0.1,
  heuristicMax: 7 * DAY,
  targeted: [],
  jitter: 0,
}

interface Case extends Omit<Partial<StorableInput>, 'rules' | 'request'> {
  rules?: Partial<PolicyRules>
  request?: string
}

/** storability() of a 200 to a GET at T0 with `Date: T0`, with `headers` and `opts` on top. */
function store (headers: ResponseHeaders, opts: Case = {}): Storable | NotStorable {
  const { rules, request, ...rest } = opts
  return storability({
    method: 'GET',
    status: 200,
    authorization: false,
    privateCache: false,
    requestTime: T0,
    responseTime: T0,
    ...rest,
    headers: { date: httpDate(T0), ...headers },
    request: parseCacheControl(request),
    rules: { ...RULES, ...rules },
  })
}

/** The Storable, failing the test with the reason when the response was refused. */
function stored (headers: ResponseHeaders, opts: Case = {}): Storable {
  const s = store(headers, opts)
  if (typeof s === 'string') expect.fail(`expected the response to be storable, refused: ${s}`)
  return s
}

function lifetime (headers: ResponseHeaders, opts: Case = {}): number {
  return stored(headers, opts).lifetime
}

describe('RFC 9111 §3 storing responses', function () {
  describe('"the request method is understood by the cache"', function () {
    it('stores responses to GET and HEAD', function () {
      expect(lifetime({ 'cache-control': 'max-age=60' }, { method: 'GET' })).to.equal(60 * SECOND)
      expect(lifetime({ 'cache-control': 'max-age=60' }, { method: 'HEAD' })).to.equal(60 * SECOND)
    })

    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'get', 'PURGE']) {
      it(`refuses a response to ${method}`, function () {
        expect(store({ 'cache-control': 'public, max-age=60' }, { method })).to.equal('method')
      })
    }

    it('knows GET and HEAD as cacheable, and GET, HEAD, OPTIONS, TRACE as safe (RFC 9110 §9.2.1)', function () {
      expect(['GET', 'HEAD', 'POST', 'OPTIONS'].map(isCacheableMethod)).to.deep.equal([true, true, false, false])
      expect(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'POST', 'PUT', 'DELETE', 'PATCH'].map(isSafeMethod))
        .to.deep.equal([true, true, true, true, false, false, false, false])
    })
  })

  describe('"the response status code is final" and understood', function () {
    for (const status of [100, 101, 103, 199]) {
      it(`never stores an interim ${status}`, function () {
        expect(store({ 'cache-control': 'public, max-age=60' }, { status })).to.equal('status')
      })
    }

    it('never stores a 206, since only complete responses are stored (§3.3)', function () {
      expect(store({ 'cache-control': 'public, max-age=60' }, { status: 206 })).to.equal('status')
    })

    it('never stores a 304, the answer to a validation (§4.3.4 freshens instead)', function () {
      expect(store({ 'cache-control': 'public, max-age=60' }, { status: 304 })).to.equal('status')
    })

    it('refuses statuses outside 200-599', function () {
      expect(store({ 'cache-control': 'max-age=60' }, { status: 600 })).to.equal('status')
      expect(store({ 'cache-control': 'max-age=60' }, { status: 99 })).to.equal('status')
      expect(isUnderstoodStatus(599)).to.equal(true)
    })
  })

  describe('heuristically cacheable statuses (RFC 9110 §15.1)', function () {
    it('are exactly 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501 (206 is never stored)', function () {
      expect([...HEURISTIC_STATUSES].sort((a, b) => a - b)).to.deep.equal([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
    })

    for (const status of [200, 203, 204, 300, 301, 308]) {
      it(`stores a ${status} without explicit freshness for the route ttl`, function () {
        expect(lifetime({}, { status, rules: { ttl: 30 * SECOND } })).to.equal(30 * SECOND)
      })
    }

    it('stores one without ttl or Last-Modified with lifetime 0 (stale, reusable only after validation)', function () {
      expect(lifetime({})).to.equal(0)
    })
  })

  describe('statuses that need explicit freshness (the cache-poisoned DoS defence)', function () {
    for (const status of [201, 202, 302, 303, 307, 400, 401, 403, 409, 429, 500, 502, 503, 504]) {
      it(`refuses a ${status} that has only the route ttl`, function () {
        expect(store({}, { status, rules: { ttl: 5 * MINUTE } })).to.equal('no-freshness')
      })
    }

    // Heuristically cacheable (§15.1), but errors: a cache-assigned lifetime would let a request
    // that makes the origin fail store the failure for everyone.
    for (const status of [404, 405, 410, 414, 501]) {
      it(`refuses a ${status} that has only the route ttl (with override too) or a Last-Modified`, function () {
        expect(store({}, { status, rules: { ttl: 5 * MINUTE } })).to.equal('no-freshness')
        expect(store({}, { status, rules: { ttl: 5 * MINUTE, override: true } })).to.equal('no-freshness')
        expect(store({ 'last-modified': httpDate(T0 - 10 * DAY) }, { status })).to.equal('no-freshness')
      })

      it(`stores a ${status} that carries max-age, for exactly that long`, function () {
        expect(lifetime({ 'cache-control': 'max-age=5' }, { status, rules: { ttl: 5 * MINUTE } })).to.equal(5 * SECOND)
      })
    }

    it('stores a 500 that carries max-age, for exactly that long', function () {
      expect(lifetime({ 'cache-control': 'max-age=5' }, { status: 500, rules: { ttl: 5 * MINUTE } })).to.equal(5 * SECOND)
    })

    it('stores a 400 that carries Expires', function () {
      expect(lifetime({ expires: httpDate(T0 + 20 * SECOND) }, { status: 400 })).to.equal(20 * SECOND)
    })

    it('does not let override apply the route ttl to a non-heuristic status', function () {
      expect(lifetime({ 'cache-control': 'max-age=5' }, { status: 503, rules: { ttl: HOUR, override: true } })).to.equal(5 * SECOND)
      expect(store({}, { status: 503, rules: { ttl: HOUR, override: true } })).to.equal('no-freshness')
    })

    it('stores one marked public, stale at once (§3: "public" makes it storable, not fresh)', function () {
      expect(lifetime({ 'cache-control': 'public' }, { status: 500 })).to.equal(0)
    })
  })

  describe('§5.2.1.5 request no-store', function () {
    it('forbids storing the response', function () {
      expect(store({ 'cache-control': 'public, max-age=60' }, { request: 'no-store' })).to.equal('no-store')
    })

    it('forbids it in a private cache too', function () {
      expect(store({ 'cache-control': 'max-age=60' }, { request: 'no-store', privateCache: true })).to.equal('no-store')
    })
  })

  describe('§5.2.2.5 response no-store', function () {
    it('forbids storing', function () {
      expect(store({ 'cache-control': 'no-store' })).to.equal('no-store')
    })

    it('wins over public and max-age', function () {
      expect(store({ 'cache-control': 'public, max-age=3600, no-store' })).to.equal('no-store')
    })

    it('wins over the route ttl with override', function () {
      expect(store({ 'cache-control': 'no-store' }, { rules: { ttl: HOUR, override: true } })).to.equal('no-store')
    })

    it('wins in a private cache', function () {
      expect(store({ 'cache-control': 'no-store' }, { privateCache: true })).to.equal('no-store')
    })

    it('is read case-insensitively', function () {
      expect(store({ 'cache-control': 'No-Store' })).to.equal('no-store')
    })
  })

  describe('§5.2.2.7 private', function () {
    it('is refused by a shared cache', function () {
      expect(store({ 'cache-control': 'private, max-age=60' })).to.equal('private')
    })

    it('is stored by a private cache (the key includes the user)', function () {
      expect(lifetime({ 'cache-control': 'private, max-age=60' }, { privateCache: true })).to.equal(60 * SECOND)
    })

    it('is not overridden by the route ttl', function () {
      expect(store({ 'cache-control': 'private' }, { rules: { ttl: HOUR, override: true } })).to.equal('private')
    })

    it('qualified with field names stores the response without those fields', function () {
      const s = stored({ 'cache-control': 'private="X-Secret", max-age=60', 'x-secret': 'k' })
      expect(s.strip).to.deep.equal(['x-secret'])
      expect(s.lifetime).to.equal(60 * SECOND)
    })
  })

  describe('§5.2.2.4 qualified no-cache', function () {
    it('names fields to drop; the response itself stays reusable', function () {
      const s = stored({ 'cache-control': 'no-cache="x-a, X-B", max-age=60' })
      expect(s.strip).to.deep.equal(['x-a', 'x-b'])
      expect(s.noCache).to.equal(false)
      expect(s.lifetime).to.equal(60 * SECOND)
    })
  })

  describe('§5.2.2.4 unqualified no-cache', function () {
    it('is stored with lifetime 0 and flagged for validation before every reuse', function () {
      const s = stored({ 'cache-control': 'no-cache, max-age=3600' })
      expect(s.lifetime).to.equal(0)
      expect(s.noCache).to.equal(true)
    })

    it('keeps lifetime 0 even when the route ttl overrides', function () {
      expect(lifetime({ 'cache-control': 'no-cache' }, { rules: { ttl: HOUR, override: true } })).to.equal(0)
    })
  })

  describe('§3.5 requests with Authorization in a shared cache', function () {
    it('refuses the response by default', function () {
      expect(store({ 'cache-control': 'max-age=60' }, { authorization: true })).to.equal('authorization')
    })

    it('refuses it even with a route ttl and override', function () {
      expect(store({}, { authorization: true, rules: { ttl: HOUR, override: true } })).to.equal('authorization')
    })

    for (const cc of ['public', 's-maxage=60', 'must-revalidate, max-age=60']) {
      it(`stores it when the response says ${cc}`, function () {
        expect(store({ 'cache-control': cc }, { authorization: true })).to.be.an('object')
      })
    }

    it('stores it when the route allows authorization', function () {
      expect(lifetime({ 'cache-control': 'max-age=60' }, { authorization: true, rules: { allowAuthorization: true } })).to.equal(60 * SECOND)
    })

    it('stores it in a private cache', function () {
      expect(lifetime({ 'cache-control': 'max-age=60' }, { authorization: true, privateCache: true })).to.equal(60 * SECOND)
    })

    it('is not satisfied by proxy-revalidate or max-age alone', function () {
      expect(store({ 'cache-control': 'proxy-revalidate, max-age=60' }, { authorization: true })).to.equal('authorization')
    })
  })

  describe('Set-Cookie', function () {
    it('makes a response unstorable by default', function () {
      expect(store({ 'cache-control': 'public, max-age=60', 'set-cookie': ['sid=1'] })).to.equal('set-cookie')
    })

    it('is stored, without the cookie, when the route allows Set-Cookie', function () {
      const s = stored({ 'cache-control': 'max-age=60', 'set-cookie': ['sid=1'] }, { rules: { allowSetCookie: true } })
      expect(s.strip).to.include('set-cookie')
    })

    it('is stored, without the cookie, when a qualified no-cache names Set-Cookie', function () {
      const s = stored({ 'cache-control': 'no-cache="Set-Cookie", max-age=60', 'set-cookie': 'sid=1' })
      expect(s.strip).to.include('set-cookie')
      expect(s.noCache).to.equal(false)
      expect(s.lifetime).to.equal(60 * SECOND)
    })

    it('is stored, without the cookie, when a qualified private names Set-Cookie', function () {
      expect(stored({ 'cache-control': 'private="set-cookie", max-age=60', 'set-cookie': 'sid=1' }).strip).to.include('set-cookie')
    })

    it('is refused when the qualified list names other fields only', function () {
      expect(store({ 'cache-control': 'no-cache="x-foo", max-age=60', 'set-cookie': 'sid=1' })).to.equal('set-cookie')
    })

    it('is refused even with the route ttl and override', function () {
      expect(store({ 'set-cookie': 'sid=1' }, { rules: { ttl: HOUR, override: true } })).to.equal('set-cookie')
    })
  })

  describe('§4.1 Vary', function () {
    it('refuses Vary: * (it can never match a later request)', function () {
      expect(store({ 'cache-control': 'max-age=60', vary: '*' })).to.equal('vary-star')
      expect(store({ 'cache-control': 'max-age=60', vary: 'Accept-Encoding, *' })).to.equal('vary-star')
    })

    it('records the Vary names sorted and lower-cased', function () {
      expect(stored({ 'cache-control': 'max-age=60', vary: 'Accept-Language, accept-encoding' }).vary).to.deep.equal(['accept-encoding', 'accept-language'])
    })

    it('records no Vary for a response without one', function () {
      expect(stored({ 'cache-control': 'max-age=60' }).vary).to.equal(undefined)
    })
  })

  describe('RFC 9213 targeted fields (CDN-Cache-Control)', function () {
    const targeted = ['cdn-cache-control']

    it('replace Cache-Control when present', function () {
      expect(lifetime({ 'cache-control': 'max-age=60', 'cdn-cache-control': 'max-age=600' }, { rules: { targeted } })).to.equal(600 * SECOND)
    })

    it('let a CDN store what Cache-Control keeps private to browsers', function () {
      expect(lifetime({ 'cache-control': 'private, no-store', 'cdn-cache-control': 'max-age=60' }, { rules: { targeted } })).to.equal(60 * SECOND)
    })

    it('can forbid storing what Cache-Control allows', function () {
      expect(store({ 'cache-control': 'public, max-age=60', 'cdn-cache-control': 'no-store' }, { rules: { targeted } })).to.equal('no-store')
    })

    it('fall back to Cache-Control when absent or empty', function () {
      expect(lifetime({ 'cache-control': 'max-age=60' }, { rules: { targeted } })).to.equal(60 * SECOND)
      expect(lifetime({ 'cache-control': 'max-age=60', 'cdn-cache-control': '' }, { rules: { targeted } })).to.equal(60 * SECOND)
    })

    it('are consulted in the configured order; the first present wins', function () {
      const headers = { 'cache-control': 'max-age=1', 'cdn-cache-control': 'max-age=2', 'surrogate-control': 'max-age=3' }
      expect(effectiveDirectives(headers, ['surrogate-control', 'cdn-cache-control'])['max-age']).to.equal(3)
      expect(effectiveDirectives(headers, ['cdn-cache-control', 'surrogate-control'])['max-age']).to.equal(2)
      expect(effectiveDirectives(headers, [])['max-age']).to.equal(1)
    })

    it('are ignored when this cache is not configured for them', function () {
      expect(lifetime({ 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-store' })).to.equal(60 * SECOND)
    })
  })

  describe('route override', function () {
    it('makes the route ttl win over max-age, s-maxage and Expires', function () {
      const rules = { ttl: 5 * MINUTE, override: true }
      expect(lifetime({ 'cache-control': 'max-age=60' }, { rules })).to.equal(5 * MINUTE)
      expect(lifetime({ 'cache-control': 's-maxage=60' }, { rules })).to.equal(5 * MINUTE)
      expect(lifetime({ expires: httpDate(T0 + HOUR) }, { rules })).to.equal(5 * MINUTE)
    })

    it('does nothing without a route ttl', function () {
      expect(lifetime({ 'cache-control': 'max-age=60' }, { rules: { override: true } })).to.equal(60 * SECOND)
    })

    it('is off by default: explicit freshness wins over the route ttl', function () {
      expect(lifetime({ 'cache-control': 'max-age=60' }, { rules: { ttl: 5 * MINUTE } })).to.equal(60 * SECOND)
    })
  })

  describe('jitter', function () {
    it('extends the route ttl by random() × jitter', function () {
      expect(lifetime({}, { rules: { ttl: 100 * SECOND, jitter: 0.2 }, random: () => 0.5 })).to.equal(110 * SECOND)
      expect(lifetime({}, { rules: { ttl: 100 * SECOND, jitter: 0.2 }, random: () => 0 })).to.equal(100 * SECOND)
      expect(lifetime({}, { rules: { ttl: 100 * SECOND, jitter: 0.2 }, random: () => 0.999999 })).to.be.within(100 * SECOND, 120 * SECOND)
    })

    it('never shortens the ttl', function () {
      for (let i = 0; i < 20; i++) expect(lifetime({}, { rules: { ttl: 1000, jitter: 0.5 } })).to.be.within(1000, 1500)
    })

    it('is not applied when jitter is 0 (random is not called)', function () {
      expect(lifetime({}, { rules: { ttl: 100 * SECOND }, random: () => expect.fail('random called') })).to.equal(100 * SECOND)
    })

    it('never touches freshness the origin gave', function () {
      expect(lifetime({ 'cache-control': 'max-age=60' }, { rules: { ttl: 100 * SECOND, jitter: 0.5 }, random: () => 1 })).to.equal(60 * SECOND)
    })
  })

  describe('§5.2.2.2 must-revalidate, §5.2.2.8 proxy-revalidate, §5.2.2.10 s-maxage', function () {
    it('must-revalidate marks the entry in both kinds of cache', function () {
      expect(stored({ 'cache-control': 'max-age=60, must-revalidate' }).mustRevalidate).to.equal(true)
      expect(stored({ 'cache-control': 'max-age=60, must-revalidate' }, { privateCache: true }).mustRevalidate).to.equal(true)
    })

    it('proxy-revalidate marks it in a shared cache only', function () {
      expect(stored({ 'cache-control': 'max-age=60, proxy-revalidate' }).mustRevalidate).to.equal(true)
      expect(stored({ 'cache-control': 'max-age=60, proxy-revalidate' }, { privateCache: true }).mustRevalidate).to.equal(false)
    })

    it('s-maxage implies proxy-revalidate in a shared cache', function () {
      expect(stored({ 'cache-control': 's-maxage=60' }).mustRevalidate).to.equal(true)
      expect(stored({ 'cache-control': 's-maxage=60, max-age=60' }, { privateCache: true }).mustRevalidate).to.equal(false)
    })

    it('is not set for a plain max-age', function () {
      expect(stored({ 'cache-control': 'max-age=60' }).mustRevalidate).to.equal(false)
    })
  })

  describe('RFC 5861 stale-while-revalidate and stale-if-error', function () {
    it('are taken from the response, in ms', function () {
      const s = stored({ 'cache-control': 'max-age=60, stale-while-revalidate=30, stale-if-error=600' })
      expect(s.swr).to.equal(30 * SECOND)
      expect(s.sie).to.equal(600 * SECOND)
    })

    it('default to the route windows when the response gives none', function () {
      const s = stored({ 'cache-control': 'max-age=60' }, { rules: { staleWhileRevalidate: 5 * SECOND, staleIfError: MINUTE } })
      expect(s.swr).to.equal(5 * SECOND)
      expect(s.sie).to.equal(MINUTE)
    })

    it('from the response win over the route windows, even when shorter', function () {
      const s = stored({ 'cache-control': 'max-age=60, stale-while-revalidate=0' }, { rules: { staleWhileRevalidate: MINUTE } })
      expect(s.swr).to.equal(0)
    })
  })
})

describe('RFC 9111 §4.2.1 calculating freshness lifetime', function () {
  it('prefers s-maxage over max-age in a shared cache', function () {
    expect(lifetime({ 'cache-control': 'max-age=10, s-maxage=100' })).to.equal(100 * SECOND)
  })

  it('ignores s-maxage in a private cache', function () {
    expect(lifetime({ 'cache-control': 'max-age=10, s-maxage=100' }, { privateCache: true })).to.equal(10 * SECOND)
  })

  it('prefers max-age over Expires', function () {
    expect(lifetime({ 'cache-control': 'max-age=10', expires: httpDate(T0 + HOUR) })).to.equal(10 * SECOND)
  })

  it('uses Expires − Date without max-age', function () {
    expect(lifetime({ expires: httpDate(T0 + HOUR) })).to.equal(HOUR)
  })

  it('prefers Expires over the route ttl', function () {
    expect(lifetime({ expires: httpDate(T0 + HOUR) }, { rules: { ttl: MINUTE } })).to.equal(HOUR)
  })

  it('prefers the route ttl over the heuristic', function () {
    expect(lifetime({ 'last-modified': httpDate(T0 - 100 * DAY) }, { rules: { ttl: MINUTE } })).to.equal(MINUTE)
  })

  it('uses the response time when Date is missing', function () {
    const s = storability({
      method: 'GET', status: 200, authorization: false, privateCache: false, request: {},
      requestTime: T0, responseTime: T0 + 10 * SECOND, rules: RULES,
      headers: { expires: httpDate(T0 + MINUTE) },
    })
    expect(s).to.have.property('lifetime', 50 * SECOND)
  })

  it('uses the response time when Date is invalid', function () {
    expect(lifetime({ expires: httpDate(T0 + MINUTE), date: 'yesterday' }, { responseTime: T0 + 10 * SECOND })).to.equal(50 * SECOND)
  })

  it('gives 0 for an Expires in the past', function () {
    expect(lifetime({ expires: httpDate(T0 - HOUR) })).to.equal(0)
  })

  for (const bad of ['0', '-1', 'garbage', '', 'Thu, 31 Feb 2024 00:00:00 GMT']) {
    it(`§5.3 reads the invalid Expires ${JSON.stringify(bad)} as already expired`, function () {
      expect(lifetime({ expires: bad })).to.equal(0)
    })
  }

  it('does not let the route ttl rescue an invalid Expires (without override)', function () {
    expect(lifetime({ expires: '0' }, { rules: { ttl: HOUR } })).to.equal(0)
  })

  it('does not let the route ttl or the heuristic rescue an invalid max-age (§4.2.1: stale)', function () {
    expect(lifetime({ 'cache-control': 'max-age=abc' }, { rules: { ttl: HOUR } })).to.equal(0)
    expect(lifetime({ 'cache-control': 'max-age=-1', expires: httpDate(T0 + HOUR) })).to.equal(0)
    expect(lifetime({ 'cache-control': 'max-age=1.5', 'last-modified': httpDate(T0 - 100 * DAY) })).to.equal(0)
  })

  it('uses the first of several Expires values', function () {
    expect(lifetime({ expires: [httpDate(T0 + MINUTE), httpDate(T0 + HOUR)] as unknown as string })).to.equal(MINUTE)
  })

  it('is undefined without any explicit freshness', function () {
    expect(explicitLifetime({}, {}, T0, false)).to.equal(undefined)
    expect(explicitLifetime(parseCacheControl('public, must-revalidate'), {}, T0, false)).to.equal(undefined)
  })

  it('treats max-age=0 as explicit (stale at once, no heuristic)', function () {
    expect(explicitLifetime(parseCacheControl('max-age=0'), { 'last-modified': httpDate(T0 - DAY) }, T0, false)).to.equal(0)
  })

  it('takes the overflow value of max-age as 2^31 seconds', function () {
    expect(lifetime({ 'cache-control': 'max-age=99999999999' })).to.equal(2 ** 31 * SECOND)
  })
})

describe('RFC 9111 §5.2.2.1 max-age', function () {
  it('treats max-age=-1 as stale', function () {
    expect(lifetime({ 'cache-control': 'max-age=-1' })).to.equal(0)
  })

  it('accepts a quoted value', function () {
    expect(lifetime({ 'cache-control': 'max-age="60"' })).to.equal(60 * SECOND)
  })

  it('uses the first of duplicate max-age directives', function () {
    expect(lifetime({ 'cache-control': 'max-age=60, max-age=3600' })).to.equal(60 * SECOND)
  })
})

describe('RFC 9111 §4.2.2 heuristic freshness', function () {
  const rules = { heuristicFraction: 0.1, heuristicMax: 7 * DAY }

  it('is 10 % of the time between Date and Last-Modified', function () {
    expect(lifetime({ 'last-modified': httpDate(T0 - 10 * DAY) })).to.equal(DAY)
    expect(heuristicLifetime({ 'last-modified': httpDate(T0 - 10 * HOUR) }, T0, rules)).to.equal(HOUR)
  })

  it('is capped at heuristicMax', function () {
    expect(lifetime({ 'last-modified': httpDate(T0 - 1000 * DAY) })).to.equal(7 * DAY)
  })

  it('uses the configured fraction', function () {
    expect(heuristicLifetime({ 'last-modified': httpDate(T0 - 10 * HOUR) }, T0, { heuristicFraction: 0.2, heuristicMax: DAY })).to.equal(2 * HOUR)
  })

  it('is 0 for a Last-Modified in the future', function () {
    expect(lifetime({ 'last-modified': httpDate(T0 + DAY) })).to.equal(0)
  })

  it('is 0 for a Last-Modified equal to Date', function () {
    expect(heuristicLifetime({ 'last-modified': httpDate(T0) }, T0, rules)).to.equal(0)
  })

  it('is 0 without a valid Last-Modified', function () {
    expect(heuristicLifetime({}, T0, rules)).to.equal(0)
    expect(heuristicLifetime({ 'last-modified': 'last week' }, T0, rules)).to.equal(0)
    expect(heuristicLifetime({ 'last-modified': '0' }, T0, rules)).to.equal(0)
  })

  it('is never used when explicit freshness is present', function () {
    expect(lifetime({ 'cache-control': 'max-age=5', 'last-modified': httpDate(T0 - 1000 * DAY) })).to.equal(5 * SECOND)
  })

  it('is never used for a status that is not heuristically cacheable', function () {
    expect(store({ 'last-modified': httpDate(T0 - 10 * DAY) }, { status: 500 })).to.equal('no-freshness')
  })

  it('is measured from the response time when Date is missing', function () {
    const s = storability({
      method: 'GET', status: 200, authorization: false, privateCache: false, request: {},
      requestTime: T0, responseTime: T0, rules: RULES,
      headers: { 'last-modified': httpDate(T0 - 10 * HOUR) },
    })
    expect(s).to.have.property('lifetime', HOUR)
  })
})

describe('RFC 9111 §4.2.3 calculating age', function () {
  it('is the response delay when Date equals the response time and there is no Age', function () {
    expect(correctedInitialAge({}, T0, T0 - 2 * SECOND, T0)).to.equal(2 * SECOND)
  })

  it('is the apparent age (response_time − Date) when it is larger', function () {
    expect(correctedInitialAge({}, T0 - 30 * SECOND, T0 - SECOND, T0)).to.equal(30 * SECOND)
  })

  it('is Age plus the response delay when that is larger', function () {
    expect(correctedInitialAge({ age: '10' }, T0, T0 - 2 * SECOND, T0)).to.equal(12 * SECOND)
  })

  it('takes the larger of the two', function () {
    expect(correctedInitialAge({ age: '10' }, T0 - 60 * SECOND, T0, T0)).to.equal(60 * SECOND)
    expect(correctedInitialAge({ age: '100' }, T0 - 60 * SECOND, T0, T0)).to.equal(100 * SECOND)
  })

  it('clamps the apparent age at 0 when Date is in the future (clock skew)', function () {
    expect(correctedInitialAge({}, T0 + HOUR, T0, T0)).to.equal(0)
  })

  it('reaches the Storable as initialAge', function () {
    expect(stored({ 'cache-control': 'max-age=60', age: '15' }).initialAge).to.equal(15 * SECOND)
  })
})

describe('RFC 9111 §5.1 Age', function () {
  it('parses a non-negative integer', function () {
    expect(parseAge('0')).to.equal(0)
    expect(parseAge('42')).to.equal(42)
    expect(parseAge(' 42 ')).to.equal(42)
  })

  it('uses the first member of a list ("Age: 1, 2")', function () {
    expect(parseAge('1, 2')).to.equal(1)
    expect(parseAge(['5', '9'])).to.equal(5)
  })

  for (const bad of ['abc', '-5', '1.5', '', '1e3', '0x10']) {
    it(`ignores the invalid Age ${JSON.stringify(bad)}`, function () {
      expect(parseAge(bad)).to.equal(undefined)
      expect(correctedInitialAge({ age: bad }, T0, T0, T0)).to.equal(0)
    })
  }

  it('is undefined when absent', function () {
    expect(parseAge(undefined)).to.equal(undefined)
  })

  it('takes an overflowing Age as 2^31', function () {
    expect(parseAge('99999999999999999999')).to.equal(2 ** 31)
    expect(correctedInitialAge({ age: '99999999999999999999' }, T0, T0, T0)).to.equal(2 ** 31 * SECOND)
  })

  it('makes a response with a huge Age stale at once', function () {
    const s = stored({ 'cache-control': 'max-age=3600', age: '99999999999999999999' })
    expect(s.initialAge).to.be.greaterThan(s.lifetime)
  })
})

describe('RFC 9110 §5.6.7 HTTP-date', function () {
  const expected = Date.UTC(1994, 10, 6, 8, 49, 37)

  it('parses IMF-fixdate', function () {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).to.equal(expected)
  })

  it('parses the obsolete RFC 850 form', function () {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).to.equal(expected)
  })

  it('parses the obsolete asctime form', function () {
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).to.equal(expected)
  })

  it('reads every form as UTC whatever the process time zone', function () {
    const tz = process.env.TZ
    try {
      for (const zone of ['America/New_York', 'Asia/Kolkata', 'UTC']) {
        process.env.TZ = zone
        expect(parseHttpDate('Sun Nov  6 08:49:37 1994'), `asctime in ${zone}`).to.equal(expected)
        expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), `RFC 850 in ${zone}`).to.equal(expected)
        expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), `IMF-fixdate in ${zone}`).to.equal(expected)
      }
    } finally {
      if (tz === undefined) delete process.env.TZ
      else process.env.TZ = tz
    }
  })

  it('round-trips Date#toUTCString', function () {
    expect(parseHttpDate(new Date(T0).toUTCString())).to.equal(T0)
  })

  it('uses the first member of a list', function () {
    expect(parseHttpDate(['Sun, 06 Nov 1994 08:49:37 GMT', 'Mon, 07 Nov 1994 08:49:37 GMT'])).to.equal(expected)
  })

  it('trims surrounding white space', function () {
    expect(parseHttpDate('  Sun, 06 Nov 1994 08:49:37 GMT ')).to.equal(expected)
  })

  it('is undefined when absent', function () {
    expect(parseHttpDate(undefined)).to.equal(undefined)
  })

  for (const bare of ['0', '-1', '1700000000', '+5', '784111777000']) {
    it(`rejects the bare number ${JSON.stringify(bare)}`, function () {
      expect(parseHttpDate(bare)).to.equal(undefined)
    })
  }

  for (const bad of ['', 'garbage', 'Mon 1', 'Monday', 'Sun, 06 Nov 1994', 'Sun, 06 Nov 1994 08:49:37',
    'Sun, 31 Feb 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 25:00:00 GMT', 'Sun, 06 Foo 1994 08:49:37 GMT',
    '1994-11-06T08:49:37Z', 'Sun, 06 Nov 1994 08:49:37 +0100']) {
    it(`rejects ${JSON.stringify(bad)}`, function () {
      expect(parseHttpDate(bad)).to.equal(undefined)
    })
  }
})

/** A stored response at T0: fresh for 60 s, with a validator. */
function entry (over: Partial<Freshness> = {}): Freshness {
  return {
    responseTime: T0,
    initialAge: 0,
    staleAt: T0 + 60 * SECOND,
    swr: 0,
    mustRevalidate: false,
    noCache: false,
    validator: true,
    ...over,
  }
}

const cc = (v?: string) => parseCacheControl(v)

describe('RFC 9111 §4.2 serving fresh responses', function () {
  it('serves a fresh entry', function () {
    expect(usability(entry(), cc(), T0 + 59 * SECOND)).to.equal('fresh')
  })

  it('treats the entry as stale from staleAt on (fresh only while lifetime > age)', function () {
    expect(usability(entry(), cc(), T0 + 60 * SECOND - 1)).to.equal('fresh')
    expect(usability(entry(), cc(), T0 + 60 * SECOND)).to.equal('revalidate')
  })
})

describe('RFC 9111 §4.3 validation of stale responses', function () {
  it('revalidates a stale entry with a validator', function () {
    expect(usability(entry(), cc(), T0 + HOUR)).to.equal('revalidate')
  })

  it('misses on a stale entry without a validator', function () {
    expect(usability(entry({ validator: false }), cc(), T0 + HOUR)).to.equal('miss')
  })
})

describe('RFC 9111 §4.2.4 / §5.2.2.2 must-revalidate and §5.2.2.4 no-cache', function () {
  it('may serve a fresh must-revalidate entry', function () {
    expect(usability(entry({ mustRevalidate: true }), cc(), T0 + SECOND)).to.equal('fresh')
  })

  it('never serves a stale must-revalidate entry, even within stale-while-revalidate', function () {
    expect(usability(entry({ mustRevalidate: true, swr: HOUR }), cc(), T0 + 61 * SECOND)).to.equal('revalidate')
  })

  it('never serves a stale no-cache entry, even within stale-while-revalidate', function () {
    expect(usability(entry({ noCache: true, swr: HOUR, staleAt: T0 }), cc(), T0 + SECOND)).to.equal('revalidate')
  })

  it('never serves a stale must-revalidate entry to a client asking for max-stale (a client never loosens safety)', function () {
    expect(usability(entry({ mustRevalidate: true }), cc('max-stale'), T0 + 61 * SECOND)).to.equal('revalidate')
    expect(usability(entry({ mustRevalidate: true, validator: false }), cc('max-stale=3600'), T0 + 61 * SECOND)).to.equal('miss')
  })

  it('never serves a no-cache entry to a client asking for max-stale', function () {
    expect(usability(entry({ noCache: true, staleAt: T0 }), cc('max-stale'), T0 + SECOND)).to.equal('revalidate')
  })
})

describe('RFC 9111 §5.2.1.4 request no-cache', function () {
  it('forbids serving even a fresh entry without validation', function () {
    expect(usability(entry(), cc('no-cache'), T0 + SECOND)).to.equal('revalidate')
  })

  it('makes an entry without a validator a miss', function () {
    expect(usability(entry({ validator: false }), cc('no-cache'), T0 + SECOND)).to.equal('miss')
  })
})

describe('RFC 9111 §5.4 Pragma', function () {
  const h = (headers: IncomingHttpHeaders) => requestDirectives(headers)

  it('is read as no-cache when there is no Cache-Control', function () {
    expect(h({ pragma: 'no-cache' })['no-cache']).to.equal(true)
    expect(usability(entry(), h({ pragma: 'no-cache' }), T0 + SECOND)).to.equal('revalidate')
  })

  it('is read case-insensitively and within a list', function () {
    expect(h({ pragma: 'NO-CACHE' })['no-cache']).to.equal(true)
    expect(h({ pragma: 'foo, no-cache' })['no-cache']).to.equal(true)
  })

  it('is ignored when Cache-Control is present', function () {
    expect(h({ pragma: 'no-cache', 'cache-control': 'max-age=60' })).to.deep.equal({ 'max-age': 60 })
    expect(usability(entry(), h({ pragma: 'no-cache', 'cache-control': 'max-stale' }), T0 + SECOND)).to.equal('fresh')
  })

  it('does not match a token that only starts with no-cache', function () {
    expect(h({ pragma: 'no-cache-please' })).to.deep.equal({})
  })

  it('gives no directives without Cache-Control or Pragma', function () {
    expect(h({})).to.deep.equal({})
  })
})

describe('RFC 9111 §5.2.1.1 request max-age', function () {
  it('refuses an entry older than max-age', function () {
    expect(usability(entry(), cc('max-age=10'), T0 + 11 * SECOND)).to.equal('revalidate')
  })

  it('accepts an entry exactly max-age old', function () {
    expect(usability(entry(), cc('max-age=10'), T0 + 10 * SECOND)).to.equal('fresh')
  })

  it('counts the initial age', function () {
    expect(usability(entry({ initialAge: 20 * SECOND }), cc('max-age=10'), T0)).to.equal('revalidate')
  })

  it('max-age=0 forces validation of anything with an age', function () {
    expect(usability(entry(), cc('max-age=0'), T0 + 1)).to.equal('revalidate')
  })
})

describe('RFC 9111 §5.2.1.3 request min-fresh', function () {
  it('refuses an entry that will not stay fresh that long', function () {
    expect(usability(entry(), cc('min-fresh=30'), T0 + 31 * SECOND)).to.equal('revalidate')
  })

  it('accepts one that will', function () {
    expect(usability(entry(), cc('min-fresh=30'), T0 + 30 * SECOND)).to.equal('fresh')
  })
})

describe('RFC 9111 §5.2.1.2 request max-stale', function () {
  it('with a value accepts an entry stale by at most that much', function () {
    expect(usability(entry(), cc('max-stale=30'), T0 + 90 * SECOND)).to.equal('stale-ok')
  })

  it('with a value refuses one stale by more', function () {
    expect(usability(entry(), cc('max-stale=30'), T0 + 91 * SECOND)).to.equal('revalidate')
  })

  it('without a value accepts any staleness', function () {
    expect(usability(entry(), cc('max-stale'), T0 + 365 * DAY)).to.equal('stale-ok')
  })

  it('does not turn a fresh entry into a stale one', function () {
    expect(usability(entry(), cc('max-stale'), T0)).to.equal('fresh')
  })
})

describe('RFC 5861 §3 stale-while-revalidate', function () {
  it('serves a stale entry within the window (and refreshes it)', function () {
    expect(usability(entry({ swr: 30 * SECOND }), cc(), T0 + 89 * SECOND)).to.equal('swr')
  })

  it('stops at the end of the window', function () {
    expect(usability(entry({ swr: 30 * SECOND }), cc(), T0 + 90 * SECOND)).to.equal('revalidate')
  })

  it('does not apply when the client asks for no-cache', function () {
    expect(usability(entry({ swr: 30 * SECOND }), cc('no-cache'), T0 + 61 * SECOND)).to.equal('revalidate')
  })
})

describe('RFC 5861 §4 stale-if-error', function () {
  const e = (over: Partial<Freshness & { sie: number }> = {}) => ({ ...entry(), sie: 0, ...over })

  it('lets a stale entry stand in within the response window', function () {
    expect(usableOnError(e({ sie: MINUTE }), cc(), T0 + 60 * SECOND + 59 * SECOND)).to.equal(true)
  })

  it('refuses past the response window', function () {
    expect(usableOnError(e({ sie: MINUTE }), cc(), T0 + 2 * MINUTE)).to.equal(false)
  })

  it('takes the window from the request when the response gives none', function () {
    expect(usableOnError(e(), cc('stale-if-error=120'), T0 + 2 * MINUTE)).to.equal(true)
    expect(usableOnError(e(), cc('stale-if-error=120'), T0 + 3 * MINUTE)).to.equal(false)
  })

  it('refuses a stale entry when neither gives a window', function () {
    expect(usableOnError(e(), cc(), T0 + 61 * SECOND)).to.equal(false)
  })

  it('lets a fresh entry stand in', function () {
    expect(usableOnError(e(), cc(), T0 + SECOND)).to.equal(true)
  })

  it('never applies to must-revalidate or no-cache entries', function () {
    expect(usableOnError(e({ sie: HOUR, mustRevalidate: true }), cc('stale-if-error=3600'), T0 + 61 * SECOND)).to.equal(false)
    expect(usableOnError(e({ sie: HOUR, noCache: true }), cc('stale-if-error=3600'), T0 + SECOND)).to.equal(false)
  })

  it('counts 500, 502, 503 and 504 as errors, nothing else', function () {
    expect([500, 502, 503, 504].every(isErrorStatus)).to.equal(true)
    expect([200, 404, 429, 501, 505, 599].some(isErrorStatus)).to.equal(false)
  })
})
