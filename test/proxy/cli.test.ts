/**
 * The real binary (bin/cachefront-proxy.js) as an operator runs it: help, configuration errors
 * (exit 2, naming the field), serving and graceful shutdown, and --workers sharing Redis.
 */
import { expect } from 'chai'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { send, sleep } from '../support/http.js'
import { redisProblem, REDIS_URL } from '../support/redis.js'
import { freePort, logLines, runBinary, startOrigin, type Child } from './support.js'

function configFile (text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'cachefront-cli-')), 'cachefront.yaml')
  writeFileSync(file, text)
  return file
}

/** A GET on a new connection each time, so node:cluster spreads them over the workers. */
function getFresh (url: string): Promise<{ status: number, xCache: string | undefined, text: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, res => {
      let text = ''
      res.on('data', d => { text += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, xCache: res.headers['x-cache'] as string | undefined, text }))
    }).on('error', reject)
  })
}

describe('cachefront-proxy (the binary)', function () {
  this.timeout(30_000)
  const children: Child[] = []
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = runBinary(args, env)
    children.push(child)
    return child
  }
  afterEach(() => {
    for (const c of children.splice(0)) if (c.process.exitCode === null) c.process.kill('SIGKILL')
  })

  it('--help documents the options and exits 0; --version prints the version', async () => {
    const help = run(['--help'])
    const version = run(['--version'])
    expect((await help.exited).code).to.equal(0)
    expect(help.stdout()).to.match(/^Usage: cachefront-proxy --upstream <url>/)
    for (const text of ['--upstream', '--config', '--workers', 'CACHEFRONT_REDIS_URL', 'routes:', 'trustedHops']) expect(help.stdout()).to.include(text)
    expect((await version.exited).code).to.equal(0)
    expect(version.stdout().trim()).to.match(/^\d+\.\d+\.\d+/)
  })

  it('--check prints the effective configuration with secrets masked and exits 0', async () => {
    const file = configFile('upstream: http://127.0.0.1:3000\nroutes:\n  - match: { path: /api/** }\n    ttl: 30s\n')
    const check = run(['-c', file, '--check', '--port', '9090'], { CACHEFRONT_ADMIN_TOKEN: 'hidden-token', CACHEFRONT_REDIS_URL: 'redis://user:pw@127.0.0.1:6379' })
    expect((await check.exited).code).to.equal(0)
    const config = JSON.parse(check.stdout())
    expect(config.listen).to.deep.equal({ host: '0.0.0.0', port: 9090 })
    expect(config.routes[0]).to.deep.equal({ match: { path: '/api/**' }, ttl: '30s' })
    expect(config.admin.token).to.equal('***')
    expect(config.redis.url).to.equal('redis://user:***@127.0.0.1:6379')
  })

  describe('exits 2 with a message naming the field', () => {
    const cases: [string, () => [string[], NodeJS.ProcessEnv], RegExp][] = [
      ['an unknown key in the file', () => [['-c', configFile('upstream: http://127.0.0.1:1\ncache: { tll: 5s }\n')], {}], /cache\.tll: unknown option; did you mean "ttl"\?/],
      ['a bad duration in a route', () => [['-c', configFile('upstream: http://127.0.0.1:1\nroutes:\n  - match: { path: /a }\n    ttl: soon\n')], {}], /routes\[0\]\.ttl: expected a duration/],
      ['an invalid regex', () => [['-c', configFile('upstream: http://127.0.0.1:1\nroutes:\n  - match: { regex: "(" }\n')], {}], /routes\[0\]\.match\.regex: expected a valid regular expression/],
      ['an invalid URL from the environment', () => [[], { CACHEFRONT_UPSTREAM: 'ftp://x' }], /upstream \(from CACHEFRONT_UPSTREAM\): expected an http:\/\/ or https:\/\/ URL/],
      ['a bad port flag', () => [['-u', 'http://127.0.0.1:1', '--port', '99999'], {}], /listen\.port \(from --port\): expected an integer from 0 to 65535/],
      ['no upstream at all', () => [[], {}], /upstream: required/],
      ['an unknown flag', () => [['--upstraem', 'http://x'], {}], /Unknown option '--upstraem'/],
    ]
    for (const [name, make, expected] of cases) {
      it(`for ${name}`, async () => {
        const [args, env] = make()
        const child = run(args, env)
        const { code } = await child.exited
        expect(code, child.stderr()).to.equal(2)
        expect(child.stderr()).to.match(expected)
      })
    }
  })

  it('serves, logs its addresses and masked config, and on SIGTERM finishes in-flight requests and exits 0', async () => {
    const origin = await startOrigin((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.end(`slow ${req.url}`)
      }, req.url === '/slow' ? 400 : 0)
    })
    try {
      const child = run(['-u', origin.url, '--host', '127.0.0.1', '-p', '0', '--admin-port', '0'], { CACHEFRONT_ADMIN_TOKEN: 'very-secret-token' })
      await child.waitFor('effective configuration')
      const lines = logLines(child.stdout())
      const started = lines.find(l => String(l.msg).startsWith('cachefront-proxy listening on'))!
      const url = started.listen as string
      expect(started.admin).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(child.stdout()).to.include('"token":"***"')
      expect(child.stdout()).not.to.include('very-secret-token')

      expect((await send(url + '/fast')).headers['x-cache']).to.equal('MISS')
      expect((await send(url + '/fast')).headers['x-cache']).to.equal('HIT')
      const inFlight = send(url + '/slow')
      await sleep(100)
      child.process.kill('SIGTERM')
      const r = await inFlight
      expect([r.status, r.text]).to.deep.equal([200, 'slow /slow'])
      const exit = await child.exited
      expect(exit).to.deep.equal({ code: 0, signal: null })
      const access = logLines(child.stdout()).filter(l => l.component === 'access')
      expect(access.map(l => [l.url, l.cache])).to.deep.equal([['/fast', 'miss'], ['/fast', 'hit'], ['/slow', 'miss']])
    } finally {
      await origin.close()
    }
  })

  it('exits 1 when it cannot listen', async () => {
    const port = await freePort()
    const blocker = http.createServer().listen(port, '127.0.0.1')
    try {
      const child = run(['-u', 'http://127.0.0.1:1', '--host', '127.0.0.1', '-p', String(port), '--no-admin'])
      expect((await child.exited).code).to.equal(1)
      expect(child.stdout()).to.match(/cannot listen on 127\.0\.0\.1:\d+: the address is in use/)
    } finally {
      blocker.close()
    }
  })

  describe('--workers 2 with Redis', () => {
    before(async function () {
      const problem = await redisProblem()
      if (problem !== undefined) {
        if (process.env.CI === 'true') throw new Error(problem)
        this.skip()
      }
    })

    it('spreads connections over both workers, which share one cache and one purge', async () => {
      const origin = await startOrigin((_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.end(`from origin #${origin.count()}`)
      })
      const port = await freePort()
      const adminPort = await freePort()
      const admin = `http://127.0.0.1:${adminPort}`
      const child = run([
        '-u', origin.url, '--host', '127.0.0.1', '-p', String(port), '--admin-port', String(adminPort),
        '--workers', '2', '--redis', REDIS_URL, '--namespace', `t-${randomUUID()}`, '--admin-token', 'workers-token',
      ])
      const purge = (body: unknown) => send(admin + '/purge', { method: 'POST', headers: { authorization: 'Bearer workers-token' }, body: JSON.stringify(body) })
      try {
        for (let i = 0; ; i++) {
          const ready = await send(admin + '/readyz').catch(() => undefined)
          if (ready?.status === 200) break
          if (i > 200) throw new Error(`not ready: ${child.stdout()} ${child.stderr()}`)
          await sleep(50)
        }
        const url = `http://127.0.0.1:${port}/shared`
        expect((await getFresh(url)).xCache).to.equal('MISS')
        await sleep(100)
        const later = await Promise.all(Array.from({ length: 6 }, () => getFresh(url)))
        expect(later.map(r => r.xCache)).to.deep.equal(Array(6).fill('HIT'))
        expect(origin.count()).to.equal(1)
        // Access lines are written once a response is done, and reach stdout through each worker's pipe.
        const access = () => logLines(child.stdout()).filter(l => l.component === 'access')
        for (let i = 0; i < 100 && access().length < 7; i++) await sleep(20)
        expect(new Set(access().map(l => l.pid)).size).to.equal(2)

        expect((await purge({ url: '/shared' })).status).to.equal(200)
        const afterPurge = await Promise.all([getFresh(url), getFresh(url)])
        expect(afterPurge.some(r => r.xCache === 'MISS')).to.equal(true)
        const stats = JSON.parse((await send(admin + '/stats')).text)
        expect(stats.workers).to.equal(2)
        expect(stats.cache.hits).to.be.at.least(6)
        const metrics = (await send(admin + '/metrics')).text
        expect(metrics).to.match(/^cachefront_requests_total\{cache_status="hit"\} \d+/m)
        await purge({ all: true })
      } finally {
        child.process.kill('SIGTERM')
        const exit = await child.exited
        await origin.close()
        expect(exit).to.deep.equal({ code: 0, signal: null })
      }
    })
  })
})
