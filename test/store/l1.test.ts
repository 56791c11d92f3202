import { setTimeout as sleep } from 'node:timers/promises'
import { expect } from 'chai'
import fc from 'fast-check'
import type { Entry } from '../../src/entry.js'
import { MemoryStore, type MemoryStoreOptions } from '../../src/l1.js'
import { OptionError } from '../../src/units.js'
import { makeEntry, makeVary } from '../support/entries.js'
import { storeContract } from './contract.js'

storeContract('MemoryStore', async () => ({
  store: new MemoryStore({ maxBytes: 1_000_000, maxObjectSize: 200_000 })
}))

const LONG = 60_000

/** An entry the byte-bounded store accounts as exactly `size` bytes. */
const sized = (size: number, tags: string[] = []): Entry => makeEntry({ size, tags })

function memory (options: Partial<MemoryStoreOptions> = {}): MemoryStore {
  return new MemoryStore({ maxBytes: 10_000, maxObjectSize: 10_000, ...options })
}

describe('MemoryStore', function () {
  describe('options', function () {
    it('rejects a maxBytes or maxObjectSize that is not a positive whole number of bytes', function () {
      for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
        expect(() => memory({ maxBytes: bad }), String(bad)).to.throw(OptionError, 'l1.maxBytes')
        expect(() => memory({ maxObjectSize: bad }), String(bad)).to.throw(OptionError, 'l1.maxObjectSize')
      }
    })
  })

  describe('byte bound', function () {
    it('never holds more than maxBytes, evicting the oldest entries and counting each eviction', async function () {
      const evicted: string[] = []
      const store = memory({ maxBytes: 10_000, onEvict: (key) => evicted.push(key) })
      for (let i = 0; i < 30; i++) {
        await store.set(`k${i}`, sized(1000), LONG)
        expect(store.stats.bytes).to.be.at.most(10_000)
      }
      expect(store.stats).to.include({ entries: 10, bytes: 10_000, evictions: 20 })
      expect(evicted).to.deep.equal(Array.from({ length: 20 }, (_, i) => `k${i}`))
    })

    it('keeps entries read recently, through getSync or get, and evicts the least recently used', async function () {
      const store = memory({ maxBytes: 5000 })
      for (let i = 0; i < 5; i++) await store.set(`k${i}`, sized(1000), LONG)
      store.getSync('k0')
      await store.get('k1')
      await store.set('k5', sized(1000), LONG)
      await store.set('k6', sized(1000), LONG)
      expect(store.getSync('k0')).to.not.equal(undefined)
      expect(store.getSync('k1')).to.not.equal(undefined)
      expect(store.getSync('k2')).to.equal(undefined)
      expect(store.getSync('k3')).to.equal(undefined)
      expect(store.stats.evictions).to.equal(2)
    })

    it('evicts as many entries as a large newcomer needs', async function () {
      const store = memory({ maxBytes: 5000 })
      for (let i = 0; i < 5; i++) await store.set(`k${i}`, sized(1000), LONG)
      await store.set('big', sized(3500), LONG)
      expect(store.stats).to.include({ entries: 2, bytes: 4500, evictions: 4 })
    })

    it('does not count deletes, overwrites, clears or expiry as evictions', async function () {
      const store = memory()
      await store.set('a', sized(100), LONG)
      await store.set('a', sized(200), LONG)
      await store.delete('a')
      await store.set('b', sized(100, ['t']), LONG)
      await store.deleteTag('t')
      await store.set('c', sized(100), LONG)
      await store.deletePrefix('c')
      await store.set('d', sized(100), 20)
      await sleep(40)
      store.getSync('d')
      await store.set('e', sized(100), LONG)
      await store.clear()
      expect(store.stats).to.include({ entries: 0, bytes: 0, evictions: 0 })
    })

    it('lets onEvict call back into the store', async function () {
      const seen: Array<[string, unknown]> = []
      const store: MemoryStore = memory({ maxBytes: 1000, onEvict: (key) => seen.push([key, store.getSync(key)]) })
      await store.set('a', sized(1000), LONG)
      await store.set('b', sized(1000), LONG)
      expect(seen).to.deep.equal([['a', undefined]])
      expect(store.getSync('b')).to.not.equal(undefined)
    })
  })

  describe('size limits', function () {
    it('does not store an entry larger than maxObjectSize, and set still resolves', async function () {
      const store = memory({ maxObjectSize: 500 })
      await store.set('big', sized(501), LONG)
      await store.set('fits', sized(500), LONG)
      expect(store.getSync('big')).to.equal(undefined)
      expect(store.getSync('fits')).to.not.equal(undefined)
      expect(store.stats).to.include({ entries: 1, bytes: 500, evictions: 0 })
    })

    it('does not store an entry larger than maxBytes, and evicts nothing for it', async function () {
      const store = memory({ maxBytes: 1000, maxObjectSize: 5000 })
      await store.set('small', sized(400), LONG)
      await store.set('big', sized(1001), LONG)
      expect(store.getSync('big')).to.equal(undefined)
      expect(store.getSync('small')).to.not.equal(undefined)
      expect(store.stats.evictions).to.equal(0)
    })

    it('drops what a key held when a value that may not be stored replaces it', async function () {
      const store = memory({ maxObjectSize: 500 })
      for (const [key, ttl, size] of [['too-big', LONG, 501], ['zero-ttl', 0, 100], ['negative-ttl', -5, 100]] as const) {
        await store.set(key, sized(100, ['t']), LONG)
        await store.set(key, sized(size), ttl)
        expect(store.getSync(key), key).to.equal(undefined)
      }
      expect(store.stats).to.include({ entries: 0, bytes: 0 })
      expect(store.tagIndexSize()).to.deep.equal({ tags: 0, refs: 0 })
    })
  })

  describe('getSync', function () {
    it('returns exactly what get returns: the stored object itself for entries and VaryRecords, undefined for misses', async function () {
      const store = memory()
      const entry = makeEntry()
      const vary = makeVary()
      await store.set('entry', entry, LONG)
      await store.set('vary', vary, LONG)
      for (const key of ['entry', 'vary', 'missing']) {
        expect(store.getSync(key), key).to.equal(await store.get(key))
      }
      expect(store.getSync('entry')).to.equal(entry)
      expect(store.getSync('vary')).to.equal(vary)
    })

    it('returns undefined once the ttl has passed, and frees the bytes', async function () {
      const store = memory()
      await store.set('short', sized(100, ['t']), 30)
      expect(store.getSync('short')).to.not.equal(undefined)
      await sleep(60)
      expect(store.getSync('short')).to.equal(undefined)
      expect(await store.get('short')).to.equal(undefined)
      expect(store.stats).to.include({ entries: 0, bytes: 0 })
      expect(store.tagIndexSize()).to.deep.equal({ tags: 0, refs: 0 })
    })

    // What the engine stores (frozen tags, ttl = deleteAt − now) is kept without Keyv's wrapper,
    // and expires at its own deleteAt, after which an entry may be dropped (entry.ts).
    it('drops an engine-shaped entry at its deleteAt, even under a longer ttl', async function () {
      const store = memory()
      const entry = makeEntry({ tags: Object.freeze(['t']), deleteAt: Date.now() + 30 })
      await store.set('e', entry, LONG)
      expect(store.getSync('e')).to.equal(entry)
      await sleep(60)
      expect(store.getSync('e')).to.equal(undefined)
      expect(store.stats).to.include({ entries: 0, bytes: 0 })
      expect(store.tagIndexSize()).to.deep.equal({ tags: 0, refs: 0 })
    })

    it('honours a ttl shorter than the entry\'s deleteAt', async function () {
      const store = memory()
      await store.set('e', makeEntry({ tags: Object.freeze(['t']), deleteAt: Date.now() + LONG }), 30)
      expect(store.getSync('e')).to.not.equal(undefined)
      await sleep(60)
      expect(store.getSync('e')).to.equal(undefined)
      expect(store.tagIndexSize()).to.deep.equal({ tags: 0, refs: 0 })
    })
  })

  describe('corrupt values', function () {
    // Values are held by reference, so mutating a stored entry is how an invalid value reaches
    // the LRU (the bug this check guards against); no test hook is needed.
    it('reads a value that fails isStored as a miss, deletes it and counts it once', async function () {
      const store = memory()
      const entry = sized(100, ['t'])
      await store.set('k', entry, LONG)
      ;(entry as unknown as { v: number }).v = 0
      expect(store.getSync('k')).to.equal(undefined)
      expect(await store.get('k')).to.equal(undefined)
      expect(store.stats).to.include({ corrupt: 1, entries: 0, bytes: 0 })
      expect(store.tagIndexSize()).to.deep.equal({ tags: 0, refs: 0 })
    })

    it('unindexes a corrupted entry under the tags it was stored with, even if they were changed since', async function () {
      const store = memory()
      const entry = sized(100, ['original'])
      await store.set('k', entry, LONG)
      ;(entry as unknown as { tags: unknown }).tags = 'not an array'
      expect(store.getSync('k')).to.equal(undefined)
      expect(store.tagIndexSize()).to.deep.equal({ tags: 0, refs: 0 })
    })
  })

  describe('errors', function () {
    /** A value the adapter cannot index: reading its tags throws inside Keyv's set. */
    function unindexable (): Entry {
      const entry = sized(100)
      Object.defineProperty(entry, 'tags', { get () { throw new Error('boom') } })
      return entry
    }

    it('counts every error Keyv reports and tells onError once per failing spell', async function () {
      const told: Error[] = []
      const store = memory({ onError: (err) => told.push(err) })
      await store.set('a', unindexable(), LONG)
      await store.set('b', unindexable(), LONG)
      expect(store.stats.errors).to.equal(2)
      expect(told.map((e) => e.message)).to.deep.equal(['boom'])

      await store.set('ok', sized(100), LONG)
      expect(store.getSync('ok')).to.not.equal(undefined)
      await store.set('c', unindexable(), LONG)
      expect(store.stats.errors).to.equal(3)
      expect(told).to.have.length(2)
      expect(store.stats).to.include({ entries: 1, bytes: 100 })
    })

    it('counts a throwing onEvict as an error and keeps working', async function () {
      const store = memory({ maxBytes: 1000, onEvict: () => { throw new Error('evict hook') } })
      await store.set('a', sized(1000), LONG)
      await store.set('b', sized(1000), LONG)
      expect(store.stats).to.include({ errors: 1, evictions: 1, entries: 1 })
      expect(store.getSync('b')).to.not.equal(undefined)
    })
  })

  describe('tag index', function () {
    const empty = { tags: 0, refs: 0 }

    it('holds one reference per distinct tag of each live key', async function () {
      const store = memory()
      await store.set('a', sized(100, ['x', 'y', 'x']), LONG)
      await store.set('b', sized(100, ['y']), LONG)
      await store.set('c', makeVary({ tags: ['z'] }), LONG)
      expect(store.tagIndexSize()).to.deep.equal({ tags: 3, refs: 4 })
    })

    it('drops the references of evicted keys', async function () {
      const store = memory({ maxBytes: 1000 })
      for (let i = 0; i < 20; i++) await store.set(`k${i}`, sized(500, [`own${i}`, 'shared']), LONG)
      expect(store.tagIndexSize()).to.deep.equal({ tags: 3, refs: 4 })
      expect(await store.deleteTag('shared')).to.equal(2)
      expect(store.tagIndexSize()).to.deep.equal(empty)
    })

    it('drops the old tags of an overwritten key and keeps the ones it still has', async function () {
      const store = memory()
      await store.set('k', sized(100, ['old', 'shared']), LONG)
      await store.set('k', sized(100, ['shared', 'new']), LONG)
      expect(store.tagIndexSize()).to.deep.equal({ tags: 2, refs: 2 })
      expect(await store.deleteTag('old')).to.equal(0)
      expect(await store.deleteTag('shared')).to.equal(1)
      expect(store.tagIndexSize()).to.deep.equal(empty)
    })

    it('stays exact when concurrent sets overwrite one key with different tags', async function () {
      const store = memory()
      await Promise.all([
        store.set('k', sized(100, ['first']), LONG),
        store.set('k', sized(100, ['second']), LONG),
        store.set('k', sized(100, ['third']), LONG)
      ])
      expect(store.tagIndexSize()).to.deep.equal({ tags: 1, refs: 1 })
      expect(await store.deleteTag('third')).to.equal(1)
      expect(store.tagIndexSize()).to.deep.equal(empty)
    })

    it('unindexes a key by the tags it was stored with, even if the value\'s list changed since', async function () {
      const store = memory()
      const tags = ['before']
      await store.set('k', sized(100, tags), LONG)
      tags[0] = 'after'
      tags.push('more')
      expect(await store.deleteTag('after')).to.equal(0)
      expect(await store.deleteTag('before')).to.equal(1)
      expect(store.tagIndexSize()).to.deep.equal(empty)
    })

    it('keeps a tag exact as it goes from one key to several and back', async function () {
      const store = memory()
      await store.set('a', sized(100, ['t']), LONG)
      await store.set('b', sized(100, ['t']), LONG)
      await store.set('c', sized(100, ['t']), LONG)
      expect(store.tagIndexSize()).to.deep.equal({ tags: 1, refs: 3 })
      await store.delete('a')
      await store.delete('b')
      expect(store.tagIndexSize()).to.deep.equal({ tags: 1, refs: 1 })
      await store.set('d', sized(100, ['t']), LONG)
      expect(await store.deleteTag('t')).to.equal(2)
      expect(store.getSync('c')).to.equal(undefined)
      expect(store.getSync('d')).to.equal(undefined)
      expect(store.tagIndexSize()).to.deep.equal(empty)
    })

    it('is left empty by delete, deleteTag, deletePrefix and clear', async function () {
      const store = memory()
      const fill = async (): Promise<void> => {
        await store.set('p:1', sized(100, ['a', 'b']), LONG)
        await store.set('p:2', sized(100, ['b']), LONG)
        await store.set('q:1', sized(100, ['a']), LONG)
      }
      await fill()
      for (const key of ['p:1', 'p:2', 'q:1']) await store.delete(key)
      expect(store.tagIndexSize(), 'after delete').to.deep.equal(empty)
      await fill()
      await store.deleteTag('a')
      await store.deleteTag('b')
      expect(store.tagIndexSize(), 'after deleteTag').to.deep.equal(empty)
      await fill()
      await store.deletePrefix('p:')
      await store.deletePrefix('q:')
      expect(store.tagIndexSize(), 'after deletePrefix').to.deep.equal(empty)
      await fill()
      await store.clear()
      expect(store.tagIndexSize(), 'after clear').to.deep.equal(empty)
    })

    it('matches the live entries after any mix of sets, overwrites, evictions, reads and deletes', async function () {
      const keys = ['p:a', 'p:b', 'q:a', 'q:b', 'r']
      const tags = ['t1', 't2', 't3', 't4']
      const op = fc.oneof(
        // Frozen lists (what the engine stores) are indexed as they are, others are copied.
        fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...keys), tags: fc.subarray(tags), frozen: fc.boolean(), size: fc.integer({ min: 1, max: 700 }) }),
        fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...keys) }),
        fc.record({ op: fc.constant('deleteTag' as const), tag: fc.constantFrom(...tags) }),
        fc.record({ op: fc.constant('deletePrefix' as const), prefix: fc.constantFrom('p:', 'q:', 'r', 'p:a') }),
        fc.record({ op: fc.constant('get' as const), key: fc.constantFrom(...keys) })
      )
      await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const store = memory({ maxBytes: 1500, maxObjectSize: 1500 })
        for (const o of ops) {
          if (o.op === 'set') await store.set(o.key, sized(o.size, o.frozen ? Object.freeze(o.tags) as string[] : o.tags), LONG)
          else if (o.op === 'delete') await store.delete(o.key)
          else if (o.op === 'deleteTag') await store.deleteTag(o.tag)
          else if (o.op === 'deletePrefix') await store.deletePrefix(o.prefix)
          else store.getSync(o.key)
        }
        const live = keys.map((k) => store.getSync(k)).filter((v) => v !== undefined)
        const refs = live.reduce((n, v) => n + new Set(v.tags).size, 0)
        const distinct = new Set(live.flatMap((v) => v.tags)).size
        expect(store.tagIndexSize()).to.deep.equal({ tags: distinct, refs })
        expect(store.stats.bytes).to.be.at.most(1500)
        expect(store.stats.entries).to.equal(live.length)
      }), { numRuns: 200 })
    })
  })

  describe('close', function () {
    // lru-cache's default ttlResolution arms an (unref'd, so invisible) setTimeout per busy
    // millisecond of reads; the store turns that off, so close has nothing to release.
    it('arms no timers on reads and writes, and resolves', async function () {
      const store = memory()
      const real = globalThis.setTimeout
      let armed = 0
      globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => { armed++; return real(...args) }) as typeof setTimeout
      try {
        await store.set('k', sized(100), 50)
        for (let i = 0; i < 100; i++) store.getSync('k')
        await store.get('k')
      } finally {
        globalThis.setTimeout = real
      }
      expect(armed).to.equal(0)
      await store.close()
    })
  })
})
