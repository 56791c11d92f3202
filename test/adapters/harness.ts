/**
 * The shared adapter behaviour suite runs against every adapter (Express, Koa, the proxy)
 * through this interface: a scripted origin, and a way to put the cache in front of it.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Cache, CacheOptions, RouteOptions } from '../../src/index.js'

/** What the scripted origin sees of a request. */
export interface OriginRequest {
  method: string
  /** Path and query as the client sent them. */
  url: string
  headers: IncomingHttpHeaders
}

/** What the scripted origin answers. */
export interface OriginResponse {
  status?: number
  headers?: Record<string, string | string[]>
  /** The whole body at once... */
  body?: string | Buffer
  /** ...or in chunks, written one by one with a short pause between them. */
  chunks?: (string | Buffer)[]
  /** Wait this long before answering (ms). */
  delay?: number
  /** Fail instead of answering: the handler throws (middleware) or the connection is reset (proxy). */
  fail?: boolean
}

export type OriginHandler = (req: OriginRequest) => OriginResponse | Promise<OriginResponse>

export interface Started {
  /** Base URL of the server that has the cache in front of the origin (http://127.0.0.1:port). */
  url: string
  cache: Cache
  close(): Promise<void>
}

export interface Harness {
  name: string
  /**
   * Starts the cache (with `cache` options and one `route` rule covering every path) in front
   * of `handler`, listening on 127.0.0.1.
   */
  start(options: { cache?: CacheOptions, route?: RouteOptions, handler: OriginHandler }): Promise<Started>
}

/** Writes an OriginResponse with Node's plain response API (shared by the harnesses). */
export async function answer (res: import('node:http').ServerResponse, r: OriginResponse): Promise<void> {
  if (r.delay) await new Promise(resolve => setTimeout(resolve, r.delay))
  res.statusCode = r.status ?? 200
  for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v)
  if (r.chunks) {
    for (const c of r.chunks) {
      res.write(c)
      await new Promise(resolve => setTimeout(resolve, 2))
    }
    res.end()
  } else {
    res.end(r.body ?? '')
  }
}
