/** A server on a spare loopback port, and how to close it (connections included). */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

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
