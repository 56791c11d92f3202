/**
 * `npm run bench [-- --scenario NAME] [--json] [--rounds N] [--duration S]`
 *
 * Each scenario runs our server and its reference in the same run: servers pinned to core 0,
 * the load generator (wrk when installed, else autocannon) to core 1 where `taskset` exists;
 * a warm-up, then rounds that load every server in turn; ratios are medians of per-round ratios.
 * A benchmark, not a test: it asserts nothing; it prints what it measured.
 *
 * It runs compiled: `npm run bench` first builds src/, proxy/ and bench/ with tsc into
 * .bench-build/ (bench/tsconfig.json), so the servers run the JavaScript the package ships.
 * Under tsx, esbuild's keepNames would add an `Object.defineProperty(fn, 'name')` to every named
 * function expression made per request, which the built package does not have (BENCHMARKS.md).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { median, scenarios, type Measure, type Measured, type Scenario } from './scenarios.js'

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '9' },
    duration: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
  },
})

const here = path.dirname(new URL(import.meta.url).pathname)
const hasTaskset = spawnSync('taskset', ['--version']).status === 0 && os.cpus().length >= 2
const hasWrk = spawnSync('wrk', ['--version']).error === undefined
const rounds = Number(values.rounds)
const duration = Number(values.duration)
const connections = Number(values.connections)
// Below the ephemeral range (32768+), where in-process origins on port 0 land.
let nextPort = 10000 + Math.floor(Math.random() * 15000)

/** A server process, pinned to core 0. */
export interface Server { port: number, url: string, pid: number, stop(): Promise<void> }

export async function startServer (kind: string, opts: { body?: number, keys?: number, env?: Record<string, string> } = {}): Promise<Server> {
  const port = nextPort++
  // The young generation held at the size a loaded server grows it to (16 MiB a semi-space, V8's
  // maximum here). Rounds leave each server idle while the others are loaded, and V8 shrinks an
  // idle server's young generation to 1-4 MiB: its next round would then scavenge five to eight
  // times as often as a server under steady load. Each scavenge walks every old-generation page
  // (3 ms at 1M entries), so that artefact fell on the large caches above all (BENCHMARKS.md, Scale).
  const args = ['--max-old-space-size=6144', '--min-semi-space-size=16', '--expose-gc', path.join(here, 'server.js'), kind, String(port), String(opts.body ?? 1024), String(opts.keys ?? 1)]
  const child: ChildProcess = hasTaskset
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...opts.env } })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...opts.env } })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', d => { out += d; if (out.includes('ready')) resolve() })
    child.once('exit', code => reject(new Error(`${kind} exited with ${code}`)))
  })
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: () => new Promise(resolve => { child.once('exit', () => resolve()); child.kill('SIGTERM') }),
  }
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds (pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch { return NaN }
}

/** One load round against a URL: requests/s, and the server's CPU time per request. */
export async function load (server: Server, urlPath = '/k/0', script?: string): Promise<Measure> {
  const url = server.url + urlPath
  const cpu0 = cpuSeconds(server.pid)
  let rps: number
  let requests: number
  if (hasWrk) {
    const args = ['-t1', `-c${connections}`, `-d${duration}s`, url]
    if (script) args.unshift('-s', script)
    const cmd = hasTaskset ? ['taskset', ['-c', '1', 'wrk', ...args]] as const : ['wrk', args] as const
    const r = spawnSync(cmd[0], [...cmd[1]], { encoding: 'utf8' })
    rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN)
    requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? NaN)
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)
    if (non2xx) throw new Error(`${url}: ${non2xx[1]} non-2xx answers`)
  } else {
    const bin = createRequire(import.meta.url).resolve('autocannon')
    const args = [bin, '-c', String(connections), '-d', String(duration), '-j', url]
    const r = hasTaskset ? spawnSync('taskset', ['-c', '1', process.execPath, ...args], { encoding: 'utf8' }) : spawnSync(process.execPath, args, { encoding: 'utf8' })
    const j = JSON.parse(r.stdout)
    rps = j.requests.average
    requests = j.requests.total
  }
  const cpu = cpuSeconds(server.pid) - cpu0
  return { rps, cpuPerRequestUs: (cpu / requests) * 1e6 }
}

