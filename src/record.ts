/**
 * Turning an origin response into an Entry (and a 304 into a freshened one). All the work a
 * hit would otherwise repeat happens here, once: header arrays in the order `writeHead` takes,
 * Content-Length, Date, the ETag, the 304 field set, and absolute stale/delete times.
 */
import etag from 'etag'
import { ENTRY_VERSION, TRAILER_PAIRS, type Entry, type VaryRecord } from './entry.js'
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
 * What the byte bound counts for an entry besides its body and header text, measured on V8
 * (Node 20): the entry object, its two arrays, the Buffer object, and the L1's own records (LRU
 * slots, Keyv's wrapper, the tag index) come to about 1 KiB, and each header string to its
 * length plus about 32 bytes. Counting them keeps `l1.maxBytes` a bound on real memory even for
 * a million tiny entries (bench scenario `scale`).
 */
export const ENTRY_OVERHEAD = 1024
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
  const raw: string[] = []
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase()
    const value = headers[name]
    if (value === undefined || drop.has(lower)) continue
    // Repeated fields are joined (RFC 9110 §5.3): writeHead then sets each name once, whichever
    // path Node takes. Set-Cookie, the one field that cannot be joined, is never stored.
    raw.push(lower, Array.isArray(value) ? value.join(', ') : String(value))
  }
  const date = headers.date !== undefined ? String(headers.date) : new Date(input.responseTime).toUTCString()
  raw.push('date', date)
  // The body is complete, so its length is known: a hit never needs chunked encoding.
  // A 204 has no content (RFC 9110 §8.6 forbids Content-Length on it).
  if (status !== 204) raw.push('content-length', String(body.length))

  const originEtag = single(headers.etag)
  const lastModified = single(headers['last-modified'])
  let tag = originEtag
  if (tag === undefined && status >= 200 && status < 300) {
    // Weak, like Express's default, since the cache cannot promise byte-identical encodings.
    tag = etag(body, { weak: true })
    raw.push('etag', tag)
  }

  const raw304: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    if (NOT_MODIFIED_FIELDS.includes(raw[i]) || (raw[i] === 'last-modified' && tag === undefined)) raw304.push(raw[i], raw[i + 1])
  }

  const staleAt = input.responseTime + policy.lifetime - policy.initialAge
  const validator = originEtag !== undefined || lastModified !== undefined
  const deleteAt = staleAt + Math.max(policy.swr, policy.sie, validator ? input.keep : 0)
  pushTrailer(raw)
  pushTrailer(raw304)

  let size = body.length + ENTRY_OVERHEAD
  for (const s of raw) size += s.length + STRING_OVERHEAD
  for (const s of raw304) size += s.length + STRING_OVERHEAD

  return {
    v: ENTRY_VERSION,
    type: 'response',
    status,
    raw,
    raw304,
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
    tags: Object.freeze(input.tags),
    size,
  }
}

/** The record stored under the primary key of a varying response (§4.1). */
export function recordVary (vary: string[], deleteAt: number, tags: readonly string[]): VaryRecord {
  let size = ENTRY_OVERHEAD
  for (const v of vary) size += v.length + STRING_OVERHEAD
  return { v: ENTRY_VERSION, type: 'vary', vary, deleteAt, tags: Object.freeze(tags), size }
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
