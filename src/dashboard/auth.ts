/**
 * Who may purge and read the dashboard: `Authorization: Bearer <token>`, compared in constant
 * time; and what a purge request looks like. Shared by the dashboard and the proxy's admin API.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { z } from 'zod'
import type { Invalidation } from '../engine.js'

/**
 * Checks `Authorization: Bearer <token>` in constant time: both sides are hashed first, so
 * neither the comparison nor its length reveals anything about the token.
 */
export function bearerMatches (header: string | undefined, token: string): boolean {
  const m = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
  const given = createHash('sha256').update(m === null ? '' : m[1]).digest()
  const expected = createHash('sha256').update(token).digest()
  return timingSafeEqual(given, expected) && m !== null
}

/**
 * Authorizes a purge (or a dashboard read): undefined when it may proceed, else the status and
 * message to answer. Without a token nothing is allowed (403), never everything.
 */
export function purgeDenied (token: string | undefined, authorization: string | undefined): [number, string] | undefined {
  if (token === undefined) return [403, 'purging is disabled: configure admin.token (or CACHEFRONT_ADMIN_TOKEN)']
  if (!bearerMatches(authorization, token)) return [401, 'a valid Authorization: Bearer <token> is required']
  return undefined
}

export const PURGE_SHAPE = 'expected a JSON object with exactly one of "url", "key", "tag", "prefix" (non-empty strings) or "all": true'

export const purgeRequest = z.union([
  z.strictObject({ url: z.string().min(1) }),
  z.strictObject({ key: z.string().min(1) }),
  z.strictObject({ tag: z.string().min(1) }),
  z.strictObject({ prefix: z.string().min(1) }),
  z.strictObject({ all: z.literal(true) }),
])

/** The largest purge request body read. */
export const MAX_PURGE_BODY = 64 * 1024

/**
 * Reads and checks a purge request's JSON body (or the object a body parser already made of it):
 * the invalidation it asks for, or the status and message to answer.
 */
export async function readPurge (req: IncomingMessage): Promise<{ what: Invalidation } | { status: number, error: string }> {
  // A body parser (express.json(), koa-bodyparser) may have read the body already.
  const parsedBody = (req as IncomingMessage & { body?: unknown }).body
  let data: unknown
  if (parsedBody !== undefined && parsedBody !== null && typeof parsedBody === 'object' && !Buffer.isBuffer(parsedBody)) {
    data = parsedBody
  } else {
    const body = await readBody(req)
    if (body === undefined) return { status: 413, error: `the body is larger than ${MAX_PURGE_BODY} bytes` }
    try {
      data = JSON.parse(body)
    } catch {
      return { status: 400, error: `the body is not JSON; ${PURGE_SHAPE}` }
    }
  }
  const parsed = purgeRequest.safeParse(data)
  if (!parsed.success) return { status: 400, error: PURGE_SHAPE }
  return { what: parsed.data as Invalidation }
}

/** The request body as text, or undefined past MAX_PURGE_BODY (the rest is drained, not kept). */
function readBody (req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_PURGE_BODY) {
        req.removeAllListeners('data')
        req.resume()
        resolve(undefined)
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
