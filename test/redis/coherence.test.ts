import type { RedisClientType } from '@keyv/redis'
import { describeRedis, dropNamespace, rawClient, REDIS_URL } from '../support/redis.js'
import { coherenceSuite } from './coherence.js'

describeRedis('Redis tier on one Redis', function () {
  let raw: RedisClientType
  before(async function () { raw = await rawClient() })
  after(async function () { raw?.destroy() })

  coherenceSuite('one Redis', {
    redis: () => REDIS_URL,
    drop: async namespace => { await dropNamespace(raw, namespace) }
  })
})
