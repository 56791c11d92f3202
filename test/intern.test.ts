import { expect } from 'chai'
import fc from 'fast-check'
import { flatten, internName, internValue } from '../src/intern.js'

/**
 * What src/intern.ts saves is memory (measured by `npm run bench -- --scenario scale` and the
 * heap per entry in BENCHMARKS.md); what it must never do is change a string. String identity
 * is not observable from JavaScript, so these tests pin the text.
 */
describe('stored strings in their smallest form (intern.ts)', function () {
  describe('flatten', function () {
    it('keeps the text of concatenations, short and long', function () {
      const parts = ['proxy:', 'GET:', '/k/1?', ':h=x-forwarded-host=', 'example.com']
      let s = ''
      for (const p of parts) {
        s += p
        expect(flatten(s)).to.equal(s)
      }
    })

    it('keeps non-ASCII text exactly, without Unicode normalisation', function () {
      const decomposed = 'cafe\u0301 /menu?q=' + 'x'.repeat(20) // NFC would compose e + U+0301
      expect(flatten(decomposed)).to.equal(decomposed)
      expect(flatten(decomposed).length).to.equal(decomposed.length)
    })

    it('keeps lone surrogates', function () {
      const s = 'tag:' + '\ud800' + 'x'.repeat(20) + '\udfff'
      expect(flatten(s)).to.equal(s)
    })

    it('returns any string unchanged in text (property)', function () {
      fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 50 }), (a, b) => {
        const s = a + b
        expect(flatten(s)).to.equal(s)
      }))
    })
  })

  describe('internName and internValue', function () {
    it('return the text they are given, for shared fields and others', function () {
      expect(internName('content-type')).to.equal('content-type')
      expect(internValue('content-type', 'application/json; charset=utf-8')).to.equal('application/json; charset=utf-8')
      expect(internValue('etag', 'W/"40-abcdefghijklmnopqrstuvwxyz"')).to.equal('W/"40-abcdefghijklmnopqrstuvwxyz"')
      const long = 'x'.repeat(300)
      expect(internValue('content-type', long)).to.equal(long)
    })

    it('stay correct past the bound on shared strings (an origin sending endless distinct values)', function () {
      for (let i = 0; i < 10_000; i++) {
        const v = `text/x-${i}`
        expect(internValue('content-type', v)).to.equal(v)
        expect(internName(`x-custom-${i}`)).to.equal(`x-custom-${i}`)
      }
    })
  })
})
