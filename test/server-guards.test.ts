// Guards and errors at the server's edge: the request timeout bounded before admission and
// the engine, every gear of a plan validated at start-up, a gear the engine refuses logged
// and never retried, a closed model answering 503, options checked before the plan is read.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { CostEstimator } from '../ts/server/admission.js';
import { CascadeServeError } from '../ts/errors.js';
import { GearController } from '../ts/server/gear-controller.js';
import type { GearPolicy } from '../ts/server/gear-policy.js';
import { LoadMonitor } from '../ts/server/load-monitor.js';
import { ModelStats } from '../ts/server/model-stats.js';
import type { ServingGear } from '../ts/server/plan-loader.js';
import { createServer } from '../ts/server/server.js';
import type { CascadeEngine } from '../ts/engine/engine.js';
import { binaryRequest, items, jsonRequest, postJson, startFixtureServer, writeFixturePlan } from '../testkit/server-fixture.js';

t.test('request timeouts out of range answer 400 naming parameters.timeout', async (t) => {
  const { url, stop } = await startFixtureServer({}, { logger: false });
  t.teardown(stop);
  const infer = `${url}/v2/models/fixture/infer`;
  const body = (timeout: unknown) => jsonRequest(items(1), { parameters: { timeout } });
  // 1e300 and 9.3e18 used to pass the decoder and reach the addon's double-to-int64 conversion.
  for (const timeout of [1e300, 9.3e18, 2 ** 63, 86_400_000_001, -5, 0, '1000', true]) {
    const r = await postJson(infer, body(timeout));
    t.equal(r.status, 400, `timeout ${JSON.stringify(timeout)}: 400`);
    t.match(r.json?.error, /^parameters\.timeout: expected a positive number of microseconds, at most 86400000000/, `timeout ${JSON.stringify(timeout)}: names the field and the bound`);
  }
  // JSON has no NaN or Infinity (1e400 parses to Infinity); these and null fail the body
  // schema, whose message names the field its own way.
  for (const raw of ['1e400', '-1e400', 'null']) {
    const r = await postJson(infer, JSON.stringify(body(12345)).replace('12345', raw));
    t.equal(r.status, 400, `timeout ${raw}: 400`);
    t.match(r.json?.error, /parameters[./]timeout/, `timeout ${raw}: names the field`);
  }
  const b = binaryRequest(items(1), { parameters: { timeout: 1e300 } });
  const bin = await fetch(infer, { method: 'POST', headers: b.headers, body: b.body });
  t.equal(bin.status, 400, 'binary request, timeout 1e300: 400');
  t.match(((await bin.json()) as { error: string }).error, /parameters\.timeout/);
  const atBound = await postJson(infer, body(86_400_000_000));
  t.equal(atBound.status, 200, 'the bound itself is served');
});

t.test('every gear of the plan is validated at start-up, naming its field', async (t) => {
  const cases: [string, (gear: { stages: { maxBatch: number; maxQueueDelayUs: number }[] }) => void, RegExp][] = [
    ['maxBatch beyond int32', (g) => (g.stages[0].maxBatch = 2 ** 31), /gears\[1\]\.stages\[0\]\.maxBatch must be an integer from 1 to 2147483647/],
    ['maxQueueDelayUs 1e300', (g) => (g.stages[0].maxQueueDelayUs = 1e300), /gears\[1\]\.stages\[0\]\.maxQueueDelayUs must be a number from 0 to 86400000000/],
  ];
  for (const [what, spoil, message] of cases) {
    // Two gears; only the second (cheap, switched to under load) is spoiled.
    const { planPath, cleanup } = writeFixturePlan({ accurateMaxQps: 100 });
    t.teardown(cleanup);
    const plan = JSON.parse(readFileSync(planPath, 'utf8'));
    spoil(plan.gears[1]);
    writeFileSync(planPath, JSON.stringify(plan));
    await t.rejects(createServer({ plan: planPath, port: 0 }), { name: 'PlanLoadError', message }, what);
  }
});

function fakeGear(index: number, id: number): ServingGear {
  return { index, id, minQps: 0, maxQps: Infinity, expectedAccuracy: 0.9, expectedCostUs: 10, engine: { id, stages: [{ model: 'small', threshold: 0, maxBatch: 1 }] } };
}

