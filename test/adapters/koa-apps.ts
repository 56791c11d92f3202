/**
 * Koa for the adapter tests: both peer versions (Koa 3 as `koa`, Koa 2 as the `koa2` alias),
 * and a server helper. Koa 2 ships no types; its API is the same for what the tests use.
 */
import Koa from 'koa'
import { listenOn, type Listening } from '../support/listen.js'
import http from 'node:http'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export interface KoaVersion {
  name: string
  Koa: typeof Koa
}

export const koaVersions: KoaVersion[] = [
  { name: 'koa 3', Koa },
  { name: 'koa 2', Koa: require('koa2') as typeof Koa },
]

/** A Koa app that reports nothing on stderr (tests listen to 'error' when they care). */
export function quietApp (Ctor: typeof Koa): Koa {
  const app = new Ctor()
  app.silent = true
  return app
}

export type { Listening }

export function listen (app: Koa): Promise<Listening> {
  return listenOn(app.callback() as http.RequestListener)
}
