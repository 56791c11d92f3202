import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { expect } from 'chai'
import fc from 'fast-check'
import { CODEC_VERSION, decode, encode, encodeWithStats } from '../src/codec.js'
import { ENTRY_VERSION, type Entry, type Stored } from '../src/entry.js'
import { raw304Of } from '../src/record.js'
import { makeEntry, makeVary, withTrailer } from './support/entries.js'

const opts = { compressAbove: 1024 }
const text = (n: number): Buffer => Buffer.from('<li class="item">cachefront caches</li>\n'.repeat(Math.ceil(n / 40)).slice(0, n))
const roundTrip = (value: Stored): Stored | undefined => decode(encode(value, opts))

describe('codec', function () {
  describe('round trip', function () {
    it('returns an entry equal to the one encoded, every field included', function () {
      const entry = makeEntry({
        raw: withTrailer(['content-type', 'text/plain', 'x-unicode', 'café ☕']),
        vary: ['accept'],
        lastModified: 'Tue, 01 Jul 2025 10:00:00 GMT',
        tags: ['a', 'b'],
        swr: 1,
        sie: 2
      })
      expect(roundTrip(entry)).to.deep.equal(entry)
    })

    it('leaves out the 304 array an entry built on first use; the decoded entry builds the same one', function () {
      const entry = makeEntry()
      const built = raw304Of(entry)
      const back = roundTrip(entry) as Entry
      expect(back.raw304).to.equal(undefined)
      const { raw304: _, ...rest } = entry
      expect(back).to.deep.equal(rest)
      expect(raw304Of(back)).to.deep.equal(built)
    })

    it('returns a VaryRecord equal to the one encoded', function () {
      const record = makeVary({ vary: ['accept-encoding', 'accept-language'], tags: ['t'] })
      expect(roundTrip(record)).to.deep.equal(record)
    })

    it('keeps a binary body holding all 256 byte values byte for byte', function () {
      const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      const got = roundTrip(makeEntry({ body })) as Entry
      expect(got.body.equals(body)).to.equal(true)
    })

    it('keeps an empty body as an empty Buffer', function () {
      const got = roundTrip(makeEntry({ body: Buffer.alloc(0) })) as Entry
      expect(Buffer.isBuffer(got.body)).to.equal(true)
      expect(got.body.length).to.equal(0)
    })

    it('stores the body raw after the header, not as base64', function () {
      const body = randomBytes(300)
      const buf = encode(makeEntry({ body }), opts)
      expect(buf.subarray(buf.length - body.length).equals(body)).to.equal(true)
    })

    it('gives a body that does not share memory with the encoded buffer', function () {
      const buf = encode(makeEntry({ body: Buffer.from('abc') }), opts)
      const got = decode(buf) as Entry
      buf.fill(0)
      expect(got.body.toString()).to.equal('abc')
    })
  })

  describe('compression', function () {
    it('compresses a body larger than compressAbove, and decodes it back', function () {
      const entry = makeEntry({ body: text(20_000) })
      const stats = encodeWithStats(entry, opts)
      expect(stats.compressed).to.equal(true)
      expect(stats.storedBytes).to.equal(stats.buf.length)
      expect(stats.storedBytes).to.be.below(stats.originalBytes / 4)
      expect(decode(stats.buf)).to.deep.equal(entry)
    })

    it('leaves a body of exactly compressAbove bytes uncompressed', function () {
      const stats = encodeWithStats(makeEntry({ body: text(1024) }), opts)
      expect(stats.compressed).to.equal(false)
      expect(stats.storedBytes).to.equal(stats.originalBytes)
    })

    it('follows the compressAbove it is given', function () {
      expect(encodeWithStats(makeEntry({ body: text(200) }), { compressAbove: 100 }).compressed).to.equal(true)
    })

    it('leaves a body the origin already content-encoded alone', function () {
      const entry = makeEntry({ raw: withTrailer(['content-encoding', 'gzip']), body: gzipSync(text(20_000)) })
      const stats = encodeWithStats(entry, opts)
      expect(stats.compressed).to.equal(false)
      expect(decode(stats.buf)).to.deep.equal(entry)
    })

    it('stores an incompressible body raw', function () {
      const entry = makeEntry({ body: randomBytes(5000) })
      const stats = encodeWithStats(entry, opts)
      expect(stats.compressed).to.equal(false)
      expect(decode(stats.buf)).to.deep.equal(entry)
    })
  })

  describe('decode of anything else', function () {
    const valid = encode(makeEntry({ body: Buffer.from('hello') }), opts)
    const compressed = encode(makeEntry({ body: text(5000) }), opts)

    it('is undefined for a value that is not ours', function () {
      for (const foreign of ['hello', '{"v":1}', '', 'CF']) {
        expect(decode(Buffer.from(foreign)), foreign).to.equal(undefined)
      }
    })

    it('is undefined for another codec version', function () {
      const other = Buffer.from(valid)
      other[2] = CODEC_VERSION + 1
      expect(decode(other)).to.equal(undefined)
    })

    it('is undefined for an unknown flag', function () {
      const other = Buffer.from(valid)
      other[3] = 0x80
      expect(decode(other)).to.equal(undefined)
    })

    it('is undefined for a header that is not JSON, or not an object', function () {
      for (const header of ['{not json', '[1,2]', 'null', '42']) {
        const json = Buffer.from(header)
        const buf = Buffer.alloc(12 + json.length)
        buf.write('CF', 0, 'latin1')
        buf[2] = CODEC_VERSION
        buf.writeUInt32BE(json.length, 4)
        json.copy(buf, 12)
        expect(decode(buf), header).to.equal(undefined)
      }
    })

    it('is undefined for a well-formed encoding of something that is not a Stored', function () {
      const { v, ...noVersion } = makeEntry()
      expect(v).to.equal(ENTRY_VERSION)
      expect(decode(encode(noVersion as unknown as Stored, opts))).to.equal(undefined)
      expect(decode(encode({ ...makeEntry(), v: 99 } as unknown as Stored, opts))).to.equal(undefined)
    })

    it('is undefined for a corrupt compressed body', function () {
      const bad = Buffer.from(compressed)
      for (let i = bad.length - 40; i < bad.length; i++) bad[i] ^= 0x5a
      expect(decode(bad)).to.equal(undefined)
    })

    it('is undefined, without throwing, when truncated at any byte', function () {
      for (const buf of [valid, compressed, encode(makeVary(), opts)]) {
        for (let n = 0; n < buf.length; n++) {
          expect(decode(buf.subarray(0, n)), `first ${n} of ${buf.length} bytes`).to.equal(undefined)
        }
      }
    })

    it('is undefined when the body is longer or shorter than recorded', function () {
      expect(decode(Buffer.concat([valid, Buffer.from('x')]))).to.equal(undefined)
      const shorter = Buffer.from(compressed)
      shorter.writeUInt32BE(shorter.readUInt32BE(8) - 1, 8)
      expect(decode(shorter)).to.equal(undefined)
    })

    it('is undefined for trailing bytes after a VaryRecord', function () {
      expect(decode(Buffer.concat([encode(makeVary(), opts), Buffer.from('x')]))).to.equal(undefined)
    })

    it('never throws, whatever the bytes', function () {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, at) => {
        // Random bytes, and random bytes spliced into a valid encoding.
        decode(Buffer.from(bytes))
        const spliced = Buffer.from(valid)
        Buffer.from(bytes).copy(spliced, at % spliced.length)
        decode(spliced)
      }), { numRuns: 500 })
    })
  })
})