/**
 * Measures several servers over the same rounds, interleaved: each round loads every server in
 * turn, so a slow phase of the machine hits all of them alike. Ratios are taken per round and
 * their median reported (`paired` in scenarios.ts), which cancels the drift that a ratio of medians keeps.
 */
export async function compare (servers: Record<string, Server>, urlPath?: string, script?: string | Record<string, string>): Promise<Record<string, Measured>> {
  const scriptOf = (name: string): string | undefined => typeof script === 'string' ? script : script?.[name]
  for (const [name, s] of Object.entries(servers)) await load(s, urlPath, scriptOf(name)).catch(() => undefined) // warm-up (JIT)
  const samples: Record<string, Measure[]> = {}
  for (let r = 0; r < rounds; r++) {
    for (const [name, s] of Object.entries(servers)) (samples[name] ??= []).push(await load(s, urlPath, scriptOf(name)))
  }
  const out: Record<string, Measured> = {}
  for (const [name, ms] of Object.entries(samples)) {
    out[name] = { rps: median(ms.map(m => m.rps)), cpuPerRequestUs: median(ms.map(m => m.cpuPerRequestUs)), rounds: ms }
  }
  return out
}

/**
 * The stampede's burst (bench/burst-client.cjs, pinned to the load generator's core): `per`
 * connections to each server, warmed on `warmPath`, then one GET of `urlPath` on every one of
 * them at once. Each request's latency in ms, write to last byte.
 */
export function burst (servers: Server[], urlPath: string, per: number, warmPath = '/count'): Promise<number[]> {
  const client = path.join(here, '..', '..', 'bench', 'burst-client.cjs')
  // One Host for every instance, as behind a load balancer (the proxy keys on the host).
  const args = [client, String(per), urlPath, warmPath, 'app.example', ...servers.map(s => String(s.port))]
  const child = hasTaskset ? spawn('taskset', ['-c', '1', process.execPath, ...args]) : spawn(process.execPath, args)
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout.on('data', d => { out += d })
    child.stderr.on('data', d => { err += d })
    child.once('exit', code => code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`burst client exited with ${code}: ${err}`)))
  })
}

/** GET and parse a small JSON or text answer. */
export function fetchText (url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, res => { let s = ''; res.on('data', d => { s += d }); res.on('end', () => resolve(s)) }).on('error', reject)
  })
}

async function main (): Promise<void> {
  const chosen: Scenario[] = values.scenario?.length ? scenarios.filter(s => values.scenario!.includes(s.name)) : scenarios
  if (chosen.length === 0) throw new Error(`no scenario named ${values.scenario}; known: ${scenarios.map(s => s.name).join(', ')}`)
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`
  const generator = hasWrk ? 'wrk' : 'autocannon'
  if (!values.json) console.log(`cachefront benchmark — ${new Date().toISOString()}\n${machine}; load: ${generator}, ${connections} connections, ${rounds} rounds × ${duration}s; pinned: ${hasTaskset ? 'yes' : 'no'}\n`)
  const results = []
  for (const s of chosen) {
    if (!values.json) console.log(`## ${s.name}: ${s.title}`)
    const rows = await s.run({ startServer, compare, load, fetchText, burst })
    results.push({ scenario: s.name, title: s.title, rows })
    if (!values.json) {
      console.table(rows.map(r => ({ measure: r.label, value: r.value, target: r.target ?? '', met: r.met === undefined ? '' : r.met ? 'yes' : 'NO' })))
    }
  }
  if (values.json) console.log(JSON.stringify({ date: new Date().toISOString(), machine, generator, rounds, duration, connections, results }, null, 2))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(() => process.exit(0), err => { console.error(err); process.exit(1) })
}
