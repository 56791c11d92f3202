/**
 * Instances as separate OS processes (test/support/instance-process.ts), sharing one Redis
 * namespace in front of one origin, a tiny HTTP server in this process that counts requests.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { RedisClientType } from '@keyv/redis'
import { expect } from 'chai'
import type { Stats } from '../../src/index.js'
import { send, sleep } from '../support/http.js'
import { describeRedis, dropNamespace, rawClient, REDIS_URL, uniqueNamespace } from '../support/redis.js'

const SCRIPT = fileURLToPath(new URL('../support/instance-process.ts', import.meta.url))
const INSTANCES = 3

describeRedis('Redis tier across OS processes', function () {
  this.timeout(30_000)
  let raw: RedisClientType
  let origin: http.Server
  let originUrl: string
  let counts: Record<string, number> = {}
  let version = 1
  const namespace = uniqueNamespace('processes')
  const children: ChildProcess[] = []
  const urls: string[] = []

  before(async function () {
    raw = await rawClient()
    origin = http.createServer((req, res) => {
      const path = req.url ?? '/'
      counts[path] = (counts[path] ?? 0) + 1
      // A slow origin for the coalescing test (a wide window for the misses to pile up), a fast
      // one otherwise (the coherence test measures the cache, not the origin).
      setTimeout(() => {
        res.setHeader('cache-control', 'max-age=600')
        res.setHeader('content-type', 'text/plain')
        res.end(`v${version} ${path}`)
      }, path === '/cold' ? 100 : 0)
    })
    origin.listen(0, '127.0.0.1')
    await once(origin, 'listening')
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`

    const started = Date.now()
    const ready = Array.from({ length: INSTANCES }, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
        env: { ...process.env, CACHEFRONT_TEST_REDIS: REDIS_URL, CACHEFRONT_TEST_NAMESPACE: namespace, CACHEFRONT_TEST_ORIGIN: originUrl },
        stdio: ['pipe', 'pipe', 'inherit']
      })
      children.push(child)
      return await readyPort(child)
    })
    for (const port of await Promise.all(ready)) urls.push(`http://127.0.0.1:${port}`)
    process.stdout.write(`      [processes] ${INSTANCES} instances (pids ${children.map(c => c.pid).join(', ')}) ready in ${Date.now() - started} ms\n`)
  })

  after(async function () {
    await Promise.all(children.map(async child => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    }))
    origin?.closeAllConnections()
    origin?.close()
    if (raw !== undefined) {
      await dropNamespace(raw, namespace)
      raw.destroy()
    }
  })

  beforeEach(function () {
    counts = {}
    version = 1
  })

  async function stats (url: string): Promise<Stats> {
    return JSON.parse((await send(url + '/_admin/stats')).text) as Stats
  }

  it(`coalesces 100 concurrent cold requests to each of ${INSTANCES} processes into 1 origin request`, async function () {
    const replies = (await Promise.all(urls.map(async url =>
      await Promise.all(Array.from({ length: 100 }, async () => await send(url + '/cold')))
    ))).flat()
    expect(counts['/cold']).to.equal(1)
    for (const r of replies) {
      expect(r.status).to.equal(200)
      expect(r.text).to.equal('v1 /cold')
    }
    const locks = (await Promise.all(urls.map(stats))).map(s => s.l2!.locks!)
    expect(locks.reduce((n, l) => n + l.acquired, 0)).to.equal(1)
    process.stdout.write(`      [processes] ${INSTANCES} × 100 cold requests: origin requests ${counts['/cold']}; ` +
      `cross-process waits ${locks.reduce((n, l) => n + l.contended, 0)} (ended by notice ${locks.reduce((n, l) => n + l.notified, 0)})\n`)
  })

  /** Caches `path` in every process's L1, purges it on the first, and times the others' switch to the new content. */
  async function purgeAndWatch (path: string): Promise<number[]> {
    for (const url of urls) {
      for (let i = 0; i < 2; i++) expect((await send(url + path)).text).to.equal(`v${version} ${path}`)
    }
    expect(counts[path]).to.equal(1)
    for (const url of urls) expect((await send(url + path)).headers['x-cache'], 'held in L1').to.equal('HIT')

    version++
    const started = Date.now()
    const purge = await send(urls[0] + '/_admin/invalidate', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: path })
    })
    expect(purge.status).to.equal(200)
    const seen: number[] = []
    for (const url of urls.slice(1)) {
      while ((await send(url + path)).text !== `v${version} ${path}`) {
        if (Date.now() - started > 2000) throw new Error('still the old content after 2 s')
        await sleep(1)
      }
      seen.push(Date.now() - started)
    }
    expect(counts[path], 'one origin request for the new content').to.equal(2)
    return seen
  }

  it('after a purge on one process, the others serve the new content within 100 ms', async function () {
    // A first round warms up each process's purge and miss paths (V8 compiles functions on first call).
    await purgeAndWatch('/warm-up')
    const seen = await purgeAndWatch('/p')
    process.stdout.write(`      [processes] purge on process 1 → new content on processes 2, 3 after ${seen.join(', ')} ms\n`)
    expect(Math.max(...seen)).to.be.below(100)
  })
})

async function readyPort (child: ChildProcess): Promise<number> {
  const lines = createInterface({ input: child.stdout! })
  const exited = once(child, 'exit').then(([code]) => { throw new Error(`instance process exited (${String(code)}) before it was ready`) })
  const ready = (async () => {
    for await (const line of lines) {
      const m = /^READY (\d+)$/.exec(line)
      if (m !== null) return Number(m[1])
    }
    throw new Error('instance process closed its output before it was ready')
  })()
  return await Promise.race([ready, exited])
}
