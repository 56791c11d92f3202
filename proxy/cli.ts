/**
 * `cachefront-proxy`: parses flags, loads and validates the configuration (exit 2 on any
 * problem), then runs one proxy process, or a cluster of them with --workers.
 */
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { pino, type Logger } from 'pino'
import { runPrimary, runWorker } from './cluster.js'
import { ConfigError, loadConfig, maskSecrets, OVERRIDES, type Flags, type ProxyConfig } from './config.js'
import { HELP, NAME } from './help.js'
import { createProxy } from './server.js'
import { warmCommand } from './warm.js'

function parseFlags (argv: string[]) {
  const options: NonNullable<ParseArgsConfig['options']> = {
    config: { type: 'string', short: 'c' },
    check: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  }
  for (const o of OVERRIDES) options[o.flag] = o.kind === 'off' ? { type: 'boolean' } : { type: 'string', ...(o.short ? { short: o.short } : {}) }
  return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Flags
}

function version (): string {
  // proxy/cli.ts, or dist/proxy/cli.js once built.
  for (const up of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version: string }).version
    } catch {}
  }
  return 'unknown'
}

/** Runs the CLI; resolves with an exit code when it is done before serving (help, errors). */
export async function main (argv: string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  if (argv[0] === 'warm') return warmCommand(argv.slice(1), env)
  let flags: ReturnType<typeof parseFlags>
  try {
    flags = parseFlags(argv)
  } catch (err) {
    process.stderr.write(`${NAME}: ${(err as Error).message}\nTry ${NAME} --help.\n`)
    return 2
  }
  if (flags.help) {
    process.stdout.write(HELP)
    return 0
  }
  if (flags.version) {
    process.stdout.write(version() + '\n')
    return 0
  }
  let config: ProxyConfig
  try {
    config = loadConfig({ file: (flags.config as string | undefined) ?? (env.CACHEFRONT_CONFIG || undefined), flags, env })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${NAME}: ${err.message}\n`)
    return 2
  }
  if (flags.check) {
    process.stdout.write(JSON.stringify(maskSecrets(config), null, 2) + '\n')
    return 0
  }
  const logger = pino({ name: NAME, level: config.log.level })
  if (config.workers > 1) {
    if (cluster.isPrimary) {
      logger.info({ config: maskSecrets(config) }, 'effective configuration')
      await runPrimary(config, logger)
    } else {
      await runWorker(config, logger)
    }
    return undefined
  }
  return serve(config, logger)
}

async function serve (config: ProxyConfig, logger: Logger): Promise<number | undefined> {
  let proxy: ReturnType<typeof createProxy>
  try {
    proxy = createProxy(config, { logger, defaultMetrics: true })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${NAME}: ${err.message}\n`)
    return 2
  }
  try {
    await proxy.listen()
  } catch (err) {
    logger.fatal((err as Error).message)
    await proxy.close()
    return 1
  }
  logger.info({ config: maskSecrets(config) }, 'effective configuration')
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now`)
      process.exit(1)
    }
    stopping = true
    logger.info(`${signal}: finishing in-flight requests, then exiting`)
    proxy.close().then(
      () => process.exit(0),
      err => {
        logger.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  return undefined
}

const code = await main(process.argv.slice(2), process.env)
if (code !== undefined) process.exitCode = code
