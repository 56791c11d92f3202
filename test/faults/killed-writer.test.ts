/**
 * A process killed while it writes to Redis leaves nothing half-written that anyone would serve:
 * entries are written atomically (one MULTI, executed by Redis only once it has all of it) and
 * readers validate (codec.ts, `isStored`). And values in Redis that are not whole entries,
 * however they got there, read as misses: deleted, counted, never served.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { RedisClientType } from '@keyv/redis'
import { expect } from 'chai'
import { RedisStore, escapeGlob, redisKeys } from '../../src/l2.js'
import { startApp, subscribed, until, type App } from '../support/apps.js'
import { send, sleep } from '../support/http.js'
import { describeRedis, rawClient, RedisServer, requireRedisServer, uniqueNamespace } from '../support/redis.js'
import { bigBody } from '../support/writer-process.js'

const WRITER = fileURLToPath(new URL('../support/writer-process.ts', import.meta.url))
/** RESP bulk strings as Buffers (see l2.ts). */
const AS_BUFFER = { typeMapping: { 36: Buffer } } as const

/** Every entry key of a namespace in Redis (any generation). */
async function entryKeys (client: RedisClientType, namespace: string): Promise<string[]> {
  const keys: string[] = []
  for await (const page of client.scanIterator({ MATCH: escapeGlob(redisKeys(namespace).prefix) + '*:e:*', COUNT: 1000 })) keys.push(...page)
  return keys
}

async function getBuffer (client: RedisClientType, key: string): Promise<Buffer | null> {
  return await (client.sendCommand as (args: string[], options: object) => Promise<Buffer | null>)(['GET', key], AS_BUFFER)
}

