/**
 * A process that writes large entries to Redis in a loop, for the killed-writer fault test
 * (test/faults/killed-writer.test.ts): the entry a cache would store for `GET /big/<i>` (body
 * `bigBody(i)`, up to 3 MB, incompressible), under the key a cache on the same namespace looks
 * up, written with the Redis tier's own store (one MULTI per entry), up to twelve at a time. It
 * only writes, so a frozen Redis holds its writes, not its reads.
 *
 *   CACHEFRONT_TEST_REDIS=redis://... CACHEFRONT_TEST_NAMESPACE=ns node --import tsx test/support/writer-process.ts
 *
 * Prints `READY` once connected, `SENT <i>` when it hands entry i to the Redis client, and
 * `DONE <i>` when that write is over. Meant to be SIGKILLed; exits by itself when its parent
 * goes away (stdin closes).
 */
import { pathToFileURL } from 'node:url'

/** The body of /big/<i>: 256 KiB to about 3 MB of incompressible bytes that depend only on i. */
export function bigBody (i: number): Buffer {
  const size = 256 * 1024 + (i % 8) * 384 * 1024
  const body = Buffer.allocUnsafe(size)
  let x = ((i + 1) * 2654435761) >>> 0
  for (let at = 0; at + 4 <= size; at += 4) {
    // xorshift32
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    body.writeUInt32LE(x, at)
  }
  return body
}

async function main (): Promise<void> {
  const { RedisStore } = await import('../../src/l2.js')
  const { recordEntry } = await import('../../src/record.js')
  const { planKey, primaryKey, resourceOf } = await import('../../src/key.js')
  const { urlTag } = await import('../../src/engine.js')
  const env = (name: string): string => {
    const value = process.env[name]
    if (value === undefined) throw new Error(`${name} is not set`)
    return value
  }
  const namespace = env('CACHEFRONT_TEST_NAMESPACE')
  // A long command timeout: a write held up by a frozen Redis is still in flight when the process dies.
  const store = new RedisStore({ url: env('CACHEFRONT_TEST_REDIS'), namespace, commandTimeout: 30_000 })
  await store.get('warm-up') // connects and reads the namespace's generation
  process.stdout.write('READY\n')

  const plan = planKey(undefined)
  let inFlight = 0
  for (let i = 0; ; i++) {
    while (inFlight >= 12) await new Promise(resolve => setTimeout(resolve, 5))
    const resource = resourceOf(`/big/${i}`)
    const now = Date.now()
    const entry = recordEntry({
      status: 200,
      headers: { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=600' },
      body: bigBody(i),
      policy: { lifetime: 600_000, initialAge: 0, swr: 0, sie: 0, mustRevalidate: false, noCache: false, strip: [] },
      requestTime: now,
      responseTime: now,
      tags: [urlTag(resource)],
      consumed: [],
      keep: 0,
    })
    inFlight++
    const n = i
    store.set(primaryKey(namespace, 'GET', resource, undefined, plan, {}), entry, 600_000).then(() => {
      inFlight--
      process.stdout.write(`DONE ${n}\n`)
    })
    process.stdout.write(`SENT ${i}\n`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdin.resume()
  process.stdin.once('end', () => process.exit(0))
  main().catch(err => {
    console.error(err)
    process.exit(1)
  })
}
