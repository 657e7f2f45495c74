// Request ids and request logging in the server (#18 item 11): X-Request-Id echoed (the
// client's when plain, else a new UUID) and attached to every log line of its request; a line
// for every failed request at debug, whatever the status; a sampled access log at info; and
// the request-duration histogram labelled with the version like the other metrics.
import t from 'tap';
import { Writable } from 'node:stream';
import { items, jsonRequest, postJson, startFixtureServer } from '../testkit/server-fixture.js';

interface LogLine {
  level: number;
  msg: string;
  request_id?: string;
  [k: string]: unknown;
}

/** A stream for pino that keeps every line, parsed. */
function logCapture(): { stream: Writable; lines: LogLine[] } {
  const lines: LogLine[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) lines.push(JSON.parse(p));
      done();
    },
  });
  return { stream, lines };
}

const kToken = 'a-token-of-enough-length-0123456789';
const kUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Lets the onResponse hook, which runs after the response is sent, write its line. */
const settle = () => new Promise((r) => setTimeout(r, 20));

t.test('request ids, failed-request lines at debug, access log', async (t) => {
  const log = logCapture();
  const { url, stop } = await startFixtureServer({}, { logger: { level: 'debug', stream: log.stream }, authToken: kToken, maxInFlightImages: 2, accessLogSample: 1 });
  t.teardown(stop);
  const auth = { authorization: `Bearer ${kToken}` };
  const infer = `${url}/v2/models/fixture/infer`;
  const linesOf = (id: string) => log.lines.filter((l) => l.request_id === id);

  t.test('X-Request-Id: the client’s echoed, a UUID otherwise', async (t) => {
    let r = await postJson(infer, jsonRequest(items(1)), { ...auth, 'x-request-id': 'client-id-1' });
    t.equal(r.status, 200);
    t.equal(r.headers.get('x-request-id'), 'client-id-1');
    r = await postJson(infer, jsonRequest(items(1)), auth);
    t.match(r.headers.get('x-request-id'), kUuid, 'generated');
    r = await postJson(infer, jsonRequest(items(1)), { ...auth, 'x-request-id': 'x'.repeat(129) });
    t.match(r.headers.get('x-request-id'), kUuid, 'a client id over 128 characters is replaced');
    const health = await fetch(`${url}/v2/health/live`, { headers: { 'x-request-id': 'probe-7' } });
    t.equal(health.headers.get('x-request-id'), 'probe-7', 'on every route');
  });

  t.test('every failed request writes a line at debug with its status and id', async (t) => {
    const cases: [string, number, () => Promise<{ status: number }>][] = [
      ['f-400', 400, () => postJson(infer, '{"inputs": [', { ...auth, 'x-request-id': 'f-400' })],
      ['f-401', 401, () => postJson(infer, jsonRequest(items(1)), { 'x-request-id': 'f-401' })],
      ['f-404', 404, () => postJson(`${url}/v2/models/nope/infer`, jsonRequest(items(1)), { ...auth, 'x-request-id': 'f-404' })],
      ['f-429', 429, () => postJson(infer, jsonRequest(items(3)), { ...auth, 'x-request-id': 'f-429' })],
      ['f-500', 500, () => {
        const x = items(1);
        x[0] = 100; // outside the Gather's range: the model fails
        return postJson(`${url}/v2/models/fixture.gather/infer`, jsonRequest(x), { ...auth, 'x-request-id': 'f-500' });
      }],
    ];
    for (const [id, status, send] of cases) {
      const r = await send();
      t.equal(r.status, status, id);
    }
    await settle();
    for (const [id, status] of cases) {
      const failed = linesOf(id).filter((l) => l.msg === 'request failed');
      t.equal(failed.length, 1, `${id}: one 'request failed' line`);
      t.equal(failed[0]?.level, 20, `${id}: at debug`);
      t.equal(failed[0]?.status, status, `${id}: its status`);
      t.type(failed[0]?.error, 'string', `${id}: the error message`);
    }
    const modelFailure = linesOf('f-500').find((l) => l.msg === 'model failure');
    t.equal(modelFailure?.level, 50, 'a model failure is also an error line, with the same request id');
    t.equal(modelFailure?.model, 'gather');
    t.equal(modelFailure?.item, 0, 'and the item of the request it failed on');
    t.match(modelFailure?.error, /indices|out of|bounds|range/i, "ONNX Runtime's message");
    t.notMatch(modelFailure?.error, /onnxruntime_src|\.cc:\d+/, 'without its source paths');
  });

  t.test('access log: status, model, gear, exit stages, latency', async (t) => {
    const r = await postJson(infer, jsonRequest(items(2), { id: 'oip-9' }), { ...auth, 'x-request-id': 'a-1' });
    t.equal(r.status, 200);
    await settle();
    const access = linesOf('a-1').filter((l) => l.msg === 'access');
    t.equal(access.length, 1);
    const a = access[0];
    t.equal(a.level, 30, 'at info');
    t.equal(a.status, 200);
    t.equal(a.model, 'fixture');
    t.equal(a.id, 'oip-9', 'the protocol id too');
    t.equal(a.gear, 1);
    t.equal(a.images, 2);
    t.same(a.exit_stages, (await postJson(infer, jsonRequest(items(2), { outputs: [{ name: 'exit_stage' }] }), auth)).json.outputs[0].data, 'exit stages as answered');
    t.type(a.latency_ms, 'number');
    t.equal(linesOf('a-1').filter((l) => l.msg === 'request').length, 0, 'successful requests are at trace, below this level');
  });

  t.test('the request-duration histogram carries the version label', async (t) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    t.match(text, /^cascadeserve_request_duration_seconds_count\{model="fixture",version="1"\} \d+$/m);
  });
});

t.test('no access lines without sampling; no request lines at info', async (t) => {
  const log = logCapture();
  const { url, stop } = await startFixtureServer({}, { logger: { level: 'info', stream: log.stream } });
  t.teardown(stop);
  await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(items(1)), { 'x-request-id': 'q-1' });
  await postJson(`${url}/v2/models/nope/infer`, jsonRequest(items(1)), { 'x-request-id': 'q-2' });
  await settle();
  t.same(log.lines.filter((l) => l.request_id !== undefined), [], 'nothing per request at info by default');
});
