/**
 * Vary (RFC 9110 §12.5.5, RFC 9111 §4.1): which request header values select a stored variant.
 */
import type { IncomingHttpHeaders } from 'node:http'

/** `Vary: *` — the response can never be matched to a later request (§4.1), so it is never stored. */
export const VARY_STAR = '*'

/**
 * The lower-case, de-duplicated, sorted field names of a Vary header, `'*'` when it contains
 * `*`, or undefined when it names nothing. Sorting makes `Vary: A, B` and `Vary: b, a` select the
 * same variants.
 */
export function parseVary (value: string | string[] | number | undefined): string[] | typeof VARY_STAR | undefined {
  if (value === undefined) return undefined
  const text = Array.isArray(value) ? value.join(',') : String(value)
  const names = new Set<string>()
  for (const part of text.split(',')) {
    const name = part.trim().toLowerCase()
    if (name === '*') return VARY_STAR
    if (name !== '') names.add(name)
  }
  return names.size === 0 ? undefined : [...names].sort()
}

/**
 * Request headers whose values are case-insensitive by definition (media types, language tags,
 * content codings, charsets): only these are lower-cased. A header such as X-User-Id is kept as
 * it is, so that "Alice" and "alice" never share a variant.
 */
const CASE_INSENSITIVE = new Set(['accept', 'accept-encoding', 'accept-language', 'accept-charset'])

/**
 * The normalised value of one request header for variant selection: repeated lines joined, and
 * white space around list commas and at the ends removed (§4.1: "normalizing both header field
 * values in a way that is known to have identical semantics"). Absent is distinct from empty.
 */
export function varyValue (headers: IncomingHttpHeaders, name: string): string | undefined {
  const raw = headers[name]
  if (raw === undefined) return undefined
  let value = (Array.isArray(raw) ? raw.join(',') : raw).replace(/[ \t]*,[ \t]*/g, ',').trim()
  if (CASE_INSENSITIVE.has(name)) value = value.toLowerCase()
  return value
}

/**
 * The suffix that distinguishes one variant: each selecting header as `name=value`, percent-encoded
 * so that no value can imitate another header or end the list; an absent header has no `=`.
 */
export function variantSuffix (names: readonly string[], headers: IncomingHttpHeaders): string {
  let out = '#'
  for (let i = 0; i < names.length; i++) {
    const value = varyValue(headers, names[i])
    if (i > 0) out += '&'
    out += encodeURIComponent(names[i])
    if (value !== undefined) out += '=' + encodeURIComponent(value)
  }
  return out
}
