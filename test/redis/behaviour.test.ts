/**
 * The shared adapter behaviour suite, through Express, with the Redis tier switched on: L2,
 * notices and cross-instance locks must not change what any request gets.
 */
import type { RedisClientType } from '@keyv/redis'
import { behaviour } from '../adapters/behaviour.js'
import { makeExpressHarness } from '../adapters/express-harness.js'
import { quiet } from '../support/apps.js'
import { describeRedis, dropNamespace, rawClient, REDIS_URL } from '../support/redis.js'

describeRedis('Redis tier under the adapter behaviour suite', function () {
  let raw: RedisClientType
  before(async function () { raw = await rawClient() })
  after(async function () { raw?.destroy() })

  const harness = makeExpressHarness({
    name: 'express with redis',
    cache: { logger: quiet, redis: REDIS_URL },
    afterClose: async options => { if (options?.namespace !== undefined) await dropNamespace(raw, options.namespace) },
  })
  behaviour(harness)
})
