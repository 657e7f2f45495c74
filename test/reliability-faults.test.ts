// Issue 8.4, faults: an ONNX Runtime failure on one model mid-traffic fails only the requests
// that ran into it and shows in the metrics; a missing or corrupt plan or model file at
// start-up exits non-zero naming the file; SIGTERM under load answers every request the server
// took before exiting; a client that disconnects mid-request leaves nothing in the engine.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { items, jsonRequest, kClasses, kItemElems, postJson, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';
import { checkErrorBody, httpPost } from './reliability-fixture.js';
import { fixture, root } from '../testkit/paths.js';
import { until } from './helpers/poll.js';
import { startServeProcess } from '../testkit/serve-process.js';

const bin = join(root, 'dist', 'ts', 'cli', 'bin.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The value of one series in a Prometheus text exposition (labels as written there). */
const metric = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
};

t.test('a model failure mid-traffic fails only the requests that ran into it', async (t) => {
  const { url, server, stop } = await startFixtureServer();
  t.teardown(stop);
  const bad = () => {
    const x = items(1, 5);
    x[0] = 100; // outside the Gather table: ONNX Runtime fails the run
    return x;
  };
  // Sequential traffic to the member model: each request runs alone, so exactly the bad ones fail.
  const outcomes: [boolean, number][] = [];
  for (let i = 0; i < 40; i++) {
    const isBad = i % 4 === 1;
    const r = await postJson(`${url}/v2/models/fixture.gather/infer`, jsonRequest(isBad ? bad() : items(1, i + 1)));
    outcomes.push([isBad, r.status]);
    if (r.status !== 200) checkErrorBody(t, r.json, `failure ${i}`);
  }
  t.same(outcomes.filter(([b]) => b).map(([, s]) => s), Array(10).fill(500), 'every request with a bad image: 500');
  t.same(outcomes.filter(([b]) => !b).map(([, s]) => s), Array(30).fill(200), 'every other request: 200');

  // Concurrent: failures on the member model's engine while the cascade serves good traffic.
  const cascade = Array.from({ length: 60 }, (_, i) => postJson(`${url}/v2/models/fixture/infer`, jsonRequest(items(2, 100 + i))));
  const failing = Array.from({ length: 20 }, () => postJson(`${url}/v2/models/fixture.gather/infer`, jsonRequest(bad())));
  const [c, f] = await Promise.all([Promise.all(cascade), Promise.all(failing)]);
  t.same(c.map((r) => r.status), Array(60).fill(200), 'the cascade answers all its requests meanwhile');
  t.same(f.map((r) => r.status), Array(20).fill(500), 'the failing model fails its requests');
  t.match(f[0].json.error, /^model 'gather' failed on item 0$/, 'the message names the model, not the runtime error');

  const text = await (await fetch(`${url}/metrics`)).text();
  t.equal(metric(text, 'nv_inference_request_failure', '{model="fixture.gather",version="1",reason="backend"}'), 30, 'backend failures counted on the failing model');
  t.equal(metric(text, 'nv_inference_request_success', '{model="fixture.gather",version="1"}'), 30);
  t.equal(metric(text, 'nv_inference_request_failure', '{model="fixture",version="1",reason="backend"}'), 0, 'none on the cascade');
  t.equal(metric(text, 'nv_inference_request_success', '{model="fixture",version="1"}'), 60);
  t.equal(server.models.get('fixture.gather')!.engineIfReady!.inFlight, 0, 'nothing left in the failing engine');
  t.equal((await fetch(`${url}/v2/health/ready`)).status, 200, 'still ready');
});

t.test('start-up: a missing or corrupt plan or model file exits non-zero naming the file', async (t) => {
  const run = (plan: string, extra: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'serve', '--plan', plan, '--port', '0', '--quiet', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.on('exit', (code) => resolve({ code, err }));
    });
  const variant = (edit: (dir: string, planPath: string) => string) => {
    const { planPath, dir, cleanup } = writeFixturePlan();
    t.teardown(cleanup);
    return { path: edit(dir, planPath), dir };
  };
  const editManifest = (dir: string, file: string) => {
    const p = join(dir, 'cascade.json');
    const m = JSON.parse(readFileSync(p, 'utf8'));
    m.models[1].file = file;
    writeFileSync(p, JSON.stringify(m));
  };
  // Exit 2: an unreadable --plan is a usage error, like any unreadable input file of the CLI.
  // Exit 1: a file that is read and found wrong. The corrupt model is served with
  // --allow-model-mismatch, so that it reaches ONNX Runtime instead of the sha256 check.
  type Case = { path: string; names: string; code: number; extra?: string[] };
  const cases: [string, () => Case][] = [
    ['missing plan', () => ({ path: '/nonexistent/dir/plan.json', names: '/nonexistent/dir/plan.json', code: 2 })],
    ['corrupt plan (not JSON)', () => {
      const v = variant((_, p) => (writeFileSync(p, '{"schema": "cascadeserve'), p));
      return { path: v.path, names: v.path, code: 1 };
    }],
    ['corrupt manifest (empty)', () => {
      const v = variant((d, p) => (writeFileSync(join(d, 'cascade.json'), ''), p));
      return { path: v.path, names: 'cascade.json', code: 1 };
    }],
    ['missing model file', () => {
      const v = variant((d, p) => (editManifest(d, join(d, 'gone.onnx')), p));
      return { path: v.path, names: join(v.dir, 'gone.onnx'), code: 1 };
    }],
    ['corrupt model file', () => {
      const v = variant((d, p) => (editManifest(d, fixture('corrupt.onnx')), p));
      return { path: v.path, names: fixture('corrupt.onnx'), code: 1, extra: ['--allow-model-mismatch'] };
    }],
  ];
  const results = await Promise.all(cases.map(async ([what, make]) => ({ what, ...make() })).map(async (p) => {
    const c = await p;
    return { ...c, expected: c.code, ...(await run(c.path, c.extra ?? [])) };
  }));
  for (const r of results) {
    t.equal(r.code, r.expected, `${r.what}: exit code ${r.expected}`);
    t.ok(r.err.includes(r.names), `${r.what}: message names ${r.names}: ${r.err.trim().slice(0, 300)}`);
    t.notMatch(r.err, /\n\s+at /, `${r.what}: no stack trace`);
  }
});

