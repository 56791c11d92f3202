/**
 * Turning an origin response into an Entry (and a 304 into a freshened one). All the work a
 * hit would otherwise repeat happens here, once: the header array in the order `writeHead`
 * takes, Content-Length, Date, the ETag and absolute stale/delete times. The 304 field set is
 * built on first use (`raw304Of`). Strings are stored in their smallest form (src/intern.ts).
 */
import etag from 'etag'
import { ENTRY_VERSION, TRAILER_PAIRS, type Entry, type VaryRecord } from './entry.js'
import { flatten, internName, internValue } from './intern.js'
import type { ResponseHeaders, Storable } from './policy.js'

/** Hop-by-hop fields (RFC 9110 §7.6.1) and fields a stored response never replays. */
const NEVER_STORED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
  'set-cookie', 'age', 'x-cache', 'cache-status', 'content-length', 'date',
])

/** The fields a 304 carries (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary']

/**
 * What the byte bound counts for an entry besides its body and header text. Measured on V8
 * (Node 20) with 100,000 entries of a 64-byte body: 830 heap bytes each, of which about 570 are
 * fixed (the entry object, its arrays, the Buffer object, the key, the URL tag and the L1's own
 * records: LRU slots, the tag index); the rest are header strings and their array slots. Header
 * strings are often shared (src/intern.ts) but are counted as if they were not, at their length
 * plus STRING_OVERHEAD. So the bound stays above real memory, even for a million tiny entries
 * (bench scenario `scale`), without overstating it by half as a 1 KiB constant did.
 */
export const ENTRY_OVERHEAD = 640
/** Per string in a header array: V8's string header and the array slot. */
export const STRING_OVERHEAD = 32

export interface RecordInput {
  status: number
  headers: ResponseHeaders
  body: Buffer
  policy: Storable
  requestTime: number
  responseTime: number
  tags: string[]
  /** Extra fields the cache consumed and must not replay (targeted Cache-Control, tag headers). */
  consumed: readonly string[]
  /** How long past staleness an entry with a validator is kept for revalidation (ms). */
  keep: number
}

/** The Entry for a storable response. */
export function recordEntry (input: RecordInput): Entry {
  const { status, headers, body, policy } = input
  const drop = new Set<string>([...NEVER_STORED, ...input.consumed, ...policy.strip, ...connectionTokens(headers.connection)])
  const fields: string[] = []
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase()
    const value = headers[name]
    if (value === undefined || drop.has(lower)) continue
    // Repeated fields are joined (RFC 9110 §5.3): writeHead then sets each name once, whichever
    // path Node takes. Set-Cookie, the one field that cannot be joined, is never stored.
    fields.push(internName(lower), internValue(lower, Array.isArray(value) ? value.join(', ') : String(value)))
  }
  const date = headers.date !== undefined ? String(headers.date) : new Date(input.responseTime).toUTCString()
  fields.push('date', internValue('date', date))
  // The body is complete, so its length is known: a hit never needs chunked encoding.
  // A 204 has no content (RFC 9110 §8.6 forbids Content-Length on it).
  if (status !== 204) fields.push('content-length', String(body.length))

  const originEtag = single(headers.etag)
  const lastModified = single(headers['last-modified'])
  let tag = originEtag
  if (tag === undefined && status >= 200 && status < 300) {
    // Weak, like Express's default, since the cache cannot promise byte-identical encodings.
    tag = flatten(etag(body, { weak: true }))
    fields.push('etag', tag)
  }
  pushTrailer(fields)
  // A copy of exactly its length: the array grown by push keeps spare slots, in every entry.
  const raw = fields.slice()

  const staleAt = input.responseTime + policy.lifetime - policy.initialAge
  const validator = originEtag !== undefined || lastModified !== undefined
  const deleteAt = staleAt + Math.max(policy.swr, policy.sie, validator ? input.keep : 0)

  let size = body.length + ENTRY_OVERHEAD
  for (const s of raw) size += s.length + STRING_OVERHEAD
  // About what the 304 array that raw304Of may build later adds: its slots (the strings are raw's).
  size += 8 * NOT_MODIFIED_FIELDS.length * 2

  return {
    v: ENTRY_VERSION,
    type: 'response',
    status,
    raw,
    raw304: undefined,
    body,
    requestTime: input.requestTime,
    responseTime: input.responseTime,
    initialAge: policy.initialAge,
    staleAt,
    deleteAt,
    swr: policy.swr,
    sie: policy.sie,
    mustRevalidate: policy.mustRevalidate,
    noCache: policy.noCache,
    etag: tag,
    etagComputed: originEtag === undefined && tag !== undefined,
    lastModified,
    validator,
    vary: policy.vary,
    // Frozen: the L1 indexes the entry under these and must find the same ones when it unindexes.
    tags: Object.freeze(input.tags.map(flatten)),
    size,
  }
}

