/**
 * The strings a stored entry keeps, in their smallest form. An L1 of a million entries is a
 * million sets of these, and V8's garbage collector pays for every byte of them on every
 * scavenge (it visits each page of the old generation), so the few hundred bytes per entry
 * saved here are time saved on every request (bench scenario `scale`).
 *
 * - Strings built by concatenation are V8 cons strings: a tree of nodes, 32 bytes each plus
 *   their parts, and a computed ETag or a proxy key is four to eight of them. `flatten` gives
 *   the same text as one sequential string.
 * - Header names and the values of low-cardinality fields (Content-Type, Cache-Control, the
 *   Date of the current second...) repeat across entries: `internName` and `internValue` share
 *   one copy of each (bounded).
 */

/** ASCII text, which Unicode normalisation (NFC) leaves unchanged. */
const ASCII = /^[\x00-\x7f]*$/

/**
 * `s` as one sequential string (same text). V8 flattens a cons string when a regular expression
 * reads it, and `normalize` returns that flat string for ASCII text; other text takes a JSON
 * round trip, which preserves every code unit, lone surrogates included. Either way it is only
 * a question of memory: the text is the same whatever V8 does.
 */
export function flatten (s: string): string {
  if (s.length < 13) return s // V8 builds shorter concatenations as sequential strings.
  return ASCII.test(s) ? s.normalize() : JSON.parse(JSON.stringify(s)) as string
}

/**
 * Fields whose values repeat across responses. Date changes once a second, but every response
 * stored within that second shares it. Values of other fields (ETag, Content-Length,
 * Last-Modified) are mostly unique and are not worth a lookup.
 */
const SHARED_VALUES = new Set([
  'content-type', 'cache-control', 'content-encoding', 'content-language', 'vary', 'date', 'server',
  'accept-ranges', 'x-powered-by', 'via', 'x-content-type-options', 'x-frame-options', 'referrer-policy',
  'strict-transport-security', 'cross-origin-resource-policy', 'timing-allow-origin',
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers',
])

/** Bound on the strings shared: an origin sending endless distinct values cannot grow it. */
const LIMIT = 4096
/** Longer values are rare enough (and large enough) that sharing them is not the point. */
const LONGEST = 256

let shared = new Map<string, string>()

function share (s: string): string {
  const known = shared.get(s)
  if (known !== undefined) return known
  // Full: start over. The strings entries already hold stay theirs; only sharing restarts.
  if (shared.size >= LIMIT) shared = new Map()
  const flat = flatten(s)
  shared.set(flat, flat)
  return flat
}

/** A stored header name (lower-case), one copy per distinct name. */
export function internName (name: string): string {
  return share(name)
}

/** A stored header value: shared when its field's values repeat, else flattened. */
export function internValue (name: string, value: string): string {
  return SHARED_VALUES.has(name) && value.length <= LONGEST ? share(value) : flatten(value)
}
