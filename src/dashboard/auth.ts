/**
 * Who may purge and read the dashboard: `Authorization: Bearer <token>`, compared in constant
 * time; and what a purge request looks like. Shared by the dashboard and the proxy's admin API.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'

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
