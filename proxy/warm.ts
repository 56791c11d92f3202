/**
 * Warming the proxy's cache: `cachefront-proxy warm --urls urls.txt | --sitemap sitemap.xml`,
 * and the config's `warm`, run once the proxy listens. The requests and the summary are
 * src/warm.ts's; this module reads the lists (files, sitemaps, sitemap indexes), shows progress
 * (a bar on a terminal, a line per URL otherwise) and logs.
 */
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import type { Logger } from 'pino'
import { parseSitemap, parseUrlList, warm, type WarmReport, type WarmUrlResult } from '../src/index.js'
import { ConfigError, loadConfig, type ProxyConfig } from './config.js'

export const WARM_HELP = `Usage: cachefront-proxy warm --urls <file> | --sitemap <file|url> [options]

Requests each URL through the cache, a few at a time, and reports what the cache did with it:
stored (now cached), fresh (was cached already), stale (served stale, refreshing), not
cacheable (its headers or a rule keep it out), failed (no answer, or a 4xx/5xx status).

Options:
      --urls <FILE>          URLs or paths, one per line (# comments); - for standard input
      --sitemap <FILE|URL>   a sitemap.xml (or .xml.gz, or a sitemap index) whose <loc>s to warm
  -n, --concurrency <N>      requests in flight at once (default 8)
  -t, --target <URL>         the cache to warm (default: the --config file's listen address,
                             else http://127.0.0.1:8080); absolute URLs are sent there with
                             their own host in Host, so entries are keyed as real traffic's
  -c, --config <FILE>        read the target from this configuration (env CACHEFRONT_CONFIG)
  -H, --header <NAME:VALUE>  an extra request header (repeatable), e.g. 'accept-encoding: gzip'
      --timeout <DURATION>   give up on one URL after this long (default 30s)
      --json                 print the summary as JSON
  -h, --help                 show this help

Exit codes: 0 when no URL failed, 1 when some did, 2 on a usage error.
`

/** Where warming gets its URLs: listed, in a file, or in a sitemap. */
export interface WarmSources {
  urls?: readonly string[]
  file?: string
  sitemap?: string
}

/** Every URL of the sources, in order, without duplicates. Sitemap indexes are followed (two levels). */
export async function loadWarmList (sources: WarmSources, stdin?: () => Promise<string>): Promise<string[]> {
  const out: string[] = [...(sources.urls ?? [])]
  if (sources.file !== undefined) {
    const text = sources.file === '-' && stdin !== undefined ? await stdin() : readText(sources.file)
    out.push(...parseUrlList(text))
  }
  if (sources.sitemap !== undefined) out.push(...await sitemapUrls(sources.sitemap, 0))
  return [...new Set(out)]
}

async function sitemapUrls (where: string, depth: number): Promise<string[]> {
  const xml = /^https?:\/\//i.test(where) ? await download(where) : readText(where)
  const { index, urls } = parseSitemap(xml)
  if (!index) return urls
  if (depth >= 2) throw new Error(`${where}: sitemap indexes nested more than two deep`)
  const all: string[] = []
  for (const child of urls) all.push(...await sitemapUrls(child, depth + 1))
  return all
}

function readText (file: string): string {
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (err) {
    throw new Error(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  return gunzipped(data).toString('utf8')
}

async function download (url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) })
  if (!res.ok) throw new Error(`${url}: status ${res.status}`)
  return gunzipped(Buffer.from(await res.arrayBuffer())).toString('utf8')
}

/** A .gz file (or a sitemap served as application/gzip): the gzip magic number tells. */
function gunzipped (data: Buffer): Buffer {
  return data.length > 2 && data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data
}

/** The URL a client on this machine reaches a listener at: 0.0.0.0 and :: become loopback. */
export function reachable (listenUrl: string): string {
  const url = new URL(listenUrl)
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1'
  else if (url.hostname === '[::]') url.hostname = '[::1]'
  return url.origin
}

/** The config's `warm`, run against the proxy at `target`; logs the summary. */
export async function warmAtStartup (settings: NonNullable<ProxyConfig['warm']>, target: string, logger: Logger, signal?: AbortSignal): Promise<WarmReport> {
  const log = logger.child({ component: 'warm' })
  let urls: string[]
  try {
    urls = await loadWarmList(settings)
  } catch (err) {
    log.error({ err: (err as Error).message }, 'warming: cannot read the URL list')
    throw err
  }
  log.info({ urls: urls.length, concurrency: settings.concurrency, target }, `warming the cache with ${urls.length} URLs`)
  const report = await warm(urls, { target, concurrency: settings.concurrency, signal })
  if (signal?.aborted) log.info('warming stopped: shutting down')
  const { failures, ...counts } = report
  const line = `warmed ${report.total} URLs in ${report.ms} ms: ${describeReport(report)}`
  if (failures.length > 0) log.warn({ ...counts, failures: failures.slice(0, 10).map(f => ({ url: f.url, error: f.error })) }, line)
  else log.info(counts, line)
  return report
}

/** "3 stored, 1 already fresh, 0 stale, 1 not cacheable, 0 failed" */
export function describeReport (r: WarmReport): string {
  return `${r.stored} stored, ${r.fresh} already fresh, ${r.stale} stale, ${r.notCacheable} not cacheable, ${r.failed} failed`
}

