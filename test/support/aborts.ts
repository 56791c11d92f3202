/** Clients that leave mid-response: the load of the abort fault tests. */
import http from 'node:http'

/**
 * Sends `n` GETs to 127.0.0.1:`port`, 64 at a time, each destroyed on its first body chunk.
 * Paths repeat every 2,000 requests, so many leaders are cut off and some waiters are too.
 */
export async function abortMany (port: number | string, n: number, from = 0): Promise<void> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: 64 })
  const abortOne = (i: number): Promise<void> => new Promise(resolve => {
    const req = http.get({ host: '127.0.0.1', port, path: `/s/${i % 2000}`, agent }, res => {
      res.once('data', () => { req.destroy(); resolve() })
      res.once('end', () => resolve())
    })
    req.on('error', () => resolve())
  })
  const batch = 64
  for (let i = 0; i < n; i += batch) await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => abortOne(from + i + j)))
  agent.destroy()
}
