import type { RedisClientType } from '@keyv/redis'
import { describeRedis, dropNamespace, rawClient, REDIS_URL } from '../support/redis.js'
import { coalesceSuite } from './coalesce.js'

describeRedis('Redis tier on one Redis', function () {
  let raw: RedisClientType
  before(async function () { raw = await rawClient() })
  after(async function () { raw?.destroy() })

  coalesceSuite('one Redis', {
    redis: () => REDIS_URL,
    drop: async namespace => { await dropNamespace(raw, namespace) },
    setRaw: async (key, value, px) => { await raw.set(key, value, { PX: px }) }
  })
})
