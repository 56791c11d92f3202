import { expect } from 'chai'
import { parseCacheControl, parseDeltaSeconds, DELTA_SECONDS_MAX } from '../src/cache-control.js'

describe('RFC 9111 §1.2.2 delta-seconds', function () {
  it('accepts a run of digits', function () {
    expect(parseDeltaSeconds('0')).to.equal(0)
    expect(parseDeltaSeconds('60')).to.equal(60)
    expect(parseDeltaSeconds('0060')).to.equal(60)
  })

  it('rejects a sign, a decimal point, letters, spaces and the empty string', function () {
    for (const bad of ['-1', '+1', '1.5', 'abc', '1e3', ' 1', '1 ', '', '0x10']) {
      expect(parseDeltaSeconds(bad), bad).to.equal(undefined)
    }
  })

  it('takes a value too large to represent as 2^31', function () {
    expect(DELTA_SECONDS_MAX).to.equal(2 ** 31)
    expect(parseDeltaSeconds('2147483648')).to.equal(2 ** 31)
    expect(parseDeltaSeconds('2147483649')).to.equal(2 ** 31)
    expect(parseDeltaSeconds('99999999999999999999999999')).to.equal(2 ** 31)
  })

  it('keeps a value just below 2^31 as it is', function () {
    expect(parseDeltaSeconds('2147483647')).to.equal(2147483647)
  })
})

