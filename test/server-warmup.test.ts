// Warm-up before ready (issue 12 item 8): the server runs every model of every gear on every
// lane hosting it, at the batch sizes the gears form, before it reports ready; checked from the
// engine's own run counters (batches and items per model queue and per lane), not by timing.
// The warm-up's runs stay out of the served model's figures (execution count, cost samples).
import t from 'tap';
import { warmUp, warmUpBatchSizes, warmUpRuns, kMaxWarmUpBatchSizes } from '../ts/engine/warm-up.js';
import type { EngineGear } from '../ts/engine/config.js';
import type { CascadeEngine, ItemResult } from '../ts/engine/engine.js';
import { items, jsonRequest, postJson, startFixtureServer } from '../testkit/server-fixture.js';

const gear = (id: number, stages: [string, number][]): EngineGear => ({ id, stages: stages.map(([model, maxBatch]) => ({ model, threshold: 0.5, maxBatch })) });

t.test('batch sizes: 1 and every maxBatch a gear gives the model, at most kMaxWarmUpBatchSizes', async (t) => {
  const two = warmUpBatchSizes([gear(1, [['a', 16], ['b', 16]]), gear(2, [['a', 32]])]);
  t.same(Object.fromEntries(two), { a: [1, 16, 32], b: [1, 16] });
  t.same(Object.fromEntries(warmUpBatchSizes([gear(1, [['a', 1]])])), { a: [1] }, 'a batch bound of 1 is warmed once');
  const many = warmUpBatchSizes([2, 4, 8, 16, 32, 64].map((b, i) => gear(i, [['a', b]])));
  t.equal(kMaxWarmUpBatchSizes, 4);
  t.same(many.get('a'), [1, 4, 16, 64], 'of 1, 2, 4, 8, 16, 32, 64: the ends and evenly spaced ones between');
  t.same(warmUpBatchSizes([gear(1, [['a', 64]])], 20).get('a'), [1, 20], 'no larger than the queue can hold');
});

t.test('runs: each model on each lane hosting it, at each of its sizes', async (t) => {
  const model = (name: string) => ({ name, path: `${name}.onnx`, input: 'x', output: 'y', itemDims: [4], classes: 2 });
  const runs = warmUpRuns(
    { models: [model('a'), model('b'), model('unused')], lanes: [{}, {}], placement: { a: [0, 1], b: [1], unused: [0] }, gear: gear(1, [['a', 8]]) },
    [gear(1, [['a', 8], ['b', 4]])],
  );
  t.same(runs, [
    { model: 'a', lane: 0, batch: 1 },
    { model: 'a', lane: 0, batch: 8 },
    { model: 'a', lane: 1, batch: 1 },
    { model: 'a', lane: 1, batch: 8 },
    { model: 'b', lane: 1, batch: 1 },
    { model: 'b', lane: 1, batch: 4 },
  ]);
});

t.test('a run that fails stops the warm-up with the model, lane and batch size named; the gear is restored', async (t) => {
  // A stand-in engine whose model 'b' fails every run (as ONNX Runtime would on bad input).
  const initial = gear(7, [['a', 2], ['b', 2]]);
  const setGears: number[][] = [];
  let current = initial;
  const engine = {
    itemElems: 4,
    get gear() {
      return current;
    },
    setGear(g: EngineGear) {
      setGears.push(g.stages.map((s) => s.maxBatch));
      current = g;
    },
    pause() {},
    resume() {},
    submit(inputs: Float32Array): Promise<ItemResult>[] {
      const model = current.stages[0].model;
      const status = model === 'b' ? 'error' : 'ok';
      return Array.from({ length: inputs.length / 4 }, () => Promise.resolve({ status, predictedClass: 0, certainty: 1, exitStage: 0, model, queuedUs: 0, computeUs: 0, ...(status === 'error' ? { error: 'bad input' } : {}) } as ItemResult));
    },
  } as unknown as CascadeEngine;
  const model = (name: string) => ({ name, path: `${name}.onnx`, input: 'x', output: 'y', itemDims: [4], classes: 2 });
  await t.rejects(warmUp(engine, { models: [model('a'), model('b')], lanes: [{}], gear: initial }, [initial]), { message: "warm-up: model 'b' on lane 0 at batch size 1 did not run (error: bad input)" });
  t.equal(engine.gear, initial, 'the engine is back in its gear');
  t.same(setGears, [[1], [2], [1], [2, 2]], "a's two sizes, b's first, then the initial gear");
});

