/**
 * Cache instances for the Redis-tier tests: each is an Express app with `createCache(options)`
 * in front of a handler, listening on a spare loopback port. Several of them on one Redis
 * namespace stand for the instances of one application behind a load balancer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { serveWithCache } from './listen.js'
import express from 'express'
import { createCache, type Cache, type CacheOptions, type Logger } from '../../src/index.js'
import { sleep } from './http.js'

export interface App {
  url: string
  cache: Cache
  close: () => Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

export async function startApp (options: CacheOptions, handler: Handler): Promise<App> {
  const cache = createCache({ logger: quiet, ...options })
  const app = express()
  app.use(cache.express())
  app.use((req, res, next) => { Promise.resolve(handler(req, res)).catch(next) })
  return serveWithCache(app, cache)
}

/** Waits until `check` holds, polling every `every` ms; fails with `what` after `ms`. */
export async function until (check: () => boolean | Promise<boolean>, what: string, ms = 5000, every = 10): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(every)
  }
}

/** Waits until every cache hears its namespace's channel (notices sent before would be missed). */
export async function subscribed (...caches: Cache[]): Promise<void> {
  await until(() => caches.every(c => c.stats().l2?.subscribed === true), 'the caches to subscribe')
}

/** A logger that drops everything (Redis tests provoke warnings on purpose). */
export const quiet: Logger = { debug () {}, info () {}, warn () {}, error () {} }

/** A logger that records `[level, msg, obj]`. */
export function recorder (): Logger & { lines: Array<[string, string | undefined, object]> } {
  const lines: Array<[string, string | undefined, object]> = []
  const at = (level: string) => (obj: object, msg?: string) => { lines.push([level, msg, obj]) }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
