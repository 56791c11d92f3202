import { expect } from 'chai'
import { Coalescer } from '../src/coalesce.js'

/** Resolves with 'pending' when `p` has not settled by the next macrotask. */
function peek<T> (p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>(resolve => setImmediate(() => resolve('pending')))])
}

describe('request coalescing (Coalescer)', function () {
  describe('with no flight for a key', function () {
    it('tells the caller to lead', function () {
      const c = new Coalescer<string>(1000)
      expect(c.wait('k')).to.equal(undefined)
      expect(c.size).to.equal(0)
    })
  })

  describe('with a flight in the air', function () {
    it('makes later callers wait for the leader', async function () {
      const c = new Coalescer<string>(1000)
      const flight = c.lead('k')
      const a = c.wait('k')
      const b = c.wait('k')
      expect(a).to.be.instanceOf(Promise)
      expect(await peek(a!)).to.equal('pending')
      flight.settle('entry')
      expect(await a).to.equal('entry')
      expect(await b).to.equal('entry')
    })

    it('keeps keys apart', async function () {
      const c = new Coalescer<string>(1000)
      const one = c.lead('one')
      expect(c.wait('two')).to.equal(undefined)
      const two = c.lead('two')
      const w1 = c.wait('one')!
      const w2 = c.wait('two')!
      one.settle('1')
      two.settle('2')
      expect([await w1, await w2]).to.deep.equal(['1', '2'])
    })

    it('counts flights in size', function () {
      const c = new Coalescer<string>(1000)
      const a = c.lead('a')
      const b = c.lead('b')
      expect(c.size).to.equal(2)
      a.settle('x')
      b.settle(undefined)
      expect(c.size).to.equal(0)
    })
  })

  describe('settle', function () {
    it('with undefined sends the waiters to the origin themselves', async function () {
      const c = new Coalescer<string>(1000)
      const flight = c.lead('k')
      const w = c.wait('k')!
      flight.settle(undefined)
      expect(await w).to.equal(undefined)
    })

    it('is idempotent: the first outcome stands', async function () {
      const c = new Coalescer<string>(1000)
      const flight = c.lead('k')
      const w = c.wait('k')!
      flight.settle('first')
      flight.settle('second')
      flight.settle(undefined)
      expect(await w).to.equal('first')
      expect(c.size).to.equal(0)
    })

    it('ends the flight: the next caller leads again', function () {
      const c = new Coalescer<string>(1000)
      c.lead('k').settle('x')
      expect(c.wait('k')).to.equal(undefined)
    })

    it('of a replaced flight does not end the newer one', async function () {
      const c = new Coalescer<string>(1000)
      const old = c.lead('k')
      const newer = c.lead('k')
      const w = c.wait('k')!
      old.settle('old')
      expect(c.size).to.equal(1)
      expect(await peek(w)).to.equal('pending')
      newer.settle('new')
      expect(await w).to.equal('new')
      expect(c.size).to.equal(0)
    })
  })

  describe('timeout', function () {
    it('releases the waiters with undefined when the leader takes too long', async function () {
      const c = new Coalescer<string>(20)
      const flight = c.lead('k')
      const w = c.wait('k')!
      expect(await w).to.equal(undefined)
      expect(c.size).to.equal(0)
      flight.settle('late')
      expect(await w).to.equal(undefined)
    })

    it('does not fire after settle', async function () {
      const c = new Coalescer<string>(20)
      const flight = c.lead('k')
      const w = c.wait('k')!
      flight.settle('on time')
      await new Promise(resolve => setTimeout(resolve, 40))
      expect(await w).to.equal('on time')
      // A new flight under the same key is not ended by the old timer.
      const next = c.lead('k')
      await new Promise(resolve => setTimeout(resolve, 5))
      expect(c.size).to.equal(1)
      next.settle(undefined)
    })
  })

  describe('releaseAll', function () {
    it('releases every waiter with undefined and empties the coalescer', async function () {
      const c = new Coalescer<string>(1000)
      c.lead('a')
      c.lead('b')
      const wa = c.wait('a')!
      const wb = c.wait('b')!
      c.releaseAll()
      expect([await wa, await wb]).to.deep.equal([undefined, undefined])
      expect(c.size).to.equal(0)
    })
  })

  it('holds no state across instances (no module-level map)', function () {
    const a = new Coalescer<string>(1000)
    const b = new Coalescer<string>(1000)
    const flight = a.lead('k')
    expect(b.wait('k')).to.equal(undefined)
    expect(b.size).to.equal(0)
    flight.settle(undefined)
  })
})
