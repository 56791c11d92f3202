/**
 * A request with no client behind it, for background refreshes (RFC 5861 §3) in the
 * middleware adapters: the framework runs its handler against a request/response pair whose
 * response is connected to nothing, and the engine reads what the handler writes.
 */
import { IncomingMessage, ServerResponse, type IncomingHttpHeaders } from 'node:http'
import { Socket } from 'node:net'

/** Marks a detached request, carrying the engine's sink for its response. */
export const DETACHED = Symbol.for('cachefront.detached')

export function detachedExchange (from: IncomingMessage, headers: IncomingHttpHeaders): { req: IncomingMessage, res: ServerResponse } {
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
  return { req, res }
}
