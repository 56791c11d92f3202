import { expect } from 'chai'
import etag from 'etag'
import { raw304Of, recordEntry, recordVary, storedHeaders, freshenedHeaders, type RecordInput } from '../src/record.js'
import { notModified, ageOf } from '../src/writer.js'
import { storability, type Storable, type ResponseHeaders } from '../src/policy.js'
import { ENTRY_VERSION, TRAILER_PAIRS, isStored } from '../src/entry.js'
import { TRAILER } from './support/entries.js'

const SECOND = 1000
const T0 = Date.UTC(2024, 0, 1, 12, 0, 0)
const DATE = new Date(T0).toUTCString()
const BODY = Buffer.from('hello world')

const POLICY: Storable = { lifetime: 60 * SECOND, initialAge: 0, swr: 0, sie: 0, mustRevalidate: false, noCache: false, strip: [] }

function record (headers: ResponseHeaders, over: Omit<Partial<RecordInput>, 'policy'> & { policy?: Partial<Storable> } = {}) {
  const { policy, ...rest } = over
  return recordEntry({
    status: 200,
    headers,
    body: BODY,
    requestTime: T0 - 5,
    responseTime: T0,
    tags: ['t'],
    consumed: [],
    keep: 0,
    ...rest,
    policy: { ...POLICY, ...policy },
  })
}

/** The raw array without its writer slots, as [name, value] pairs. */
function pairs (raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (let i = 0; i < raw.length - TRAILER_PAIRS * 2; i += 2) out.push([raw[i], raw[i + 1]])
  return out
}

const names = (raw: string[]) => pairs(raw).map(([n]) => n)