describe('RFC 9111 §5.2 Cache-Control', function () {
  describe('when the field is absent or empty', function () {
    it('has no directives', function () {
      expect(parseCacheControl(undefined)).to.deep.equal({})
      expect(parseCacheControl('')).to.deep.equal({})
      expect(parseCacheControl([])).to.deep.equal({})
      expect(parseCacheControl(' , ,')).to.deep.equal({})
    })
  })

  describe('directive names', function () {
    it('are case-insensitive', function () {
      expect(parseCacheControl('MAX-AGE=60, No-Store, PUBLIC')).to.deep.equal({ 'max-age': 60, 'no-store': true, public: true })
    })

    it('tolerate white space around names, "=" and commas', function () {
      expect(parseCacheControl('  max-age = 60 ,\tno-cache ,  public  ')).to.deep.equal({ 'max-age': 60, 'no-cache': true, public: true })
    })

    it('tolerate empty list members', function () {
      expect(parseCacheControl(',,max-age=5,,,public,')).to.deep.equal({ 'max-age': 5, public: true })
    })

    it('ignore unknown directives, with or without a value', function () {
      expect(parseCacheControl('foo, bar=1, baz="x", max-age=7, community="UCI"')).to.deep.equal({ 'max-age': 7 })
    })

    it('do not let an unknown name shadow a known one (no prototype keys)', function () {
      expect(parseCacheControl('__proto__=1, constructor, toString=2, max-age=3')).to.deep.equal({ 'max-age': 3 })
    })
  })

  describe('quoted-string values (RFC 9110 §5.6.4)', function () {
    it('accept a quoted delta-seconds ("max-age=\\"60\\"" is allowed by §5.2)', function () {
      expect(parseCacheControl('max-age="60"')).to.deep.equal({ 'max-age': 60 })
      expect(parseCacheControl('s-maxage="10", stale-while-revalidate="30"')).to.deep.equal({ 's-maxage': 10, 'stale-while-revalidate': 30 })
    })

    it('keep a comma inside quotes within the directive', function () {
      expect(parseCacheControl('foo="a, max-age=5", max-age=7')).to.deep.equal({ 'max-age': 7 })
    })

    it('honour a backslash escape inside quotes', function () {
      expect(parseCacheControl('foo="a\\", max-age=5", max-age=7')).to.deep.equal({ 'max-age': 7 })
    })

    it('do not fail on an unterminated quote', function () {
      expect(parseCacheControl('max-age=9, foo="never closed, public')).to.deep.equal({ 'max-age': 9 })
    })
  })

  describe('§5.2.2.1 max-age and §5.2.2.10 s-maxage with invalid values (§4.2.1: treat as stale)', function () {
    for (const name of ['max-age', 's-maxage']) {
      for (const bad of ['abc', '-1', '1.5', '', '"x"', '1e3', '60s']) {
        it(`reads ${name}=${bad} as 0`, function () {
          expect(parseCacheControl(`${name}=${bad}`)).to.deep.equal({ [name]: 0 })
        })
      }

      it(`reads ${name} without a value as 0`, function () {
        expect(parseCacheControl(name)).to.deep.equal({ [name]: 0 })
      })

      it(`takes an overflowing ${name} as 2^31`, function () {
        expect(parseCacheControl(`${name}=99999999999999999999`)).to.deep.equal({ [name]: 2 ** 31 })
      })
    }

    it('does not let a later valid max-age rescue an invalid first one', function () {
      expect(parseCacheControl('max-age=abc, max-age=3600')['max-age']).to.equal(0)
    })
  })

  describe('other delta-seconds directives with invalid values', function () {
    for (const name of ['stale-while-revalidate', 'stale-if-error', 'min-fresh']) {
      it(`drops ${name} with an invalid or missing value`, function () {
        for (const bad of [`${name}=abc`, `${name}=-1`, `${name}=1.5`, `${name}=`, name]) {
          expect(parseCacheControl(bad), bad).to.deep.equal({})
        }
      })

      it(`keeps a valid ${name}`, function () {
        expect(parseCacheControl(`${name}=30`)).to.deep.equal({ [name]: 30 })
      })
    }
  })

  describe('§5.2.1.2 max-stale', function () {
    it('is unbounded (Infinity) without a value', function () {
      expect(parseCacheControl('max-stale')['max-stale']).to.equal(Infinity)
    })

    it('is the given seconds with a value', function () {
      expect(parseCacheControl('max-stale=30')['max-stale']).to.equal(30)
    })

    it('is dropped with an invalid value (no staleness is accepted then)', function () {
      expect(parseCacheControl('max-stale=abc')).to.deep.equal({})
      expect(parseCacheControl('max-stale=-5')).to.deep.equal({})
    })
  })

  describe('§4.2.1 duplicate directives', function () {
    it('use the first occurrence', function () {
      expect(parseCacheControl('max-age=60, max-age=0')['max-age']).to.equal(60)
      expect(parseCacheControl('max-age=0, max-age=60')['max-age']).to.equal(0)
      expect(parseCacheControl('stale-if-error=5, stale-if-error=500')['stale-if-error']).to.equal(5)
    })

    it('apply across field lines given as an array', function () {
      expect(parseCacheControl(['max-age=10', 'max-age=20, public'])).to.deep.equal({ 'max-age': 10, public: true })
    })
  })

  describe('field lines given as an array (§5.2: a list across lines)', function () {
    it('combines the lines', function () {
      expect(parseCacheControl(['public', 'max-age=60', 'no-transform'])).to.deep.equal({ public: true, 'max-age': 60, 'no-transform': true })
    })

    it('does not glue the last directive of one line to the first of the next', function () {
      expect(parseCacheControl(['max-age=60', 'public'])).to.deep.equal({ 'max-age': 60, public: true })
    })
  })

  describe('flag directives', function () {
    it('are recognised', function () {
      expect(parseCacheControl('no-store, public, must-revalidate, proxy-revalidate, must-understand, immutable, no-transform, only-if-cached'))
        .to.deep.equal({
          'no-store': true,
          public: true,
          'must-revalidate': true,
          'proxy-revalidate': true,
          'must-understand': true,
          immutable: true,
          'no-transform': true,
          'only-if-cached': true,
        })
    })

    it('are set even when given a (meaningless) value', function () {
      expect(parseCacheControl('no-store=1, public="yes"')).to.deep.equal({ 'no-store': true, public: true })
    })
  })

  describe('§5.2.2.4 no-cache and §5.2.2.7 private: qualified field lists', function () {
    for (const name of ['no-cache', 'private'] as const) {
      it(`reads unqualified ${name} as true`, function () {
        expect(parseCacheControl(name)[name]).to.equal(true)
      })

      it(`reads ${name}="set-cookie, x-foo" as the lower-case field names`, function () {
        expect(parseCacheControl(`${name}="Set-Cookie, X-Foo"`)[name]).to.deep.equal(['set-cookie', 'x-foo'])
      })

      it(`reads an unquoted single field name for ${name}`, function () {
        expect(parseCacheControl(`${name}=set-cookie, max-age=5`)).to.deep.equal({ [name]: ['set-cookie'], 'max-age': 5 })
      })

      it(`merges repeated qualified ${name} lists`, function () {
        expect(parseCacheControl(`${name}="a", ${name}="b, c"`)[name]).to.deep.equal(['a', 'b', 'c'])
      })

      it(`lets unqualified ${name} win over qualified, in either order`, function () {
        expect(parseCacheControl(`${name}="a", ${name}`)[name]).to.equal(true)
        expect(parseCacheControl(`${name}, ${name}="a"`)[name]).to.equal(true)
      })

      it(`reads an empty qualified ${name}="" as unqualified (the stronger reading)`, function () {
        expect(parseCacheControl(`${name}=""`)[name]).to.equal(true)
        expect(parseCacheControl(`${name}=" , "`)[name]).to.equal(true)
      })
    }

    it('keeps the other directives after a quoted list containing commas', function () {
      expect(parseCacheControl('no-cache="set-cookie, x-foo", max-age=60, private')).to.deep.equal({
        'no-cache': ['set-cookie', 'x-foo'],
        'max-age': 60,
        private: true,
      })
    })
  })
})