t.test('a gear the engine refuses is logged once and not retried; closing stays quiet', async (t) => {
  const calls: number[] = [];
  let failure: Error = new CascadeServeError('ERR_CS_INVALID_ARGUMENT', 'gear.stages[0].max_batch: must be >= 1 (got -2147483648)');
  const engine = {
    gear: { id: 1 },
    inFlight: 0,
    setGear(g: { id: number }) {
      calls.push(g.id);
      throw failure;
    },
  } as unknown as CascadeEngine;
  const errors: { obj: Record<string, unknown>; msg: string }[] = [];
  const infos: string[] = [];
  const policy = { decide: () => ({ gear: 1, reason: 'would_miss' }) } as unknown as GearPolicy;
  const controller = new GearController({
    gears: [fakeGear(0, 1), fakeGear(1, 2)],
    engine,
    monitor: new LoadMonitor({}),
    policy,
    cost: new CostEstimator(10),
    stats: new ModelStats('fixture'),
    log: { info: (_o, msg) => infos.push(msg), error: (obj, msg) => errors.push({ obj: obj as Record<string, unknown>, msg }) },
  });
  for (let i = 0; i < 5; i++) controller.evaluate();
  t.same(calls, [2], 'setGear was tried once');
  t.equal(errors.length, 1, 'one error logged');
  t.match(errors[0].msg, /gear switch refused by the engine, gear 2 disabled: gear\.stages\[0\]\.max_batch/);
  t.match(errors[0].obj, { gear: 2, gearIndex: 1, runningGear: 1 });
  t.equal(controller.current.id, 1, 'the running gear stays');
  t.same(controller.refusedGears, [1]);
  t.same(infos, [], 'no switch was reported');

  // A closed engine is shutdown, not an error: nothing logged, the gear not disabled.
  failure = new CascadeServeError('ERR_CS_CLOSED', 'engine is closed');
  calls.length = 0;
  const quiet = new GearController({ gears: [fakeGear(0, 1), fakeGear(1, 2)], engine, monitor: new LoadMonitor({}), policy, cost: new CostEstimator(10), stats: new ModelStats('fixture'), log: { info: () => {}, error: (obj, msg) => errors.push({ obj: obj as Record<string, unknown>, msg }) } });
  quiet.evaluate();
  quiet.evaluate();
  t.same(calls, [2, 2], 'tried again at the next evaluation');
  t.equal(errors.length, 1, 'nothing more logged');
  t.same(quiet.refusedGears, []);
});

t.test('a closed model answers 503, not 500', async (t) => {
  const { server, url, stop } = await startFixtureServer();
  t.teardown(stop);
  // A member model closed on its own (as at shutdown, before the server flag is set).
  await server.models.get('fixture.small')!.close();
  const r = await postJson(`${url}/v2/models/fixture.small/infer`, jsonRequest(items(1)));
  t.equal(r.status, 503);
  t.equal(typeof r.json?.error, 'string');
  t.notMatch(r.json.error, /internal/);
});

t.test('options are checked before the plan is read and any engine exists', async (t) => {
  // The plan does not exist: an option error first shows the options were checked before it.
  const plan = '/nonexistent/plan.json';
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ upSwitchHoldMs: -1 }, /^upSwitchHoldMs must be a finite number >= 0/],
    [{ maxEventLoopLagMs: -1 }, /^maxEventLoopLagMs must be a finite number >= 0/],
    [{ maxImagesPerRequest: 0 }, /^maxImagesPerRequest must be a positive integer/],
    [{ maxInFlightImages: 1.5 }, /^maxInFlightImages must be a positive integer/],
    [{ bodyLimit: -1 }, /^bodyLimit must be a positive integer/],
    [{ loadBucketMs: 0 }, /^loadBucketMs must be a positive number/],
    [{ loadWindowMs: 1, loadBucketMs: 10 }, /^loadWindowMs must be a number >= bucketMs/],
  ];
  for (const [options, message] of cases) {
    await t.rejects(createServer({ plan, port: 0, ...options }), { name: 'RangeError', message }, JSON.stringify(options));
  }
  await t.rejects(createServer({ plan, port: 0 }), { name: 'PlanLoadError' }, 'valid options: the plan error');
});