describe('RFC 9111 §3.1 storing header fields (recordEntry)', function () {
  it('keeps end-to-end fields in the order the origin sent them, lower-cased', function () {
    const e = record({ 'Content-Type': 'text/plain', 'X-B': '2', 'x-a': '1', etag: '"v1"', date: DATE })
    expect(pairs(e.raw)).to.deep.equal([
      ['content-type', 'text/plain'], ['x-b', '2'], ['x-a', '1'], ['etag', '"v1"'], ['date', DATE], ['content-length', '11'],
    ])
  })

  it('joins repeated fields into one pair (RFC 9110 §5.3), so writeHead sets each name once', function () {
    const e = record({ link: ['<a>', '<b>'], etag: '"v"' })
    expect(pairs(e.raw).filter(([n]) => n === 'link')).to.deep.equal([['link', '<a>, <b>']])
  })

  it('stringifies numeric values', function () {
    expect(pairs(record({ 'x-n': 5, etag: '"v"' }).raw)).to.deep.include(['x-n', '5'])
  })

  it('drops hop-by-hop fields (RFC 9110 §7.6.1)', function () {
    const hop = {
      connection: 'keep-alive', 'keep-alive': 'timeout=5', 'proxy-connection': 'x', 'proxy-authenticate': 'Basic',
      'proxy-authorization': 'x', te: 'trailers', trailer: 'x-t', 'transfer-encoding': 'chunked', upgrade: 'h2c',
    }
    expect(names(record({ ...hop, 'x-kept': '1', etag: '"v"' }).raw)).to.deep.equal(['x-kept', 'etag', 'date', 'content-length'])
  })

  it('drops the fields the Connection header names', function () {
    const e = record({ connection: 'close, X-Hop,  x-other ', 'x-hop': '1', 'x-other': '2', 'x-kept': '3', etag: '"v"' })
    expect(names(e.raw)).to.not.include.members(['x-hop', 'x-other'])
    expect(names(e.raw)).to.include('x-kept')
  })

  it('never stores Set-Cookie, Age, X-Cache or Cache-Status', function () {
    const e = record({ 'set-cookie': ['a=1'], age: '5', 'x-cache': 'MISS', 'cache-status': 'up; fwd=miss', etag: '"v"' })
    expect(names(e.raw)).to.deep.equal(['etag', 'date', 'content-length'])
  })

  it('drops the fields the policy strips (qualified no-cache / private)', function () {
    const e = record({ 'x-secret': 'k', 'x-kept': '1', etag: '"v"' }, { policy: { strip: ['x-secret'] } })
    expect(names(e.raw)).to.deep.equal(['x-kept', 'etag', 'date', 'content-length'])
  })

  it('drops the fields the cache consumed (targeted Cache-Control, tag headers)', function () {
    const e = record({ 'cdn-cache-control': 'max-age=60', 'surrogate-key': 'a b', etag: '"v"' }, { consumed: ['cdn-cache-control', 'surrogate-key'] })
    expect(names(e.raw)).to.deep.equal(['etag', 'date', 'content-length'])
  })

  it('skips undefined values', function () {
    expect(names(record({ 'x-u': undefined, etag: '"v"' }).raw)).to.not.include('x-u')
  })

  describe('Date', function () {
    it('keeps the origin Date', function () {
      expect(pairs(record({ date: DATE, etag: '"v"' }).raw)).to.deep.include(['date', DATE])
    })

    it('adds Date from the response time when the origin sent none (RFC 9110 §6.6.1)', function () {
      expect(pairs(record({ etag: '"v"' }, { responseTime: T0 + 1000 }).raw)).to.deep.include(['date', new Date(T0 + 1000).toUTCString()])
    })

    it('appears exactly once', function () {
      expect(names(record({ date: DATE, etag: '"v"' }).raw).filter(n => n === 'date')).to.have.length(1)
    })
  })

  describe('Content-Length', function () {
    it('is the stored body length, replacing the origin value and any chunking', function () {
      const e = record({ 'content-length': '999', 'transfer-encoding': 'chunked', etag: '"v"' })
      expect(pairs(e.raw).filter(([n]) => n === 'content-length')).to.deep.equal([['content-length', '11']])
    })

    it('is left out for a 204 (RFC 9110 §8.6)', function () {
      expect(names(record({ etag: '"v"' }, { status: 204, body: Buffer.alloc(0) }).raw)).to.not.include('content-length')
    })

    it('is 0 for an empty body', function () {
      expect(pairs(record({ etag: '"v"' }, { body: Buffer.alloc(0) }).raw)).to.deep.include(['content-length', '0'])
    })
  })

  describe('ETag', function () {
    it('keeps the origin ETag and marks it as the origin\'s', function () {
      const e = record({ etag: '"v1"' })
      expect(e.etag).to.equal('"v1"')
      expect(e.etagComputed).to.equal(false)
      expect(e.validator).to.equal(true)
    })

    it('computes a weak ETag for a 2xx without one (etagComputed: never sent to the origin)', function () {
      const e = record({})
      expect(e.etag).to.equal(etag(BODY, { weak: true }))
      expect(e.etag).to.match(/^W\//)
      expect(e.etagComputed).to.equal(true)
      expect(pairs(e.raw)).to.deep.include(['etag', e.etag!])
    })

    it('does not count a computed ETag as a validator for revalidation (§4.3.1)', function () {
      expect(record({}).validator).to.equal(false)
      expect(record({ 'last-modified': DATE }).validator).to.equal(true)
    })

    it('computes none for a non-2xx response', function () {
      const e = record({}, { status: 404 })
      expect(e.etag).to.equal(undefined)
      expect(e.etagComputed).to.equal(false)
      expect(names(e.raw)).to.not.include('etag')
    })

    it('uses the first of repeated ETag values', function () {
      expect(record({ etag: ['"a"', '"b"'] as any }).etag).to.equal('"a"')
    })
  })

  describe('RFC 9110 §15.4.5 the 304 field set (raw304Of)', function () {
    it('is built on first use, from raw, and kept on the entry', function () {
      const e = record({ etag: '"v"', 'cache-control': 'max-age=60' })
      expect(e.raw304).to.equal(undefined)
      const first = raw304Of(e)
      expect(pairs(first).slice(0, 3)).to.deep.equal([['etag', '"v"'], ['cache-control', 'max-age=60'], ['date', e.raw[e.raw.indexOf('date') + 1]]])
      expect(raw304Of(e)).to.equal(first)
      expect(e.raw304).to.equal(first)
    })

    it('holds only Cache-Control, Content-Location, Date, ETag, Expires and Vary', function () {
      const e = record({
        'cache-control': 'max-age=60', 'content-location': '/a', etag: '"v"', expires: DATE, vary: 'accept',
        'content-type': 'text/plain', 'last-modified': DATE, 'x-other': '1', date: DATE,
      })
      expect(names(raw304Of(e)).sort()).to.deep.equal(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary'])
    })

    it('never holds Content-Length or Content-Type', function () {
      const e = record({ 'content-type': 'text/plain', etag: '"v"' })
      expect(names(raw304Of(e))).to.not.include.members(['content-length', 'content-type'])
    })

    it('carries the computed ETag', function () {
      const e = record({})
      expect(pairs(raw304Of(e))).to.deep.include(['etag', e.etag!])
    })

    it('carries Last-Modified when there is no ETag at all', function () {
      const e = record({ 'last-modified': DATE }, { status: 301 })
      expect(names(raw304Of(e))).to.include('last-modified')
    })
  })

  describe('writer slots', function () {
    it('end both raw arrays with Age, X-Cache and Cache-Status', function () {
      const e = record({ etag: '"v"' })
      expect(e.raw.slice(-TRAILER_PAIRS * 2).filter((_, i) => i % 2 === 0)).to.deep.equal(TRAILER.filter((_, i) => i % 2 === 0))
      expect(raw304Of(e).slice(-TRAILER_PAIRS * 2).filter((_, i) => i % 2 === 0)).to.deep.equal(TRAILER.filter((_, i) => i % 2 === 0))
    })
  })

  describe('RFC 9111 §4.2 absolute times', function () {
    it('staleAt = responseTime + lifetime − initialAge', function () {
      const e = record({ etag: '"v"' }, { policy: { lifetime: 60 * SECOND, initialAge: 10 * SECOND } })
      expect(e.staleAt).to.equal(T0 + 50 * SECOND)
    })

    it('deleteAt = staleAt + the largest of swr, sie and, with a validator, keep', function () {
      expect(record({ etag: '"v"' }, { keep: 30 * SECOND, policy: { swr: 10 * SECOND, sie: 20 * SECOND } }).deleteAt).to.equal(T0 + 90 * SECOND)
      expect(record({ etag: '"v"' }, { keep: 5 * SECOND, policy: { swr: 10 * SECOND, sie: 20 * SECOND } }).deleteAt).to.equal(T0 + 80 * SECOND)
      expect(record({ etag: '"v"' }, { keep: 0, policy: { swr: 40 * SECOND } }).deleteAt).to.equal(T0 + 100 * SECOND)
    })

    it('does not keep an entry without a validator past its windows', function () {
      expect(record({}, { keep: 3600 * SECOND }).deleteAt).to.equal(T0 + 60 * SECOND)
    })

    it('copies the policy and the request/response times', function () {
      const e = record({ etag: '"v"' }, { policy: { swr: 1, sie: 2, mustRevalidate: true, noCache: true, vary: ['accept'] } })
      expect(e).to.include({ swr: 1, sie: 2, mustRevalidate: true, noCache: true, requestTime: T0 - 5, responseTime: T0, initialAge: 0 })
      expect(e.vary).to.deep.equal(['accept'])
    })
  })

  it('builds a valid, versioned entry whose size counts body and headers', function () {
    const e = record({ etag: '"v"', 'last-modified': DATE })
    expect(isStored(e)).to.equal(true)
    expect(e.v).to.equal(ENTRY_VERSION)
    expect(e.lastModified).to.equal(DATE)
    expect(e.tags).to.deep.equal(['t'])
    expect(e.size).to.be.greaterThan(BODY.length + e.raw.join('').length - 1)
  })

  it('recordVary builds the §4.1 record', function () {
    const v = recordVary(['accept'], T0, ['u'])
    expect(isStored(v)).to.equal(true)
    expect(v).to.deep.include({ type: 'vary', vary: ['accept'], deleteAt: T0, tags: ['u'] })
  })
})

describe('storedHeaders', function () {
  it('gives the stored fields as an object, without the writer slots', function () {
    const e = record({ link: ['<a>', '<b>'], etag: '"v"', date: DATE })
    expect(storedHeaders(e)).to.deep.equal({ link: '<a>, <b>', etag: '"v"', date: DATE, 'content-length': '11' })
  })
})

describe('RFC 9111 §3.2 / §4.3.4 freshening stored responses (freshenedHeaders)', function () {
  const stale = () => record({ 'cache-control': 'max-age=60', etag: '"v1"', 'content-type': 'text/plain', 'x-a': 'old', date: DATE })
  const LATER = new Date(T0 + 3600 * SECOND).toUTCString()

  it('replaces stored values with those of the 304', function () {
    const h = freshenedHeaders(stale(), { 'cache-control': 'max-age=120', 'x-a': 'new', date: LATER })
    expect(h).to.include({ 'cache-control': 'max-age=120', 'x-a': 'new', date: LATER, 'content-type': 'text/plain', etag: '"v1"' })
  })

  it('adds fields only the 304 has', function () {
    expect(freshenedHeaders(stale(), { 'x-new': '1' })).to.include({ 'x-new': '1' })
  })

  it('keeps Content-Length from the stored entry, never the 304\'s', function () {
    const h = freshenedHeaders(stale(), { 'content-length': '0' })
    expect(h['content-length']).to.equal('11')
  })

  it('takes nothing the cache never stores from the 304 (Set-Cookie, Age, hop-by-hop)', function () {
    const h = freshenedHeaders(stale(), { 'set-cookie': ['a=1'], age: '30', connection: 'close', 'transfer-encoding': 'chunked', 'x-cache': 'HIT' })
    expect(h).to.not.have.any.keys('set-cookie', 'age', 'connection', 'transfer-encoding', 'x-cache')
  })

  it('lower-cases the 304\'s field names', function () {
    expect(freshenedHeaders(stale(), { 'X-A': 'new' })).to.include({ 'x-a': 'new' })
  })

  it('keeps the stored Content-Length through re-recording', function () {
    const e = stale()
    const again = record(freshenedHeaders(e, { 'content-length': '0', date: LATER }), { body: e.body })
    expect(storedHeaders(again)['content-length']).to.equal('11')
  })

  it('does not turn a computed ETag into an origin validator', function () {
    const e = record({ 'cache-control': 'max-age=60', 'last-modified': DATE })
    expect(e.etagComputed).to.equal(true)
    const h = freshenedHeaders(e, { date: LATER })
    const policy = storability({
      method: 'GET', status: 200, headers: h, authorization: false, request: {}, privateCache: false,
      requestTime: T0, responseTime: T0, rules: { override: false, staleWhileRevalidate: 0, staleIfError: 0, allowSetCookie: false, allowAuthorization: false, heuristicFraction: 0.1, heuristicMax: 0, targeted: [], jitter: 0 },
    })
    if (typeof policy === 'string') expect.fail(policy)
    const again = record(h, { body: e.body, policy })
    expect(again.etag).to.equal(e.etag)
    expect(again.etagComputed).to.equal(true)
  })

  it('takes a new origin ETag from the 304 in place of a computed one', function () {
    const e = record({ 'last-modified': DATE })
    const again = record(freshenedHeaders(e, { etag: '"o"' }), { body: e.body })
    expect(again.etag).to.equal('"o"')
    expect(again.etagComputed).to.equal(false)
  })
})

describe('RFC 9110 §13.2 answering the client\'s own conditional requests (notModified)', function () {
  const e = (over: Parameters<typeof record>[0] = { etag: '"v1"', 'last-modified': DATE }, status = 200) => record(over, { status })

  it('is false for an unconditional request', function () {
    expect(notModified({}, e())).to.equal(false)
  })

  describe('when If-None-Match (§13.1.2, weak comparison)', function () {
    it('matches the same strong ETag', function () {
      expect(notModified({ 'if-none-match': '"v1"' }, e())).to.equal(true)
    })

    it('matches a weak form of it, either way round', function () {
      expect(notModified({ 'if-none-match': 'W/"v1"' }, e())).to.equal(true)
      expect(notModified({ 'if-none-match': '"v1"' }, e({ etag: 'W/"v1"' }))).to.equal(true)
    })

    it('matches one member of a list', function () {
      expect(notModified({ 'if-none-match': '"x", "v1" , "y"' }, e())).to.equal(true)
    })

    it('does not match another ETag', function () {
      expect(notModified({ 'if-none-match': '"v2"' }, e())).to.equal(false)
    })

    it('matches "*" for any stored representation', function () {
      expect(notModified({ 'if-none-match': '*' }, e())).to.equal(true)
    })

    it('matches the computed ETag of an entry without one', function () {
      const entry = e({})
      expect(notModified({ 'if-none-match': entry.etag }, entry)).to.equal(true)
    })

    it('takes precedence over If-Modified-Since (§13.2.2)', function () {
      const later = new Date(T0 + 3600 * SECOND).toUTCString()
      expect(notModified({ 'if-none-match': '"v2"', 'if-modified-since': later }, e())).to.equal(false)
      const earlier = new Date(T0 - 3600 * SECOND).toUTCString()
      expect(notModified({ 'if-none-match': '"v1"', 'if-modified-since': earlier }, e())).to.equal(true)
    })
  })

  describe('when If-Modified-Since without If-None-Match (§13.1.3)', function () {
    it('is true when not modified since', function () {
      expect(notModified({ 'if-modified-since': DATE }, e())).to.equal(true)
      expect(notModified({ 'if-modified-since': new Date(T0 + 1000).toUTCString() }, e())).to.equal(true)
    })

    it('is false when modified since', function () {
      expect(notModified({ 'if-modified-since': new Date(T0 - 1000).toUTCString() }, e())).to.equal(false)
    })

    it('is false without Last-Modified', function () {
      expect(notModified({ 'if-modified-since': DATE }, e({ etag: '"v1"' }))).to.equal(false)
    })

    it('is false for an invalid date', function () {
      expect(notModified({ 'if-modified-since': 'yesterday' }, e())).to.equal(false)
    })
  })

  describe('for non-2xx entries (§13.2.1)', function () {
    for (const status of [301, 404, 410, 500]) {
      it(`never answers 304 for a ${status}`, function () {
        expect(notModified({ 'if-none-match': '*' }, e({ etag: '"v1"' }, status))).to.equal(false)
        expect(notModified({ 'if-none-match': '"v1"' }, e({ etag: '"v1"' }, status))).to.equal(false)
      })
    }
  })
})

describe('RFC 9111 §4.2.3 / §5.1 Age of a stored response (ageOf)', function () {
  it('is the whole seconds since the response, plus the initial age', function () {
    const e = record({ etag: '"v"' }, { policy: { initialAge: 5 * SECOND } })
    expect(ageOf(e, T0)).to.equal(5)
    expect(ageOf(e, T0 + 1999)).to.equal(6)
    expect(ageOf(e, T0 + 2000)).to.equal(7)
  })

  it('is never negative (clock moved back)', function () {
    expect(ageOf(record({ etag: '"v"' }), T0 - 10 * SECOND)).to.equal(0)
  })
})