// The fixture plan with its cheap gear: gear 1 = small (maxBatch 16) > gather (16), gear 2 =
// small (32); every model on both lanes. Expected warm-up, counted here from the plan:
// small at 1, 16, 32 and gather at 1, 16, on each of the 2 lanes.
const kLanes = 2;
const kExpected = { small: [1, 16, 32], gather: [1, 16] };

t.test('the cascade is warmed on every lane before the server reports ready', async (t) => {
  const { url, server, stop } = await startFixtureServer({ accurateMaxQps: 100, lanes: kLanes });
  t.teardown(stop);
  // Nothing has been sent yet: every run the engine counts is the warm-up's.
  const s = server.engine.stats();
  const names = server.engine.modelNames;
  for (const [model, sizes] of Object.entries(kExpected)) {
    const q = s.queues[names.indexOf(model)];
    t.equal(q.batches, sizes.length * kLanes, `${model}: ${sizes.length} batch sizes x ${kLanes} lanes`);
    t.equal(q.items, sizes.reduce((a, b) => a + b, 0) * kLanes, `${model}: items ${sizes.join(' + ')} per lane`);
    t.equal(q.failures + q.timeouts + q.refusals + q.cancellations, 0, `${model}: every warm-up run succeeded`);
  }
  const perLaneBatches = kExpected.small.length + kExpected.gather.length;
  const perLaneItems = [...kExpected.small, ...kExpected.gather].reduce((a, b) => a + b, 0);
  t.same(s.lanes.map((l) => [l.batches, l.items]), Array.from({ length: kLanes }, () => [perLaneBatches, perLaneItems]), 'each lane ran each model at each size');
  t.equal(server.engine.gear.id, 1, 'back in the plan\'s first gear');
  t.equal(s.gearId, 1);
  t.equal(server.engine.inFlight, 0);

  t.equal((await fetch(`${url}/v2/health/ready`)).status, 200, 'ready');
  t.equal((await fetch(`${url}/v2/models/fixture/ready`)).status, 200, 'model ready');

  // The served model's figures count requests' executions only.
  const execCount = async () => (await (await fetch(`${url}/v2/models/fixture/stats`)).json()).model_stats[0].execution_count as number;
  t.equal(await execCount(), 0, 'no execution reported before the first request');
  const r = await postJson(`${url}/v2/models/fixture/infer`, jsonRequest(items(1)));
  t.equal(r.status, 200);
  const ran = server.engine.stats().queues.reduce((a, q) => a + q.batches, 0) - (kExpected.small.length + kExpected.gather.length) * kLanes;
  t.ok(ran >= 1 && ran <= 2, `the request ran ${ran} batch(es)`);
  t.equal(await execCount(), ran, 'the execution count is the request\'s batches');
});

t.test('a member model is warmed when its engine is created, before its first request runs', async (t) => {
  const { url, server, stop } = await startFixtureServer({ accurateMaxQps: 100, lanes: kLanes });
  t.teardown(stop);
  const member = server.models.get('fixture.small')!;
  t.equal(member.engineIfReady, null, 'created on first use');
  const r = await postJson(`${url}/v2/models/fixture.small/infer`, jsonRequest(items(1)));
  t.equal(r.status, 200);
  // Served alone, small batches up to the largest bound the plan gives it (32).
  const q = member.engineIfReady!.stats().queues[0];
  t.equal(q.batches, 2 * kLanes + 1, 'sizes 1 and 32 on each lane, then the request');
  t.equal(q.items, (1 + 32) * kLanes + 1);
});

t.test('control: without the warm-up nothing runs before the first request', async (t) => {
  const { server, stop } = await startFixtureServer({ accurateMaxQps: 100, lanes: kLanes }, { warmUp: false });
  t.teardown(stop);
  const s = server.engine.stats();
  t.same(s.queues.map((q) => q.batches), [0, 0]);
  t.same(s.lanes.map((l) => l.batches), [0, 0]);
});
