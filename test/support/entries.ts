import { ENTRY_VERSION, TRAILER_PAIRS, type Entry, type VaryRecord } from '../../src/entry.js'

/** The writer slots every raw header array ends with (`Age`, `X-Cache`, `Cache-Status`). */
export const TRAILER: readonly string[] = ['age', '', 'x-cache', '', 'cache-status', '']
if (TRAILER.length !== TRAILER_PAIRS * 2) throw new Error('test TRAILER is out of step with TRAILER_PAIRS')

/** `[name, value, ...]` followed by the writer slots. */
export function withTrailer (pairs: string[]): string[] {
  return [...pairs, ...TRAILER]
}

function byteLength (strings: readonly string[]): number {
  let n = 0
  for (const s of strings) n += Buffer.byteLength(s)
  return n
}

/** Body plus header bytes, the accounting the byte-bounded store relies on. */
export function entrySize (entry: Pick<Entry, 'body' | 'raw'>): number {
  return entry.body.length + byteLength(entry.raw)
}

/**
 * A valid, fresh 200 entry. Fields derived from others follow the overrides: the default `raw`
 * carries the overriding body's Content-Length, and `size` is computed unless overridden.
 * Optional fields are left out rather than set to undefined, so deep equality survives stores
 * that serialize.
 */
export function makeEntry (overrides: Partial<Entry> = {}): Entry {
  const now = Date.now()
  const body = overrides.body ?? Buffer.from('hello world')
  const etag = '"e-1"'
  const entry: Entry = {
    v: ENTRY_VERSION,
    type: 'response',
    status: 200,
    raw: withTrailer([
      'content-type', 'text/plain; charset=utf-8',
      'content-length', String(body.length),
      'etag', etag,
      'cache-control', 'max-age=60'
    ]),
    body,
    requestTime: now - 5,
    responseTime: now,
    initialAge: 0,
    staleAt: now + 60_000,
    deleteAt: now + 120_000,
    swr: 0,
    sie: 0,
    mustRevalidate: false,
    noCache: false,
    etag,
    etagComputed: false,
    validator: true,
    tags: [],
    size: 0,
    ...overrides
  }
  if (overrides.size === undefined) entry.size = entrySize(entry)
  return entry
}

/** A valid VaryRecord naming `accept-encoding` unless overridden; `size` as for makeEntry. */
export function makeVary (overrides: Partial<VaryRecord> = {}): VaryRecord {
  const record: VaryRecord = {
    v: ENTRY_VERSION,
    type: 'vary',
    vary: ['accept-encoding'],
    deleteAt: Date.now() + 120_000,
    tags: [],
    size: 0,
    ...overrides
  }
  if (overrides.size === undefined) record.size = byteLength(record.vary) + byteLength(record.tags) + 16
  return record
}
