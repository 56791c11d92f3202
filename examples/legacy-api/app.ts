// A deliberately slow "legacy" HTTP API on plain node:http. Every endpoint
// shows one HTTP caching behaviour (RFC 9110/9111) so demos, tests and
// benchmarks of cachefront can point at it. Each response carries
// X-Origin-Hits: how many requests reached this path, so a demo can tell a
// cache hit (counter unchanged) from a trip to the origin.
import http from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LegacyApiOptions {
  /** Delay before each answer, to play a slow backend. Default 200 ms. */
  delayMs?: number;
}

export interface LegacyApi {
  server: http.Server;
  /** Requests received per path (query excluded), for tests. */
  counts: Map<string, number>;
  /** Restore the seed data and clear the counters. */
  reset(): void;
}

interface Product {
  id: number;
  name: string;
  price: number;
  stock: number;
  updatedAt: string;
  [field: string]: unknown;
}

const MiB = 1024 * 1024;
const DEFAULT_DOWNLOAD = 10 * MiB;
const MAX_DOWNLOAD = 200 * MiB;
const MAX_SLOW_MS = 30_000;
const MAX_BODY = 64 * 1024;

const SEED = [
  { id: 1, name: 'Widget', price: 9.99, stock: 120 },
  { id: 2, name: 'Gadget', price: 24.5, stock: 8 },
  { id: 3, name: 'Gizmo', price: 3.25, stock: 0 },
  { id: 4, name: 'Doohickey', price: 99, stock: 42 },
];

const NEWS = {
  en: [{ title: 'Caching saves the day', body: 'The legacy API is slow; the cache is not.' }],
  fr: [{ title: 'Le cache sauve la mise', body: "L'API historique est lente ; le cache, non." }],
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

type HeaderMap = Record<string, string | number>;
interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  query: URLSearchParams;
  id: string;      // the :id of /products/:id, '' elsewhere
  hits: number;    // requests to this path so far, this one included
}
type Handler = (ctx: Ctx) => Promise<void> | void;

// HTTP-dates have one-second resolution, so keep modification times whole seconds.
const wholeSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

