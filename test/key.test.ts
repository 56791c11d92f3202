import { expect } from 'chai'
import { normalisePath, normaliseQuery, resourceOf, primaryKey, planKey, userOf } from '../src/key.js'

const PLAN = planKey(undefined)
const key = (method: string, url: string, user?: string, headers: Record<string, string> = {}, plan = PLAN) =>
  primaryKey('ns', method, resourceOf(url, plan.ignore), user, plan, headers)

describe('RFC 3986 §6.2.2 path normalisation (normalisePath)', function () {
  it('leaves a plain path as it is', function () {
    expect(normalisePath('/a/b-c_d.e~f/!$&\'()*+,=@:')).to.equal('/a/b-c_d.e~f/!$&\'()*+,=@:')
  })

  it('upper-cases the hex of percent escapes (§6.2.2.1)', function () {
    expect(normalisePath('/a%2fb%c3%a9')).to.equal('/a%2Fb%C3%A9')
    expect(normalisePath('/a%2fb')).to.equal(normalisePath('/a%2Fb'))
  })

  it('percent-encodes non-ASCII characters as UTF-8', function () {
    expect(normalisePath('/café')).to.equal('/caf%C3%A9')
    expect(normalisePath('/😀')).to.equal('/%F0%9F%98%80')
  })

  it('percent-encodes spaces and control characters', function () {
    expect(normalisePath('/a b\t\n\u007f')).to.equal('/a%20b%09%0A%7F')
  })

  it('escapes a "%" that starts no valid escape', function () {
    expect(normalisePath('/100%')).to.equal('/100%25')
    expect(normalisePath('/%zz')).to.equal('/%25zz')
    expect(normalisePath('/%4')).to.equal('/%254')
  })

  it('escapes "?" and "#" so that a path can never hold the query or the variant', function () {
    expect(normalisePath('/a?b#c')).to.equal('/a%3Fb%23c')
  })

  it('does not decode %2F: /a%2Fb and /a/b are different resources', function () {
    expect(normalisePath('/a%2Fb')).to.not.equal(normalisePath('/a/b'))
  })

  it('does not decode unreserved escapes: %41 keeps apart from A', function () {
    expect(normalisePath('/%41')).to.not.equal(normalisePath('/A'))
  })

  it('keeps ";" path parameters', function () {
    expect(normalisePath('/a;jsessionid=1')).to.equal('/a;jsessionid=1')
    expect(normalisePath('/a;x')).to.not.equal(normalisePath('/a'))
  })

  it('does not resolve dot segments (the origin receives them as sent)', function () {
    expect(normalisePath('/a/../b')).to.equal('/a/../b')
    expect(normalisePath('/a/./b')).to.not.equal(normalisePath('/a/b'))
    expect(normalisePath('/a/%2e%2e/b')).to.equal('/a/%2E%2E/b')
  })

  it('keeps %00 distinct from an empty or truncated path', function () {
    expect(normalisePath('/a%00')).to.equal('/a%00')
    expect(normalisePath('/a%00')).to.not.equal(normalisePath('/a'))
  })

  it('identifies an escaped and an unescaped non-ASCII character (IRI to URI mapping)', function () {
    expect(normalisePath('/é')).to.equal(normalisePath('/%c3%a9'))
  })

  it('is idempotent', function () {
    for (const p of ['/a%2fb', '/café', '/100%', '/a?b', '/%zz%', '/a b']) {
      expect(normalisePath(normalisePath(p)), p).to.equal(normalisePath(p))
    }
  })

  it('does not throw on a lone surrogate, and keeps it apart from U+FFFD', function () {
    expect(normalisePath('/\ud800')).to.equal('/%ED%A0%80')
    expect(normalisePath('/\ud800')).to.not.equal(normalisePath('/\ufffd'))
  })
})

