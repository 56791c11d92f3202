/**
 * Range requests answered from a stored complete response (RFC 9110 §14), in the writer, so
 * every adapter gets them.
 */
import { expect } from 'chai'
import type { IncomingHttpHeaders } from 'node:http'
import type { Entry } from '../src/entry.js'
import { writeEntry } from '../src/writer.js'
import { makeEntry, withTrailer } from './support/entries.js'

interface Written { status: number, headers: Record<string, string>, body: string }

function write (entry: Entry, headers: IncomingHttpHeaders, bodyless = false): Written {
  let status = 0
  let raw: string[] = []
  let body = ''
  writeEntry({
    writeHead (s, h) { status = s; raw = [...h] },
    end (b) { if (b !== undefined) body = b.toString() },
  }, entry, headers, bodyless, 'HIT', 'test; hit', Date.now())
  const out: Record<string, string> = {}
  for (let i = 0; i < raw.length; i += 2) out[raw[i]] = raw[i + 1]
  return { status, headers: out, body }
}

const LAST_MODIFIED = 'Tue, 01 Jul 2025 10:00:00 GMT'
const entry = makeEntry({
  body: Buffer.from('0123456789'),
  raw: withTrailer([
    'content-type', 'text/plain',
    'content-length', '10',
    'etag', '"e-1"',
    'last-modified', LAST_MODIFIED,
    'cache-control', 'max-age=60',
  ]),
  lastModified: LAST_MODIFIED,
})

describe('writer: Range on a stored response', () => {
  describe('when Range names one satisfiable byte range', () => {
    it('answers 206 with that part, its Content-Length and Content-Range', () => {
      const r = write(entry, { range: 'bytes=2-5' })
      expect(r.status).to.equal(206)
      expect(r.body).to.equal('2345')
      expect(r.headers['content-range']).to.equal('bytes 2-5/10')
      expect(r.headers['content-length']).to.equal('4')
      expect(r.headers['content-type']).to.equal('text/plain')
      expect(r.headers['x-cache']).to.equal('HIT')
    })

    it('understands suffix and open-ended ranges', () => {
      expect(write(entry, { range: 'bytes=-3' }).body).to.equal('789')
      expect(write(entry, { range: 'bytes=7-' }).body).to.equal('789')
      expect(write(entry, { range: 'bytes=8-100' }).headers['content-range']).to.equal('bytes 8-9/10')
    })

    it('combines overlapping ranges into one', () => {
      const r = write(entry, { range: 'bytes=0-3,2-5' })
      expect(r.status).to.equal(206)
      expect(r.body).to.equal('012345')
    })

    it('leaves the stored header array untouched', () => {
      const before = [...entry.raw]
      write(entry, { range: 'bytes=0-0' })
      expect(entry.raw.slice(0, -6)).to.deep.equal(before.slice(0, -6))
    })
  })

  describe('when the range starts beyond the end', () => {
    it('answers 416 with Content-Range bytes */length and no body', () => {
      const r = write(entry, { range: 'bytes=10-20' })
      expect(r.status).to.equal(416)
      expect(r.headers['content-range']).to.equal('bytes */10')
      expect(r.headers['content-length']).to.equal('0')
      expect(r.body).to.equal('')
    })
  })

  describe('when the full response is written instead', () => {
    for (const [name, range] of [['malformed', 'bytes=abc'], ['another unit', 'items=0-1'], ['several ranges', 'bytes=0-1,5-6']]) {
      it(`for ${name}`, () => {
        const r = write(entry, { range })
        expect(r.status).to.equal(200)
        expect(r.body).to.equal('0123456789')
      })
    }

    it('for HEAD (§14.2: only GET has range semantics)', () => {
      expect(write(entry, { range: 'bytes=0-1' }, true).status).to.equal(200)
    })

    it('for a stored status other than 200', () => {
      expect(write(makeEntry({ status: 404 }), { range: 'bytes=0-1' }).status).to.equal(404)
    })
  })

  describe('when If-Range', () => {
    it('matches the ETag strongly: 206', () => {
      expect(write(entry, { range: 'bytes=0-1', 'if-range': '"e-1"' }).status).to.equal(206)
    })
    it('names another ETag: the full 200', () => {
      expect(write(entry, { range: 'bytes=0-1', 'if-range': '"e-2"' }).status).to.equal(200)
    })
    it('is a weak ETag: the full 200 (weak tags never match strongly)', () => {
      expect(write(entry, { range: 'bytes=0-1', 'if-range': 'W/"e-1"' }).status).to.equal(200)
    })
    it('equals Last-Modified: 206', () => {
      expect(write(entry, { range: 'bytes=0-1', 'if-range': LAST_MODIFIED }).status).to.equal(206)
    })
    it('is another date: the full 200', () => {
      expect(write(entry, { range: 'bytes=0-1', 'if-range': 'Wed, 02 Jul 2025 10:00:00 GMT' }).status).to.equal(200)
    })
  })

  describe('when conditionals match', () => {
    it('answers 304, not 206', () => {
      expect(write(entry, { range: 'bytes=0-1', 'if-none-match': '"e-1"' }).status).to.equal(304)
    })
  })
})
