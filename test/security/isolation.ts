/**
 * A randomized isolation check, run per adapter: N users × M paths with per-user and shared
 * responses, requested concurrently in random order. Every answer a user receives was produced
 * for that user, or is genuinely shared.
 */
import { expect } from 'chai'
import { randomUUID } from 'node:crypto'
import type { Harness, OriginRequest, OriginResponse } from '../adapters/harness.js'
import type { CacheOptions } from '../../src/index.js'
import { send } from '../support/http.js'

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

export function isolation (harness: Harness, extra: CacheOptions = {}): void {
  for (const keyed of [true, false]) {
    it(`${harness.name}: users never receive each other's responses (${keyed ? 'keyed per user' : 'shared cache'})`, async function () {
      this.timeout(30000)
      const started = await harness.start({
        cache: {
          namespace: `iso-${randomUUID()}`,
          ...extra,
          key: keyed ? { user: (req: { headers: Record<string, string | undefined> }) => req.headers['x-user-id'] } : undefined,
        },
        handler: origin,
      })
      try {
        const jobs: (() => Promise<void>)[] = []
        for (let round = 0; round < 3; round++) {
          for (let u = 0; u < USERS; u++) {
            for (let p = 0; p < PATHS; p++) {
              for (const kind of ['shared', 'private', 'vary', 'cookie', 'auth']) {
                const user = `user-${u}`
                const headers: Record<string, string> = kind === 'auth' ? { authorization: `Bearer ${user}`, 'x-user-id': user } : { 'x-user-id': user }
                jobs.push(async () => {
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
        expect(started.cache.stats().hits).to.be.greaterThan(0)
      } finally {
        await started.close()
      }
    })
  }
}