describe('query normalisation (normaliseQuery)', function () {
  it('keeps components already canonical as they are, and encodes the others, in one query', function () {
    expect(normaliseQuery('Zz09*-._=Zz09*-._')).to.equal('Zz09*-._=Zz09*-._')
    expect(normaliseQuery('q=hello.world_1-*&x=a%2Fb&y=caf%C3%A9&z=A+B&w=%41%7e'))
      .to.equal('q=hello.world_1-*&w=A%7E&x=a%2Fb&y=caf%C3%A9&z=A+B')
  })

  it('is empty for an empty query', function () {
    expect(normaliseQuery('')).to.equal('')
  })

  it('sorts parameters by name', function () {
    expect(normaliseQuery('b=2&a=1&c=3')).to.equal('a=1&b=2&c=3')
  })

  it('is stable for repeated names: their values keep their order', function () {
    expect(normaliseQuery('b=1&a=2&a=1&a=3')).to.equal('a=2&a=1&a=3&b=1')
    expect(normaliseQuery('a=2&a=1')).to.not.equal(normaliseQuery('a=1&a=2'))
  })

  it('keeps names case-sensitive', function () {
    expect(normaliseQuery('A=1')).to.not.equal(normaliseQuery('a=1'))
  })

  it('re-encodes values the same whatever their escaping', function () {
    expect(normaliseQuery('q=a%20b')).to.equal(normaliseQuery('q=a+b'))
    expect(normaliseQuery('q=%3a')).to.equal(normaliseQuery('q=:'))
    expect(normaliseQuery('q=%41')).to.equal(normaliseQuery('q=A'))
    expect(normaliseQuery('q=é')).to.equal(normaliseQuery('q=%C3%A9'))
  })

  it('percent-encodes ":", "&", "#", "=" and "%" inside names and values', function () {
    expect(normaliseQuery('a%3Db=c%26d%3Ae%23f')).to.equal('a%3Db=c%26d%3Ae%23f')
    expect(normaliseQuery('q=:#')).to.equal('q=%3A%23')
    expect(normaliseQuery('q=100%')).to.equal('q=100%25')
  })

  it('keeps an escape of a byte that is not UTF-8 apart from U+FFFD (%FF is not %EF%BF%BD)', function () {
    expect(normaliseQuery('q=%FF')).to.equal('q=%FF')
    expect(normaliseQuery('q=%ff')).to.equal('q=%FF')
    expect(normaliseQuery('q=%FF')).to.not.equal(normaliseQuery('q=%EF%BF%BD'))
    expect(normaliseQuery('q=%C0%80')).to.not.equal(normaliseQuery('q=%EF%BF%BD%EF%BF%BD'))
  })

  it('keeps a leading "?" as part of the first name (/a??x=1 is not /a?x=1 to the origin)', function () {
    expect(normaliseQuery('?x=1')).to.equal('%3Fx=1')
    expect(resourceOf('/a??x=1')).to.not.equal(resourceOf('/a?x=1'))
    expect(resourceOf('/a??')).to.not.equal(resourceOf('/a'))
  })

  it('reads a parameter without "=" as having an empty value, and drops empty members', function () {
    expect(normaliseQuery('a')).to.equal('a=')
    expect(normaliseQuery('&&a=1&')).to.equal('a=1')
  })

  it('splits a parameter at its first "="', function () {
    expect(normaliseQuery('a=b=c')).to.equal('a=b%3Dc')
  })

  it('does not treat ";" as a separator', function () {
    expect(normaliseQuery('a=1;b=2')).to.equal('a=1%3Bb%3D2')
  })

  it('leaves out ignored parameters, matched by globs on the decoded name', function () {
    const { ignore } = planKey({ ignoreQuery: ['utm_*', 'fbclid'] })
    expect(normaliseQuery('utm_source=x&b=2&fbclid=y&a=1&utm_medium=z', ignore)).to.equal('a=1&b=2')
    expect(normaliseQuery('utm%5Fsource=x&a=1', ignore)).to.equal('a=1')
    expect(normaliseQuery('xutm_a=1', ignore)).to.equal('xutm_a=1')
  })

  it('does not ignore "?utm_x" as if it were "utm_x"', function () {
    const { ignore } = planKey({ ignoreQuery: ['utm_x'] })
    expect(normaliseQuery('?utm_x=1', ignore)).to.equal('%3Futm_x=1')
  })

  it('is empty when every parameter is ignored', function () {
    const { ignore } = planKey({ ignoreQuery: ['*'] })
    expect(normaliseQuery('a=1&b=2', ignore)).to.equal('')
  })
})