describeRedis('faults: writes cut short', function () {
  this.timeout(60_000)
  let server: RedisServer
  let raw: RedisClientType
  const apps: App[] = []
  before(async function () {
    requireRedisServer(this)
    server = await RedisServer.start()
    raw = await rawClient(server.url)
  })
  afterEach(async () => { await Promise.all(apps.splice(0).map(async a => await a.close())) })
  after(async () => {
    raw?.destroy()
    server?.resume()
    await server?.kill()
  })

  it('a writer SIGKILLed with writes in flight: every entry in Redis is whole, and a reader serves it whole or goes to its origin', async () => {
    const namespace = uniqueNamespace('killed')
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', WRITER], {
      env: { ...process.env, CACHEFRONT_TEST_REDIS: server.url, CACHEFRONT_TEST_NAMESPACE: namespace },
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const exited = once(child, 'exit')
    const sent = new Set<number>()
    const done = new Set<number>()
    let ready = false
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const lines = out.split('\n')
      out = lines.pop()!
      for (const line of lines) {
        if (line === 'READY') ready = true
        const m = /^(SENT|DONE) (\d+)$/.exec(line)
        if (m !== null) (m[1] === 'SENT' ? sent : done).add(Number(m[2]))
      }
    })
    const inputBytes = async (): Promise<number> => Number(/total_net_input_bytes:(\d+)/.exec(await raw.info('stats'))![1])
    let received = 0
    try {
      await until(() => ready, 'the writer to start', 20_000)
      await until(() => done.size >= 8, 'eight whole writes', 20_000)
      // Freeze Redis: the next writes are handed to the socket but not read (a few MB of MULTI
      // in socket buffers, part of them already Redis'), and the writer dies with them.
      const before = await inputBytes()
      server.pause()
      // Six writes waiting on the frozen Redis, whether they were handed over before the freeze
      // or after it: the writer keeps at most twelve in flight, so when more than six were
      // already waiting at the freeze, six more could never be sent.
      await until(() => sent.size - done.size >= 6, 'six writes in flight to a frozen Redis', 20_000)
      await sleep(300)
      child.kill('SIGKILL')
      await exited
      server.resume()
      await sleep(100)
      received = await inputBytes() - before
    } finally {
      child.kill('SIGKILL')
      server.resume()
    }

    // What Redis holds: only values the codec reads back whole, each with its own body.
    const store = new RedisStore({ url: server.url, namespace })
    const keys = await entryKeys(raw, namespace)
    const stored = new Set<number>()
    for (const key of keys) {
      const entry = await store.get(key.slice(key.indexOf(':e:') + 3))
      expect(entry, `${key} reads back`).to.not.equal(undefined)
      if (entry?.type !== 'response') continue
      const i = Number(/\/big\/(\d+)\?$/.exec(key)?.[1])
      expect(entry.body.equals(bigBody(i)), `${key}: the body of /big/${i}`).to.equal(true)
      stored.add(i)
    }
    expect(store.stats.corrupt).to.equal(0)
    await store.close()
    const lost = [...sent].filter(i => !stored.has(i))
    process.stdout.write(`      writer killed after sending ${sent.size} entries (${done.size} acknowledged): ${stored.size} whole in Redis, ` +
      `${lost.length} lost with the process (Redis read ${(received / 1048576).toFixed(1)} MiB after the freeze: writes it got whole were applied, cut ones dropped)\n`)
    for (const i of done) expect(stored.has(i), `acknowledged /big/${i} is in Redis`).to.equal(true)
    expect(lost.length, 'writes in flight when the writer died').to.be.at.least(1)
    expect(received, 'bytes of the cut writes that reached Redis').to.be.above(0)

    // A reader: what it serves from L2 is the whole body; anything else comes from its own origin.
    const reader = await startApp({ namespace, redis: server.url, l1: { maxObjectSize: '8MB' } }, (req, res) => {
      res.setHeader('cache-control', 'no-store')
      res.end(`reader ${req.url}`)
    })
    apps.push(reader)
    await subscribed(reader.cache)
    let hits = 0
    for (const i of [...sent].sort((a, b) => a - b)) {
      const r = await send(reader.url + `/big/${i}`)
      expect(r.status).to.equal(200)
      if (r.headers['x-cache'] === 'HIT') {
        hits++
        expect(r.body.equals(bigBody(i)), `/big/${i} served whole`).to.equal(true)
      } else {
        expect(r.text).to.equal(`reader /big/${i}`)
      }
    }
    expect(hits).to.equal(stored.size)
    expect(reader.cache.stats().l2!.corrupt).to.equal(0)
  })

  describe('values in Redis that are not whole entries read as misses: deleted, counted, never served', () => {
    const small = 'a'.repeat(600) // stored as it is
    const large = 'abc'.repeat(2000) // stored brotli-compressed (above compressAbove)
    const variants: Array<[string, string, (good: Buffer) => Buffer | string]> = [
      ['cut in the body', small, g => g.subarray(0, g.length - 10)],
      ['cut in the compressed body', large, g => g.subarray(0, g.length - 10)],
      ['cut in the header', small, g => g.subarray(0, 20)],
      ['with bytes after the body', small, g => Buffer.concat([g, Buffer.from('junk')])],
      ['a wrong magic number', small, g => Buffer.concat([Buffer.from('XX'), g.subarray(2)])],
      ['another codec version', small, g => { const b = Buffer.from(g); b[2] = 99; return b }],
      ['a body length one off', small, g => { const b = Buffer.from(g); b.writeUInt32BE(b.readUInt32BE(8) + 1, 8); return b }],
      ['the compression flag on a raw body', small, g => { const b = Buffer.from(g); b[3] = 1; return b }],
      ['a header that is not an entry', small, () => { const h = Buffer.from('{"v":1,"type":"response"}'); const p = Buffer.alloc(12); p.write('CF'); p[2] = 1; p.writeUInt32BE(h.length, 4); return Buffer.concat([p, h]) }],
      ['foreign text', small, () => 'hello from another program'],
      ['an empty string', small, () => ''],
    ]

    for (const [label, body, corrupt] of variants) {
      it(label, async () => {
        const namespace = uniqueNamespace('planted')
        let n = 0
        const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
          res.setHeader('cache-control', 'max-age=600')
          res.end(`${++n} ${body}`)
        }
        const writer = await startApp({ namespace, redis: server.url }, handler)
        apps.push(writer)
        await send(writer.url + '/planted')
        let key: string | undefined
        await until(async () => (key = (await entryKeys(raw, namespace)).find(k => k.endsWith(':GET:/planted?'))) !== undefined, 'the genuine entry in Redis')
        const good = await getBuffer(raw, key!)
        await raw.set(key!, corrupt(good!), { PX: 600_000 })

        const reader = await startApp({ namespace, redis: server.url }, handler)
        apps.push(reader)
        const r = await send(reader.url + '/planted')
        expect(r.status).to.equal(200)
        expect(r.headers['x-cache']).to.equal('MISS')
        expect(r.text).to.equal(`2 ${body}`)
        expect(reader.cache.stats().l2!.corrupt).to.equal(1)
        // Deleted (then written again, whole, by the reader's miss).
        await until(async () => {
          const now = await getBuffer(raw, key!)
          return now !== null && now.length > 12 && !now.equals(Buffer.from(corrupt(good!)))
        }, 'the corrupt value to be replaced')
      })
    }

    it('a list where an entry should be (WRONGTYPE)', async () => {
      const namespace = uniqueNamespace('planted')
      const writer = await startApp({ namespace, redis: server.url }, (_req, res) => { res.setHeader('cache-control', 'max-age=600'); res.end('genuine') })
      apps.push(writer)
      await send(writer.url + '/planted')
      let key: string | undefined
      await until(async () => (key = (await entryKeys(raw, namespace)).find(k => k.endsWith(':GET:/planted?'))) !== undefined, 'the genuine entry in Redis')
      await raw.del(key!)
      await raw.rPush(key!, 'x')
      const reader = await startApp({ namespace, redis: server.url }, (_req, res) => { res.end('from the origin') })
      apps.push(reader)
      const r = await send(reader.url + '/planted')
      expect(r.text).to.equal('from the origin')
      expect(r.headers['x-cache']).to.equal('MISS')
    })
  })
})
