/** A server on a spare loopback port, and how to close it (connections included). */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Cache } from '../../src/index.js'

export interface Listening {
  url: string
  server: http.Server
  close(): Promise<void>
}

export async function listenOn (handler: http.RequestListener): Promise<Listening> {
  const server = http.createServer(handler)
  server.listen(0, '127.0.0.1')
  await new Promise(resolve => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    async close () {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    },
  }
}

/** A server with a cache in front of its handler: closing it closes the server, then the cache. */
export interface Served {
  url: string
  cache: Cache
  close(): Promise<void>
}

export async function serveWithCache (handler: http.RequestListener, cache: Cache, afterClose?: () => Promise<void> | void): Promise<Served> {
  const listening = await listenOn(handler)
  return {
    url: listening.url,
    cache,
    async close () {
      await listening.close()
      await cache.close()
      await afterClose?.()
    },
  }
}
