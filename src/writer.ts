/**
 * Writing a stored entry to a client. This is the hit path: it fills the entry's prepared
 * header array's trailing slots (Age, X-Cache, Cache-Status) and hands it to `writeHead`
 * as it is. Node copies the array's contents synchronously, so sharing it across responses
 * is safe.
 */
import fresh from 'fresh'
import type { IncomingHttpHeaders } from 'node:http'
import type { Entry } from './entry.js'

/** What the engine writes to: a Node ServerResponse, or an adapter's wrapper of one. */
export interface ClientOut {
  writeHead(status: number, headers: string[]): unknown
  end(body?: Buffer): unknown
}

/** The current age in whole seconds (RFC 9111 §4.2.3, §5.1). */
export function ageOf (entry: Entry, now: number): number {
  const ms = entry.initialAge + (now - entry.responseTime)
  return ms > 0 ? Math.floor(ms / 1000) : 0
}

/**
 * Whether the request's own conditionals (If-None-Match, else If-Modified-Since; RFC 9110
 * §13.2.2) are satisfied by the entry, so it may be answered with 304. Only for 2xx entries
 * (§13.2.1: preconditions apply when the response would be 2xx).
 */
export function notModified (headers: IncomingHttpHeaders, entry: Entry): boolean {
  if (headers['if-none-match'] === undefined && headers['if-modified-since'] === undefined) return false
  if (entry.status < 200 || entry.status >= 300) return false
  return fresh(headers, { etag: entry.etag, 'last-modified': entry.lastModified })
}

/** Writes `entry` (or its 304 form) with the given X-Cache and Cache-Status values. */
export function writeEntry (
  out: ClientOut,
  entry: Entry,
  headers: IncomingHttpHeaders,
  bodyless: boolean,
  xCache: string,
  cacheStatus: string,
  now: number,
): void {
  const is304 = notModified(headers, entry)
  const raw = is304 ? entry.raw304 : entry.raw
  const n = raw.length
  raw[n - 5] = String(ageOf(entry, now))
  raw[n - 3] = xCache
  raw[n - 1] = cacheStatus
  out.writeHead(is304 ? 304 : entry.status, raw)
  if (is304 || bodyless) out.end()
  else out.end(entry.body)
}