/**
 * The header array of a 304 answer for `entry`: only the fields RFC 9110 §15.4.5 asks for
 * (Last-Modified too when there is no ETag), then the writer slots. Built on the entry's first
 * conditional hit and kept on it: most entries never answer one, and building it up front cost
 * every entry about 150 bytes. Keeping it does not change what the entry means (it is derived
 * from `raw` alone), so sharing the entry stays safe.
 */
export function raw304Of (entry: Entry): string[] {
  if (entry.raw304 !== undefined) return entry.raw304
  const raw = entry.raw
  const end = raw.length - TRAILER_PAIRS * 2
  const out: string[] = []
  for (let i = 0; i < end; i += 2) {
    const name = raw[i]
    if (NOT_MODIFIED_FIELDS.includes(name) || (name === 'last-modified' && entry.etag === undefined)) out.push(name, raw[i + 1])
  }
  pushTrailer(out)
  return (entry.raw304 = out)
}

/** The record stored under the primary key of a varying response (§4.1). */
export function recordVary (vary: string[], deleteAt: number, tags: readonly string[]): VaryRecord {
  let size = ENTRY_OVERHEAD
  for (const v of vary) size += v.length + STRING_OVERHEAD
  return { v: ENTRY_VERSION, type: 'vary', vary, deleteAt, tags: Object.freeze(tags.map(flatten)), size }
}

/** The stored header fields as an object (lower-case names), without the writer's slots. */
export function storedHeaders (entry: Entry): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const end = entry.raw.length - TRAILER_PAIRS * 2
  for (let i = 0; i < end; i += 2) {
    const name = entry.raw[i]
    const prev = out[name]
    out[name] = prev === undefined ? entry.raw[i + 1] : Array.isArray(prev) ? [...prev, entry.raw[i + 1]] : [prev, entry.raw[i + 1]]
  }
  return out
}

/**
 * §3.2 / §4.3.4: the stored headers updated with those of a 304, which replace the values
 * already present, except Content-Length (the stored body is the one that counts) and fields
 * the cache never stores.
 */
export function freshenedHeaders (entry: Entry, notModified: ResponseHeaders): Record<string, string | string[]> {
  const merged = storedHeaders(entry)
  // An ETag the cache computed is not the origin's: carried over as a header, the next
  // recordEntry would take it for one and send it to the origin as a validator.
  if (entry.etagComputed) delete merged.etag
  for (const name of Object.keys(notModified)) {
    const lower = name.toLowerCase()
    const value = notModified[name]
    if (value === undefined || NEVER_STORED.has(lower) && lower !== 'date') continue
    merged[lower] = Array.isArray(value) ? value.map(String) : String(value)
  }
  return merged
}

function pushTrailer (raw: string[]): void {
  raw.push('age', '0', 'x-cache', '', 'cache-status', '')
}

function single (value: unknown): string | undefined {
  if (value === undefined) return undefined
  return Array.isArray(value) ? String(value[0]) : String(value)
}

/** Fields named by Connection are hop-by-hop for this message (RFC 9110 §7.6.1). */
function connectionTokens (value: unknown): string[] {
  if (value === undefined) return []
  return String(value).split(',').map(t => t.trim().toLowerCase()).filter(Boolean)
}
