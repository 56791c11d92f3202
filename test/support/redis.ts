/**
 * Everything Redis tests share: where Redis is, what to do when it is not there, unique
 * namespaces, a raw client for looking behind the store's back, and throwaway redis-server
 * processes for kill/restart tests.
 *
 * When Redis (or the redis-server binary) is missing, a Redis suite FAILS if `CI=true` (CI must
 * exercise the Redis tier) and is otherwise skipped, with one line saying why for the whole run.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient, type RedisClientType } from '@keyv/redis'
import { escapeGlob, redisKeys } from '../../src/l2.js'

/** The Redis the tests use; only loopback in practice. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const CI = process.env.CI === 'true'

let reachable: Promise<string | undefined> | undefined
let announced = false

/** Why Redis at REDIS_URL cannot be used, or undefined when it answers PING (probed once per run). */
export async function redisProblem (): Promise<string | undefined> {
  reachable ??= (async () => {
    const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 1000, reconnectStrategy: false } })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.ping()
      return undefined
    } catch (err) {
      return `Redis is not reachable at ${REDIS_URL} (${(err as Error).message || String(err)})`
    } finally {
      if (client.isOpen) client.destroy()
    }
  })()
  return await reachable
}

/** Why redis-server (and, for a Cluster, redis-cli) cannot be run here, or undefined. */
function serverProblem (cli = false): string | undefined {
  for (const binary of cli ? ['redis-server', 'redis-cli'] : ['redis-server']) {
    const r = spawnSync(binary, ['--version'], { encoding: 'utf8' })
    if (r.error !== undefined || r.status !== 0) return `${binary} is not runnable (${r.error?.message ?? r.stderr})`
  }
  return undefined
}

/** Fails (CI) or skips (elsewhere) the current suite or test for `problem`. */
function unavailable (ctx: Mocha.Context, problem: string): never {
  if (CI) throw new Error(`${problem}; CI=true requires Redis (see .ci/run)`)
  if (!announced) {
    announced = true
    process.stdout.write(`  [redis] ${problem}: Redis tests skipped (set CI=true to make this a failure)\n`)
  }
  ctx.skip()
}

/** In a `before`/`it`: fail or skip unless Redis answers at REDIS_URL. */
export async function requireRedis (ctx: Mocha.Context): Promise<void> {
  const problem = await redisProblem()
  if (problem !== undefined) unavailable(ctx, problem)
}

/** In a `before`/`it`: fail or skip unless this machine can start its own redis-server. */
export function requireRedisServer (ctx: Mocha.Context): void {
  const problem = serverProblem()
  if (problem !== undefined) unavailable(ctx, problem)
}

/** In a `before`/`it`: fail or skip unless this machine can start a Redis Cluster (redis-server and redis-cli). */
export function requireRedisCluster (ctx: Mocha.Context): void {
  const problem = serverProblem(true)
  if (problem !== undefined) unavailable(ctx, problem)
}

/** `describe` whose tests run only when Redis is reachable (see the module doc). */
export function describeRedis (name: string, fn: (this: Mocha.Suite) => void): Mocha.Suite {
  return describe(name, function () {
    before(async function () { await requireRedis(this) })
    fn.call(this)
  })
}

/** A namespace no other test (or run) uses. */
export function uniqueNamespace (label = 'test'): string {
  return `${label}-${randomUUID().slice(0, 12)}`
}

/** A plain connected client (string replies) for inspecting and seeding keys directly. */
export async function rawClient (url = REDIS_URL): Promise<RedisClientType> {
  const client = createClient({ url, socket: { connectTimeout: 1000, reconnectStrategy: false } }) as unknown as RedisClientType
  client.on('error', () => {})
  await client.connect()
  return client
}

/** Deletes every key of a RedisStore namespace (for cleanup that must not depend on the store). */
export async function dropNamespace (client: RedisClientType, namespace: string): Promise<number> {
  let deleted = 0
  for await (const keys of client.scanIterator({ MATCH: escapeGlob(redisKeys(namespace).prefix) + '*', COUNT: 1000 })) {
    if (keys.length > 0) deleted += await client.unlink(keys)
  }
  return deleted
}

