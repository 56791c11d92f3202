import zlib from 'node:zlib'
import { isStored, type Stored } from './entry.js'

/**
 * Binary form of a `Stored` value for Redis (or any byte store):
 *
 * ```
 * 0      2         3       4                 8               12            12+n
 * | "CF" | version | flags | header length n | body length b | JSON header | body bytes (raw or brotli) |
 * ```
 * (lengths are uint32, big-endian; b is the body's length before compression)
 *
 * - The header is every field of the value except `body` (and a response's `raw304`, rebuilt
 *   from `raw` when needed), as JSON (the raw header array stays an array; nothing is added to
 *   the value's own fields).
 * - The body follows as raw bytes: binary-safe and without base64's 33% growth.
 * - Flag bit 0 says the body is brotli-compressed. Brotli at quality 1 was chosen over gzip
 *   after measuring on HTML and JSON bodies of 30-50 KB (node 20): it compresses as fast as
 *   gzip level 1 or faster (75-90 µs vs 100-115 µs), decompresses about as fast (60-80 µs vs
 *   55-100 µs), and its output is 27% smaller on HTML (3.8 KB vs 5.2 KB) and within 3% on JSON.
 *   Higher qualities cost about 3x the CPU on every store for little gain.
 *
 * `decode` never throws: a value of another format, version or shape is `undefined` (a miss).
 */

/** The first two bytes of every encoding. */
export const CODEC_MAGIC = 'CF'
const MAGIC = 0x4346 // "CF"
/** Bumped when the layout above changes. The entry's own shape is versioned by ENTRY_VERSION. */
export const CODEC_VERSION = 1
/** Bytes before the JSON header: magic, version, flags, header length, body length. */
export const CODEC_PREFIX_BYTES = 12
const PREFIX = CODEC_PREFIX_BYTES
const FLAG_BROTLI = 1

/** Default for `compressAbove`: bodies up to 1 KiB gain too little to be worth the CPU. */
export const DEFAULT_COMPRESS_ABOVE = 1024

export interface EncodeOptions {
  /** Bodies longer than this many bytes are compressed (unless already content-encoded). */
  compressAbove: number
}

/** `encodeWithStats`' result: the bytes to store and what compression saved. */
export interface Encoded {
  buf: Buffer
  /** Size the encoding would have without compression. */
  originalBytes: number
  /** Size actually stored (`buf.length`). */
  storedBytes: number
  compressed: boolean
}

/** The bytes to store for `value`. */
export function encode (value: Stored, options: EncodeOptions = { compressAbove: DEFAULT_COMPRESS_ABOVE }): Buffer {
  return encodeWithStats(value, options).buf
}

/** Like `encode`, with the sizes before and after compression for the caller's counters. */
export function encodeWithStats (value: Stored, options: EncodeOptions = { compressAbove: DEFAULT_COMPRESS_ABOVE }): Encoded {
  let header: object = value
  let body: Buffer = EMPTY
  if (value.type === 'response') {
    // raw304 is derived from raw on first use (record.ts): not worth its bytes in Redis.
    const { body: b, raw304: _, ...rest } = value
    header = rest
    body = b
  } else if (value.type === 'value') {
    const { body: b, ...rest } = value
    header = rest
    body = b
  }
  const json = Buffer.from(JSON.stringify(header))
  const bodyLength = body.length
  const originalBytes = PREFIX + json.length + bodyLength

  let flags = 0
  if (body.length > options.compressAbove && !isContentEncoded(value)) {
    const packed = zlib.brotliCompressSync(body, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 1,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length
      }
    })
    // Incompressible bodies (images, random bytes) stay raw so reads skip decompression.
    if (packed.length < body.length) {
      body = packed
      flags |= FLAG_BROTLI
    }
  }

  const buf = Buffer.allocUnsafe(PREFIX + json.length + body.length)
  buf.writeUInt16BE(MAGIC, 0)
  buf.writeUInt8(CODEC_VERSION, 2)
  buf.writeUInt8(flags, 3)
  buf.writeUInt32BE(json.length, 4)
  // The true body length lets decode cap decompression at it (no decompression bombs).
  buf.writeUInt32BE(bodyLength, 8)
  json.copy(buf, PREFIX)
  body.copy(buf, PREFIX + json.length)
  return { buf, originalBytes, storedBytes: buf.length, compressed: flags !== 0 }
}

/** The value `buf` encodes, or undefined when it is not a valid encoding of a `Stored`. */
export function decode (buf: Buffer): Stored | undefined {
  try {
    if (!Buffer.isBuffer(buf) || buf.length < PREFIX) return undefined
    if (buf.readUInt16BE(0) !== MAGIC || buf.readUInt8(2) !== CODEC_VERSION) return undefined
    const flags = buf.readUInt8(3)
    if ((flags & ~FLAG_BROTLI) !== 0) return undefined
    const headerEnd = PREFIX + buf.readUInt32BE(4)
    const bodyLength = buf.readUInt32BE(8)
    if (headerEnd > buf.length) return undefined

    const header: unknown = JSON.parse(buf.toString('utf8', PREFIX, headerEnd))
    if (header === null || typeof header !== 'object' || Array.isArray(header)) return undefined
    const fields = header as Record<string, unknown>
    const rest = buf.subarray(headerEnd)
    // Frozen like the engine's own lists, so the L1 can index by them without a copy.
    if (Array.isArray(fields.tags)) Object.freeze(fields.tags)

    if (fields.type === 'vary') {
      if (rest.length !== 0 || flags !== 0 || bodyLength !== 0) return undefined
      return isStored(fields) ? fields : undefined
    }

    let body: Buffer
    if ((flags & FLAG_BROTLI) !== 0) {
      // Decompressed once, here; the output is capped at the recorded length.
      body = zlib.brotliDecompressSync(rest, { maxOutputLength: Math.max(bodyLength, 1) })
    } else {
      // A copy, not a view: Redis replies are slices of the socket's read chunk, and an entry kept
      // in L1 would otherwise pin that whole chunk in memory.
      body = Buffer.from(rest)
    }
    if (body.length !== bodyLength) return undefined
    fields.body = body
    return isStored(fields) ? fields : undefined
  } catch {
    // Bad JSON, a corrupt brotli stream, an output over maxOutputLength: all mean "not ours".
    return undefined
  }
}

const EMPTY = Buffer.alloc(0)

/** True when the stored body is already compressed by the origin (gzip, br, ...). */
function isContentEncoded (value: Stored): boolean {
  if (value.type !== 'response') return false
  const raw = value.raw
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i] === 'content-encoding') return raw[i + 1] !== 'identity' && raw[i + 1] !== ''
  }
  return false
}
