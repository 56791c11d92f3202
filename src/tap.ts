/**
 * Reading a response as a handler writes it: `writeHead`, `write` and `end` of a Node
 * ServerResponse are wrapped so the engine's sink sees the head and every byte, whichever way
 * the handler writes (res.send, res.json, res.write in chunks, stream.pipe(res), sendFile).
 * The wrappers keep whatever the functions were before (for example those of the
 * `compression` middleware), so other middleware keeps working in either order.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { HeadDecision, Sink } from './engine.js'
import type { ClientOut } from './writer.js'
import { ClientAbortedError } from './errors.js'

/** Where a tapped response keeps its tap; registered, so a second copy of cachefront in the process sees it too. */
const TAP = Symbol.for('cachefront.tap')

type Res = ServerResponse & { [TAP]?: Tap }
/** A ServerResponse method as it was before tapping, called with the handler's exact arguments. */
type Method = (this: ServerResponse, ...args: unknown[]) => unknown

/**
 * Wraps `res` so that `sink` sees the response. With `detached`, nothing reaches a client:
 * the response object is connected to nothing and the engine only reads it.
 */
export function tap (res: ServerResponse, sink: Sink, detached: boolean): void {
  const r = res as Res
  if (r[TAP] !== undefined) return
  r[TAP] = new Tap(res, sink, detached)
  // Shared functions that find the tap through `this`, like Node's own prototype methods: a
  // closure per function per response would be allocated on every miss (and, under esbuild's
  // keepNames, renamed with a defineProperty each).
  res.writeHead = tappedWriteHead as ServerResponse['writeHead']
  res.write = tappedWrite as ServerResponse['write']
  res.end = tappedEnd as ServerResponse['end']
  // A client that goes away before the handler finished leaves a truncated body: never stored.
  res.on('close', tappedClose)
}

/**
 * One tapped response: the functions it had before, and the engine's decision once the head is
 * known. As the cache's `ClientOut`, it writes with those functions, past the tap.
 */
class Tap implements ClientOut {
  decision: HeadDecision | undefined = undefined
  finished = false
  readonly originalWriteHead: Method
  readonly originalWrite: Method
  readonly originalEnd: Method
  /**
   * The head as it was before the origin ran (what middleware in front of the cache set): when
   * the cache answers instead of the origin, the origin's own fields must not leak into it.
   */
  private readonly before: HeadSnapshot | undefined

  constructor (readonly res: ServerResponse, readonly sink: Sink, readonly detached: boolean) {
    this.originalWriteHead = res.writeHead as Method
    this.originalWrite = res.write as Method
    this.originalEnd = res.end as Method
    this.before = detached ? undefined : snapshot(res)
  }

  decide (): HeadDecision {
    if (this.decision !== undefined) return this.decision
    const res = this.res
    const decision = this.decision = this.sink.head(res.statusCode, res.getHeaders() as OutgoingHttpHeaders)
    if (this.detached) return decision
    if (decision.forward) {
      for (const name of decision.remove) res.removeHeader(name)
      for (let i = 0; i < decision.add.length; i += 2) res.setHeader(decision.add[i], decision.add[i + 1])
    } else {
      if (!res.headersSent) restore(res, this.before!)
      decision.answer?.(this)
    }
    return decision
  }

  forwarding (): boolean {
    return this.decide().forward && !this.detached
  }

  writeHead (status: number, headers: string[]): unknown {
    return this.originalWriteHead.call(this.res, status, headers)
  }

  end (body?: Buffer): unknown {
    return body === undefined ? this.originalEnd.call(this.res) : this.originalEnd.call(this.res, body)
  }
}

function tappedWriteHead (this: Res, status: number, reason?: unknown, headers?: unknown): unknown {
  const t = this[TAP]!
  if (t.decision === undefined) {
    if (typeof reason !== 'string') { headers = reason; reason = undefined }
    this.statusCode = status
    if (headers !== undefined && headers !== null) applyHeaders(this, headers)
    if (!t.forwarding()) return this
    return reason === undefined ? t.originalWriteHead.call(this, status) : t.originalWriteHead.call(this, status, reason)
  }
  // eslint-disable-next-line prefer-rest-params
  return t.forwarding() ? t.originalWriteHead.apply(this, arguments as unknown as unknown[]) : this
}

function tappedWrite (this: Res, chunk: unknown, encoding?: unknown, cb?: unknown): unknown {
  const t = this[TAP]!
  const through = t.forwarding()
  if (!t.finished && chunk !== undefined && chunk !== null) t.sink.data(toBuffer(chunk, encoding))
  // eslint-disable-next-line prefer-rest-params
  if (through) return t.originalWrite.apply(this, arguments as unknown as unknown[])
  const done = typeof encoding === 'function' ? encoding : cb
  if (typeof done === 'function') process.nextTick(done as () => void)
  return true
}

function tappedEnd (this: Res, chunk?: unknown, encoding?: unknown, cb?: unknown): unknown {
  const t = this[TAP]!
  if (typeof chunk === 'function') { cb = chunk; chunk = undefined; encoding = undefined }
  if (typeof encoding === 'function') { cb = encoding; encoding = undefined }
  const through = t.forwarding()
  if (!t.finished) {
    t.finished = true
    if (chunk !== undefined && chunk !== null) t.sink.data(toBuffer(chunk, encoding))
    t.sink.end()
  }
  if (through) return t.originalEnd.call(this, chunk, encoding, cb)
  if (typeof cb === 'function') process.nextTick(cb as () => void)
  return this
}

function tappedClose (this: Res): void {
  const t = this[TAP]!
  if (t.finished) return
  t.finished = true
  t.sink.error(new ClientAbortedError(this.req?.url))
}

function toBuffer (chunk: unknown, encoding: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8')
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return Buffer.from(String(chunk))
}

/** Headers given to writeHead become ordinary set headers, so getHeaders() sees them all. */
function applyHeaders (res: ServerResponse, headers: unknown): void {
  if (Array.isArray(headers)) {
    if (Array.isArray(headers[0])) {
      for (const [k, v] of headers as [string, string][]) res.setHeader(k, v)
    } else {
      for (let i = 0; i < headers.length; i += 2) res.appendHeader(String(headers[i]), headers[i + 1])
    }
    return
  }
  for (const [k, v] of Object.entries(headers as Record<string, string | string[] | number>)) {
    if (v !== undefined) res.setHeader(k, v)
  }
}

/** Header fields as they were at one moment, values copied. */
type HeadSnapshot = [string, string | string[] | number][]

function snapshot (res: ServerResponse): HeadSnapshot {
  const out: HeadSnapshot = []
  for (const name of res.getHeaderNames()) {
    const value = res.getHeader(name)
    if (value !== undefined) out.push([name, Array.isArray(value) ? [...value] : value])
  }
  return out
}

function restore (res: ServerResponse, head: HeadSnapshot): void {
  for (const name of res.getHeaderNames()) res.removeHeader(name)
  for (const [name, value] of head) res.setHeader(name, value)
}
