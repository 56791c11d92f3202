/**
 * The randomized isolation check (isolation.ts) through every adapter, on L1 alone, then through
 * the middleware and the proxy with two instances sharing one Redis (requests alternate between
 * them: L2 hits, cross-instance coalescing and notices all in play).
 */
import { expressHarness } from '../adapters/express.test.js'
import { koaHarness } from '../adapters/koa.test.js'
import { koaVersions } from '../adapters/koa-apps.js'
import { proxyHarness } from '../proxy/behaviour.test.js'
import { quiet } from '../support/apps.js'
import { describeRedis, REDIS_URL } from '../support/redis.js'
import { isolation } from './isolation.js'

const harnesses = [expressHarness, ...koaVersions.map(koaHarness), proxyHarness]

describe('isolation under concurrency', () => {
  for (const harness of harnesses) isolation(harness)
})

describeRedis('isolation under concurrency, two instances sharing Redis', () => {
  for (const harness of [expressHarness, proxyHarness]) {
    isolation(harness, { redis: REDIS_URL, logger: quiet }, 2)
  }
})
