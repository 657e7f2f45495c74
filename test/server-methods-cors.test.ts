// Issue 18.5: a known route asked with the wrong method answers 405 with an Allow header (not
// 404); OPTIONS answers 204 with Allow; CORS is opt-in (`cors` option, `--cors ORIGINS`):
// without it no CORS header is ever sent, with it listed origins get the headers and their
// preflights are answered, before authentication.
import t from 'tap';
import { createServer } from '../ts/server/server.js';
import { items, jsonRequest, postJson, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';
import { startServeProcess } from '../testkit/serve-process.js';

const kToken = 'a-token-of-sixteen-or-more';
const kOrigin = 'https://app.example.com';
const corsHeaders = (h: Headers) => [...h.keys()].filter((k) => k.startsWith('access-control-'));

t.test('405 with Allow, OPTIONS with Allow, no CORS headers by default', async (t) => {
  const { url, stop } = await startFixtureServer();
  t.teardown(stop);
  for (const path of ['/v2/models/fixture/infer', '/v2/models/fixture/versions/1/infer', '/v2/models/nosuch/infer']) {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const r = await fetch(url + path, { method });
      t.equal(r.status, 405, `${method} ${path}: 405`);
      t.equal(r.headers.get('allow'), 'POST, OPTIONS', `${method} ${path}: Allow`);
      const body = await r.json();
      t.same(Object.keys(body), ['error']);
      t.ok(body.error.startsWith(`method ${method} is not allowed`) && body.error.includes('POST'), `message names the method and the allowed one: ${body.error}`);
    }
    const head = await fetch(url + path, { method: 'HEAD' });
    t.equal(head.status, 405, `HEAD ${path}: 405`);
  }
  for (const path of ['/v2/health/ready', '/v2/models/fixture', '/metrics', '/v2']) {
    const r = await fetch(url + path, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    t.equal(r.status, 405, `POST ${path}: 405`);
    t.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS', `POST ${path}: Allow`);
    t.equal((await fetch(url + path, { method: 'HEAD' })).status, 200, `HEAD ${path} still answered`);
  }
  const options = await fetch(`${url}/v2/models/fixture/infer`, { method: 'OPTIONS' });
  t.equal(options.status, 204, 'OPTIONS: 204');
  t.equal(options.headers.get('allow'), 'POST, OPTIONS');
  const preflight = await fetch(`${url}/v2/models/fixture/infer`, { method: 'OPTIONS', headers: { origin: kOrigin, 'access-control-request-method': 'POST' } });
  t.equal(preflight.status, 204, 'a preflight without CORS configured: plain OPTIONS answer');
  t.same(corsHeaders(preflight.headers), [], 'no CORS headers without the option');
  const post = await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(items(1)), { origin: kOrigin });
  t.equal(post.status, 200);
  t.same(corsHeaders(post.headers), [], 'no CORS headers on answers either');
  t.equal((await fetch(`${url}/v2/nosuch`)).status, 404, 'an unknown path is still a 404');
  t.equal((await fetch(`${url}/v2/nosuch`, { method: 'OPTIONS' })).status, 404, 'OPTIONS on an unknown path: 404');
});

t.test('CORS for listed origins, preflights before authentication', async (t) => {
  const { url, stop } = await startFixtureServer({}, { cors: [kOrigin, 'http://localhost:3000'], authToken: kToken });
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  const preflight = await fetch(infer, { method: 'OPTIONS', headers: { origin: kOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' } });
  t.equal(preflight.status, 204, 'preflight answered without the token');
  t.equal(preflight.headers.get('access-control-allow-origin'), kOrigin);
  t.equal(preflight.headers.get('access-control-allow-methods'), 'POST, OPTIONS');
  t.equal(preflight.headers.get('access-control-allow-headers'), 'content-type, authorization');
  t.equal(preflight.headers.get('access-control-max-age'), '600');
  t.match(preflight.headers.get('vary') ?? '', /Origin/);

  const auth = { authorization: `Bearer ${kToken}` };
  const ok = await postJson(infer, jsonRequest(items(2)), { ...auth, origin: kOrigin });
  t.equal(ok.status, 200);
  t.equal(ok.headers.get('access-control-allow-origin'), kOrigin, 'answer carries Allow-Origin');
  t.match(ok.headers.get('access-control-expose-headers') ?? '', /inference-header-content-length/);
  const denied = await postJson(infer, jsonRequest(items(2)), { origin: kOrigin });
  t.equal(denied.status, 401, 'the request itself still needs the token');
  t.equal(denied.headers.get('access-control-allow-origin'), kOrigin, 'the 401 is readable by the page');
  const other = await postJson(infer, jsonRequest(items(2)), { ...auth, origin: 'https://evil.example.com' });
  t.equal(other.status, 200, 'the server answers (browsers enforce CORS, not servers)');
  t.equal(other.headers.get('access-control-allow-origin'), null, 'no Allow-Origin for an origin not listed');
  const otherPreflight = await fetch(infer, { method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' } });
  t.equal(otherPreflight.headers.get('access-control-allow-origin'), null, 'no Allow-Origin on its preflight');
  const healthPreflight = await fetch(`${url}/v2/health/ready`, { method: 'OPTIONS', headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET' } });
  t.equal(healthPreflight.headers.get('access-control-allow-methods'), 'GET, HEAD, OPTIONS', 'methods of the route asked about');
});

t.test('cors: any origin with *; bad origins refused naming the option and the entry', async (t) => {
  const { url, stop } = await startFixtureServer({}, { cors: '*' });
  t.teardown(stop);
  const r = await fetch(`${url}/v2/health/live`, { headers: { origin: 'https://anything.example' } });
  t.equal(r.headers.get('access-control-allow-origin'), '*');
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  await t.rejects(createServer({ plan: planPath, port: 0, cors: 'https://ok.example,ftp://x' }), /cors: 'ftp:\/\/x' is not an origin/);
  await t.rejects(createServer({ plan: planPath, port: 0, cors: ['https://app.example.com/path'] }), /cors: 'https:\/\/app\.example\.com\/path' is not an origin/);
  await t.rejects(createServer({ plan: planPath, port: 0, cors: '' }), /cors: expected a comma-separated list/);
});

t.test('CLI: --cors ORIGINS', async (t) => {
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  const serve = await startServeProcess(['--plan', planPath, '--port', '0', '--cors', `${kOrigin},http://localhost:3000`]);
  t.teardown(() => serve.stop());
  const url = serve.url;
  const preflight = await fetch(`${url}/v2/models/fixture/infer`, { method: 'OPTIONS', headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' } });
  t.equal(preflight.status, 204);
  t.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:3000', 'the second listed origin is allowed');
});
