import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { createLegacyApi, type LegacyApi } from '../examples/legacy-api/app.js';

/** A superagent parser for binary bodies: counts and hashes the bytes instead of keeping them. */
function sizeAndHash(response: unknown, done: (err: Error | null, body: unknown) => void) {
  const res = response as NodeJS.ReadableStream; // in Node, superagent hands parsers the IncomingMessage
  let bytes = 0;
  const hash = createHash('sha256');
  res.on('data', (chunk: Buffer) => { bytes += chunk.length; hash.update(chunk); });
  res.on('end', () => done(null, { bytes, sha: hash.digest('hex') }));
  res.on('error', (err: Error) => done(err, null));
}

describe('examples/legacy-api', () => {
  let api: LegacyApi;
  let base: string;
  const http = () => request(base);

  before((done) => {
    api = createLegacyApi({ delayMs: 0 });
    api.server.listen(0, '127.0.0.1', () => {
      base = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
      done();
    });
  });
  after((done) => { api.server.close(() => done()); });
  beforeEach(() => api.reset());

  describe('GET /products', () => {
    it('is public for 30 s with a strong ETag and Last-Modified', async () => {
      const res = await http().get('/products').expect(200).expect('Content-Type', /json/);
      expect(res.headers['cache-control']).to.equal('public, max-age=30');
      expect(res.headers.etag).to.match(/^"[^"]+"$/);
      expect(Date.parse(res.headers['last-modified'])).to.be.below(Date.now());
      expect(res.body).to.be.an('array').with.length.above(1);
      expect(res.headers['x-origin-hits']).to.equal('1');
    });

    it('answers 304 to a matching If-None-Match, comparing weakly', async () => {
      const { headers } = await http().get('/products');
      for (const inm of [headers.etag, `W/${headers.etag}`, `"nope", ${headers.etag}`, '*']) {
        const res = await http().get('/products').set('If-None-Match', inm).expect(304);
        expect(res.headers.etag).to.equal(headers.etag);
        expect(res.headers['cache-control']).to.equal('public, max-age=30');
      }
      await http().get('/products').set('If-None-Match', '"nope"').expect(200);
    });

    it('answers 304 to If-Modified-Since unless If-None-Match says otherwise', async () => {
      const { headers } = await http().get('/products');
      await http().get('/products').set('If-Modified-Since', headers['last-modified']).expect(304);
      await http().get('/products').set('If-Modified-Since', 'not a date').expect(200);
      await http().get('/products')
        .set('If-Modified-Since', headers['last-modified']).set('If-None-Match', '"other"').expect(200);
    });

    it('counts origin hits per path in X-Origin-Hits and api.counts', async () => {
      await http().get('/products');
      const res = await http().get('/products?x=1');
      expect(res.headers['x-origin-hits']).to.equal('2');
      await http().get('/health');
      expect(api.counts.get('/products')).to.equal(2);
      expect(api.counts.get('/health')).to.equal(1);
    });
  });

  describe('/products/:id', () => {
    it('GET has max-age, stale-while-revalidate, stale-if-error and an ETag', async () => {
      const res = await http().get('/products/1').expect(200);
      expect(res.headers['cache-control']).to.equal('max-age=60, stale-while-revalidate=30, stale-if-error=300');
      expect(res.headers.etag).to.match(/^"[^"]+"$/);
      expect(res.body).to.include({ id: 1 });
      await http().get('/products/1').set('If-None-Match', res.headers.etag).expect(304);
    });

    it('404s unknown ids as JSON without Cache-Control; 400s malformed ids', async () => {
      const res = await http().get('/products/999').expect(404).expect('Content-Type', /json/);
      expect(res.headers).not.to.have.property('cache-control');
      expect(res.body).to.have.property('error');
      await http().get('/products/abc').expect(400);
    });

    it('POST changes the data and both ETags, with Content-Location', async () => {
      const list = await http().get('/products');
      const one = await http().get('/products/2');
      const res = await http().post('/products/2').send({ price: 19.5, colour: 'red' }).expect(200);
      expect(res.headers['content-location']).to.equal('/products/2');
      expect(res.body).to.include({ id: 2, price: 19.5, colour: 'red' });

      const list2 = await http().get('/products').set('If-None-Match', list.headers.etag).expect(200);
      expect(list2.headers.etag).not.to.equal(list.headers.etag);
      expect(list2.body.find((p: { id: number }) => p.id === 2).price).to.equal(19.5);
      // The old Last-Modified is no longer current either.
      await http().get('/products').set('If-Modified-Since', list.headers['last-modified']).expect(200);
      const one2 = await http().get('/products/2').set('If-None-Match', one.headers.etag).expect(200);
      expect(one2.headers.etag).not.to.equal(one.headers.etag);
    });

    it('POST rejects bad input with 400 and leaves the data alone', async () => {
      const before = await http().get('/products/1');
      await http().post('/products/1').set('Content-Type', 'application/json').send('{"price": ').expect(400);
      await http().post('/products/1').send([1, 2]).expect(400);
      await http().post('/products/1').send({ price: 'cheap' }).expect(400);
      await http().post('/products/1').send({ price: -1 }).expect(400);
      await http().post('/products/1').send({ stock: 1.5 }).expect(400);
      await http().post('/products/999').send({ price: 1 }).expect(404);
      const after = await http().get('/products/1').set('If-None-Match', before.headers.etag);
      expect(after.status).to.equal(304);
    });

    it('DELETE removes the product', async () => {
      await http().delete('/products/3').expect(204);
      await http().get('/products/3').expect(404);
      const list = await http().get('/products');
      expect(list.body.map((p: { id: number }) => p.id)).not.to.include(3);
    });

    it('405s unsupported methods with Allow', async () => {
      const res = await http().put('/products/1').send({}).expect(405);
      expect(res.headers.allow).to.equal('GET, HEAD, POST, DELETE');
      await http().post('/products').send({}).expect(405).expect('Allow', 'GET, HEAD');
    });
  });

  it('GET /prices carries only Last-Modified (heuristic freshness)', async () => {
    const res = await http().get('/prices').expect(200);
    expect(res.headers).not.to.have.any.keys('cache-control', 'expires', 'etag');
    expect(res.headers['last-modified']).to.be.a('string');
    await http().get('/prices').set('If-Modified-Since', res.headers['last-modified']).expect(304);
  });

  it('GET /stock is no-cache with an ETag, 304 while unchanged', async () => {
    const res = await http().get('/stock').expect(200).expect('Cache-Control', 'no-cache');
    await http().get('/stock').set('If-None-Match', res.headers.etag).expect(304);
    await http().post('/products/1').send({ stock: 7 }).expect(200);
    await http().get('/stock').set('If-None-Match', res.headers.etag).expect(200);
  });

  it('GET /me is private, varies on the user, from X-User-Id or a bearer token', async () => {
    const alice = await http().get('/me').set('X-User-Id', 'alice').expect(200);
    expect(alice.headers['cache-control']).to.equal('private, max-age=60');
    expect(alice.headers.vary).to.match(/X-User-Id/);
    expect(alice.body.user).to.equal('alice');
    const bob = await http().get('/me').set('Authorization', 'Bearer bob').expect(200);
    expect(bob.body.user).to.equal('bob');
    await http().get('/me').expect(401);
    await http().get('/me').set('X-User-Id', 'no spaces allowed').expect(400);
  });

  it('GET /session sets a cookie on a max-age=60 response', async () => {
    const res = await http().get('/session').expect(200).expect('Cache-Control', 'max-age=60');
    expect(res.headers['set-cookie']?.[0]).to.match(/^sid=[\w-]+;/);
  });

  it('GET /news varies on Accept-Language', async () => {
    const fr = await http().get('/news').set('Accept-Language', 'de, fr;q=0.9, en;q=0.5').expect(200);
    expect(fr.headers.vary).to.equal('Accept-Language');
    expect(fr.headers['cache-control']).to.equal('public, max-age=20');
    expect(fr.body.lang).to.equal('fr');
    expect((await http().get('/news')).body.lang).to.equal('en');
    expect((await http().get('/news?lang=fr').set('Accept-Language', 'en')).body.lang).to.equal('fr');
    await http().get('/news?lang=de').expect(400);
  });

  it('GET /report has surrogate keys', async () => {
    await http().get('/report').expect(200)
      .expect('Surrogate-Key', 'reports report-2026').expect('Cache-Control', 'public, max-age=300');
  });

  describe('GET /download', () => {
    it('streams exactly the requested length, deterministically', async () => {
      const size = 3 * 64 * 1024 + 123;
      const get = () => http().get(`/download?size=${size}`).buffer(true).parse(sizeAndHash).expect(200);
      const [a, b] = await Promise.all([get(), get()]);
      expect(a.headers['content-type']).to.equal('application/octet-stream');
      expect(a.headers['content-length']).to.equal(String(size));
      expect(a.headers['cache-control']).to.equal('public, max-age=3600');
      expect(a.body.bytes).to.equal(size);
      expect(a.body).to.deep.equal(b.body);
    });

    it('defaults to 10 MiB (HEAD) and rejects bad or oversized sizes', async () => {
      await http().head('/download').expect(200).expect('Content-Length', String(10 * 1024 * 1024));
      await http().get('/download?size=0').expect(200).expect('Content-Length', '0');
      await http().get('/download?size=-5').expect(400);
      await http().get('/download?size=1e3').expect(400);
      await http().get(`/download?size=${200 * 1024 * 1024 + 1}`).expect(400);
    });
  });

  it('GET /slow waits ms and 400s bad numbers', async () => {
    const t0 = Date.now();
    const res = await http().get('/slow?ms=50').expect(200).expect('Cache-Control', 'public, max-age=10');
    expect(Date.now() - t0).to.be.at.least(45);
    expect(res.body.waitedMs).to.equal(50);
    await http().get('/slow?ms=soon').expect(400);
  });

  it('GET /flaky alternates 200 (stale-if-error) and 503 (no Cache-Control)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await http().get('/flaky');
      statuses.push(res.status);
      if (res.status === 200) expect(res.headers['cache-control']).to.equal('max-age=1, stale-if-error=60');
      else expect(res.headers).not.to.have.property('cache-control');
    }
    expect(statuses).to.deep.equal([200, 503, 200, 503]);
  });

  it('GET /time is shared-cacheable only (s-maxage)', async () => {
    const res = await http().get('/time').expect(200).expect('Cache-Control', 'public, s-maxage=5, max-age=0');
    expect(Date.parse(res.body.now)).to.be.closeTo(Date.now(), 5000);
  });

  it('GET /health is no-store; unknown paths 404 as JSON', async () => {
    await http().get('/health').expect(200).expect('Cache-Control', 'no-store');
    const res = await http().get('/nope').expect(404).expect('Content-Type', /json/);
    expect(res.body).to.have.property('error');
  });

  it('waits delayMs before answering, except /health', async () => {
    const slow = createLegacyApi({ delayMs: 60 });
    await new Promise<void>((resolve) => slow.server.listen(0, '127.0.0.1', resolve));
    try {
      let t0 = Date.now();
      await request(slow.server).get('/products').expect(200);
      expect(Date.now() - t0).to.be.at.least(55);
      t0 = Date.now();
      await request(slow.server).get('/health').expect(200);
      expect(Date.now() - t0).to.be.below(50);
    } finally {
      await new Promise((resolve) => slow.server.close(resolve));
    }
  });
});
