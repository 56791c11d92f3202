/**
 * The proxy's `Origin`: forwards a request upstream through http-proxy-3 and reports the
 * response to the engine's sink. The engine decides from the head whether the response streams
 * on to the client (and is buffered for storing as it goes) or is swallowed in favour of the
 * cache's own answer (a 304 freshening a stored entry, stale-if-error); this module carries
 * that out and nothing more.
 *
 * Responses are handled here (`selfHandleResponse`), so every byte passes the sink while it
 * streams to the client with backpressure. Failures end in exactly one outcome: the sink's
 * answer (stale-if-error), else 502 (refused, reset, bad response) or 504 (timeout) when nothing
 * was sent yet, else a destroyed client connection, so a truncated body never looks complete.
 */
import http, { STATUS_CODES, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type InformationEvent, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import { Readable } from 'node:stream'
import type { Socket } from 'node:net'
import { createProxyServer, type ProxyServer, type ServerOptions } from 'http-proxy-3'
import type { HeadDecision, Origin, OriginCall, Sink } from '../src/index.js'
import { detachedExchange } from '../src/detached.js'
import { ClientAbortedError } from '../src/errors.js'
import type { Forwarding } from './forwarding.js'

/** What the proxy keeps per client request; the engine hands it back to the origin. */
export interface RequestContext {
  /** performance.now() when the request arrived. */
  start: number
  /** ms from sending the (last) upstream request to its response head. */
  upstreamMs?: number
  /** Set when the proxy answered an upstream failure itself. */
  failure?: FailureReason
}

export type FailureReason = 'refused' | 'reset' | 'timeout' | 'dns' | 'protocol' | 'other'

export interface UpstreamOptions {
  target: URL
  /** ms to establish a connection. */
  connectTimeout: number
  /** ms to wait for the response head, and between two reads of the body. */
  responseTimeout: number
  /** Send the upstream's host as Host (else the client's). */
  changeOrigin: boolean
  maxSockets: number
  /** ms an idle connection is kept for reuse; 0: none. */
  keepAlive: number
  forwarding: Forwarding
  /** The cache's name in Cache-Status, for the proxy's own error answers. */
  cacheStatus: string
  /** Origin latency in seconds, per response head. */
  onResponse?: (seconds: number) => void
  /** Each failed upstream request. */
  onFailure?: (reason: FailureReason, err: Error, req: IncomingMessage) => void
}

/** A timeout the proxy enforces itself, so it can be told apart from a reset. */
export class UpstreamTimeoutError extends Error {
  readonly code = 'ETIMEDOUT'
  constructor (readonly phase: 'connect' | 'response', ms: number) {
    super(`upstream ${phase} timed out after ${ms} ms`)
    this.name = 'UpstreamTimeoutError'
  }
}


export class Upstream implements Origin<RequestContext> {
  readonly agent: http.Agent
  private readonly proxy: ProxyServer
  private readonly web: ServerOptions
  private readonly socketOptions: ServerOptions

  constructor (readonly options: UpstreamOptions) {
    const { target, keepAlive, maxSockets } = options
    const AgentClass = target.protocol === 'https:' ? https.Agent : http.Agent
    this.agent = new AgentClass({
      keepAlive: keepAlive > 0,
      maxSockets,
      maxFreeSockets: Math.min(maxSockets, 256),
      // Idle sockets close before the upstream closes them under a request.
      timeout: keepAlive > 0 ? keepAlive : undefined,
      scheduling: 'lifo',
      // Request heads and bodies go out as separate writes: without TCP_NODELAY, Nagle's
      // algorithm holds the second one for the upstream's delayed ACK (tens of ms per miss).
      noDelay: true,
    } as http.AgentOptions)
    this.web = { target, agent: this.agent, changeOrigin: options.changeOrigin, selfHandleResponse: true, xfwd: false }
    // An upgraded connection leaves the pool, so WebSockets get connections of their own.
    this.socketOptions = { target, agent: false, changeOrigin: options.changeOrigin, xfwd: false }
    this.proxy = createProxyServer()
    this.proxy.on('proxyReq', (proxyReq, req, _res, _options, socket) => callOf(req)?.attach(proxyReq, socket))
    this.proxy.on('proxyRes', (proxyRes, req) => callOf(req)?.response(proxyRes))
    // A reset while the client is gone: http-proxy reports it here instead of to the callback.
    this.proxy.on('econnreset', (err, req) => callOf(req)?.fail(err))
    // Errors without a callback (WebSocket sockets); http-proxy throws when nobody listens.
    this.proxy.on('error', (err, req) => callOf(req)?.fail(err))
  }

  forward (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, call: OriginCall, sink: Sink): void {
    this.send(req, res, res, ctx, call.headers, sink, false)
  }

  detached (req: IncomingMessage, ctx: RequestContext, call: OriginCall, sink: Sink): void {
    // A request with no client behind it: the response object is connected to nothing.
    const exchange = detachedExchange(req, { ...call.headers }, sink)
    this.send(exchange.req, undefined, exchange.res, ctx, exchange.req.headers, sink, false)
  }

  /** Proxies a WebSocket (or other Upgrade) handshake and then the raw bytes both ways. */
  upgrade (req: IncomingMessage, socket: Duplex, head: Buffer, onError: (err: Error) => void): void {
    this.proxy.ws(req, socket, head, this.socketOptions, err => {
      onError(err)
      socket.destroy()
    })
  }

  /** Destroys the pooled connections (in-flight requests fail). */
  close (): void {
    this.agent.destroy()
  }

  /** @internal Sends one upstream request for `req`; `client` is where the answer goes, if anywhere. */
  send (req: IncomingMessage, client: ServerResponse | undefined, res: ServerResponse, ctx: RequestContext,
    headers: IncomingHttpHeaders, sink: Sink, retry: boolean): void {
    const call = new Call(this, req, client, res, ctx, headers, sink, retry)
    ;(req as CalledRequest)[CALL] = call
    // http-proxy builds the upstream request from req.headers, synchronously: lend it the
    // engine's headers (without the client's conditionals, with the cache's validators).
    const own = req.headers
    req.headers = { ...headers }
    try {
      // A retried request's body was consumed by the first attempt; a retry only happens
      // for requests without one, so an empty stream stands in.
      this.proxy.web(req, res, retry ? { ...this.web, buffer: Readable.from([]) } : this.web, call.onError)
    } finally {
      req.headers = own
    }
  }
}

/**
 * http-proxy's events name the client request; the call in flight for it is kept on the request
 * itself. A WeakMap keyed by requests cost every miss its whole object graph: V8's minor
 * collections keep a WeakMap entry whose key is young, with its value, so each request, its
 * response and its call were promoted to the old generation (measured: 9.7 KB promoted per
 * miss, and 13 % of the main thread's instructions spent collecting; 1 KB and 1-2 % without).
 */
const CALL = Symbol('cachefront.upstreamCall')
type CalledRequest = IncomingMessage & { [CALL]?: Call }

function callOf (req: IncomingMessage): Call | undefined {
  return (req as CalledRequest)[CALL]
}

/** One upstream request, from sending it to the end of its response (or its failure). */
class Call {
  private proxyReq: ClientRequest | undefined
  private proxyRes: IncomingMessage | undefined
  private done = false
  private forwarding = false
  private timedOut = false
  private readonly sent = performance.now()
  private readonly headTimer: NodeJS.Timeout
  private connectTimer: NodeJS.Timeout | undefined

  constructor (
    private readonly up: Upstream,
    private readonly req: IncomingMessage,
    private readonly client: ServerResponse | undefined,
    private readonly res: ServerResponse,
    private readonly ctx: RequestContext,
    private readonly headers: IncomingHttpHeaders,
    private readonly sink: Sink,
    private readonly retried: boolean,
  ) {
    this.headTimer = setTimeout(this.timeout, up.options.responseTimeout, 'response')
    client?.once('close', this.onClientClose)
  }

  /** The upstream request has a socket (http-proxy's proxyReq event). */
  attach (proxyReq: ClientRequest, socket: Socket): void {
    if (this.done) {
      proxyReq.destroy()
      return
    }
    this.proxyReq = proxyReq
    if (socket.connecting) {
      this.connectTimer = setTimeout(this.timeout, this.up.options.connectTimeout, 'connect')
      socket.once('connect', () => clearTimeout(this.connectTimer))
    }
    if (this.client !== undefined) proxyReq.on('information', this.onInformation)
  }

  /** The upstream's response head (http-proxy's proxyRes event). */
  response (proxyRes: IncomingMessage): void {
    if (this.done) {
      proxyRes.destroy()
      return
    }
    clearTimeout(this.headTimer)
    this.proxyRes = proxyRes
    const ms = performance.now() - this.sent
    this.ctx.upstreamMs = ms
    this.up.options.onResponse?.(ms / 1000)
    proxyRes.on('error', this.onError)
    this.proxyReq?.setTimeout(this.up.options.responseTimeout, () => this.timeout('response'))

    const status = proxyRes.statusCode ?? 502
    const headers = this.up.options.forwarding.response(proxyRes.headers, proxyRes.httpVersion)
    let decision: HeadDecision
    try {
      decision = this.sink.head(status, headers)
    } catch (err) {
      return this.fail(err as Error)
    }
    const client = this.client
    if (client !== undefined && !client.headersSent && !client.destroyed) {
      if (decision.forward) {
        const out: OutgoingHttpHeaders = { ...headers }
        for (const name of decision.remove) delete out[name]
        for (let i = 0; i < decision.add.length; i += 2) out[decision.add[i]] = decision.add[i + 1]
        try {
          if (proxyRes.statusMessage) client.writeHead(status, proxyRes.statusMessage, out)
          else client.writeHead(status, out)
        } catch (err) {
          // A head Node refuses to write (a status or field value it rejects): a bad response.
          return this.fail(Object.assign(err as Error, { code: 'HPE_INVALID_RESPONSE' }))
        }
        this.forwarding = true
      } else {
        decision.answer?.(client)
      }
    }
    proxyRes.on('data', this.onData)
    proxyRes.on('end', this.onEnd)
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.done) return
    this.sink.data(chunk)
    if (this.forwarding && !this.client!.write(chunk)) {
      this.proxyRes!.pause()
      this.client!.once('drain', this.onDrain)
    }
  }

  private readonly onDrain = (): void => {
    this.proxyRes?.resume()
  }

  private readonly onEnd = (): void => {
    if (this.done) return
    this.finish()
    this.sink.end()
    if (this.forwarding) this.client!.end()
  }

  /** http-proxy's error callback, and errors of the upstream response. */
  readonly onError = (err: Error): void => {
    this.fail(err)
  }

  private readonly onClientClose = (): void => {
    if (!this.done && !this.client!.writableFinished) this.fail(new ClientAbortedError(this.req.url))
  }

  private readonly timeout = (phase: 'connect' | 'response'): void => {
    if (this.done) return
    this.timedOut = true
    const { connectTimeout, responseTimeout } = this.up.options
    this.fail(new UpstreamTimeoutError(phase, phase === 'connect' ? connectTimeout : responseTimeout))
  }

  /** Relays an interim response (RFC 9110 §15.2) to an HTTP/1.1 client; it is never cached. */
  private readonly onInformation = (info: InformationEvent): void => {
    const client = this.client!
    // 100 Continue was Node's to send (Expect is not forwarded); 101 goes through `upgrade`.
    if (info.statusCode === 100 || info.statusCode === 101 || client.headersSent || this.req.httpVersion === '1.0') return
    writeInterim(client, info)
  }

  fail (err: Error): void {
    if (this.done) return
    this.finish()
    // A destroyed upstream request never returns its socket to the pool half-read.
    this.proxyReq?.destroy()
    this.proxyRes?.destroy()
    const gone = err instanceof ClientAbortedError
    if (!gone && this.retryable(err)) {
      this.up.send(this.req, this.client, this.res, this.ctx, this.headers, this.sink, true)
      return
    }
    const reason = gone ? undefined : classify(err, this.timedOut)
    if (reason !== undefined) this.up.options.onFailure?.(reason, err, this.req)
    const client = this.client
    const sent = client?.headersSent === true
    const answer = this.sink.error(err)
    if (client === undefined || gone) return
    if (sent) {
      // Part of the response went out: cutting the connection is the only honest signal.
      client.destroy()
      return
    }
    if (client.headersSent || client.destroyed) return
    if (answer !== undefined) return answer(client)
    this.ctx.failure = reason
    const status = reason === 'timeout' ? 504 : 502
    client.writeHead(status, [
      'content-type', 'text/plain; charset=utf-8',
      'cache-control', 'no-store',
      'cache-status', `${this.up.options.cacheStatus}; detail=upstream-${reason}`,
    ])
    client.end(`${status} ${STATUS_CODES[status]}: ${describe(reason!)}\n`)
  }

  /**
   * A kept-alive connection the upstream closed just as it was reused: the request never
   * reached it, so a request without a body is sent once more on a fresh connection.
   */
  private retryable (err: Error): boolean {
    if (this.retried || this.proxyRes !== undefined || this.timedOut || this.proxyReq?.reusedSocket !== true) return false
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ECONNRESET' && code !== 'EPIPE') return false
    const h = this.headers
    const method = this.req.method
    return (method === 'GET' || method === 'HEAD') && h['transfer-encoding'] === undefined &&
      (h['content-length'] === undefined || h['content-length'] === '0')
  }

  private finish (): void {
    this.done = true
    clearTimeout(this.headTimer)
    clearTimeout(this.connectTimer)
    this.client?.off('close', this.onClientClose)
  }
}

