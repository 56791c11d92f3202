import { expect } from 'chai'
import { MAX_UNCACHEABLE_KEYS, remembersUncacheable, UncacheableKeys } from '../src/uncacheable.js'
import type { NotStorable } from '../src/policy.js'

describe('hit-for-miss (uncacheable.ts)', function () {
  describe('remembersUncacheable: which refusals say the URL is uncacheable', function () {
    const url: Array<NotStorable | 'too-large'> = ['status', 'no-store', 'private', 'authorization', 'set-cookie', 'vary-star', 'no-freshness', 'too-large']
    for (const reason of url) {
      it(`remembers ${reason} on a non-error response`, function () {
        expect(remembersUncacheable(reason, 200, false)).to.equal(true)
        expect(remembersUncacheable(reason, 404, false)).to.equal(true)
      })
    }

    it('never remembers a server error (5xx): coalescing shields a failing origin', function () {
      for (const reason of url) expect(remembersUncacheable(reason, 503, false), reason).to.equal(false)
    })

    it('does not remember a refusal caused by the request\'s own no-store (RFC 9111 §5.2.1.5)', function () {
      expect(remembersUncacheable('no-store', 200, true)).to.equal(false)
      // Any other refusal is the response's own, whatever the request said.
      expect(remembersUncacheable('private', 200, true)).to.equal(true)
    })

    it('does not remember a partial answer (206) to a forwarded Range request', function () {
      expect(remembersUncacheable('status', 206, false)).to.equal(false)
    })

    it('does not remember a HEAD (method): it shares GET\'s key, and the GET may be storable', function () {
      expect(remembersUncacheable('method', 200, false)).to.equal(false)
    })
  })

  describe('UncacheableKeys', function () {
    it('remembers a key until its deadline, then forgets it', function () {
      const keys = new UncacheableKeys(1000)
      keys.remember('k', 5000)
      expect(keys.has('k', 5000)).to.equal(true)
      expect(keys.has('k', 5999)).to.equal(true)
      expect(keys.has('other', 5000)).to.equal(false)
      expect(keys.has('k', 6000)).to.equal(false)
      expect(keys.size, 'an expired key is dropped when read').to.equal(0)
    })

    it('remembering again extends the deadline', function () {
      const keys = new UncacheableKeys(1000)
      keys.remember('k', 0)
      keys.remember('k', 800)
      expect(keys.has('k', 1500)).to.equal(true)
    })

    it('forgets one key, or all', function () {
      const keys = new UncacheableKeys(1000)
      keys.remember('a', 0)
      keys.remember('b', 0)
      keys.forget('a')
      expect(keys.has('a', 1)).to.equal(false)
      expect(keys.has('b', 1)).to.equal(true)
      keys.clear()
      expect(keys.size).to.equal(0)
    })

    it('remembers nothing with a ttl of 0', function () {
      const keys = new UncacheableKeys(0)
      keys.remember('k', 0)
      expect(keys.has('k', 0)).to.equal(false)
      expect(keys.size).to.equal(0)
    })

    it('holds at most `max` keys, forgetting the one remembered longest ago first', function () {
      const keys = new UncacheableKeys(1000, 3)
      keys.remember('a', 0)
      keys.remember('b', 0)
      keys.remember('c', 0)
      keys.remember('a', 1) // remembered again: now the newest
      keys.remember('d', 2)
      expect(keys.size).to.equal(3)
      expect(keys.has('b', 3)).to.equal(false)
      for (const k of ['a', 'c', 'd']) expect(keys.has(k, 3), k).to.equal(true)
    })

    it('is bounded by default', function () {
      expect(MAX_UNCACHEABLE_KEYS).to.equal(10_000)
      const keys = new UncacheableKeys(1000)
      for (let i = 0; i <= MAX_UNCACHEABLE_KEYS; i++) keys.remember(`k${i}`, 0)
      expect(keys.size).to.equal(MAX_UNCACHEABLE_KEYS)
      expect(keys.has('k0', 1)).to.equal(false)
    })
  })
})
