/**
 * The Redis tier on a Redis Cluster: three masters started here on spare ports. The shared store
 * contract, one namespace per slot (hash tag), sharded pub/sub for coherence, and locks.
 */
import { createCluster, type RedisClusterType } from '@keyv/redis'
import { expect } from 'chai'
import { RedisStore, redisKeys } from '../../src/l2.js'
import { makeEntry } from '../support/entries.js'
import { describeRedis, dropNamespace, RedisClusterServers, requireRedisCluster, uniqueNamespace } from '../support/redis.js'
import { storeContract } from '../store/contract.js'
import { coalesceSuite } from './coalesce.js'
import { coherenceSuite } from './coherence.js'

describeRedis('Redis tier on a Redis Cluster (3 masters)', function () {
  this.timeout(30_000)
  let cluster: RedisClusterServers
  let client: RedisClusterType
  const stores: RedisStore[] = []

  before(async function () {
    requireRedisCluster(this)
    const started = Date.now()
    cluster = await RedisClusterServers.start(3)
    client = createCluster({ rootNodes: cluster.rootNodes }) as unknown as RedisClusterType
    client.on('error', () => {})
    await client.connect()
    process.stdout.write(`      [cluster] 3 masters on ports ${cluster.ports.join(', ')}, cluster_state:ok after ${Date.now() - started} ms\n`)
  })
  afterEach(async function () {
    for (const store of stores.splice(0)) await store.close()
  })
  after(async function () {
    if (client?.isOpen) client.destroy()
    await cluster?.stop()
  })

  /** Deletes a namespace's keys on whichever node holds its slot. */
  async function drop (namespace: string): Promise<void> {
    await cluster.eachNode(async node => await dropNamespace(node, namespace))
  }

  function open (namespace = uniqueNamespace('cluster')): RedisStore {
    const store = new RedisStore({ cluster: { rootNodes: cluster.rootNodes }, namespace, commandTimeout: 1000 })
    stores.push(store)
    return store
  }

  storeContract('RedisStore on a Cluster', async () => {
    const store = open()
    return { store, cleanup: async () => { await store.close(); await drop(store.namespace) } }
  })

  it('keeps every key of a namespace in one slot (entries, tag sets, generation, locks, channel)', async function () {
    const store = open()
    await store.set('GET:/a?', makeEntry({ tags: ['t'] }), 60_000)
    await store.clear()
    await store.set('GET:/b?', makeEntry({ tags: ['t'] }), 60_000)
    const k = redisKeys(store.namespace, 1)
    const names = [k.entry('GET:/b?'), k.tag('t'), k.generation, k.lock('GET:/b?'), k.channel, redisKeys(store.namespace, 0).entry('GET:/a?')]
    const slots = new Set<number>()
    for (const name of names) slots.add(await client.sendCommand(undefined, true, ['CLUSTER', 'KEYSLOT', name]) as number)
    expect(slots.size).to.equal(1)
    expect(await store.get('GET:/a?')).to.equal(undefined)
    expect(await store.get('GET:/b?')).to.not.equal(undefined)
    expect(await store.deleteTag('t')).to.equal(1)
    expect(store.stats).to.include({ errors: 0, generation: 1 })
    await drop(store.namespace)
  })

  it('spreads namespaces over the masters', async function () {
    const namespaces = Array.from({ length: 12 }, () => uniqueNamespace('spread'))
    for (const namespace of namespaces) await open(namespace).set('k', makeEntry(), 60_000)
    const wanted = new Set(namespaces.map(namespace => redisKeys(namespace).entry('k')))
    const held = await cluster.eachNode(async node => {
      let n = 0
      for await (const keys of node.scanIterator({ MATCH: 'cf:{spread-*', COUNT: 1000 })) n += keys.filter(k => wanted.has(k)).length
      return n
    })
    expect(held.reduce((a, b) => a + b, 0)).to.equal(12)
    expect(held.filter(n => n > 0).length, `keys per node: ${held.join('/')}`).to.be.at.least(2)
    for (const namespace of namespaces) await drop(namespace)
  })

  const clusterOptions = (): { cluster: { rootNodes: Array<{ url: string }> } } => ({ cluster: { rootNodes: cluster.rootNodes } })
  coherenceSuite('Cluster', { redis: clusterOptions, drop })
  coalesceSuite('Cluster', {
    redis: clusterOptions,
    drop,
    setRaw: async (key, value, px) => { await client.set(key, value, { PX: px }) }
  })
})