export function createLegacyApi(options: LegacyApiOptions = {}): LegacyApi {
  const delayMs = options.delayMs ?? 200;
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new TypeError('delayMs must be a number >= 0');

  const counts = new Map<string, number>();
  // Seed data "last changed" a day ago, so heuristic freshness (/prices) has something to work with.
  const seededAt = wholeSeconds(Date.now() - 24 * 3600_000);
  let products = new Map<number, Product>();
  let modified = seededAt; // when anything in the catalogue last changed

  function reset() {
    counts.clear();
    products = new Map(SEED.map((p) => [p.id, { ...p, updatedAt: seededAt.toISOString() }]));
    modified = seededAt;
  }
  reset();

  const product = (id: string): Product => {
    if (!/^\d{1,9}$/.test(id)) throw new HttpError(400, 'product id must be a positive integer');
    const found = products.get(Number(id));
    if (!found) throw new HttpError(404, `no product ${id}`);
    return found;
  };

  const GET: Record<string, Handler> = {
    // Explicitly fresh for 30 s in any cache, then revalidated with If-None-Match / If-Modified-Since.
    '/products': ({ req, res }) =>
      send(req, res, [...products.values()], {
        headers: { 'Cache-Control': 'public, max-age=30' }, etag: true, lastModified: modified,
      }),

    // stale-while-revalidate: a cache may answer stale for 30 s while refreshing in the background;
    // stale-if-error: it may answer stale for 5 min if the origin fails. Unknown ids 404 with no
    // Cache-Control at all (a cache may still store a 404 heuristically, RFC 9111 §4.2.2).
    '/products/:id': ({ req, res, id }) => {
      const p = product(id);
      send(req, res, p, {
        headers: { 'Cache-Control': 'max-age=60, stale-while-revalidate=30, stale-if-error=300' },
        etag: true, lastModified: new Date(p.updatedAt),
      });
    },

    // No Cache-Control, no Expires: only Last-Modified, so a cache may compute heuristic freshness
    // (typically 10% of the age since modification, RFC 9111 §4.2.2) and may serve outdated prices
    // after a POST until then.
    '/prices': ({ req, res }) =>
      send(req, res, Object.fromEntries([...products.values()].map((p) => [p.id, p.price])), { lastModified: modified }),

    // no-cache = store, but revalidate on every use: each request reaches the origin, which answers
    // a cheap 304 while the stock is unchanged.
    '/stock': ({ req, res }) =>
      send(req, res, Object.fromEntries([...products.values()].map((p) => [p.id, p.stock])), {
        headers: { 'Cache-Control': 'no-cache' }, etag: true,
      }),

    // Per-user: private keeps it out of shared caches (a browser may keep it); Vary keeps one user's
    // copy from being served to another.
    '/me': ({ req, res }) => {
      const user = userOf(req);
      send(req, res, { user, plan: user.length % 2 ? 'pro' : 'free', greeting: `Hello, ${user}` }, {
        headers: { 'Cache-Control': 'private, max-age=60', Vary: 'X-User-Id, Authorization' },
      });
    },

    // Looks cacheable (max-age=60) but sets a cookie: a shared cache must not hand this sid to others.
    '/session': ({ req, res }) => {
      const sid = randomUUID();
      send(req, res, { sid }, {
        headers: { 'Cache-Control': 'max-age=60', 'Set-Cookie': `sid=${sid}; Path=/; HttpOnly; SameSite=Lax` },
      });
    },

    // Content negotiation: one URL, one variant per Accept-Language (?lang= overrides it).
    '/news': ({ req, res, query }) => {
      const lang = query.get('lang') ?? pickLanguage(req.headers['accept-language']);
      if (lang !== 'en' && lang !== 'fr') throw new HttpError(400, 'lang must be en or fr');
      send(req, res, { lang, items: NEWS[lang] }, {
        headers: { 'Cache-Control': 'public, max-age=20', Vary: 'Accept-Language', 'Content-Language': lang },
      });
    },

    // Long-lived, tagged for purging: "purge surrogate key reports" drops it before max-age runs out.
    '/report': ({ req, res }) =>
      send(req, res, { title: 'Annual report 2026', generatedAt: new Date().toISOString(), revenue: 1_234_567 }, {
        headers: { 'Cache-Control': 'public, max-age=300', 'Surrogate-Key': 'reports report-2026' },
      }),

    // Big body: streamed, never buffered here, to exercise a cache's streaming and size limits.
    '/download': ({ req, res, query }) => {
      const size = intParam(query, 'size', DEFAULT_DOWNLOAD);
      if (size > MAX_DOWNLOAD) throw new HttpError(400, `size must be <= ${MAX_DOWNLOAD}`);
      const headers = {
        'Content-Type': 'application/octet-stream', 'Content-Length': size,
        'Cache-Control': 'public, max-age=3600', ETag: `"download-${size}"`, // content depends on size only
      };
      if (notModified(req, headers.ETag)) return void res.writeHead(304, headers).end();
      res.writeHead(200, headers);
      if (req.method === 'HEAD') return void res.end();
      return pipeline(downloadBody(size), res);
    },

    // Slowness on demand (the default delay does not apply): shows coalescing of concurrent misses.
    '/slow': async ({ req, res, query }) => {
      const ms = Math.min(intParam(query, 'ms', delayMs), MAX_SLOW_MS);
      if (ms > 0) await sleep(ms);
      send(req, res, { waitedMs: ms }, { headers: { 'Cache-Control': 'public, max-age=10' } });
    },

    // Every other request fails with an uncacheable 503; stale-if-error lets a cache hide it.
    '/flaky': ({ req, res, hits }) => {
      if (hits % 2 === 0) return send(req, res, { error: 'service unavailable' }, { status: 503, headers: { 'Retry-After': 1 } });
      send(req, res, { ok: true, at: new Date().toISOString() }, { headers: { 'Cache-Control': 'max-age=1, stale-if-error=60' } });
    },

    // s-maxage applies to shared caches only: the proxy keeps it 5 s, browsers must not reuse it.
    '/time': ({ req, res }) =>
      send(req, res, { now: new Date().toISOString() }, { headers: { 'Cache-Control': 'public, s-maxage=5, max-age=0' } }),

    // Health checks must see the origin itself, never a cached answer.
    '/health': ({ req, res }) => send(req, res, { status: 'ok' }, { headers: { 'Cache-Control': 'no-store' } }),
  };

  // Unsafe methods: a cache must invalidate the target URI and the Content-Location (RFC 9111 §4.4).
  const WRITE: Record<string, Handler> = {
    'POST /products/:id': async ({ req, res, id }) => {
      const current = product(id);
      const { id: _id, updatedAt: _u, ...patch } = await readJson(req);
      if ('price' in patch && !(typeof patch.price === 'number' && Number.isFinite(patch.price) && patch.price >= 0))
        throw new HttpError(400, 'price must be a number >= 0');
      if ('stock' in patch && !(Number.isSafeInteger(patch.stock) && (patch.stock as number) >= 0))
        throw new HttpError(400, 'stock must be an integer >= 0');
      modified = wholeSeconds(Date.now());
      const updated: Product = { ...current, ...patch, updatedAt: modified.toISOString() };
      products.set(updated.id, updated);
      send(req, res, updated, { headers: { 'Content-Location': `/products/${updated.id}` } });
    },
    'DELETE /products/:id': ({ res, id }) => {
      products.delete(product(id).id);
      modified = wholeSeconds(Date.now());
      res.writeHead(204).end();
    },
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const { path, query } = parseTarget(req.url ?? '/');
    const hits = (counts.get(path) ?? 0) + 1;
    counts.set(path, hits);
    res.setHeader('X-Origin-Hits', hits);

    const match = /^\/products\/([^/]+)$/.exec(path);
    const route = match ? '/products/:id' : path;
    const ctx: Ctx = { req, res, query, id: match?.[1] ?? '', hits };
    const read = Object.hasOwn(GET, route) ? GET[route] : undefined;
    const handler = req.method === 'GET' || req.method === 'HEAD' ? read : WRITE[`${req.method} ${route}`];
    if (!handler) {
      const writes = Object.keys(WRITE).filter((k) => k.endsWith(` ${route}`)).map((k) => k.split(' ')[0]);
      if (!read && !writes.length) throw new HttpError(404, `no route for ${path}`);
      res.setHeader('Allow', [...(read ? ['GET', 'HEAD'] : []), ...writes].join(', '));
      throw new HttpError(405, `${req.method} not allowed on ${path}`);
    }
    // The legacy system is slow: everything but /health (and /slow, which sets its own pace) waits.
    if (delayMs > 0 && route !== '/health' && route !== '/slow') await sleep(delayMs);
    if (res.destroyed) return; // the client gave up while we were "working"
    await handler(ctx);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 413) res.setHeader('Connection', 'close');
      send(req, res, { error: err instanceof HttpError ? err.message : 'internal error' }, { status });
    });
  });
  return { server, counts, reset };
}