describe('resourceOf', function () {
  it('always holds "?" exactly once', function () {
    expect(resourceOf('/a')).to.equal('/a?')
    expect(resourceOf('/a?')).to.equal('/a?')
    expect(resourceOf('/a?b=1')).to.equal('/a?b=1')
  })

  it('splits at the first "?" only', function () {
    expect(resourceOf('/a?b=1?c')).to.equal('/a?b=1%3Fc')
  })

  it('normalises the path and the query together', function () {
    expect(resourceOf('/caf%c3%a9?b=2&a=1')).to.equal('/caf%C3%A9?a=1&b=2')
  })
})

describe('primary keys (primaryKey)', function () {
  it('reads {namespace}:{method}:{path}?{query}', function () {
    expect(key('GET', '/a?b=1')).to.equal('ns:GET:/a?b=1')
  })

  it('gives HEAD the key of GET (RFC 9110 §9.3.2)', function () {
    expect(key('HEAD', '/a?b=1')).to.equal(key('GET', '/a?b=1'))
  })

  it('keeps other methods apart from GET', function () {
    expect(key('OPTIONS', '/a')).to.not.equal(key('GET', '/a'))
  })

  it('is the same for query orders that mean the same', function () {
    expect(key('GET', '/a?x=1&y=2')).to.equal(key('GET', '/a?y=2&x=1'))
  })

  it('keeps a path with "?" in it (escaped) apart from the same text as a query', function () {
    expect(key('GET', '/a%3Fb')).to.not.equal(key('GET', '/a?b'))
  })

  describe('the user part', function () {
    it('is absent for a shared response', function () {
      expect(key('GET', '/a')).to.equal('ns:GET:/a?')
    })

    it('is appended, percent-encoded', function () {
      expect(key('GET', '/a', 'alice')).to.equal('ns:GET:/a?:u=alice')
    })

    it('keeps the empty user apart from a shared response', function () {
      expect(key('GET', '/a', '')).to.not.equal(key('GET', '/a'))
    })

    it('cannot be forged by a user id holding ":" (e.g. to imitate a header part)', function () {
      const plan = planKey({ headers: ['x-tenant'] })
      const forged = key('GET', '/a', 'bob:h=x-tenant=acme', {}, plan)
      const real = key('GET', '/a', 'bob', { 'x-tenant': 'acme' }, plan)
      expect(forged).to.not.equal(real)
    })

    it('cannot be forged by a user id holding a newline, "&", "=", "#" or "?"', function () {
      const ids = ['a\nb', 'a&b', 'a=b', 'a#x-a=1', 'a?b', 'a', 'a%0Ab']
      const keys = ids.map(id => key('GET', '/a', id))
      expect(new Set(keys).size).to.equal(ids.length)
      for (const k of keys) expect(k.slice('ns:GET:/a?:u='.length)).to.match(/^[A-Za-z0-9%\-_.!~*'()]*$/)
    })

    it('cannot be forged by a query holding ":u="', function () {
      expect(key('GET', '/a?:u=alice')).to.not.equal(key('GET', '/a', 'alice'))
      expect(key('GET', '/a?x=:u=alice')).to.not.equal(key('GET', '/a?x=', 'alice'))
    })

    it('cannot be forged by a path holding ":u="', function () {
      expect(key('GET', '/a:u=alice')).to.not.equal(key('GET', '/a', 'alice'))
    })

    it('does not throw on a lone surrogate, and keeps it apart from U+FFFD', function () {
      expect(key('GET', '/a', '\udc00')).to.not.equal(key('GET', '/a', '\ufffd'))
    })
  })

  describe('header parts', function () {
    const plan = planKey({ headers: ['X-Tenant', 'x-region'] })

    it('are appended for each configured header, lower-cased names', function () {
      expect(plan.headers).to.deep.equal(['x-tenant', 'x-region'])
      expect(key('GET', '/a', undefined, { 'x-tenant': 'acme', 'x-region': 'eu' }, plan)).to.equal('ns:GET:/a?:h=x-tenant=acme:h=x-region=eu')
    })

    it('distinguish an absent header from an empty one', function () {
      expect(key('GET', '/a', undefined, { 'x-tenant': '' }, plan)).to.not.equal(key('GET', '/a', undefined, {}, plan))
    })

    it('cannot be forged by a value holding ":h="', function () {
      const forged = key('GET', '/a', undefined, { 'x-tenant': 'acme:h=x-region=eu' }, plan)
      const real = key('GET', '/a', undefined, { 'x-tenant': 'acme', 'x-region': 'eu' }, plan)
      expect(forged).to.not.equal(real)
    })

    it('keep the value case (header parts are not Vary normalisation)', function () {
      expect(key('GET', '/a', undefined, { 'x-tenant': 'Acme' }, plan)).to.not.equal(key('GET', '/a', undefined, { 'x-tenant': 'acme' }, plan))
    })

    it('join repeated values with a comma', function () {
      expect(primaryKey('ns', 'GET', '/a?', undefined, plan, { 'x-tenant': ['a', 'b'] as any })).to.contain(':h=x-tenant=a%2Cb')
    })

    it('encode each value as encodeURIComponent does, whatever was encoded just before', function () {
      // The encoder remembers its last input (values repeat from request to request): the
      // remembered answer must never leak into another value's part, the user's included.
      const values = ['host:1', 'plain', 'host:1', 'host:2', 'ünï', 'host:2', '', 'a b', 'host:1']
      for (const user of [undefined, 'host:1', 'u 2', 'host:1']) {
        for (const tenant of values) {
          for (const region of values) {
            expect(key('GET', '/a', user, { 'x-tenant': tenant, 'x-region': region }, plan)).to.equal(
              `ns:GET:/a?${user === undefined ? '' : ':u=' + encodeURIComponent(user)}:h=x-tenant=${encodeURIComponent(tenant)}:h=x-region=${encodeURIComponent(region)}`)
          }
        }
      }
    })

    it('encode each of many keyed fields as encodeURIComponent does', function () {
      const names = Array.from({ length: 12 }, (_, i) => `x-f${i}`)
      const many = planKey({ headers: names })
      for (const round of ['a:b', 'c d', 'a:b', 'plain']) {
        const headers = Object.fromEntries(names.map((n, i) => [n, `${round}/${i % 3}`]))
        expect(key('GET', '/a', undefined, headers, many))
          .to.equal('ns:GET:/a?' + names.map(n => `:h=${n}=${encodeURIComponent(headers[n])}`).join(''))
      }
    })
  })
})

describe('userOf', function () {
  it('is undefined without a user function', function () {
    expect(userOf(undefined, {})).to.equal(undefined)
  })

  it('is undefined for undefined, null and ""', function () {
    for (const u of [undefined, null, '']) expect(userOf(() => u, {})).to.equal(undefined)
  })

  it('stringifies numbers, including 0', function () {
    expect(userOf(() => 0, {})).to.equal('0')
    expect(userOf(() => 42, {})).to.equal('42')
  })

  it('passes the request to the user function', function () {
    const req = { headers: { 'x-user': 'u1' } }
    expect(userOf(r => r.headers['x-user'], req)).to.equal('u1')
  })
})
