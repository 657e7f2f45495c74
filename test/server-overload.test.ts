// Overload and shutdown: every request sent is either answered or refused (429 with
// Retry-After, or 503 when selected), none lost or answered twice; graceful shutdown answers
// the requests in flight; the CLI exits 0 on SIGTERM.
import t from 'tap';
import { items, jsonRequest, postJson, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';
import { until } from './helpers/poll.js';
import { startServeProcess } from '../testkit/serve-process.js';

for (const overloadStatus of [429, 503] as const) {
  t.test(`overload (${overloadStatus}): each request answered or refused exactly once`, async (t) => {
    // A deadline (the plan's SLO) far beyond the test: a held request must not time out while
    // the rest arrive, however slow the machine.
    const { url, server, stop } = await startFixtureServer({ sloMs: 600_000 }, { maxInFlightImages: 24, overloadStatus });
    t.teardown(stop);
    const infer = `${url}/v2/models/fixture/infer`;
    // Hold the batcher so that the in-flight bound fills deterministically.
    server.engine.pause();
    const n = 120;
    const sent = Array.from({ length: n }, (_, i) =>
      postJson(infer, jsonRequest(items(2, i + 1), { id: `r${i}` })).then((r) => ({ i, ...r })),
    );
    // Wait until the server has decided on every request (accepted and held, or refused).
    const m = server.cascade;
    await until(() => m.pendingRequests + m.stats.failureCount === n, 'a decision on every request');
    server.engine.resume();
    const answers = await Promise.all(sent);
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === overloadStatus);
    t.equal(ok.length + refused.length, n, 'every request answered 200 or refused');
    t.equal(ok.length, 12, 'exactly the in-flight bound (24 images = 12 requests) accepted while held');
    t.ok(refused.length > 0, `${refused.length} refused`);
    t.same(ok.map((a) => a.json.id).sort(), [...new Set(ok.map((a) => a.json.id))].sort(), 'no id answered twice');
    t.ok(ok.every((a) => a.json.id === `r${a.i}`), 'each answer carries its own request id');
    for (const r of refused) {
      t.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After in whole seconds');
      t.same(Object.keys(r.json), ['error']);
    }
    // The server's own accounting: one outcome per request.
    const s = (await (await fetch(`${url}/v2/models/fixture/stats`)).json()).model_stats[0];
    t.equal(s.inference_stats.success.count + s.inference_stats.fail.count, n, 'successes + failures = requests sent');
    t.equal(s.cascade.failures.rejected, refused.length);
    t.equal(s.cascade.pending_requests, 0, 'nothing left pending');
    t.equal(server.engine.inFlight, 0, 'engine empty');
  });
}

t.test('deadline by queue estimate: refused at once when the backlog cannot meet it', async (t) => {
  const { url, server, stop } = await startFixtureServer({ sloMs: 600_000 }, { maxInFlightImages: 1000 });
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  server.engine.pause();
  const held = postJson(infer, jsonRequest(items(200)), {}); // 200 images of backlog
  await until(() => server.engine.inFlight === 200, 'the 200 images queued in the engine');
  // The plan's 40 us per image: 200 images of backlog need 8 ms, more than a 1 ms timeout, which
  // one image alone (80 us with the completion margin) would meet.
  const r = await postJson(infer, jsonRequest(items(1), { parameters: { timeout: 1000 } }));
  t.equal(r.status, 429, 'refused by the queue estimate');
  t.match(r.json.error, /deadline/);
  server.engine.resume();
  t.equal((await held).status, 200, 'the held request is answered');
});

t.test('graceful close answers the requests in flight', async (t) => {
  const { url, server, stop } = await startFixtureServer({ sloMs: 600_000 });
  const infer = `${url}/v2/models/fixture/infer`;
  server.engine.pause();
  const inFlight = Array.from({ length: 10 }, (_, i) => postJson(infer, jsonRequest(items(4, i + 1), { id: `c${i}` })));
  await until(() => server.cascade.pendingRequests === 10, 'the 10 requests held in the engine');
  const closed = stop();
  // The requests are released only once the close has begun (the listener is closed).
  await until(() => !server.app.server.listening, 'the close to begin');
  server.engine.resume();
  const answers = await Promise.all(inFlight);
  await closed;
  t.same(answers.map((a) => a.status), Array(10).fill(200), 'all in-flight requests answered 200');
  t.same(answers.map((a) => a.json.id), Array.from({ length: 10 }, (_, i) => `c${i}`));
  await t.rejects(fetch(`${url}/v2/health/live`), 'no longer accepting connections');
});

t.test('cascadeserve serve: logs the URL; SIGTERM exits 0', async (t) => {
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  const serve = await startServeProcess(['--plan', planPath, '--port', '0']);
  const r = await postJson(`${serve.url}/v2/models/fixture/infer`, jsonRequest(items(1), { id: 'cli' }));
  t.equal(r.json.id, 'cli');
  const code = await serve.stop('SIGTERM');
  t.equal(code, 0, 'exit code 0 after SIGTERM');
});
