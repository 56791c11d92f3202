import { expect } from 'chai'
import { Breaker, type BreakerOptions, type BreakerState } from '../src/breaker.js'

/** A breaker on a fake clock that records every transition. */
function breaker (options: BreakerOptions = {}): { b: Breaker, clock: { now: number }, changes: Array<[BreakerState, unknown]> } {
  const clock = { now: 1_000_000 }
  const changes: Array<[BreakerState, unknown]> = []
  const b = new Breaker({ threshold: 3, coolDownMs: 1000, ...options, now: () => clock.now, onStateChange: (s, e) => changes.push([s, e]) })
  return { b, clock, changes }
}

function fail (b: Breaker, times: number, err: unknown = new Error('down')): void {
  for (let i = 0; i < times; i++) {
    expect(b.allow(), `call ${i + 1} allowed`).to.equal(true)
    b.failure(err)
  }
}

describe('Breaker', function () {
  describe('when closed', function () {
    it('lets every call through', function () {
      const { b } = breaker()
      for (let i = 0; i < 10; i++) expect(b.allow()).to.equal(true)
      expect(b.state).to.equal('closed')
    })

    it('stays closed below the threshold of consecutive failures', function () {
      const { b, changes } = breaker()
      fail(b, 2)
      expect(b.state).to.equal('closed')
      expect(changes).to.deep.equal([])
    })

    it('forgets failures after a success', function () {
      const { b } = breaker()
      fail(b, 2)
      b.success()
      fail(b, 2)
      expect(b.state).to.equal('closed')
    })

    it('opens at the threshold-th consecutive failure, reporting it once with the error', function () {
      const { b, changes } = breaker()
      const err = new Error('third')
      fail(b, 2)
      fail(b, 1, err)
      expect(b.state).to.equal('open')
      expect(changes).to.deep.equal([['open', err]])
    })
  })

  describe('when open', function () {
    it('refuses calls until the cool-down has passed', function () {
      const { b, clock } = breaker()
      fail(b, 3)
      clock.now += 999
      expect(b.allow()).to.equal(false)
      expect(b.state).to.equal('open')
    })

    it('ignores late failures of calls made before it opened', function () {
      const { b, changes } = breaker()
      fail(b, 3)
      b.failure(new Error('late'))
      expect(changes.map(c => c[0])).to.deep.equal(['open'])
    })
  })

  describe('when the cool-down has passed', function () {
    it('is half-open and lets exactly one probe through', function () {
      const { b, clock, changes } = breaker()
      fail(b, 3)
      clock.now += 1000
      expect(b.state).to.equal('half-open')
      expect(b.allow()).to.equal(true)
      expect(b.allow()).to.equal(false)
      expect(b.allow()).to.equal(false)
      expect(changes.map(c => c[0])).to.deep.equal(['open', 'half-open'])
    })

    it('closes when the probe succeeds', function () {
      const { b, clock, changes } = breaker()
      fail(b, 3)
      clock.now += 1000
      expect(b.allow()).to.equal(true)
      b.success()
      expect(b.state).to.equal('closed')
      expect(b.allow()).to.equal(true)
      expect(changes.map(c => c[0])).to.deep.equal(['open', 'half-open', 'closed'])
    })

    it('opens again for a full cool-down when the probe fails', function () {
      const { b, clock, changes } = breaker()
      fail(b, 3)
      clock.now += 1000
      const err = new Error('still down')
      fail(b, 1, err)
      expect(b.state).to.equal('open')
      clock.now += 999
      expect(b.allow()).to.equal(false)
      clock.now += 1
      expect(b.allow()).to.equal(true)
      expect(changes).to.deep.equal([['open', changes[0][1]], ['half-open', undefined], ['open', err], ['half-open', undefined]])
    })

    it('needs the full threshold again after closing', function () {
      const { b, clock } = breaker()
      fail(b, 3)
      clock.now += 1000
      b.allow()
      b.success()
      fail(b, 2)
      expect(b.state).to.equal('closed')
      fail(b, 1)
      expect(b.state).to.equal('open')
    })
  })

  describe('defaults', function () {
    it('opens after 5 failures and cools down for 5 s', function () {
      const clock = { now: 0 }
      const b = new Breaker({ now: () => clock.now })
      fail(b, 4)
      expect(b.state).to.equal('closed')
      fail(b, 1)
      expect(b.state).to.equal('open')
      clock.now += 4999
      expect(b.state).to.equal('open')
      clock.now += 1
      expect(b.state).to.equal('half-open')
    })
  })
})
