/**
 * A request with no client behind it, for background refreshes (RFC 5861 §3) in the
 * middleware adapters: the framework runs its handler against a request/response pair whose
 * response is connected to nothing, and the engine reads what the handler writes.
 */
import { IncomingMessage, ServerResponse, type IncomingHttpHeaders } from 'node:http'
import { Socket } from 'node:net'
import type { Sink } from './engine.js'

/**
 * Detached requests, with the engine's sink for each one's response. A WeakMap rather than a
 * mark on the request: the middleware asks every request, and on Express's requests (their
 * prototypes swapped, so each has a map of its own; see tap.ts) reading a property they lack is
 * a lookup through the whole prototype chain in V8's runtime, every time.
 */
const sinks = new WeakMap<IncomingMessage, Sink>()

/** The sink of a detached request; undefined for a client's request. */
export function sinkOf (req: IncomingMessage): Sink | undefined {
  return sinks.get(req)
}

/** A detached copy of `from` whose response goes to `sink`. */
export function detachedExchange (from: IncomingMessage, headers: IncomingHttpHeaders, sink: Sink): { req: IncomingMessage, res: ServerResponse } {
  const req = new IncomingMessage(new Socket())
  // HEAD shares GET's entry, and a refresh always wants the full response.
  req.method = 'GET'
  // Express rewrites req.url inside mounted routers; originalUrl is what the client asked for.
  req.url = (from as IncomingMessage & { originalUrl?: string }).originalUrl ?? from.url
  req.headers = headers
  req.httpVersion = from.httpVersion
  req.httpVersionMajor = from.httpVersionMajor
  req.httpVersionMinor = from.httpVersionMinor
  req.push(null)
  const res = new ServerResponse(req)
  sinks.set(req, sink)
  return { req, res }
}
