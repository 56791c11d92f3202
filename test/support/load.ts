/**
 * Load for the fault suites: autocannon (its programmatic API, in this process) against one
 * server, each request for a path `pick` chooses, each answer checked against the path it was
 * for. Scheduled faults (`at`) run while the load runs. Loopback only; bounded by `duration`.
 */
import autocannon from 'autocannon'

export interface LoadOptions {
  /** Base URL (http://127.0.0.1:port). */
  url: string
  /** Seconds of traffic. */
  duration: number
  connections?: number
  /** The path of each request. */
  pick: () => string
  /** Whether `body` is the right answer for `path` (a mismatch counts as a failure). */
  check: (path: string, body: string) => boolean
  /** Things to do at these many ms into the run (a Redis kill, a restart). */
  at?: Array<[number, () => void | Promise<void>]>
}

export interface LoadResult {
  requests: number
  /** non2xx + errors + timeouts + mismatches: every request a client would call failed. */
  failed: number
  non2xx: number
  errors: number
  timeouts: number
  mismatches: number
  statuses: Record<string, number>
  /** Milliseconds. */
  latency: { p50: number, p99: number, max: number }
  /** A few of the wrong answers, for the failure message. */
  wrong: string[]
  /** Errors thrown by the scheduled steps. */
  stepErrors: unknown[]
}

export async function load (options: LoadOptions): Promise<LoadResult> {
  let mismatches = 0
  const wrong: string[] = []
  const stepErrors: unknown[] = []
  const started = Date.now()
  const steps = (options.at ?? []).map(([ms, step]) => setTimeout(() => {
    Promise.resolve().then(step).catch(err => stepErrors.push(err))
  }, ms))
  try {
    const result = await autocannon({
      url: options.url,
      connections: options.connections ?? 16,
      duration: options.duration,
      timeout: 10,
      requests: [{
        method: 'GET',
        setupRequest: (request, context) => {
          const path = options.pick()
          ;(context as { path?: string }).path = path
          return { ...request, path }
        },
        onResponse: (status, body, context) => {
          const path = (context as { path?: string }).path ?? '?'
          if (status >= 200 && status < 300 && !options.check(path, body)) {
            mismatches++
            if (wrong.length < 5) wrong.push(`${path}: ${JSON.stringify(body.slice(0, 80))}`)
          }
        },
      }],
    })
    const statuses: Record<string, number> = {}
    for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = Number(count)
    return {
      requests: result.requests.total,
      failed: result.non2xx + result.errors + result.timeouts + mismatches,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      mismatches,
      statuses,
      latency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      wrong,
      stepErrors,
    }
  } finally {
    for (const t of steps) clearTimeout(t)
    // A step scheduled past the end (a slow machine) still runs before the caller checks anything.
    const left = Math.max(...(options.at ?? []).map(([ms]) => ms), 0) - (Date.now() - started)
    if (left > 0) stepErrors.push(new Error(`the run ended ${left} ms before its last step`))
  }
}

/** Shown when a load check fails: everything the run measured. */
export function describeLoad (label: string, r: LoadResult): string {
  return `${label}: ${r.requests} requests, ${r.failed} failed (non-2xx ${r.non2xx}, errors ${r.errors}, ` +
    `timeouts ${r.timeouts}, wrong bodies ${r.mismatches}), statuses ${JSON.stringify(r.statuses)}, ` +
    `latency p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms` +
    (r.wrong.length > 0 ? `; wrong: ${r.wrong.join('; ')}` : '')
}
