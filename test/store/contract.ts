import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { gunzipSync, gzipSync } from 'node:zlib'
import { expect } from 'chai'
import type { Entry, Stored } from '../../src/entry.js'
import type { Store } from '../../src/store.js'
import { makeEntry, makeVary, withTrailer } from '../support/entries.js'

/**
 * What a contract factory hands over. `cleanup`, when given, replaces `store.close()` after each
 * test (so a factory sharing one connection can drop its namespace without closing it);
 * otherwise the suite calls `store.close()`.
 */
export interface StoreFixture {
  store: Store
  cleanup?: () => Promise<void>
}

/** Long enough that no test outlives it, short enough to be obviously not "forever". */
const LONG = 60_000
/** The short TTL of the expiry tests, and how long they wait for it to pass. */
const SHORT = 50
const PAST_SHORT = 120

/**
 * The behaviour every Store implementation shares (`src/store.ts`). Each call of `make` must give
 * a store over a fresh, empty namespace; keys are unique per test regardless, so a store that
 * cannot isolate namespaces still gets meaningful results.
 */
export function storeContract (name: string, make: () => Promise<StoreFixture>): void {
  describe(`${name} (Store contract)`, function () {
    const run = randomUUID().slice(0, 8)
    let seq = 0
    /** A fresh key shaped like the ones key.ts builds. */
    const key = (label: string): string => `GET:/contract/${run}/${++seq}/${label}?q=1`
    /** A tag no other test uses. */
    const tag = (label: string): string => `tag:${run}:${++seq}:${label}`

    let fixture: StoreFixture
    let store: Store
    const extra: StoreFixture[] = []

    beforeEach(async function () {
      fixture = await make()
      store = fixture.store
    })

    afterEach(async function () {
      for (const f of [fixture, ...extra.splice(0)]) {
        if (f.cleanup !== undefined) await f.cleanup()
        else await f.store.close()
      }
    })

    /** What a store that serializes must preserve, compared field by field for clear failures. */
    function expectSameEntry (got: Stored | undefined, want: Entry): void {
      expect(got, 'stored entry').to.not.equal(undefined)
      const entry = got as Entry
      expect(entry.type).to.equal('response')
      expect(entry.status).to.equal(want.status)
      expect(entry.raw).to.deep.equal(want.raw)
      // Derived from raw on first use, never stored (record.ts): a store returns none.
      expect(entry.raw304).to.equal(undefined)
      expect(Buffer.isBuffer(entry.body), 'body is a Buffer').to.equal(true)
      expect(entry.body.equals(want.body), 'body bytes are identical').to.equal(true)
      expect(entry).to.deep.equal(want)
    }

    describe('get', function () {
      it('returns undefined for a key never set', async function () {
        expect(await store.get(key('never'))).to.equal(undefined)
      })
    })

    describe('set then get', function () {
      it('returns the status, raw headers, body and every other field that was stored', async function () {
        const k = key('plain')
        const entry = makeEntry({
          status: 203,
          raw: withTrailer(['content-type', 'application/json', 'x-unicode', 'café ☕', 'vary', 'accept']),
          body: Buffer.from('{"ok":true}'),
          lastModified: 'Tue, 01 Jul 2025 10:00:00 GMT',
          vary: ['accept'],
          swr: 1000,
          sie: 2000,
          mustRevalidate: true,
          noCache: true,
          initialAge: 3000,
          tags: [tag('a'), tag('b')]
        })
        await store.set(k, entry, LONG)
        expectSameEntry(await store.get(k), entry)
      })

      it('returns a binary body holding all 256 byte values unchanged', async function () {
        const k = key('binary')
        const bytes = Buffer.alloc(512)
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) % 256
        const entry = makeEntry({ body: Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), bytes]) })
        await store.set(k, entry, LONG)
        expectSameEntry(await store.get(k), entry)
      })

      it('returns a gzip body byte for byte, so it still gunzips', async function () {
        const k = key('gzip')
        const text = 'cachefront '.repeat(200)
        const entry = makeEntry({
          raw: withTrailer(['content-type', 'text/plain', 'content-encoding', 'gzip', 'vary', 'accept-encoding']),
          body: gzipSync(text)
        })
        await store.set(k, entry, LONG)
        const got = await store.get(k) as Entry
        expectSameEntry(got, entry)
        expect(gunzipSync(got.body).toString()).to.equal(text)
      })

      it('returns an empty body as an empty Buffer', async function () {
        const k = key('empty')
        const entry = makeEntry({ status: 204, body: Buffer.alloc(0) })
        await store.set(k, entry, LONG)
        expectSameEntry(await store.get(k), entry)
      })

      it('round-trips a VaryRecord', async function () {
        const k = key('vary')
        const record = makeVary({ vary: ['accept-encoding', 'accept-language'], tags: [tag('v')] })
        await store.set(k, record, LONG)
        expect(await store.get(k)).to.deep.equal(record)
      })
    })

    describe('overwrite', function () {
      it('replaces the value stored under the same key', async function () {
        const k = key('over')
        await store.set(k, makeEntry({ body: Buffer.from('first') }), LONG)
        const second = makeEntry({ status: 201, body: Buffer.from('second') })
        await store.set(k, second, LONG)
        expectSameEntry(await store.get(k), second)
      })

      it('replaces an entry with a VaryRecord and back', async function () {
        const k = key('over-vary')
        await store.set(k, makeEntry(), LONG)
        const record = makeVary()
        await store.set(k, record, LONG)
        expect(await store.get(k)).to.deep.equal(record)
        const entry = makeEntry({ body: Buffer.from('again') })
        await store.set(k, entry, LONG)
        expectSameEntry(await store.get(k), entry)
      })

      it('no longer finds the key under tags only the old value had', async function () {
        const k = key('retag')
        const [oldTag, shared, newTag] = [tag('old'), tag('shared'), tag('new')]
        await store.set(k, makeEntry({ tags: [oldTag, shared] }), LONG)
        await store.set(k, makeEntry({ tags: [shared, newTag] }), LONG)
        expect(await store.deleteTag(oldTag)).to.equal(0)
        expect(await store.get(k)).to.not.equal(undefined)
        expect(await store.deleteTag(shared)).to.equal(1)
        expect(await store.get(k)).to.equal(undefined)
      })
    })

    describe('ttl', function () {
      it('still returns the value before the ttl has passed', async function () {
        const k = key('alive')
        const entry = makeEntry()
        await store.set(k, entry, 5_000)
        expectSameEntry(await store.get(k), entry)
      })

      it('returns undefined once the ttl has passed', async function () {
        const k = key('expired')
        await store.set(k, makeEntry(), SHORT)
        await sleep(PAST_SHORT)
        expect(await store.get(k)).to.equal(undefined)
      })

      it('counts an expired key as nothing deleted, by delete, deleteTag and deletePrefix', async function () {
        const t = tag('expiring')
        const [a, b, c] = [key('exp-a'), key('exp-b'), key('exp-c')]
        await store.set(a, makeEntry(), SHORT)
        await store.set(b, makeEntry({ tags: [t] }), SHORT)
        await store.set(c, makeEntry(), SHORT)
        await sleep(PAST_SHORT)
        expect(await store.delete(a)).to.equal(false)
        expect(await store.deleteTag(t)).to.equal(0)
        expect(await store.deletePrefix(c)).to.equal(0)
      })

      it('does not store a value whose ttl is zero or negative', async function () {
        const [zero, negative] = [key('ttl-0'), key('ttl-neg')]
        await store.set(zero, makeEntry(), 0)
        await store.set(negative, makeEntry(), -1000)
        expect(await store.get(zero)).to.equal(undefined)
        expect(await store.get(negative)).to.equal(undefined)
      })
    })

    describe('delete', function () {
      it('returns true when it deletes a stored key, which then reads as missing', async function () {
        const k = key('del')
        await store.set(k, makeEntry(), LONG)
        expect(await store.delete(k)).to.equal(true)
        expect(await store.get(k)).to.equal(undefined)
      })

      it('returns false for a key never set', async function () {
        expect(await store.delete(key('del-never'))).to.equal(false)
      })

      it('returns false when the key was already deleted', async function () {
        const k = key('del-twice')
        await store.set(k, makeEntry(), LONG)
        await store.delete(k)
        expect(await store.delete(k)).to.equal(false)
      })

      it('leaves other keys alone', async function () {
        const [gone, kept] = [key('del-gone'), key('del-kept')]
        await store.set(gone, makeEntry(), LONG)
        await store.set(kept, makeEntry(), LONG)
        await store.delete(gone)
        expect(await store.get(kept)).to.not.equal(undefined)
      })
    })

    describe('deleteTag', function () {
      it('deletes every key stored with the tag, only those, and returns how many', async function () {
        const [t, other] = [tag('t'), tag('other')]
        const tagged = [key('t1'), key('t2'), key('t3')]
        const untagged = [key('u1'), key('u2')]
        for (const k of tagged) await store.set(k, makeEntry({ tags: [t] }), LONG)
        await store.set(untagged[0], makeEntry(), LONG)
        await store.set(untagged[1], makeEntry({ tags: [other] }), LONG)
        expect(await store.deleteTag(t)).to.equal(3)
        for (const k of tagged) expect(await store.get(k), k).to.equal(undefined)
        for (const k of untagged) expect(await store.get(k), k).to.not.equal(undefined)
      })

      it('returns 0 for a tag nothing was stored with', async function () {
        await store.set(key('no-tag'), makeEntry({ tags: [tag('some')] }), LONG)
        expect(await store.deleteTag(tag('none'))).to.equal(0)
      })

      it('finds a key stored under two tags through either, and counts it once', async function () {
        const [a, b] = [tag('a'), tag('b')]
        const [both, onlyB, onlyA] = [key('both'), key('only-b'), key('only-a')]
        await store.set(both, makeEntry({ tags: [a, b] }), LONG)
        await store.set(onlyB, makeEntry({ tags: [b] }), LONG)
        await store.set(onlyA, makeEntry({ tags: [a] }), LONG)
        expect(await store.deleteTag(a)).to.equal(2)
        expect(await store.get(both)).to.equal(undefined)
        expect(await store.get(onlyB)).to.not.equal(undefined)
        expect(await store.deleteTag(b)).to.equal(1)
        expect(await store.get(onlyB)).to.equal(undefined)
      })

      it('deletes VaryRecords by tag as well as entries', async function () {
        const t = tag('url')
        const [primary, variant] = [key('primary'), key('variant')]
        await store.set(primary, makeVary({ tags: [t] }), LONG)
        await store.set(variant, makeEntry({ tags: [t] }), LONG)
        expect(await store.deleteTag(t)).to.equal(2)
        expect(await store.get(primary)).to.equal(undefined)
      })

      it('matches tags containing separators and unicode exactly', async function () {
        const base = tag('x')
        const [odd, near] = [`${base}:/a?b=1&ü=☕`, `${base}:/a?b=1&ü=☕/more`]
        const [k1, k2] = [key('odd'), key('near')]
        await store.set(k1, makeEntry({ tags: [odd] }), LONG)
        await store.set(k2, makeEntry({ tags: [near] }), LONG)
        expect(await store.deleteTag(odd)).to.equal(1)
        expect(await store.get(k2)).to.not.equal(undefined)
      })

      it('does not find keys again after they were deleted by tag', async function () {
        const t = tag('again')
        const k = key('again')
        await store.set(k, makeEntry({ tags: [t] }), LONG)
        expect(await store.deleteTag(t)).to.equal(1)
        expect(await store.deleteTag(t)).to.equal(0)
      })
    })

    describe('deletePrefix', function () {
      it("deletes only keys beginning with the prefix, including ones with ':', '?' and unicode", async function () {
        const prefix = key('pre')
        const matching = [prefix, `${prefix}:user:42`, `${prefix}?x=1&y=2`, `${prefix}/café/☕`, `${prefix}:ü:?:`]
        const others = [`x${prefix}`, prefix.slice(0, -1), key('pre-other'), `${prefix.slice(0, -2)}☕`]
        for (const k of [...matching, ...others]) await store.set(k, makeEntry(), LONG)
        expect(await store.deletePrefix(prefix)).to.equal(matching.length)
        for (const k of matching) expect(await store.get(k), k).to.equal(undefined)
        for (const k of others) expect(await store.get(k), k).to.not.equal(undefined)
      })

      it('treats glob and pattern characters in the prefix literally', async function () {
        const base = key('glob')
        const prefix = `${base}/*?[ab]\\.+(`
        const literal = `${prefix}tail`
        // Each matches the prefix read as a Redis/shell glob (`*` any run, `?` one character,
        // `[ab]` a or b, `\.` a dot), as a `SCAN MATCH prefix*` would read it.
        const lookalikes = [`${base}/XYa.+(tail`, `${base}/*?b.+(tail`, `${base}/123b.+(tail`]
        for (const k of [literal, ...lookalikes]) await store.set(k, makeEntry(), LONG)
        expect(await store.deletePrefix(prefix)).to.equal(1)
        expect(await store.get(literal)).to.equal(undefined)
        for (const k of lookalikes) expect(await store.get(k), k).to.not.equal(undefined)
      })

      it('returns 0 when no key begins with the prefix', async function () {
        await store.set(key('pre-none'), makeEntry(), LONG)
        expect(await store.deletePrefix(key('nothing-here'))).to.equal(0)
      })

      it('keeps deleted keys out of later tag deletes', async function () {
        const t = tag('pre-tag')
        const prefix = key('pre-tag')
        await store.set(`${prefix}/a`, makeEntry({ tags: [t] }), LONG)
        await store.set(key('pre-tag-kept'), makeEntry({ tags: [t] }), LONG)
        expect(await store.deletePrefix(prefix)).to.equal(1)
        expect(await store.deleteTag(t)).to.equal(1)
      })
    })

    describe('clear', function () {
      it('removes every key, and tags find nothing afterwards', async function () {
        const t = tag('clear')
        const keys = [key('c1'), key('c2'), key('c3')]
        for (const k of keys) await store.set(k, makeEntry({ tags: [t] }), LONG)
        await store.set(key('c-vary'), makeVary(), LONG)
        await store.clear()
        for (const k of keys) expect(await store.get(k), k).to.equal(undefined)
        expect(await store.deleteTag(t)).to.equal(0)
      })

      it('leaves the store usable', async function () {
        await store.clear()
        const k = key('after-clear')
        const entry = makeEntry()
        await store.set(k, entry, LONG)
        expectSameEntry(await store.get(k), entry)
      })
    })

    describe('separate instances', function () {
      it('keep their keys independent: set, delete, tags, prefixes and clear act on one only', async function () {
        const other = await make()
        extra.push(other)
        const [k, t] = [key('shared-name'), tag('shared-tag')]
        const mine = makeEntry({ body: Buffer.from('mine'), tags: [t] })
        const theirs = makeEntry({ body: Buffer.from('theirs'), tags: [t] })
        await store.set(k, mine, LONG)
        expect(await other.store.get(k)).to.equal(undefined)
        await other.store.set(k, theirs, LONG)
        expectSameEntry(await store.get(k), mine)
        expectSameEntry(await other.store.get(k), theirs)

        expect(await other.store.deleteTag(t)).to.equal(1)
        expectSameEntry(await store.get(k), mine)
        await other.store.set(k, theirs, LONG)
        expect(await other.store.deletePrefix(k)).to.equal(1)
        expectSameEntry(await store.get(k), mine)
        await other.store.set(k, theirs, LONG)
        expect(await other.store.delete(k)).to.equal(true)
        expectSameEntry(await store.get(k), mine)
        await other.store.set(k, theirs, LONG)
        await other.store.clear()
        expectSameEntry(await store.get(k), mine)
      })
    })
  })
}
