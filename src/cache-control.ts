/**
 * Parsing of Cache-Control (RFC 9111 §5.2) and of the targeted fields that share its syntax
 * (CDN-Cache-Control, RFC 9213; Surrogate-Control).
 *
 * Parsing is forgiving, since a malformed header must never fail a request, but never generous:
 * an invalid freshness value makes the response stale rather than fresh (§4.2.1: "caches are
 * encouraged to consider responses that have invalid freshness information to be stale").
 */

/** Parsed directives. Delta-seconds values are in seconds. */
export interface CacheControl {
  'max-age'?: number
  's-maxage'?: number
  /** `true` unqualified; the lower-case field names when qualified (§5.2.2.4). */
  'no-cache'?: true | string[]
  /** `true` unqualified; the lower-case field names when qualified (§5.2.2.7). */
  'private'?: true | string[]
  'no-store'?: true
  'public'?: true
  'must-revalidate'?: true
  'proxy-revalidate'?: true
  'must-understand'?: true
  'immutable'?: true
  'no-transform'?: true
  'only-if-cached'?: true
  'stale-while-revalidate'?: number
  'stale-if-error'?: number
  /** Infinity when given without a value (§5.2.1.2: any staleness is acceptable). */
  'max-stale'?: number
  'min-fresh'?: number
}

/** §1.2.2: a delta-seconds too large to represent is taken as 2^31. */
export const DELTA_SECONDS_MAX = 2147483648

const EMPTY: CacheControl = Object.freeze({}) as CacheControl

/**
 * Directives whose invalid value must read as "stale now" rather than be dropped: dropping an
 * invalid max-age would let a later Expires or the route ttl make the response fresh.
 */
const FRESHNESS = new Set(['max-age', 's-maxage'])
const DELTAS = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error', 'max-stale', 'min-fresh'])
const FIELD_LISTS = new Set(['no-cache', 'private'])
const FLAGS = new Set([
  'no-store', 'public', 'must-revalidate', 'proxy-revalidate', 'must-understand',
  'immutable', 'no-transform', 'only-if-cached',
])

/** delta-seconds = 1*DIGIT (§1.2.2); anything else (sign, decimals, letters) is invalid. */
export function parseDeltaSeconds (value: string): number | undefined {
  if (!/^[0-9]+$/.test(value)) return undefined
  const n = Number(value)
  return n > DELTA_SECONDS_MAX ? DELTA_SECONDS_MAX : n
}

/**
 * Parses one or more field lines (Node joins repeated lines into one string for Cache-Control,
 * but arrays arrive from other sources). The first occurrence of a directive wins (§4.2.1 allows
 * "either the first occurrence should be used or the response should be considered stale").
 */
export function parseCacheControl (value: string | string[] | undefined): CacheControl {
  if (value === undefined) return EMPTY
  const text = Array.isArray(value) ? value.join(',') : value
  if (text === '') return EMPTY
  const out: Record<string, unknown> = {}
  for (const [name, raw] of splitDirectives(text)) {
    if (FIELD_LISTS.has(name)) {
      // An unqualified occurrence anywhere is the stronger reading: it covers every field.
      if (raw === undefined) out[name] = true
      else if (out[name] !== true) {
        const fields = raw.split(',').map(f => f.trim().toLowerCase()).filter(Boolean)
        out[name] = fields.length > 0 ? [...(out[name] as string[] | undefined ?? []), ...fields] : true
      }
      continue
    }
    if (name in out) continue
    if (DELTAS.has(name)) {
      if (raw === undefined) {
        if (name === 'max-stale') out[name] = Infinity
        else if (FRESHNESS.has(name)) out[name] = 0
        continue
      }
      const n = parseDeltaSeconds(raw)
      if (n !== undefined) out[name] = n
      else if (FRESHNESS.has(name)) out[name] = 0
      continue
    }
    if (FLAGS.has(name)) out[name] = true
  }
  return out as CacheControl
}

/**
 * Splits `a, b=1, c="x, y"` into [name, value] pairs, honouring quoted-strings (RFC 9110 §5.6.4)
 * so that a comma inside quotes does not end a directive. Names are lower-cased (§5.2: "cache
 * directives are case-insensitive").
 */
function * splitDirectives (text: string): Generator<[string, string | undefined]> {
  let i = 0
  const n = text.length
  while (i < n) {
    while (i < n && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++
    if (i >= n) break
    let j = i
    while (j < n && text[j] !== '=' && text[j] !== ',') j++
    const name = text.slice(i, j).trim().toLowerCase()
    let value: string | undefined
    if (j < n && text[j] === '=') {
      j++
      while (j < n && (text[j] === ' ' || text[j] === '\t')) j++
      if (text[j] === '"') {
        let v = ''
        j++
        while (j < n && text[j] !== '"') {
          if (text[j] === '\\' && j + 1 < n) j++
          v += text[j++]
        }
        j++ // closing quote
        value = v
        while (j < n && text[j] !== ',') j++
      } else {
        const start = j
        while (j < n && text[j] !== ',') j++
        value = text.slice(start, j).trim()
      }
    }
    if (name !== '') yield [name, value]
    i = j + 1
  }
}
