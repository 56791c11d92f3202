#!/usr/bin/env node
// Launches cachefront-proxy: the built CLI (dist/proxy/cli.js) when it exists and is newer than
// the sources, else the TypeScript source through tsx, so `npx cachefront-proxy` works in a
// checkout without a build. An installed package ships only dist/, so it always runs the build.
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const built = path.join(root, 'dist', 'proxy', 'cli.js')
const source = path.join(root, 'proxy', 'cli.ts')

/** The newest modification time of the TypeScript the build is made from. */
function newestSource () {
  let newest = 0
  for (const dir of ['proxy', 'src']) {
    const full = path.join(root, dir)
    if (!existsSync(full)) continue
    // Subfolders too (src/dashboard), with the dashboard's page files.
    for (const name of readdirSync(full, { recursive: true })) {
      if (/\.(ts|html|css|js)$/.test(name)) newest = Math.max(newest, statSync(path.join(full, name)).mtimeMs)
    }
  }
  return newest
}

const haveSource = existsSync(source)
if (existsSync(built) && (!haveSource || statSync(built).mtimeMs >= newestSource())) {
  await import(pathToFileURL(built).href)
} else if (haveSource) {
  const { register } = await import('tsx/esm/api')
  register()
  await import(pathToFileURL(source).href)
} else {
  process.stderr.write('cachefront-proxy: neither dist/proxy/cli.js nor proxy/cli.ts found; run `npm run build`\n')
  process.exitCode = 1
}
