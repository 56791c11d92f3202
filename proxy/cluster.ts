/**
 * `--workers N`: N processes serve the main port (node:cluster shares the listening socket);
 * the primary serves no requests. It restarts a worker that dies, runs the admin API for all of
 * them, and relays over IPC what must reach every worker: a purge (each has its own L1, even
 * with a shared Redis tier), stats and metrics (summed; prom-client's AggregatorRegistry).
 *
 * Signals: the primary tells every worker to shut down gracefully, waits for them, and exits 0.
 * A worker that receives a signal itself (a process-group SIGINT) shuts down the same way.
 */
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { AggregatorRegistry } from 'prom-client'
import { createDashboard, mergeSnapshots, parseDuration, snapshotOf, type DashboardSnapshot, type Invalidation, type Stats } from '../src/index.js'
import { PurgeLog } from '../src/activity.js'
import { createAdminServer, type AdminBackend } from './admin.js'
import type { ProxyConfig } from './config.js'
import { createProxy } from './server.js'
import { reachable, warmAtStartup } from './warm.js'

/** Messages between the primary and its workers; `cachefront` tells them apart from prom-client's. */
type Message =
  | { cachefront: 'ready', url?: string }
  | { cachefront: 'purge', id: number, what: Invalidation }
  | { cachefront: 'stats', id: number }
  | { cachefront: 'dashboard', id: number }
  | { cachefront: 'shutdown' }
  | { cachefront: 'reply', id: number, result?: unknown, error?: string }
  /** A worker asks the primary to purge everywhere (PURGE on the main port). */
  | { cachefront: 'purge-all', id: number, what: Invalidation }

const IPC_TIMEOUT = 5000
const RESTART_DELAY = 1000

function isMessage (m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as { cachefront?: unknown }).cachefront === 'string'
}

/** Request/reply over one IPC channel. */
class Asker {
  private next = 0
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()

  ask (send: (m: Message) => void, build: (id: number) => Message): Promise<unknown> {
    const id = this.next++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error('a worker did not answer within 5 s'))
      }, IPC_TIMEOUT)
      this.waiting.set(id, { resolve, reject, timer })
      send(build(id))
    })
  }

  reply (m: { id: number, result?: unknown, error?: string }): void {
    const w = this.waiting.get(m.id)
    if (w === undefined) return
    this.waiting.delete(m.id)
    clearTimeout(w.timer)
    if (m.error !== undefined) w.reject(new Error(m.error))
    else w.resolve(m.result)
  }
}

