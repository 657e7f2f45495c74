// Issue 8.5, limits and exposure: the optional bearer token (everything but health and
// metrics), configurable limits (body size, images per request, timeouts) from options and
// from the CLI, and option validation that names the option.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { items, jsonRequest, postJson, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';
import { checkErrorBody } from './reliability-fixture.js';
import { createServer } from '../ts/server/server.js';
import { root } from '../testkit/paths.js';
import { startServeProcess } from '../testkit/serve-process.js';

const kToken = 'test-token-0123456789abcdef';

t.test('bearer token: 401 with WWW-Authenticate everywhere but health and metrics', async (t) => {
  const { url, stop } = await startFixtureServer({}, { authToken: kToken });
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  const body = jsonRequest(items(1));
  for (const [what, headers] of [
    ['no header', {}],
    ['wrong token', { authorization: `Bearer ${kToken}x` }],
    ['wrong scheme', { authorization: `Basic ${kToken}` }],
    ['token prefix', { authorization: `Bearer ${kToken.slice(0, 10)}` }],
  ] as [string, Record<string, string>][]) {
    const r = await postJson(infer, body, headers);
    t.equal(r.status, 401, `${what}: 401`);
    t.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="cascadeserve"/, `${what}: WWW-Authenticate`);
    checkErrorBody(t, r.json, what);
  }
  for (const path of ['/v2', '/v2/models/fixture', '/v2/models/fixture/stats', '/v2/models/stats', '/v2/models/fixture/ready', '/no/such/route']) {
    t.equal((await fetch(url + path)).status, 401, `GET ${path} without a token: 401`);
  }
  for (const path of ['/v2/health/live', '/v2/health/ready', '/metrics']) {
    t.equal((await fetch(url + path)).status, 200, `GET ${path} stays open`);
  }
  const ok = await postJson(infer, body, { authorization: `Bearer ${kToken}` });
  t.equal(ok.status, 200, 'the right token: 200');
  t.equal((await postJson(infer, body, { authorization: `bearer   ${kToken}` })).status, 200, 'scheme is case-insensitive');
  t.equal((await fetch(`${url}/v2/models/fixture`, { headers: { authorization: `Bearer ${kToken}` } })).status, 200);
  // The token check comes before the body is read: an unauthenticated oversized body is a 401.
  t.equal((await postJson(infer, 'x'.repeat(64 * 1024 * 1024 + 10))).status, 401, 'no body parsing without a token');
});

t.test('configurable limits and validated options', async (t) => {
  const { url, stop } = await startFixtureServer({}, { maxImagesPerRequest: 3, bodyLimit: 4096 });
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  t.equal((await postJson(infer, jsonRequest(items(3)))).status, 200, '3 images: the limit');
  const four = await postJson(infer, jsonRequest(items(4)));
  t.equal(four.status, 413, '4 images: 413');
  t.match(four.json.error, /at most 3/);
  t.equal((await postJson(infer, jsonRequest(items(1), { pad: 'x'.repeat(5000) }))).status, 413, 'body over 4096 bytes: 413');

  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  await t.rejects(createServer({ plan: planPath, headersTimeoutMs: 5000, requestTimeoutMs: 1000 }), /requestTimeoutMs \(1000\) must be at least headersTimeoutMs \(5000\)/);
  await t.rejects(createServer({ plan: planPath, headersTimeoutMs: -1 }), /headersTimeoutMs must be an integer >= 1/);
  await t.rejects(createServer({ plan: planPath, authToken: 'short' }), /authToken must be 16 to 4096 printable ASCII/);
});

t.test('CLI: limits and the token from flags and the environment', async (t) => {
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  const bin = join(root, 'dist', 'ts', 'cli', 'bin.js');
  const bad = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, [bin, 'serve', '--plan', planPath, '--headers-timeout-ms', 'soon'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => resolve({ code, err }));
  });
  t.equal(bad.code, 2, 'a bad flag value exits 2');
  t.match(bad.err, /--headers-timeout-ms must be an integer from 1 to 3600000, got 'soon'/);

  const serve = await startServeProcess(['--plan', planPath, '--port', '0', '--max-images', '2', '--body-limit', '100000', '--headers-timeout-ms', '2000', '--request-timeout-ms', '5000'], { ...process.env, CASCADESERVE_AUTH_TOKEN: kToken });
  t.teardown(() => serve.stop());
  const infer = `${serve.url}/v2/models/fixture/infer`;
  t.equal((await postJson(infer, jsonRequest(items(1)))).status, 401, 'token from CASCADESERVE_AUTH_TOKEN enforced');
  const auth = { authorization: `Bearer ${kToken}` };
  t.equal((await postJson(infer, jsonRequest(items(2)), auth)).status, 200);
  t.equal((await postJson(infer, jsonRequest(items(3)), auth)).status, 413, '--max-images 2');
});
