// Reload under load, on the demo cascade: `serve --repository DIR` as its own process, an
// open-loop load of 500 requests/s for 10 s (each with a 2 s timeout), and three reloads while
// it runs: SIGHUP, the repository load call with a new plan (one gear), and a load of a broken
// plan. Every request is answered 200 exactly once (the server's success count equals the
// requests sent), the broken plan is refused with its reason while the previous plan keeps
// serving, and the log and the metrics show each reload. Also: the repository calls (index,
// load, unload) over REST and gRPC on the fixture models.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { protoPath } from '../ts/server/grpc/service.js';
import { pythonGrpcMissing, PythonGrpcClient } from './helpers/python-grpc.js';
import { root } from '../testkit/paths.js';
import { createServer } from '../ts/server/server.js';
import { items, jsonRequest, postJson, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';

const kDemo = join(root, 'models', 'fmnist');
/**
 * The load: 500 requests/s for 10 s. A shared machine that cannot serve the demo at that rate
 * (every request must be answered 200) runs it lower with CASCADESERVE_RELOAD_QPS and
 * CASCADESERVE_RELOAD_SECONDS; the reloads happen at the same fractions of the run.
 */
const kRateQps = Number(process.env.CASCADESERVE_RELOAD_QPS ?? 500);
const kDurationMs = Number(process.env.CASCADESERVE_RELOAD_SECONDS ?? 10) * 1000;

/** A repository with one folder, 'fmnist': the demo's manifest (absolute model paths) and plan. */
function demoRepository(): { dir: string; planPath: string; plan: any } {
  const dir = mkdtempSync(join(tmpdir(), 'cs-repo-'));
  const folder = join(dir, 'fmnist');
  mkdirSync(folder);
  const manifest = JSON.parse(readFileSync(join(kDemo, 'cascade.json'), 'utf8'));
  for (const m of manifest.models) m.file = join(kDemo, m.file);
  // The data files are the profiler's, not the server's: empty stand-ins satisfy the manifest.
  writeFileSync(join(folder, 'validation.bin'), '');
  writeFileSync(join(folder, 'heldout.bin'), '');
  manifest.data = { validation: 'validation.bin', heldout: 'heldout.bin' };
  writeFileSync(join(folder, 'cascade.json'), JSON.stringify(manifest));
  const planPath = join(folder, 'plan.json');
  copyFileSync(join(kDemo, 'plan.json'), planPath);
  return { dir, planPath, plan: JSON.parse(readFileSync(planPath, 'utf8')) };
}

t.test(`reload under load: ${kRateQps} requests/s for ${kDurationMs / 1000} s, three reloads, every request answered 200 once`, async (t) => {
  const { dir, planPath, plan } = demoRepository();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(root, 'dist', 'ts', 'cli', 'bin.js');
  const child = spawn(process.execPath, [bin, 'serve', '--repository', dir, '--port', '0', '--grpc-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // The log: JSON lines on stderr (stdout is not a terminal, so no banner there).
  const logLines: any[] = [];
  const base = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      try {
        logLines.push(JSON.parse(line));
      } catch {
        logLines.push({ text: line });
      }
      const m = /serving 'fmnist' at (http:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${JSON.stringify(logLines.slice(-5))}`)));
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  // One image as UINT8 JSON, a 2 s timeout (parameters.timeout is in microseconds).
  const pixels = Array.from({ length: 784 }, (_, i) => (i * 31) % 256);
  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'UINT8', data: pixels }], parameters: { timeout: 2_000_000 } });
  const statuses = new Map<string, number>();
  let sent = 0;
  const pending: Promise<void>[] = [];
  const send = () => {
    sent++;
    pending.push(
      fetch(`${base}/v2/models/fmnist/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
        async (r) => {
          await r.arrayBuffer();
          const key = String(r.status);
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        },
        (e: Error) => {
          const key = `error: ${(e.cause as Error | undefined)?.message ?? e.message}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        },
      ),
    );
  };
  // Open loop: the requests due by now are sent every 2 ms tick, whatever the answers do.
  const rateQps = kRateQps;
  const durationMs = kDurationMs;
  const t0 = performance.now();
  const load = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - t0;
      const due = Math.min(Math.floor((elapsed * rateQps) / 1000), (durationMs * rateQps) / 1000);
      while (sent < due) send();
      if (elapsed >= durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - (performance.now() - t0))));

  await at(durationMs * 0.2);
  child.kill('SIGHUP');
  await at(durationMs * 0.45);
  // A new plan: the most accurate gear alone.
  const oneGear = { ...plan, gears: [{ ...plan.gears[0], maxQps: plan.gears[plan.gears.length - 1].maxQps }] };
  writeFileSync(planPath, JSON.stringify(oneGear));
  const load1 = await fetch(`${base}/v2/repository/models/fmnist/load`, { method: 'POST' });
  t.equal(load1.status, 200, 'the load call answers once the new plan serves');
  const config = await (await fetch(`${base}/v2/models/fmnist/config`)).json();
  t.equal(JSON.parse(config.parameters['cascadeserve.gears'].string_value).length, 1, 'the configuration shows the new one-gear plan');
  await at(durationMs * 0.7);
  const broken = { ...oneGear, gears: [{ ...oneGear.gears[0], stages: [] }] };
  writeFileSync(planPath, JSON.stringify(broken));
  const load2 = await fetch(`${base}/v2/repository/models/fmnist/load`, { method: 'POST' });
  t.equal(load2.status, 400, 'a broken plan is refused');
  const reason = (await load2.json()).error as string;
  t.match(reason, /the previous plan keeps serving/, `reason: ${reason}`);
  t.match(reason, /gears\[0\]\.stages/, 'the reason names the field');
  await load;
  await Promise.all(pending);

  t.same(Object.fromEntries(statuses), { 200: sent }, `all ${sent} requests answered 200`);
  t.equal(sent, rateQps * (durationMs / 1000), 'the whole load was sent');
  const stats = (await (await fetch(`${base}/v2/models/fmnist/stats`)).json()).model_stats[0];
  t.equal(stats.inference_stats.success.count, sent, 'the server answered each request exactly once, across the reloads');
  t.equal(stats.inference_stats.fail.count, 0, 'and failed none');
  const afterConfig = await (await fetch(`${base}/v2/models/fmnist/config`)).json();
  t.equal(JSON.parse(afterConfig.parameters['cascadeserve.gears'].string_value).length, 1, 'the one-gear plan still serves after the broken one');

  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /cascadeserve_model_loads_total\{model="fmnist",result="ok"\} 2\b/, 'metrics: two reloads succeeded (SIGHUP, load call)');
  t.match(metrics, /cascadeserve_model_loads_total\{model="fmnist",result="failed"\} 1\b/, 'metrics: one failed (broken plan)');
  t.match(metrics, new RegExp(`nv_inference_request_success\\{model="fmnist",version="1"\\} ${sent}\\b`), 'metrics: every request a success');

  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const messages = logLines.map((l) => l.msg ?? l.text);
  t.equal(messages.filter((m) => /^reloaded/.test(m)).length, 2, 'log: two reloads');
  t.equal(messages.filter((m) => /^reload failed/.test(m)).length, 1, 'log: one failed reload');
  t.ok(messages.filter((m) => /previous engine answered its requests and closed/.test(m)).length >= 2, 'log: the old engines drained and closed');
  t.ok(messages.some((m) => /^SIGHUP: reloading/.test(m)), 'log: SIGHUP seen');
  t.match(messages.join('\n'), new RegExp(`answered ${sent} inference requests \\(${sent} succeeded, 0 failed\\)`), 'log: shutdown accounting');
});

t.test('repository calls over REST and gRPC', async (t) => {
  const { url, server, planPath, stop } = await startFixtureServer({}, { grpcPort: 0 });
  t.teardown(stop);
  const index = await (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json();
  t.same(
    index.map((m: { name: string; state: string }) => [m.name, m.state]),
    [
      ['fixture', 'READY'],
      ['fixture.small', 'READY'],
      ['fixture.gather', 'READY'],
    ],
  );
  const x = items(3, 7);
  const before = (await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(x))).json.outputs[0].data;
  // A new plan (the fixture's two gears) replaces the one-gear plan; answers stay the same.
  const { planPath: twoGearPlan, cleanup } = writeFixturePlan({ accurateMaxQps: 1000 });
  t.teardown(cleanup);
  writeFileSync(planPath, readFileSync(twoGearPlan));
  t.equal((await fetch(`${url}/v2/repository/models/fixture/load`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 200, 'load');
  t.equal(server.cascade.gears.length, 2, 'the new plan serves');
  t.same((await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(x))).json.outputs[0].data, before, 'same answers from the reloaded engine');
  const unknown = await fetch(`${url}/v2/repository/models/nope/load`, { method: 'POST' });
  t.equal(unknown.status, 404);
  t.match((await unknown.json()).error, /no model 'nope'/);
  writeFileSync(planPath, '{ not json');
  const bad = await fetch(`${url}/v2/repository/models/fixture/load`, { method: 'POST' });
  t.equal(bad.status, 400);
  t.match((await bad.json()).error, /not valid JSON/);
  t.equal((await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(x))).status, 200, 'still serving after the refused load');
  writeFileSync(planPath, readFileSync(twoGearPlan));

  const missing = pythonGrpcMissing();
  if (missing) return t.fail(missing);
  const client = await PythonGrpcClient.start(protoPath(), server.grpcAddress!);
  t.teardown(() => client.close());
  const gIndex = await client.call({ call: 'RepositoryIndex', request: { ready: true } });
  t.same(gIndex.ok && gIndex.response.models.map((m: { name: string; state: string }) => [m.name, m.state]), index.map((m: { name: string; state: string }) => [m.name, m.state]), 'gRPC index equals REST');
  const gLoad = await client.call({ call: 'RepositoryModelLoad', request: { model_name: 'fixture' } });
  t.ok(gLoad.ok, 'gRPC load');
  const gBad = await client.call({ call: 'RepositoryModelLoad', request: { model_name: 'nope' } });
  t.equal(!gBad.ok && gBad.code, 'NOT_FOUND');
  const gUnload = await client.call({ call: 'RepositoryModelUnload', request: { model_name: 'fixture' } });
  t.ok(gUnload.ok, 'gRPC unload');
  const gone = await client.call({ call: 'ModelReady', request: { name: 'fixture' } });
  t.equal(!gone.ok && gone.code, 'NOT_FOUND', 'an unloaded model is not served');
  const after = await (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json();
  t.same(after, [{ name: 'fixture', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' }], 'the index lists it as unloaded');
  t.equal((await fetch(`${url}/v2/health/ready`)).status, 503, 'not ready without its cascade');
  t.equal((await fetch(`${url}/v2/repository/models/fixture/load`, { method: 'POST' })).status, 200, 'loaded again');
  t.equal((await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(x))).status, 200, 'and serving');
  t.equal((await fetch(`${url}/v2/health/ready`)).status, 200, 'ready again');
});

t.test('a repository of two cascades', async (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'cs-repo2-'));
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  for (const [folder, name] of [
    ['a', 'fixture'],
    ['b', 'other'],
  ]) {
    const { dir, cleanup } = writeFixturePlan();
    mkdirSync(join(repo, folder));
    for (const f of ['plan.json', 'validation.bin', 'heldout.bin']) copyFileSync(join(dir, f), join(repo, folder, f));
    const manifest = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
    manifest.name = name;
    writeFileSync(join(repo, folder, 'cascade.json'), JSON.stringify(manifest));
    cleanup();
  }
  mkdirSync(join(repo, 'not-a-cascade')); // no cascade.json: not served
  const server = await createServer({ plan: '', repository: repo, port: 0 });
  t.teardown(() => server.close());
  const url = await server.listen();
  t.same([...server.models.keys()].sort(), ['fixture', 'fixture.gather', 'fixture.small', 'other', 'other.gather', 'other.small']);
  const x = items(2, 5);
  const a = await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(x));
  const b = await postJson(`${url}/v2/models/other/infer`, jsonRequest(x));
  t.equal(b.status, 200);
  t.same(b.json.outputs[0].data, a.json.outputs[0].data, 'the same models answer the same under either name');
  t.equal(b.json.model_name, 'other');
  // A load by folder name reloads that folder's cascade only.
  t.equal((await fetch(`${url}/v2/repository/models/b/load`, { method: 'POST' })).status, 200, 'load by folder name');
  t.equal((await fetch(`${url}/v2/repository/models/other/unload`, { method: 'POST' })).status, 200);
  t.equal((await postJson(`${url}/v2/models/other/infer`, jsonRequest(x))).status, 404, 'unloaded');
  t.equal((await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(x))).status, 200, 'the other cascade serves on');
  const index = await (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json();
  t.same(index.find((m: { name: string }) => m.name === 'other'), { name: 'other', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' });
  const ready = await (await fetch(`${url}/v2/repository/index`, { method: 'POST', body: JSON.stringify({ ready: true }), headers: { 'content-type': 'application/json' } })).json();
  t.same(ready.map((m: { name: string }) => m.name), ['fixture', 'fixture.small', 'fixture.gather'], 'ready: true lists only the ready');
  const badBody = await fetch(`${url}/v2/repository/index`, { method: 'POST', body: '{"ready": 1}', headers: { 'content-type': 'application/json' } });
  t.equal(badBody.status, 400);
  t.match((await badBody.json()).error, /ready: expected a boolean/);
});

t.test('a repository without plan folders fails the start, naming the directory', async (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'cs-repo3-'));
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  await t.rejects(createServer({ plan: '', repository: repo, port: 0 }), { message: new RegExp(`the model repository ${repo} has no folder with cascade.json and plan.json`) });
  await t.rejects(createServer({ plan: '', repository: join(repo, 'missing'), port: 0 }), { message: /cannot read the model repository .*missing/ });
});
