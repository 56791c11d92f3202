/**
 * What the proxy's tests share: a scripted origin on loopback, the proxy in-process in front
 * of it, and the real binary as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import net, { type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { listenOn } from '../support/listen.js'
import { parseConfig, type ProxyConfigInput } from '../../proxy/config.js'
import { createProxy, type Proxy, type ProxyExtras } from '../../proxy/server.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = fileURLToPath(new URL('../../bin/cachefront-proxy.js', import.meta.url))

/** An origin server whose every request goes to `handle`; it counts requests and connections. */
export interface Origin {
  url: string
  server: http.Server
  requests: IncomingMessage[]
  count(path?: string): number
  /** Connections open right now. */
  connections(): Promise<number>
  close(): Promise<void>
}

export async function startOrigin (handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Origin> {
  const requests: IncomingMessage[] = []
  const { url, server, close } = await listenOn((req, res) => {
    requests.push(req)
    handle(req, res)
  })
  return {
    url,
    server,
    requests,
    count: path => requests.filter(r => path === undefined || r.url === path).length,
    connections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close,
  }
}

/** A started proxy with its URLs. */
export interface Running {
  proxy: Proxy
  url: string
  admin: string
  close(): Promise<void>
}

/** The proxy in-process on loopback ports, quiet, with a unique namespace; `config` is laid over that. */
export async function startProxy (upstream: string, config: Partial<ProxyConfigInput> = {}, extras: ProxyExtras = {}): Promise<Running> {
  const proxy = createProxy(parseConfig({
    upstream,
    listen: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    ...config,
    admin: { port: 0, ...config.admin },
    cache: { namespace: `t-${randomUUID()}`, ...config.cache },
  }), extras)
  const { url, admin } = await proxy.listen()
  return { proxy, url, admin: admin ?? '', close: () => proxy.close() }
}

/** A port nothing listens on right now. */
export async function freePort (): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await new Promise(resolve => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

/** The binary as a child process, its output collected. */
export interface Child {
  process: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves with the exit code (or the signal) once it has exited. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Resolves once stdout contains `text`, rejects after `ms` or when the process exits first. */
  waitFor(text: string | RegExp, ms?: number): Promise<void>
}

export function runBinary (args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  return {
    process: child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor (text, ms = 10_000) {
      const seen = () => (typeof text === 'string' ? out.includes(text) : text.test(out))
      return new Promise((resolve, reject) => {
        if (seen()) return resolve()
        const timer = setTimeout(() => finish(new Error(`timed out waiting for ${String(text)}; stdout: ${out}\nstderr: ${err}`)), ms)
        const onData = () => { if (seen()) finish() }
        const onExit = () => finish(new Error(`exited before ${String(text)}; stdout: ${out}\nstderr: ${err}`))
        function finish (e?: Error) {
          clearTimeout(timer)
          child.stdout!.off('data', onData)
          child.off('exit', onExit)
          if (e) reject(e)
          else resolve()
        }
        child.stdout!.on('data', onData)
        child.once('exit', onExit)
      })
    },
  }
}

/** Parses pino's JSON lines. */
export function logLines (text: string): Record<string, unknown>[] {
  return text.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
}