export async function runPrimary (config: ProxyConfig, logger: Logger): Promise<void> {
  const asker = new Asker()
  const ready = new Set<Worker>()
  let stopping = false
  const aggregator = new AggregatorRegistry()
  const shutdownMs = parseDuration(config.timeouts.shutdown, 'timeouts.shutdown')

  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected())
  const everyWorker = (build: (id: number) => Message) =>
    Promise.all(live().map(w => asker.ask(m => w.send(m), build)))

  /** One purge, run in every worker: with a shared Redis tier they delete the same keys, so the largest count is the answer. */
  const purgeEverywhere = async (what: Invalidation) => {
    const counts = await everyWorker(id => ({ cachefront: 'purge', id, what })) as number[]
    return counts.reduce((a, b) => Math.max(a, b), 0)
  }

  // Purges asked for here are listed on the dashboard (each worker runs them, so theirs would repeat).
  const purgeLog = new PurgeLog()
  const purgeTracked = (what: Invalidation) => purgeLog.track(what, purgeEverywhere(what))
  const stopWarming = new AbortController()
  let warmed = false

  let everReady = false
  const fork = () => {
    const worker = cluster.fork()
    worker.on('message', (m: unknown) => {
      if (!isMessage(m)) return
      if (m.cachefront === 'ready') {
        ready.add(worker)
        everReady = true
        // The config's warm list, once, when every worker serves.
        if (!warmed && ready.size === config.workers && config.warm !== undefined && m.url !== undefined) {
          warmed = true
          void warmAtStartup(config.warm, reachable(m.url), logger, stopWarming.signal).catch(() => {})
        }
      }
      else if (m.cachefront === 'reply') asker.reply(m)
      else if (m.cachefront === 'purge-all') {
        purgeTracked(m.what).then(
          result => worker.send({ cachefront: 'reply', id: m.id, result }),
          err => worker.send({ cachefront: 'reply', id: m.id, error: (err as Error).message }),
        )
      }
    })
    worker.on('exit', (code, signal) => {
      ready.delete(worker)
      if (stopping) return
      if (!everReady) {
        // Nothing ever started (the port is taken, say): restarting would only repeat it.
        logger.fatal({ workerPid: worker.process.pid, code, signal }, 'a worker failed before serving; stopping')
        void stop('worker failure', 1)
        return
      }
      logger.error({ workerPid: worker.process.pid, code, signal }, `worker exited; starting another in ${RESTART_DELAY} ms`)
      setTimeout(() => { if (!stopping) fork() }, RESTART_DELAY).unref()
    })
  }
  for (let i = 0; i < config.workers; i++) fork()

  const backend: AdminBackend = {
    token: config.admin.token,
    invalidate: purgeTracked,
    stats: async () => {
      const all = await everyWorker(id => ({ cachefront: 'stats', id })) as { cache: Stats, requests: Record<string, number> }[]
      return { workers: all.length, cache: sum(all.map(s => s.cache)), requests: sum(all.map(s => s.requests)), perWorker: all }
    },
    metrics: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }),
    readiness: () => ({ ready: !stopping && ready.size === config.workers, workers: { ready: ready.size, configured: config.workers } }),
  }
  if (config.admin.enabled) {
    backend.dashboard = createDashboard({
      snapshot: async () => mergeSnapshots(await everyWorker(id => ({ cachefront: 'dashboard', id })) as DashboardSnapshot[], purgeLog.list()),
      invalidate: purgeTracked,
    }, { token: config.admin.token, title: 'cachefront-proxy' })
  }
  const admin = config.admin.enabled ? createAdminServer(backend, (err, what) => logger.error({ err }, `${what} failed`)) : undefined
  if (admin !== undefined) {
    await new Promise<void>((resolve, reject) => {
      admin.once('error', reject)
      admin.listen(config.admin.port, config.admin.host, () => resolve())
    })
    const a = admin.address() as { address: string, port: number }
    logger.info({ admin: `http://${a.address}:${a.port}`, workers: config.workers }, 'cachefront-proxy primary: admin API listening')
  }
  if (config.redis === undefined) {
    logger.warn('--workers without redis: each worker has its own in-memory cache (purges still reach all of them)')
  }

  async function stop (signal: string, code = 0): Promise<void> {
    if (stopping) {
      if (code !== 0) return
      logger.warn(`${signal} again: exiting now`)
      process.exit(1)
    }
    stopping = true
    stopWarming.abort()
    backend.dashboard?.close()
    logger.info(`${signal}: shutting down ${live().length} workers`)
    // Workers bound their own shutdown; this bounds a worker that hangs anyway.
    setTimeout(() => {
      logger.error('workers did not stop in time: killing them')
      for (const w of live()) w.process.kill('SIGKILL')
      process.exit(1)
    }, shutdownMs + 5000).unref()
    const exits = live().map(w => new Promise<void>(resolve => {
      if (w.isDead()) return resolve()
      w.once('exit', () => resolve())
      w.send({ cachefront: 'shutdown' })
    }))
    admin?.close()
    admin?.closeAllConnections()
    await Promise.all(exits)
    process.exit(code)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}

export async function runWorker (config: ProxyConfig, logger: Logger): Promise<void> {
  const asker = new Asker()
  const send = (m: Message) => process.send!(m)
  const proxy = createProxy(config, {
    logger: logger.child({ worker: cluster.worker?.id }),
    admin: false,
    defaultMetrics: true,
    // The primary warms, once every worker listens.
    warm: false,
    invalidate: what => asker.ask(send, id => ({ cachefront: 'purge-all', id, what })) as Promise<number>,
  })
  new AggregatorRegistry() // eslint-disable-line no-new -- answers the primary's metric requests
  AggregatorRegistry.setRegistries([proxy.metrics.registry])

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    await proxy.close()
    process.exit(0)
  }
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return
    if (m.cachefront === 'reply') return asker.reply(m)
    if (m.cachefront === 'shutdown') return void stop()
    if (m.cachefront === 'purge' || m.cachefront === 'stats' || m.cachefront === 'dashboard') {
      const work = m.cachefront === 'purge'
        ? proxy.invalidate(m.what)
        : m.cachefront === 'dashboard'
          ? Promise.resolve(snapshotOf(proxy.cache.engine))
          : Promise.resolve({ cache: proxy.cache.stats(), requests: { ...proxy.metrics.requestCounts }, pid: process.pid })
      work.then(
        result => send({ cachefront: 'reply', id: m.id, result }),
        err => send({ cachefront: 'reply', id: m.id, error: (err as Error).message }),
      )
    }
  })
  // A signal to the whole process group reaches the workers too: the same graceful stop.
  process.on('SIGTERM', () => void stop())
  process.on('SIGINT', () => void stop())
  // The primary going away means nobody restarts or administers this worker.
  process.on('disconnect', () => void stop())

  let url: string
  try {
    ({ url } = await proxy.listen())
  } catch (err) {
    logger.fatal((err as Error).message)
    await proxy.close()
    process.exit(1)
  }
  send({ cachefront: 'ready', url })
}

function sum<T extends object> (items: T[]): T {
  const out: Record<string, number> = {}
  for (const item of items) {
    for (const [k, v] of Object.entries(item)) if (typeof v === 'number') out[k] = (out[k] ?? 0) + v
  }
  return out as T
}