function classify (err: Error, timedOut: boolean): FailureReason {
  if (timedOut || err instanceof UpstreamTimeoutError) return 'timeout'
  const code = (err as NodeJS.ErrnoException).code ?? ''
  if (code === 'ECONNREFUSED') return 'refused'
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') return 'reset'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns'
  if (code.startsWith('HPE_') || code.startsWith('ERR_HTTP') || code === 'ERR_INVALID_HTTP_TOKEN' || code === 'ERR_INVALID_CHAR') return 'protocol'
  return 'other'
}

function describe (reason: FailureReason): string {
  switch (reason) {
    case 'timeout': return 'the upstream did not answer in time'
    case 'refused': return 'the upstream refused the connection'
    case 'reset': return 'the upstream closed the connection'
    case 'dns': return 'the upstream host name did not resolve'
    case 'protocol': return 'the upstream sent an invalid response'
    default: return 'the upstream could not be reached'
  }
}

/** Node writes 102 and 103 itself; for any 1xx the same raw write keeps the fields the upstream sent. */
function writeInterim (client: ServerResponse, info: InformationEvent): void {
  const raw = client as ServerResponse & { _writeRaw?: (data: string, encoding: BufferEncoding) => boolean }
  if (typeof raw._writeRaw !== 'function') return
  let head = `HTTP/1.1 ${info.statusCode} ${info.statusMessage || STATUS_CODES[info.statusCode] || 'Information'}\r\n`
  for (let i = 0; i < info.rawHeaders.length; i += 2) {
    const name = info.rawHeaders[i].toLowerCase()
    if (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding' || name === 'content-length') continue
    head += `${info.rawHeaders[i]}: ${info.rawHeaders[i + 1]}\r\n`
  }
  raw._writeRaw(head + '\r\n', 'latin1')
}
