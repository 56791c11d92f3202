// Runs the slow legacy API: `npx tsx examples/legacy-api/server.ts`
// Env: PORT (default 3000, 0 = any free port), HOST (default 127.0.0.1), DELAY_MS (default 200).
import type { AddressInfo } from 'node:net';
import { createLegacyApi } from './app.js';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) {
    console.error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return Number(raw);
}

const port = envInt('PORT', 3000);
const host = process.env.HOST || '127.0.0.1';
const delayMs = envInt('DELAY_MS', 200);
const { server } = createLegacyApi({ delayMs });

server.on('error', (err) => {
  console.error(`legacy API: ${err.message}`);
  process.exit(1);
});

server.listen(port, host, () => {
  const { address, port: bound } = server.address() as AddressInfo;
  const shown = address.includes(':') ? `[${address}]` : address;
  console.log(`legacy API listening on http://${shown}:${bound} (delay ${delayMs} ms)`);
});

// Graceful stop: refuse new connections and let in-flight requests finish. Keep-alive sockets
// stay open after their response unless closed, so close idle ones as they appear. After 5 s
// (a /slow?ms=30000 may be pending) cut the rest; a second signal exits at once.
let stopping = false;
function shutdown(signal: NodeJS.Signals) {
  if (stopping) process.exit(1);
  stopping = true;
  console.log(`${signal}: closing legacy API`);
  server.close((err) => process.exit(err ? 1 : 0));
  setInterval(() => server.closeIdleConnections(), 50).unref();
  setTimeout(() => server.closeAllConnections(), 5000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
