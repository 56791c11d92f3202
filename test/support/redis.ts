/**
 * Everything Redis tests share: where Redis is, what to do when it is not there, unique
 * namespaces, a raw client for looking behind the store's back, and throwaway redis-server
 * processes for kill/restart tests.
 *
 * When Redis (or the redis-server binary) is missing, a Redis suite FAILS if `CI=true` (CI must
 * exercise the Redis tier) and is otherwise skipped, with one line saying why for the whole run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
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

/** Why redis-server cannot be started here, or undefined. */
function serverProblem (): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  return r.error === undefined && r.status === 0 ? undefined : `redis-server is not runnable (${r.error?.message ?? r.stderr})`
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