/** `cachefront-proxy warm ...`; resolves with the exit code. */
export async function warmCommand (argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let flags
  try {
    flags = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        urls: { type: 'string' },
        sitemap: { type: 'string' },
        concurrency: { type: 'string', short: 'n' },
        target: { type: 'string', short: 't' },
        config: { type: 'string', short: 'c' },
        header: { type: 'string', short: 'H', multiple: true },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    return usage((err as Error).message)
  }
  if (flags.help) {
    process.stdout.write(WARM_HELP)
    return 0
  }
  if (flags.urls === undefined && flags.sitemap === undefined) return usage('give --urls <file> or --sitemap <file|url>')
  const concurrency = flags.concurrency === undefined ? 8 : Number(flags.concurrency)
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 1024) return usage(`--concurrency: expected an integer from 1 to 1024, received ${JSON.stringify(flags.concurrency)}`)
  const headers: Record<string, string> = {}
  for (const h of flags.header ?? []) {
    const colon = h.indexOf(':')
    if (colon <= 0) return usage(`--header: expected NAME: VALUE, received ${JSON.stringify(h)}`)
    headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim()
  }
  let target: string
  try {
    target = targetOf(flags.target, flags.config ?? (env.CACHEFRONT_CONFIG || undefined), env)
  } catch (err) {
    return usage((err as Error).message)
  }

  let urls: string[]
  try {
    urls = await loadWarmList({ file: flags.urls, sitemap: flags.sitemap }, readStdin)
  } catch (err) {
    process.stderr.write(`cachefront-proxy warm: ${(err as Error).message}\n`)
    return 2
  }
  if (urls.length === 0) {
    process.stderr.write('cachefront-proxy warm: no URLs to warm\n')
    return 0
  }

  const progress = progressFor(urls.length, flags.json === true)
  let report: WarmReport
  try {
    report = await warm(urls, { target, concurrency, headers, timeout: flags.timeout, onResult: progress.update })
  } catch (err) {
    progress.stop()
    return usage((err as Error).message)
  }
  progress.stop()
  if (flags.json) {
    process.stdout.write(JSON.stringify({ target, ...report }, null, 2) + '\n')
  } else {
    process.stdout.write(`warmed ${report.total} URLs through ${target} in ${(report.ms / 1000).toFixed(1)} s\n`)
    process.stdout.write(`  stored         ${report.stored}\n  already fresh  ${report.fresh}\n  stale          ${report.stale}\n  not cacheable  ${report.notCacheable}\n  failed         ${report.failed}\n`)
    for (const f of report.failures.slice(0, 20)) process.stdout.write(`  failed: ${f.url} (${f.error})\n`)
    if (report.failures.length > 20) process.stdout.write(`  ... and ${report.failed - 20} more\n`)
  }
  return report.failed > 0 ? 1 : 0
}

function usage (message: string): number {
  process.stderr.write(`cachefront-proxy warm: ${message}\nTry cachefront-proxy warm --help.\n`)
  return 2
}

/** --target, else the configuration's listen address, else 127.0.0.1:8080. */
function targetOf (flag: string | undefined, configFile: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag !== undefined) {
    let url: URL
    try { url = new URL(flag) } catch { throw new Error(`--target: expected an http(s) URL such as http://127.0.0.1:8080, received ${JSON.stringify(flag)}`) }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--target: expected an http(s) URL, received ${JSON.stringify(flag)}`)
    return url.origin
  }
  if (configFile === undefined) return 'http://127.0.0.1:8080'
  let config: ProxyConfig
  try {
    // The upstream is irrelevant here, but required by the schema.
    config = loadConfig({ file: configFile, env: { CACHEFRONT_UPSTREAM: 'http://127.0.0.1:1', ...env } })
  } catch (err) {
    throw new Error(err instanceof ConfigError ? err.message : (err as Error).message)
  }
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host
  return reachable(`http://${host}:${config.listen.port}`)
}

function readStdin (): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', c => { text += c })
    process.stdin.on('end', () => resolve(text))
    process.stdin.on('error', reject)
  })
}

/** A progress bar on a terminal (stderr), else one line per URL on stdout; nothing with --json. */
function progressFor (total: number, quiet: boolean): { update: (r: WarmUrlResult, done: number) => void, stop: () => void } {
  if (quiet) return { update: () => {}, stop: () => {} }
  if (process.stderr.isTTY) {
    const counts = { stored: 0, fresh: 0, failed: 0 }
    const bar = new cliProgress.SingleBar({
      format: 'warming [{bar}] {percentage}% {value}/{total} | stored {stored} fresh {fresh} failed {failed} | eta {eta_formatted}',
      hideCursor: true,
      stream: process.stderr,
    }, cliProgress.Presets.shades_classic)
    bar.start(total, 0, counts)
    return {
      update: (r, done) => {
        if (r.outcome === 'stored' || r.outcome === 'fresh' || r.outcome === 'failed') counts[r.outcome]++
        bar.update(done, counts)
      },
      stop: () => bar.stop(),
    }
  }
  const width = String(total).length
  return {
    update: (r, done) => {
      const status = r.status === undefined ? '---' : String(r.status)
      const detail = r.outcome === 'failed' && r.error !== undefined ? `  (${r.error})` : ''
      process.stdout.write(`[${String(done).padStart(width)}/${total}] ${r.outcome.padEnd(13)} ${status} ${String(r.ms).padStart(5)} ms  ${r.url}${detail}\n`)
    },
    stop: () => {},
  }
}