t.test('SIGTERM under load: every request the server took is answered before it exits', async (t) => {
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  const serve = await startServeProcess(['--plan', planPath, '--port', '0']);
  const u = new URL(serve.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 24 });
  const body = Buffer.from(JSON.stringify(jsonRequest(items(4))));
  const counts = { ok: 0, refused503: 0, otherStatus: 0, connectionErrors: 0, badBodies: 0 };
  let stop = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: u.hostname, port: u.port, path: '/v2/models/fixture/infer', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode === 200) {
            counts.ok++;
            if (JSON.parse(text).outputs?.[0]?.shape?.[0] !== 4) counts.badBodies++;
          } else if (res.statusCode === 503) {
            counts.refused503++;
            if (Object.keys(JSON.parse(text)).join() !== 'error') counts.badBodies++;
          } else counts.otherStatus++;
          resolve();
        });
        res.on('error', () => (counts.connectionErrors++, resolve()));
      });
      req.on('error', () => {
        counts.connectionErrors++;
        stop = true; // the server is gone: this loop ends
        resolve();
      });
      req.end(body);
    });
  const loops = Array.from({ length: 24 }, async () => {
    while (!stop) await one();
  });
  await until(() => counts.ok >= 50 || stop, '50 requests answered before SIGTERM');
  const before = counts.ok;
  void serve.stop();
  await Promise.race([Promise.all(loops), sleep(10_000)]);
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  const code = await serve.exited;
  t.equal(code, 0, 'exit 0 after SIGTERM');
  t.ok(before >= 50, `${before} requests answered before SIGTERM`);
  const m = /shut down: answered (\d+) inference requests \((\d+) succeeded, (\d+) failed\)/.exec(serve.log());
  t.ok(m, 'the server printed its accounting');
  const [answered, succeeded, failed] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
  t.equal(succeeded, counts.ok, `every success the server counted (${succeeded}) reached its client`);
  t.equal(failed, counts.refused503, `every refusal the server counted (${failed}) reached its client`);
  t.equal(answered, counts.ok + counts.refused503, 'answered exactly once: server count = client responses');
  t.equal(counts.otherStatus, 0, 'no other statuses');
  t.equal(counts.badBodies, 0, 'every body complete and well-formed');
  t.comment(`client: ${JSON.stringify(counts)}`);
});

t.test('a client that disconnects mid-request leaves nothing in the engine', async (t) => {
  const { url, server, stop } = await startFixtureServer();
  t.teardown(stop);
  const u = new URL(url);
  const m = server.cascade;
  let open = 0;
  server.app.server.on('connection', (socket) => {
    open++;
    socket.on('close', () => open--);
  });
  const connections = () => open;
  server.engine.pause();
  // 20 requests accepted and held in the engine, then their clients vanish.
  const sockets = Array.from({ length: 20 }, (_, i) => {
    const s = connect(Number(u.port), u.hostname);
    s.on('error', () => {});
    s.write(httpPost('/v2/models/fixture/infer', JSON.stringify(jsonRequest(items(3, i + 1)))));
    return s;
  });
  await until(() => m.pendingRequests === 20, '20 requests held');
  t.equal(server.engine.inFlight, 60, 'their 60 images in the engine');
  for (const s of sockets) s.destroy();
  // The server has seen every client go before the engine answers them.
  await until(() => connections() === 0, 'the server to see the clients gone');
  server.engine.resume();
  await until(() => m.pendingRequests === 0 && server.engine.inFlight === 0, 'the held requests to be answered');
  t.equal(m.pendingRequests, 0, 'no request left pending');
  t.equal(server.engine.inFlight, 0, 'no item left in the engine');
  t.equal(m.stats.successCount + m.stats.failureCount, 20, 'each held request counted exactly once');

  // A client that goes away while its body is still arriving never reaches the engine.
  const submitted = () => server.engine.stats().queues.reduce((a, q) => a + q.items + q.queueLength + q.refusals, 0);
  const submittedBefore = submitted();
  const countedBefore = m.stats.successCount + m.stats.failureCount;
  const half = connect(Number(u.port), u.hostname);
  half.on('error', () => {});
  const whole = httpPost('/v2/models/fixture/infer', JSON.stringify(jsonRequest(items(2))));
  await new Promise<void>((resolve) => half.write(whole.subarray(0, whole.length - 10), () => resolve()));
  await until(() => connections() === 1, 'the server to accept the half-sent request');
  half.destroy();
  await until(() => connections() === 0, 'the server to see the client gone');
  t.equal(m.stats.successCount + m.stats.failureCount, countedBefore, 'the half-sent request was neither answered nor counted');
  t.equal(submitted(), submittedBefore, 'nothing of it reached the engine');
  t.equal(m.pendingRequests, 0);
  t.equal(server.engine.inFlight, 0);

  const r = await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(items(1), { id: 'after' }));
  t.equal(r.status, 200, 'the server keeps serving');
  t.equal(r.json.id, 'after');
  t.same(r.json.outputs[0].shape, [1, kClasses], 'a whole answer: one row of class probabilities');
  t.equal(r.json.outputs[0].data.length, kClasses);
});
