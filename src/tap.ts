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

const TAPPED = Symbol.for('cachefront.tapped')

type Res = ServerResponse & { [TAPPED]?: true }

/**
 * Wraps `res` so that `sink` sees the response. With `detached`, nothing reaches a client:
 * the response object is connected to nothing and the engine only reads it.
 */
export function tap (res: ServerResponse, sink: Sink, detached: boolean): void {
  const r = res as Res
  if (r[TAPPED]) return
  r[TAPPED] = true
  // Typed loosely: these are called with the exact arguments the handler gave.
  const writeHead = res.writeHead as Function
  const write = res.write as Function
  const end = res.end as Function
  let decision: HeadDecision | undefined
  let finished = false
  // The head as it was before the origin ran (what middleware in front of the cache set): when
  // the cache answers instead of the origin, the origin's own fields must not leak into it.
  const before = detached ? undefined : snapshot(res)

  const decide = (): HeadDecision => {
    if (decision !== undefined) return decision
    decision = sink.head(res.statusCode, res.getHeaders() as OutgoingHttpHeaders)
    if (detached) return decision
    if (decision.forward) {
      for (const name of decision.remove) res.removeHeader(name)
      for (let i = 0; i < decision.add.length; i += 2) res.setHeader(decision.add[i], decision.add[i + 1])
    } else {
      if (!res.headersSent) restore(res, before!)
      // Built only when the cache answers: made for every response, this literal of closures
      // was pretenured by V8 and kept each response's objects alive (see Txn in engine.ts).
      const out: ClientOut = {
        writeHead: (status, headers) => writeHead.call(res, status, headers),
        end: body => (body === undefined ? end.call(res) : end.call(res, body)),
      }
      decision.answer?.(out)
    }
    return decision
  }
  const forwarding = (): boolean => decide().forward && !detached

  res.writeHead = function (this: ServerResponse, status: number, reason?: unknown, headers?: unknown) {
    if (decision === undefined) {
      if (typeof reason !== 'string') { headers = reason; reason = undefined }
      res.statusCode = status
      if (headers !== undefined && headers !== null) applyHeaders(res, headers)
      if (!forwarding()) return res
      return reason === undefined ? writeHead.call(res, status) : writeHead.call(res, status, reason as string)
    }
    // eslint-disable-next-line prefer-rest-params
    return forwarding() ? writeHead.apply(res, arguments) : res
  } as ServerResponse['writeHead']

  res.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    const through = forwarding()
    if (!finished && chunk !== undefined && chunk !== null) sink.data(toBuffer(chunk, encoding))
    // eslint-disable-next-line prefer-rest-params
    if (through) return write.apply(res, arguments)
    const done = typeof encoding === 'function' ? encoding : cb
    if (typeof done === 'function') process.nextTick(done as () => void)
    return true
  } as ServerResponse['write']

  res.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') { cb = chunk; chunk = undefined; encoding = undefined }
    if (typeof encoding === 'function') { cb = encoding; encoding = undefined }
    const through = forwarding()
    if (!finished) {
      finished = true
      if (chunk !== undefined && chunk !== null) sink.data(toBuffer(chunk, encoding))
      sink.end()
    }
    if (through) return end.call(res, chunk, encoding, cb)
    if (typeof cb === 'function') process.nextTick(cb as () => void)
    return res
  } as ServerResponse['end']

  // A client that goes away before the handler finished leaves a truncated body: never stored.
  res.once('close', () => {
    if (finished) return
    finished = true
    sink.error(new ClientAbortedError(res.req?.url))
  })
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

function snapshot (res: ServerResponse): [string, string | string[] | number][] {
  const out: [string, string | string[] | number][] = []
  for (const name of res.getHeaderNames()) {
    const value = res.getHeader(name)
    if (value !== undefined) out.push([name, Array.isArray(value) ? [...value] : value])
  }
  return out
}

function restore (res: ServerResponse, head: [string, string | string[] | number][]): void {
  for (const name of res.getHeaderNames()) res.removeHeader(name)
  for (const [name, value] of head) res.setHeader(name, value)
}
