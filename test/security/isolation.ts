/**
 * A randomized isolation check, run per adapter: N users × M paths with per-user and shared
 * responses, requested concurrently in random order. Every answer a user receives was produced
 * for that user, or is genuinely shared. With `instances` > 1, that many caches share the
 * namespace (and, given `redis` in the options, one Redis), and requests alternate between them.
 */
import { expect } from 'chai'
import { randomUUID } from 'node:crypto'
import type { Harness, OriginRequest, OriginResponse, Started } from '../adapters/harness.js'
import type { CacheOptions } from '../../src/index.js'
import { send } from '../support/http.js'
import { dropNamespace, rawClient } from '../support/redis.js'

const USERS = 8
const PATHS = 12

/** The origin: each body names whom it was produced for. */
function origin (req: OriginRequest): OriginResponse {
  const user = String(req.headers['x-user-id'] ?? (req.headers.authorization ?? '').replace('Bearer ', '') ?? '')
  const [, kind, n] = req.url.split('/')
  const body = (who: string): string => JSON.stringify({ for: who, path: req.url })
  switch (kind) {
    case 'shared': return { headers: { 'cache-control': 'public, max-age=60' }, body: body('*') }
    case 'private': return { headers: { 'cache-control': 'private, max-age=60' }, body: body(user) }
    case 'vary': return { headers: { 'cache-control': 'max-age=60', vary: 'X-User-Id' }, body: body(user) }
    case 'cookie': return { headers: { 'cache-control': 'max-age=60', 'set-cookie': `s=${user}` }, body: body(user) }
    case 'auth': return { headers: { 'cache-control': 'max-age=60' }, body: body(user) }
    default: return { status: 404, body: body('*') + n }
  }
}

function shuffle<T> (xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [xs[i], xs[j]] = [xs[j], xs[i]] }
  return xs
}

export function isolation (harness: Harness, extra: CacheOptions = {}, instances = 1): void {
  const where = instances > 1 ? `, ${instances} instances${extra.redis !== undefined ? ' sharing Redis' : ''}` : extra.redis !== undefined ? ', with Redis' : ''
  for (const keyed of [true, false]) {
    it(`${harness.name}: users never receive each other's responses (${keyed ? 'keyed per user' : 'shared cache'}${where})`, async function () {
      this.timeout(30000)
      const namespace = `iso-${randomUUID()}`
      const all: Started[] = []
      let turn = 0
      try {
        for (let i = 0; i < instances; i++) {
          all.push(await harness.start({
            cache: {
              namespace,
              ...extra,
              key: keyed ? { user: (req: { headers: Record<string, string | undefined> }) => req.headers['x-user-id'] } : undefined,
            },
            handler: origin,
          }))
        }
        const jobs: (() => Promise<void>)[] = []
        for (let round = 0; round < 3; round++) {
          for (let u = 0; u < USERS; u++) {
            for (let p = 0; p < PATHS; p++) {
              for (const kind of ['shared', 'private', 'vary', 'cookie', 'auth']) {
                const user = `user-${u}`
                // One Host for every instance (the proxy keys by the forwarded host).
                const headers: Record<string, string> = kind === 'auth'
                  ? { host: 'app.example', authorization: `Bearer ${user}`, 'x-user-id': user }
                  : { host: 'app.example', 'x-user-id': user }
                jobs.push(async () => {
                  const started = all[turn++ % all.length]
                  const r = await send(`${started.url}/${kind}/${p}`, { headers })
                  expect(r.status).to.equal(200)
                  const got = JSON.parse(r.text) as { for: string }
                  if (kind === 'shared') expect(got.for).to.equal('*')
                  else expect(got.for, `${kind}/${p} for ${user} (x-cache ${String(r.headers['x-cache'])})`).to.equal(user)
                  if (kind === 'cookie' && r.headers['set-cookie']) expect(r.headers['set-cookie']).to.deep.equal([`s=${user}`])
                })
              }
            }
          }
        }
        shuffle(jobs)
        const concurrency = 32
        let next = 0
        await Promise.all(Array.from({ length: concurrency }, async () => { while (next < jobs.length) await jobs[next++]() }))
        expect(all.reduce((n, s) => n + s.cache.stats().hits, 0)).to.be.greaterThan(0)
      } finally {
        await Promise.all(all.map(async s => await s.close()))
        if (extra.redis !== undefined) await dropRedisNamespace(namespace)
      }
    })
  }
}

async function dropRedisNamespace (namespace: string): Promise<void> {
  const client = await rawClient()
  try {
    await dropNamespace(client, namespace)
  } finally {
    client.destroy()
  }
}
