/**
 * A TCP relay on a spare loopback port that delays every chunk, both ways, by `delay` ms (0:
 * none), keeping their order: a slow network or a slow Redis, for the fault suites.
 */
import net, { type AddressInfo } from 'node:net'

export interface Relay {
  url: string
  port: number
  /** The delay added to each chunk from now on, in ms. */
  delay: number
  close(): Promise<void>
}

export async function startRelay (targetPort: number, delay = 0): Promise<Relay> {
  const sockets = new Set<net.Socket>()
  const relay: Relay = { url: '', port: 0, delay, close }
  const server = net.createServer(client => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    pipe(client, upstream)
    pipe(upstream, client)
  })
  /** Chunks from `from` reach `to` `relay.delay` ms later, in the order they came. */
  function pipe (from: net.Socket, to: net.Socket): void {
    const queue: Array<{ at: number, chunk: Buffer }> = []
    let timer: NodeJS.Timeout | undefined
    let closed = false
    const pump = (): void => {
      timer = undefined
      while (queue.length > 0 && queue[0].at <= Date.now()) to.write(queue.shift()!.chunk)
      if (queue.length > 0) timer = setTimeout(pump, queue[0].at - Date.now())
      else if (closed) to.end()
    }
    from.on('data', (chunk: Buffer) => {
      queue.push({ at: Date.now() + relay.delay, chunk })
      if (timer === undefined) pump()
    })
    from.on('close', () => {
      closed = true
      if (timer === undefined) pump()
    })
  }
  async function close (): Promise<void> {
    for (const s of sockets) s.destroy()
    await new Promise(resolve => server.close(resolve))
  }
  server.listen(0, '127.0.0.1')
  await new Promise(resolve => server.once('listening', resolve))
  relay.port = (server.address() as AddressInfo).port
  relay.url = `redis://127.0.0.1:${relay.port}`
  return relay
}
