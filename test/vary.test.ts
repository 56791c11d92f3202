import { expect } from 'chai'
import { parseVary, varyValue, variantSuffix, VARY_STAR } from '../src/vary.js'

describe('RFC 9110 §12.5.5 Vary', function () {
  describe('parseVary', function () {
    it('is undefined when absent or naming nothing', function () {
      expect(parseVary(undefined)).to.equal(undefined)
      expect(parseVary('')).to.equal(undefined)
      expect(parseVary(' , ,')).to.equal(undefined)
      expect(parseVary([])).to.equal(undefined)
    })

    it('lower-cases the field names', function () {
      expect(parseVary('Accept-Encoding')).to.deep.equal(['accept-encoding'])
    })

    it('trims white space around names', function () {
      expect(parseVary('  Accept-Encoding ,\tAccept-Language  ')).to.deep.equal(['accept-encoding', 'accept-language'])
    })

    it('sorts the names, so that the order in the header does not matter', function () {
      expect(parseVary('b, a, c')).to.deep.equal(['a', 'b', 'c'])
      expect(parseVary('Accept-Language, Accept-Encoding')).to.deep.equal(parseVary('accept-encoding, accept-language'))
    })

    it('removes duplicates, whatever their case', function () {
      expect(parseVary('Accept, accept, ACCEPT')).to.deep.equal(['accept'])
    })

    it('combines repeated field lines given as an array', function () {
      expect(parseVary(['Accept', 'Accept-Encoding, Accept'])).to.deep.equal(['accept', 'accept-encoding'])
    })

    it('stringifies a number (an odd setHeader value)', function () {
      expect(parseVary(5)).to.deep.equal(['5'])
    })
  })

  describe('RFC 9111 §4.1 Vary: *', function () {
    for (const value of ['*', ' * ', 'Accept, *', '*, Accept', 'a, *, b']) {
      it(`is "*" for ${JSON.stringify(value)}`, function () {
        expect(parseVary(value)).to.equal(VARY_STAR)
      })
    }

    it('is "*" when any line of an array holds it', function () {
      expect(parseVary(['Accept', '*'])).to.equal(VARY_STAR)
    })

    it('is not "*" for a name that merely contains a star', function () {
      expect(parseVary('x-*')).to.deep.equal(['x-*'])
    })
  })
})

describe('RFC 9111 §4.1 selecting a variant', function () {
  describe('varyValue normalisation', function () {
    it('is undefined for an absent header', function () {
      expect(varyValue({}, 'accept-language')).to.equal(undefined)
    })

    it('is "" for an empty header, distinct from absent', function () {
      expect(varyValue({ 'accept-language': '' }, 'accept-language')).to.equal('')
    })

    it('removes white space around list commas and at the ends', function () {
      expect(varyValue({ accept: ' text/html ,  application/json\t' }, 'accept')).to.equal('text/html,application/json')
    })

    it('joins repeated lines with a comma', function () {
      expect(varyValue({ 'x-list': ['a', 'b'] } as any, 'x-list')).to.equal('a,b')
    })

    for (const name of ['accept', 'accept-encoding', 'accept-language', 'accept-charset']) {
      it(`lower-cases the value of ${name} (case-insensitive by definition)`, function () {
        expect(varyValue({ [name]: 'EN-US, Gzip' }, name)).to.equal('en-us,gzip')
      })
    }

    it('keeps the case of other headers (X-User-Id "Alice" is not "alice")', function () {
      expect(varyValue({ 'x-user-id': 'Alice' }, 'x-user-id')).to.equal('Alice')
      expect(varyValue({ authorization: 'Bearer AbC' }, 'authorization')).to.equal('Bearer AbC')
      expect(varyValue({ cookie: 'A=B' }, 'cookie')).to.equal('A=B')
    })
  })

  describe('variantSuffix', function () {
    const names = ['accept-encoding', 'accept-language']

    it('names each selecting header with its value', function () {
      expect(variantSuffix(names, { 'accept-encoding': 'gzip', 'accept-language': 'en' })).to.equal('#accept-encoding=gzip&accept-language=en')
    })

    it('starts with "#", which never occurs in a primary key', function () {
      expect(variantSuffix(['accept'], {})).to.match(/^#/)
    })

    it('distinguishes an absent header from an empty one', function () {
      const absent = variantSuffix(names, { 'accept-encoding': 'gzip' })
      const empty = variantSuffix(names, { 'accept-encoding': 'gzip', 'accept-language': '' })
      expect(absent).to.not.equal(empty)
    })

    it('is the same for values that differ only in case for accept-language', function () {
      expect(variantSuffix(['accept-language'], { 'accept-language': 'EN-us' }))
        .to.equal(variantSuffix(['accept-language'], { 'accept-language': 'en-US' }))
    })

    it('differs for values that differ only in case for x-user-id', function () {
      expect(variantSuffix(['x-user-id'], { 'x-user-id': 'Alice' }))
        .to.not.equal(variantSuffix(['x-user-id'], { 'x-user-id': 'alice' }))
    })

    it('is the same for values that differ only in white space around commas', function () {
      expect(variantSuffix(['accept-encoding'], { 'accept-encoding': 'gzip, br' }))
        .to.equal(variantSuffix(['accept-encoding'], { 'accept-encoding': 'gzip,br' }))
    })

    it('does not let a value imitate another header ("&", "=")', function () {
      const forged = variantSuffix(['x-a', 'x-b'], { 'x-a': '1&x-b=2' })
      const real = variantSuffix(['x-a', 'x-b'], { 'x-a': '1', 'x-b': '2' })
      expect(forged).to.not.equal(real)
      expect(forged).to.equal('#x-a=1%26x-b%3D2&x-b')
    })

    it('does not let a value imitate an absent header', function () {
      expect(variantSuffix(['x-a', 'x-b'], { 'x-a': '&x-b' })).to.not.equal(variantSuffix(['x-a', 'x-b'], { 'x-a': '' }))
    })

    it('does not let a value end the key or start another suffix ("#", ":")', function () {
      expect(variantSuffix(['x-a'], { 'x-a': 'a#b:c' })).to.equal('#x-a=a%23b%3Ac')
    })

    it('percent-encodes non-ASCII values', function () {
      expect(variantSuffix(['x-a'], { 'x-a': 'é' })).to.equal('#x-a=%C3%A9')
    })

    it('is "#" for no names', function () {
      expect(variantSuffix([], { accept: 'x' })).to.equal('#')
    })
  })
})
