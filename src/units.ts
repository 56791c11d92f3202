import ms from 'ms'
import bytes from 'bytes'

/** Thrown for an option that cannot be understood; `field` names it (e.g. `l1.maxBytes`). */
export class OptionError extends Error {
  constructor (readonly field: string, readonly expected: string, readonly received: unknown) {
    super(`${field}: expected ${expected}, received ${JSON.stringify(received)}`)
    this.name = 'OptionError'
  }
}

/** A duration such as '500ms', '30s', '5m', '2h', '1d' or a number of milliseconds. */
export type Duration = string | number

/** A size such as '64MB', '1kb', '512' or a number of bytes. */
export type Size = string | number

/** Milliseconds for a Duration; `field` names the option in the error. */
export function parseDuration (value: Duration, field: string): number {
  let n: number | undefined = NaN
  if (typeof value === 'number') n = value
  else if (typeof value === 'string' && value.trim() !== '') {
    // ms throws on some malformed input (empty, too long) and returns undefined on the rest.
    try { n = ms(value.trim() as ms.StringValue) } catch { n = NaN }
  }
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new OptionError(field, "a duration such as '500ms', '30s', '5m', '2h', '1d' or a number of ms", value)
  }
  return Math.round(n)
}

const SIZE = /^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb|pb)?\s*$/i

/** Bytes for a Size; `field` names the option in the error. */
export function parseSize (value: Size, field: string): number {
  // bytes.parse falls back to parseInt ('64MiB' → 64, '12abc' → 12): check the form first.
  const n = typeof value === 'number' ? value
    : typeof value === 'string' && SIZE.test(value) ? bytes.parse(value) : NaN
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new OptionError(field, "a size such as '64MB', '512kb' or a number of bytes", value)
  }
  return Math.floor(n)
}