/** A redis-server child process on a spare loopback port, owned (and killed) by the test. */
export class RedisServer {
  private child: ChildProcess | undefined
  private constructor (readonly port: number) {}

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Starts a server on a free port and waits until it answers. */
  static async start (): Promise<RedisServer> {
    const server = new RedisServer(await freePort())
    await server.restart()
    return server
  }

  /** (Re)starts the server on the same port, without persistence, and waits until it answers. */
  async restart (): Promise<void> {
    if (this.child !== undefined) throw new Error('redis-server is already running')
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'
    ], { stdio: 'ignore' })
    this.child = child
    child.once('exit', () => { if (this.child === child) this.child = undefined })
    killOnExit.add(child)
    for (let i = 0; i < 100; i++) {
      if (await answers(this.port)) return
      if (this.child !== child) throw new Error(`redis-server on port ${this.port} exited at start`)
      await sleep(50)
    }
    throw new Error(`redis-server on port ${this.port} did not answer within 5 s`)
  }

  /** Kills the server (SIGKILL: no goodbye to clients) and waits for it to be gone. */
  async kill (): Promise<void> {
    const child = this.child
    if (child === undefined) return
    this.child = undefined
    killOnExit.delete(child)
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }
  }

  /** Freezes the server (SIGSTOP): connections stay open but nothing is answered. */
  pause (): void {
    this.child?.kill('SIGSTOP')
  }

  /** Undoes `pause`. */
  resume (): void {
    this.child?.kill('SIGCONT')
  }
}

/**
 * A Redis Cluster of three masters (no replicas) on spare loopback ports, created with
 * `redis-cli --cluster create`, its node files in a temporary directory; torn down by `stop()`.
 */
export class RedisClusterServers {
  private constructor (readonly ports: number[], private readonly dir: string, private readonly children: ChildProcess[]) {}

  get rootNodes (): Array<{ url: string }> {
    return this.ports.map(port => ({ url: `redis://127.0.0.1:${port}` }))
  }

  /** Starts the nodes, joins them, and waits until every node reports `cluster_state:ok`. */
  static async start (masters = 3): Promise<RedisClusterServers> {
    const dir = mkdtempSync(path.join(tmpdir(), 'cachefront-cluster-'))
    const ports: number[] = []
    for (let i = 0; i < masters; i++) ports.push(await freePort())
    const children = ports.map(port => {
      const child = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
        '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--dir', dir,
        '--save', '', '--appendonly', 'no', '--daemonize', 'no'
      ], { stdio: 'ignore' })
      killOnExit.add(child)
      return child
    })
    const cluster = new RedisClusterServers(ports, dir, children)
    try {
      for (const port of ports) {
        let up = false
        for (let i = 0; i < 100 && !up; i++) if (!(up = await answers(port))) await sleep(50)
        if (!up) throw new Error(`cluster node on port ${port} did not answer within 5 s`)
      }
      await promisify(execFile)('redis-cli', [
        '--cluster', 'create', ...ports.map(p => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'
      ], { timeout: 20_000 })
      for (const port of ports) {
        const client = await rawClient(`redis://127.0.0.1:${port}`)
        try {
          const deadline = Date.now() + 15_000
          while (!/cluster_state:ok/.test(await client.sendCommand(['CLUSTER', 'INFO']) as string)) {
            if (Date.now() > deadline) throw new Error(`cluster node ${port}: cluster_state not ok after 15 s`)
            await sleep(100)
          }
        } finally {
          client.destroy()
        }
      }
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  /** Runs `fn` with a plain client on each node (keys of one namespace live on one of them). */
  async eachNode<T> (fn: (client: RedisClientType) => Promise<T>): Promise<T[]> {
    const out: T[] = []
    for (const port of this.ports) {
      const client = await rawClient(`redis://127.0.0.1:${port}`)
      try {
        out.push(await fn(client))
      } finally {
        client.destroy()
      }
    }
    return out
  }

  async stop (): Promise<void> {
    await Promise.all(this.children.map(async child => {
      killOnExit.delete(child)
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }))
    rmSync(this.dir, { recursive: true, force: true })
  }
}

const killOnExit = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of killOnExit) child.kill('SIGKILL')
})

async function freePort (): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

async function answers (port: number): Promise<boolean> {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { connectTimeout: 200, reconnectStrategy: false } })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    if (client.isOpen) client.destroy()
  }
}