// ---- helpers ----

function send(
  req: http.IncomingMessage, res: http.ServerResponse, body: unknown,
  { status = 200, headers = {}, etag = false, lastModified }: { status?: number; headers?: HeaderMap; etag?: boolean; lastModified?: Date } = {},
) {
  const payload = Buffer.from(JSON.stringify(body) + '\n');
  const h: HeaderMap = { ...headers };
  // Strong ETag: a hash of the exact bytes, so it changes whenever the data does.
  if (etag) h.ETag = `"${createHash('sha256').update(payload).digest('base64url').slice(0, 27)}"`;
  if (lastModified) h['Last-Modified'] = lastModified.toUTCString();
  // A 304 repeats the validators and caching headers the 200 would have had (RFC 9110 §15.4.5).
  if (status === 200 && (etag || lastModified) && notModified(req, h.ETag as string | undefined, lastModified))
    return void res.writeHead(304, h).end();
  res.writeHead(status, { ...h, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': payload.length });
  res.end(payload);
}

/** RFC 9110 §13.2.2 for GET/HEAD: If-None-Match (weak comparison) wins over If-Modified-Since. */
function notModified(req: http.IncomingMessage, etag?: string, lastModified?: Date): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    if (inm.trim() === '*') return true;
    const opaque = (tag: string) => tag.replace(/^W\//, '');
    return etag !== undefined && (inm.match(/(?:W\/)?"[^"]*"/g) ?? []).some((t) => opaque(t) === opaque(etag));
  }
  const ims = Date.parse(req.headers['if-modified-since'] ?? '');
  return lastModified !== undefined && !Number.isNaN(ims) && lastModified.getTime() <= ims;
}

function parseTarget(url: string): { path: string; query: URLSearchParams } {
  if (/^https?:\/\//i.test(url)) {
    const u = new URL(url); // absolute-form, as sent to a forward proxy
    return { path: u.pathname, query: u.searchParams };
  }
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: new URLSearchParams() } : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

function intParam(query: URLSearchParams, name: string, fallback: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,15}$/.test(raw)) throw new HttpError(400, `${name} must be a non-negative integer`);
  return Number(raw);
}

function userOf(req: http.IncomingMessage): string {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const user = (req.headers['x-user-id'] as string | undefined) ?? bearer;
  if (user === undefined) throw new HttpError(401, 'send X-User-Id or Authorization: Bearer <user>');
  if (!/^[\w.@-]{1,64}$/.test(user)) throw new HttpError(400, 'bad user id');
  return user;
}

/** The supported language (en, fr) with the highest q in Accept-Language; en by default. */
function pickLanguage(header = ''): string {
  let best = { lang: 'en', q: 0 };
  for (const part of header.split(',')) {
    const [range = '', ...params] = part.trim().toLowerCase().split(';');
    const q = Number(params.map((p) => p.trim()).find((p) => p.startsWith('q='))?.slice(2) ?? 1);
    const lang = range.trim().split('-')[0];
    if ((lang === 'en' || lang === 'fr') && q > best.q) best = { lang, q };
  }
  return best.lang;
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'body must be valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'body must be a JSON object');
  return value as Record<string, unknown>;
}

// 64 KiB of seeded pseudo-random bytes (xorshift32), repeated: byte n of any download is
// PATTERN[n % 65536], so the body is deterministic and costs no memory beyond this block.
const PATTERN = (() => {
  const buf = Buffer.alloc(64 * 1024);
  let x = 0x2545f491;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
})();

function downloadBody(size: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(PATTERN.length, size - sent);
      sent += n;
      this.push(PATTERN.subarray(0, n));
    },
  });
}
