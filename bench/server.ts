/**
 * One benchmark server per process, compiled (bench/run.ts says why):
 * `node .bench-build/bench/server.js <kind> <port> [bodyBytes] [keys]`.
 * It primes itself (so a "hit" kind serves hits from the first measured request), then prints
 * `ready` on stdout. Every kind answers the same prebuilt body with the same Content-Type.
 */
import http from 'node:http'
import { kinds } from './kinds.js'

const [kind, portArg, bodyArg, keysArg] = process.argv.slice(2)
const port = Number(portArg)
const body = Buffer.alloc(Number(bodyArg ?? 1024), 'x')
const keys = Number(keysArg ?? 1)

const make = kinds[kind]
if (make === undefined) {
  console.error(`unknown server kind ${kind}; known: ${Object.keys(kinds).join(', ')}`)
  process.exit(2)
}

const started = await make({ port, body, keys })
// No keep-alive: a long prefill would outlast the server's keep-alive timeout and reset a pooled socket.
const agent = new http.Agent({ keepAlive: false, maxSockets: 64 })
const get = (path: string): Promise<number> => new Promise((resolve, reject) => {
  http.get({ host: '127.0.0.1', port, path, agent }, res => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) }).on('error', reject)
})
// Prime: one request per key, so measured requests are hits for the caching kinds.
if (started.prime !== false) {
  if (keys > 2000 && started.prefill) await started.prefill(keys)
  for (let i = 0; i < Math.min(keys, 2000); i++) await get(`/k/${i}`)
  await get('/k/0')
}
agent.destroy()
// Garbage from priming (and prefill churn) is not what the server holds: collect it first.
;(globalThis as { gc?: () => void }).gc?.()
process.stdout.write('ready\n')
process.on('SIGTERM', () => process.exit(0))
