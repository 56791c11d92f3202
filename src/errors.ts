/**
 * Typed errors the engine tells apart. Each carries what it is about, so a log line or a
 * caller can say which request and which stage failed.
 */

/** The client went away before the response was complete: not an origin failure. */
export class ClientAbortedError extends Error {
  constructor (readonly url: string | undefined) {
    super(`the client closed the connection before the response to ${url ?? 'the request'} was complete`)
    this.name = 'ClientAbortedError'
  }
}
