import { expect } from 'chai'
import { parseDuration, parseSize, OptionError } from '../src/units.js'

/** The OptionError thrown by `fn`, failing the test when it throws anything else or nothing. */
function optionError (fn: () => unknown): OptionError {
  try {
    fn()
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(OptionError)
    return err as OptionError
  }
  return expect.fail('expected an OptionError')
}

describe('durations (parseDuration)', function () {
  const cases: Array<[string | number, number]> = [
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['5 minutes', 300_000],
    ['1 hour', 3_600_000],
    [' 30s ', 30_000],
    ['10', 10],
    [0, 0],
    [250, 250],
    [10.6, 11],
  ]
  for (const [input, ms] of cases) {
    it(`reads ${JSON.stringify(input)} as ${ms} ms`, function () {
      expect(parseDuration(input, 'ttl')).to.equal(ms)
    })
  }

  for (const bad of ['abc', '-1s', '5 parsecs', 'x'.repeat(101), -1, NaN, Infinity]) {
    it(`rejects ${JSON.stringify(bad)} with an OptionError naming the field`, function () {
      const err = optionError(() => parseDuration(bad as string | number, 'routes[0].ttl'))
      expect(err.field).to.equal('routes[0].ttl')
      expect(err.message).to.match(/^routes\[0\]\.ttl: expected a duration/)
      expect(err.name).to.equal('OptionError')
    })
  }

  it('rejects a value of another type with an OptionError', function () {
    expect(optionError(() => parseDuration({} as unknown as string, 'lockTimeout')).field).to.equal('lockTimeout')
    expect(optionError(() => parseDuration(null as unknown as string, 'lockTimeout')).field).to.equal('lockTimeout')
  })

  it('rejects "" and "  " with an OptionError naming the field', function () {
    expect(optionError(() => parseDuration('', 'ttl')).field).to.equal('ttl')
    expect(optionError(() => parseDuration('  ', 'ttl')).field).to.equal('ttl')
  })
})

describe('sizes (parseSize)', function () {
  const cases: Array<[string | number, number]> = [
    ['64MB', 64 * 1024 * 1024],
    ['1kb', 1024],
    ['1KB', 1024],
    ['1.5kb', 1536],
    ['1 GB', 1024 ** 3],
    ['512', 512],
    ['0', 0],
    [4096, 4096],
    [1.7, 1],
  ]
  for (const [input, n] of cases) {
    it(`reads ${JSON.stringify(input)} as ${n} bytes`, function () {
      expect(parseSize(input, 'l1.maxBytes')).to.equal(n)
    })
  }

  for (const bad of ['', 'abc', '-1kb', -3, NaN, Infinity]) {
    it(`rejects ${JSON.stringify(bad)} with an OptionError naming the field`, function () {
      const err = optionError(() => parseSize(bad as string | number, 'l1.maxBytes'))
      expect(err.field).to.equal('l1.maxBytes')
      expect(err.message).to.match(/^l1\.maxBytes: expected a size/)
    })
  }

  it('rejects sizes with an unknown unit or trailing garbage ("64MiB", "12abc")', function () {
    expect(optionError(() => parseSize('64MiB', 'l1.maxBytes')).field).to.equal('l1.maxBytes')
    expect(optionError(() => parseSize('12abc', 'l1.maxBytes')).field).to.equal('l1.maxBytes')
  })
})
