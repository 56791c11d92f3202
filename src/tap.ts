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

/** Marks the wrappers, so a response is never tapped twice (registered: a second copy of cachefront sees it too). */
const TAPPED = Symbol.for('cachefront.tapped')

/** A ServerResponse method as it was before tapping, called with the handler's exact arguments. */
type Method = (this: ServerResponse, ...args: unknown[]) => unknown

/**
 * Wraps `res` so that `sink` sees the response. With `detached`, nothing reaches a client:
 * the response object is connected to nothing and the engine only reads it.
 *
 * Nothing is added to `res` but the three wrappers: Express swaps the prototypes of its
 * requests and responses, after which V8 gives every property added to one of them a map of
 * its own, about 2 µs each (measured on Node 20). The wrappers are closures over the tap; the
 * mark that says "tapped" is on the wrapper, a fresh function, where adding it costs nothing.
 */
export function tap (res: ServerResponse, sink: Sink, detached: boolean): void {
  if ((res.end as { [TAPPED]?: true })[TAPPED]) return
  const t = new Tap(res, sink, detached)
  res.writeHead = function (this: ServerResponse, status: number, reason?: unknown, headers?: unknown) {
    // eslint-disable-next-line prefer-rest-params
    return t.tappedWriteHead(this, arguments as unknown as unknown[], status, reason, headers)
  } as ServerResponse['writeHead']
  res.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    // eslint-disable-next-line prefer-rest-params
    return t.tappedWrite(this, arguments as unknown as unknown[], chunk, encoding, cb)
  } as ServerResponse['write']
  res.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    return t.tappedEnd(this, chunk, encoding, cb)
  } as ServerResponse['end']
  ;(res.end as { [TAPPED]?: true })[TAPPED] = true
  // A client that goes away before the handler finished leaves a truncated body: never stored.
  res.on('close', () => t.closed())
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

  tappedWriteHead (res: ServerResponse, args: unknown[], status: number, reason?: unknown, headers?: unknown): unknown {
    if (this.decision === undefined) {
      if (typeof reason !== 'string') { headers = reason; reason = undefined }
      res.statusCode = status
      if (headers !== undefined && headers !== null) applyHeaders(res, headers)
      if (!this.forwarding()) return res
      return reason === undefined ? this.originalWriteHead.call(res, status) : this.originalWriteHead.call(res, status, reason)
    }
    return this.forwarding() ? this.originalWriteHead.apply(res, args) : res
  }

  tappedWrite (res: ServerResponse, args: unknown[], chunk: unknown, encoding?: unknown, cb?: unknown): unknown {
    const through = this.forwarding()
    if (!this.finished && chunk !== undefined && chunk !== null) this.sink.data(toBuffer(chunk, encoding))
    if (through) return this.originalWrite.apply(res, args)
    const done = typeof encoding === 'function' ? encoding : cb
    if (typeof done === 'function') process.nextTick(done as () => void)
    return true
  }

  tappedEnd (res: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): unknown {
    if (typeof chunk === 'function') { cb = chunk; chunk = undefined; encoding = undefined }
    if (typeof encoding === 'function') { cb = encoding; encoding = undefined }
    const through = this.forwarding()
    if (!this.finished) {
      this.finished = true
      if (chunk !== undefined && chunk !== null) this.sink.data(toBuffer(chunk, encoding))
      this.sink.end()
    }
    if (through) return this.originalEnd.call(res, chunk, encoding, cb)
    if (typeof cb === 'function') process.nextTick(cb as () => void)
    return res
  }

  closed (): void {
    if (this.finished) return
    this.finished = true
    this.sink.error(new ClientAbortedError(this.res.req?.url))
  }
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
