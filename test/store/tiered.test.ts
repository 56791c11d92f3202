/**
 * TieredStore's L2 reads, on a real Redis: concurrent reads of one key share one GET (a burst of
 * requests for a cold key must not queue one Redis round trip per request in front of the one
 * that leads the miss), and no read joins one sent before a change it must see.
 */
import type { RedisClientType } from '@keyv/redis'
import { expect } from 'chai'
import type { Stored } from '../../src/entry.js'
import { RedisStore } from '../../src/l2.js'
import { MemoryStore } from '../../src/l1.js'
import { TieredStore } from '../../src/tiered.js'
import { makeEntry } from '../support/entries.js'
import { describeRedis, dropNamespace, rawClient, REDIS_URL, uniqueNamespace } from '../support/redis.js'

const LONG = 60_000

describeRedis('TieredStore: L2 reads', function () {
  let raw: RedisClientType
  let l2: RedisStore
  let tiered: TieredStore
  /** The keys the real RedisStore was asked for, in order. */
  let gets: string[]

  before(async function () { raw = await rawClient() })
  beforeEach(function () {
    l2 = new RedisStore({ url: REDIS_URL, namespace: uniqueNamespace('tiered') })
    gets = []
    const get = l2.get.bind(l2)
    l2.get = async key => { gets.push(key); return await get(key) }
    tiered = new TieredStore(new MemoryStore({ maxBytes: 1 << 20, maxObjectSize: 1 << 16 }), l2, err => { throw err })
  })
  afterEach(async function () {
    await tiered.close()
    await dropNamespace(raw, l2.namespace)
  })
  after(async function () { raw?.destroy() })

  /** Writes straight to L2, as another instance would. */
  const storedElsewhere = async (key: string, body: string): Promise<void> => { await l2.set(key, makeEntry({ body: Buffer.from(body) }), LONG) }
  const bodyOf = (s: Stored | undefined): string | undefined => s?.type === 'response' ? s.body.toString() : undefined

  describe('concurrent reads of one key', function () {
    it('share one GET, and every reader gets the entry', async function () {
      await storedElsewhere('GET:/a', 'from L2')
      const reads = await Promise.all(Array.from({ length: 50 }, async () => await tiered.fetch('GET:/a')))
      expect(gets).to.deep.equal(['GET:/a'])
      expect(reads.map(bodyOf)).to.deep.equal(Array(50).fill('from L2'))
    })

    it('share one GET when the key is absent too (a cold key)', async function () {
      const reads = await Promise.all(Array.from({ length: 20 }, async () => await tiered.fetch('GET:/cold')))
      expect(gets).to.deep.equal(['GET:/cold'])
      expect(reads.every(r => r === undefined)).to.equal(true)
    })

    it('do not share across keys', async function () {
      await Promise.all([tiered.fetch('GET:/a'), tiered.fetch('GET:/b'), tiered.fetch('GET:/a')])
      expect(gets).to.deep.equal(['GET:/a', 'GET:/b'])
    })

    it('end with the read: a later read is a new GET', async function () {
      await tiered.fetch('GET:/cold')
      await tiered.fetch('GET:/cold')
      expect(gets).to.have.length(2)
    })
  })

  describe('reads that must see what came before them', function () {
    it('a fresh read is a new GET, and later reads join it rather than the older one', async function () {
      const older = tiered.fetch('GET:/k')
      await storedElsewhere('GET:/k', 'stored meanwhile')
      const fresh = tiered.fetch('GET:/k', true)
      const later = tiered.fetch('GET:/k')
      expect(later).to.equal(fresh)
      expect(await older).to.equal(undefined)
      expect(bodyOf(await fresh)).to.equal('stored meanwhile')
      expect(gets).to.deep.equal(['GET:/k', 'GET:/k'])
    })

    it('a read after a local write of the key does not join a read sent before it', async function () {
      const older = tiered.fetch('GET:/w')
      await tiered.set('GET:/w', makeEntry({ body: Buffer.from('written') }), LONG)
      expect(bodyOf(await tiered.fetch('GET:/w'))).to.equal('written')
      expect(await older).to.equal(undefined)
      expect(gets).to.have.length(2)
    })

    it('a read after a delete, or a purge by tag, prefix or all, does not join a read sent before it', async function () {
      await storedElsewhere('GET:/p', 'old')
      for (const change of [
        async () => await tiered.delete('GET:/p'),
        async () => await tiered.deleteTag('t'),
        async () => await tiered.deletePrefix('GET:/'),
        async () => await tiered.clear(),
      ]) {
        gets = []
        const older = tiered.fetch('GET:/p')
        await change()
        const after = tiered.fetch('GET:/p')
        expect(after).to.not.equal(older)
        await Promise.all([older, after])
        expect(gets).to.deep.equal(['GET:/p', 'GET:/p'])
      }
    })

    it('a read after another instance\'s notice does not join a read sent before it', async function () {
      const older = tiered.fetch('GET:/n')
      tiered.forget({ op: 'set', key: 'GET:/n' })
      expect(tiered.fetch('GET:/n')).to.not.equal(older)
      const olderAll = tiered.fetch('GET:/n')
      tiered.forget({ op: 'all' })
      expect(tiered.fetch('GET:/n')).to.not.equal(olderAll)
      await Promise.all([older, olderAll])
    })
  })
})
