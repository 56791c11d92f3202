/**
 * The proxy's configuration: defaults, every kind of problem named by its field, the order
 * file < env < flags, secrets masked, and --help documenting every option.
 */
import { expect } from 'chai'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import { ConfigError, configSchema, loadConfig, maskSecrets, OVERRIDES, parseConfig } from '../../proxy/config.js'
import { Forwarding } from '../../proxy/forwarding.js'
import { HELP } from '../../proxy/help.js'
import { Router, userFunction } from '../../proxy/routes.js'
import { setupOutgoing } from 'http-proxy-3/dist/lib/http-proxy/common.js'
import { createCache } from '../../src/index.js'
import { resourceOf } from '../../src/key.js'

const UPSTREAM = 'http://127.0.0.1:3000'

/** The problems a config produces (empty when valid). */
function problems (input: unknown): string[] {
  try {
    parseConfig(input)
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

function tempFile (name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cachefront-config-'))
  const file = path.join(dir, name)
  writeFileSync(file, text)
  return file
}

describe('proxy config', () => {
  describe('with only an upstream', () => {
    it('is a pure RFC 9111 shared cache on 0.0.0.0:8080 with the admin API on 127.0.0.1:8081', () => {
      const c = parseConfig({ upstream: UPSTREAM })
      expect(c.listen).to.deep.equal({ host: '0.0.0.0', port: 8080 })
      expect(c.admin).to.include({ enabled: true, host: '127.0.0.1', port: 8081, purgeMethod: true })
      expect(c.admin.token).to.equal(undefined)
      expect(c.cache.ttl).to.equal(null)
      expect(c.routes).to.deep.equal([])
      expect(c.timeouts).to.deep.equal({ connect: '5s', response: '60s', shutdown: '10s' })
      expect(c.forwarding).to.include({ host: 'upstream', keyByHost: true, via: 'cachefront' })
      expect(c.workers).to.equal(1)
    })

    it('accepts "none" for no ttl', () => {
      expect(parseConfig({ upstream: UPSTREAM, cache: { ttl: 'none' } }).cache.ttl).to.equal(null)
    })
  })

  describe('when a field is wrong, the problem names it and says what was expected', () => {
    const cases: [string, unknown, RegExp][] = [
      ['no upstream', {}, /^upstream: required/],
      ['an upstream that is not http(s)', { upstream: 'ftp://x' }, /^upstream: expected an http:\/\/ or https:\/\/ URL.*received "ftp:\/\/x"/],
      ['an upstream with a query', { upstream: 'http://x/?a=1' }, /^upstream: expected a URL without query/],
      ['an unknown key, with a suggestion', { upstream: UPSTREAM, listen: { prot: 1 } }, /^listen\.prot: unknown option; did you mean "port"\?/],
      ['an unknown top-level key', { upstream: UPSTREAM, cahce: {} }, /^cahce: unknown option; did you mean "cache"\?/],
      ['an unknown key with no near match', { upstream: UPSTREAM, cache: { l1: { zzzzzz: 1 } } }, /^cache\.l1\.zzzzzz: unknown option; expected one of: maxBytes, maxObjectSize/],
      ['a bad duration', { upstream: UPSTREAM, timeouts: { connect: 'soon' } }, /^timeouts\.connect: expected a duration.*received "soon"/],
      ['a negative duration', { upstream: UPSTREAM, cache: { staleIfError: -5 } }, /^cache\.staleIfError: expected a duration/],
      ['a bad size', { upstream: UPSTREAM, cache: { l1: { maxBytes: 'lots' } } }, /^cache\.l1\.maxBytes: expected a size/],
      ['a port out of range', { upstream: UPSTREAM, listen: { port: 70000 } }, /^listen\.port: expected an integer from 0 to 65535.*received 70000/],
      ['an invalid regex', { upstream: UPSTREAM, routes: [{ match: { regex: '([' } }] }, /^routes\[0\]\.match\.regex: expected a valid regular expression/],
      ['a user key naming both header and cookie', { upstream: UPSTREAM, routes: [{ key: { user: { header: 'x', cookie: 'y' } } }] }, /^routes\[0\]\.key\.user: expected exactly one of header or cookie/],
      ['a bad header name', { upstream: UPSTREAM, cache: { key: { headers: ['bad header'] } } }, /^cache\.key\.headers\[0\]: expected a header field name/],
      ['a bad trusted hop', { upstream: UPSTREAM, forwarding: { trustedHops: ['10.0.0.0/33'] } }, /^forwarding\.trustedHops\[0\]: expected an IP address, a CIDR block/],
      ['a bad log level', { upstream: UPSTREAM, log: { level: 'loud' } }, /^log\.level: expected one of fatal, error, warn, info/],
      ['zero workers', { upstream: UPSTREAM, workers: 0 }, /^workers: expected an integer from 1 to 64/],
      ['a non-redis URL for redis', { upstream: UPSTREAM, redis: { url: 'http://x' } }, /^redis\.url: expected a redis:\/\/ or rediss:\/\/ URL/],
      ['the admin API on the main port', { upstream: UPSTREAM, listen: { port: 9000 }, admin: { port: 9000 } }, /^admin\.port: expected a port other than listen\.port/],
      ['a tag with a space', { upstream: UPSTREAM, routes: [{ tags: ['a b'] }] }, /^routes\[0\]\.tags\[0\]: expected a tag/],
      ['a bad hitForMiss', { upstream: UPSTREAM, cache: { hitForMiss: 'a while' } }, /^cache\.hitForMiss: expected a duration/],
      ['a jitter above 1', { upstream: UPSTREAM, cache: { jitter: 2 } }, /^cache\.jitter: expected a number from 0 to 1/],
    ]
    for (const [name, input, expected] of cases) {
      it(`for ${name}`, () => {
        const found = problems(input)
        expect(found, `no problem matching ${expected}`).to.satisfy((p: string[]) => p.some(line => expected.test(line)))
      })
    }

    it('reports every problem at once', () => {
      expect(problems({ upstream: 'x', listen: { port: -1 }, workers: 'two' })).to.have.length(3)
    })

    it('never shows the admin token it rejects', () => {
      const found = problems({ upstream: UPSTREAM, admin: { token: '' } })
      expect(found.join('\n')).to.match(/^admin\.token: .*received "\*\*\*"/)
    })
  })

  describe('sources', () => {
    it('reads YAML, then environment variables, then flags, each overriding the one before', () => {
      const file = tempFile('c.yaml', `upstream: ${UPSTREAM}\nlisten: { port: 1111, host: 127.0.0.1 }\ncache: { namespace: from-file }\n`)
      const fileOnly = loadConfig({ file })
      expect(fileOnly.listen).to.deep.equal({ host: '127.0.0.1', port: 1111 })
      const withEnv = loadConfig({ file, env: { CACHEFRONT_PORT: '2222', CACHEFRONT_NAMESPACE: 'from-env' } })
      expect(withEnv.listen.port).to.equal(2222)
      expect(withEnv.cache.namespace).to.equal('from-env')
      const withFlags = loadConfig({ file, env: { CACHEFRONT_PORT: '2222' }, flags: { port: '3333' } })
      expect(withFlags.listen.port).to.equal(3333)
      expect(withFlags.listen.host).to.equal('127.0.0.1')
    })

    it('reads JSON files too', () => {
      const file = tempFile('c.json', JSON.stringify({ upstream: UPSTREAM, routes: [{ match: { path: '/api/**' }, ttl: '30s' }] }))
      expect(loadConfig({ file }).routes[0].ttl).to.equal('30s')
    })

    it('says where a bad value came from', () => {
      expect(() => loadConfig({ env: { CACHEFRONT_UPSTREAM: UPSTREAM, CACHEFRONT_PORT: 'eighty' } }))
        .to.throw(ConfigError, /listen\.port \(from CACHEFRONT_PORT\): expected an integer/)
      expect(() => loadConfig({ flags: { upstream: UPSTREAM, 'connect-timeout': 'never' } }))
        .to.throw(ConfigError, /timeouts\.connect \(from --connect-timeout\): expected a duration/)
    })

    it('turns list and switch flags into config values', () => {
      const c = loadConfig({ flags: { upstream: UPSTREAM, 'trusted-hops': '10.0.0.0/8, loopback', 'no-admin': true, ttl: 'none' } })
      expect(c.forwarding.trustedHops).to.deep.equal(['10.0.0.0/8', 'loopback'])
      expect(c.admin.enabled).to.equal(false)
      expect(c.cache.ttl).to.equal(null)
    })

    it('names a file it cannot read or parse', () => {
      expect(() => loadConfig({ file: '/nonexistent/cachefront.yaml' })).to.throw(ConfigError, /--config: cannot read \/nonexistent\/cachefront\.yaml \(ENOENT\)/)
      const bad = tempFile('bad.yaml', 'a: [\n')
      expect(() => loadConfig({ file: bad })).to.throw(ConfigError, /bad\.yaml: not valid YAML or JSON/)
      const duplicate = tempFile('dup.yaml', `upstream: ${UPSTREAM}\nupstream: ${UPSTREAM}\n`)
      expect(() => loadConfig({ file: duplicate })).to.throw(ConfigError, /not valid YAML or JSON/)
    })
  })

  it('masks the admin token and Redis passwords for logging', () => {
    const c = parseConfig({ upstream: UPSTREAM, admin: { token: 's3cret' }, redis: { url: 'redis://user:pw@127.0.0.1:6379' } })
    const masked = maskSecrets(c)
    expect(masked.admin.token).to.equal('***')
    expect(masked.redis!.url).to.equal('redis://user:***@127.0.0.1:6379')
    expect(JSON.stringify(masked)).not.to.match(/s3cret|:pw@/)
    expect(c.admin.token).to.equal('s3cret')
  })

  describe('--help', () => {
    it('documents every flag and environment variable', () => {
      for (const o of OVERRIDES) {
        expect(HELP).to.include(`--${o.flag}`)
        if (o.env !== undefined) expect(HELP).to.include(o.env)
      }
    })

    it('documents every key of the configuration file', () => {
      const keys = new Set<string>()
      const walk = (schema: unknown): void => {
        const def = (schema as { _zod: { def: Record<string, unknown> } })._zod.def
        for (const inner of ['innerType', 'in', 'element']) if (def[inner]) walk(def[inner])
        if (Array.isArray(def.options)) for (const o of def.options) walk(o)
        if (def.shape) {
          for (const [key, value] of Object.entries(def.shape as Record<string, unknown>)) {
            keys.add(key)
            walk(value)
          }
        }
      }
      walk(configSchema)
      expect(keys.size).to.be.above(50)
      for (const key of keys) expect(HELP, `--help does not mention ${key}`).to.match(new RegExp(`\\b${key}\\b`))
    })
  })
})

describe('proxy routes', () => {
  const cache = createCache({ logger: { debug () {}, info () {}, warn () {}, error () {} } })
  after(() => cache.close())

  function request (url: string, method = 'GET', headers: Record<string, string> = {}): IncomingMessage {
    return { url, method, headers: { host: 'api.example.com', ...headers } } as unknown as IncomingMessage
  }

  function router (routes: unknown[]): Router {
    return new Router({ settings: cache.engine.settings, rules: parseConfig({ upstream: UPSTREAM, routes }).routes, keyFields: [] })
  }

  it('picks the first rule that matches, else the default route', () => {
    const r = router([
      { match: { path: '/api/**' }, ttl: '10s' },
      { match: { path: '/api/slow' }, ttl: '99s' },
      { match: { regex: '^/search\\?q=' }, bypass: true },
    ])
    expect(r.pick(request('/api/slow')).rules.ttl).to.equal(10_000)
    expect(r.pick(request('/search?q=x')).bypass).to.equal(true)
    expect(r.pick(request('/search')).bypass).to.equal(false)
    expect(r.pick(request('/other'))).to.equal(r.fallback)
  })

  it('matches methods (a rule for GET covers HEAD) and host globs', () => {
    const r = router([
      { match: { methods: ['get'], host: '*.example.com' }, ttl: '1s' },
      { match: { methods: ['OPTIONS'] }, ttl: '2s' },
    ])
    expect(r.pick(request('/x', 'HEAD')).rules.ttl).to.equal(1000)
    expect(r.pick(request('/x', 'GET', { host: 'www.other.org' }))).to.equal(r.fallback)
    expect(r.pick(request('/x', 'GET', { host: 'API.Example.com:8080' })).rules.ttl).to.equal(1000)
    expect(r.pick(request('/x', 'OPTIONS')).rules.ttl).to.equal(2000)
  })

  it('matches a path whose unreserved characters are percent-encoded (no slipping past a rule)', () => {
    const r = router([{ match: { path: '/admin/**' }, bypass: true }])
    expect(r.pick(request('/%61dmin/users')).bypass).to.equal(true)
    expect(r.pick(request('/admin%2Fusers')).bypass).to.equal(false)
  })

  it('keys users by a header as sent, and by a cookie as a digest', () => {
    const byHeader = userFunction({ header: 'x-user-id' })
    expect(byHeader(request('/', 'GET', { 'x-user-id': 'alice' }))).to.equal('alice')
    expect(byHeader(request('/'))).to.equal(undefined)
    const byCookie = userFunction({ cookie: 'sid' })
    const alice = byCookie(request('/', 'GET', { cookie: 'theme=dark; sid=abc123; x=1' }))
    expect(alice).to.be.a('string').and.not.include('abc123')
    expect(byCookie(request('/', 'GET', { cookie: 'sid=other' }))).not.to.equal(alice)
    expect(byCookie(request('/', 'GET', { cookie: 'theme=dark' }))).to.equal(undefined)
    expect(userFunction({ cookie: 'sid', hash: false })(request('/', 'GET', { cookie: 'sid=abc123' }))).to.equal('abc123')
  })
})

describe('proxy forwarding trust', () => {
  it('trusts addresses, CIDR blocks and keywords, IPv4-mapped IPv6 included', () => {
    const f = new Forwarding({ trustedHops: ['10.0.0.0/8', 'loopback', '2001:db8::1'], via: false })
    expect(f.trusts('10.1.2.3')).to.equal(true)
    expect(f.trusts('::ffff:10.1.2.3')).to.equal(true)
    expect(f.trusts('127.0.0.1')).to.equal(true)
    expect(f.trusts('::1')).to.equal(true)
    expect(f.trusts('2001:db8::1')).to.equal(true)
    expect(f.trusts('192.168.1.1')).to.equal(false)
    expect(f.trusts(undefined)).to.equal(false)
    expect(new Forwarding({ trustedHops: [], via: false }).trusts('127.0.0.1')).to.equal(false)
  })

  it('rewrites an absolute-form target and dot segments the way the upstream will see them', () => {
    const f = new Forwarding({ trustedHops: [], via: 'cachefront' })
    const req = { url: 'http://other.example/a/../b?x=1', method: 'GET', httpVersion: '1.1', headers: { host: 'h' }, socket: new Socket() } as unknown as IncomingMessage
    f.prepare(req)
    expect(req.url).to.equal('/b?x=1')
    expect(req.headers.host).to.equal('other.example')
    expect(req.headers['x-forwarded-host']).to.equal('other.example')
    expect(req.headers.via).to.equal('1.1 cachefront')
  })

  it('keys every target as the upstream receives it from http-proxy-3', () => {
    const f = new Forwarding({ trustedHops: [], via: false })
    const socket = new Socket()
    // The path http-proxy-3 sends upstream for a target (its own code, not a copy of it);
    // undefined where it throws, and so the upstream request fails.
    const upstreamView = (target: string): string | undefined => {
      try {
        const req = { url: target, method: 'GET', headers: { host: 'h' }, socket }
        const outgoing = setupOutgoing({} as Parameters<typeof setupOutgoing>[0], { target: new URL(UPSTREAM) }, req as unknown as IncomingMessage)
        return outgoing.path ?? undefined
      } catch {
        return undefined
      }
    }
    // Every target of up to 4 characters from an alphabet of the characters that matter here
    // (dot segments, %2e in either case, `//`, characters the parser encodes or rewrites).
    const alphabet = ['/', '.', '%', '2', 'e', 'E', 'a', '?', '\\', ' ', '#', '"', 'é']
    let targets = ['']
    for (let length = 1; length <= 4; length++) {
      targets = targets.flatMap(t => alphabet.map(c => t + c))
      for (const tail of targets) {
        const target = '/' + tail
        const upstream = upstreamView(target)
        if (upstream === undefined) continue
        const req = { url: target, method: 'GET', httpVersion: '1.1', headers: { host: 'h' }, socket } as unknown as IncomingMessage
        f.prepare(req)
        // The key's resource part: a lone "?" is no query upstream, and none to the key.
        expect(resourceOf(req.url!), target).to.equal(resourceOf(upstream))
      }
    }
  })
})
