// The native cascade engine on small fixture models: routing against the TypeScript oracle,
// gear swaps under load, deadlines, full queues, injected ONNX Runtime failures and close.
// Checked by counts, never by timing (pause()/resume() hold the batcher deterministically).
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { CascadeEngine, type EngineOptions, type ItemResult } from '../ts/index.js';
import { route, runWithOrtNode, type OracleModel } from './helpers/cascade-oracle.js';
import { fixture } from '../testkit/paths.js';

const models = [
  { name: 'small', path: fixture('mlp_small.onnx'), input: 'x', output: 'y', itemDims: [16], classes: 4 },
  { name: 'gather', path: fixture('gather_mlp.onnx'), input: 'x', output: 'y', itemDims: [16], classes: 4 },
];

// Items whose first value is a valid Gather index (0..7), the rest pseudo-random.
function items(n: number, seed = 1): Float32Array {
  const x = new Float32Array(n * 16);
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = i % 16 === 0 ? (s >>> 29) : (s / 2 ** 32) * 4 - 2;
  }
  return x;
}

function options(over: Partial<EngineOptions> = {}): EngineOptions {
  return {
    models,
    lanes: [{}, {}],
    gear: { id: 1, stages: [{ model: 'small', threshold: 0.6, maxBatch: 8, maxQueueDelayUs: 200 }, { model: 'gather', threshold: 0, maxBatch: 8, maxQueueDelayUs: 200 }] },
    ...over,
  };
}

t.test('answers equal the TypeScript oracle for every measure', async (t) => {
  const n = 600;
  const x = items(n, 42);
  const outs = await Promise.all(models.map((m) => runWithOrtNode(m as OracleModel, x, n)));
  for (const measure of ['max_prob', 'margin', 'entropy'] as const) {
    const thresholds = { max_prob: 0.6, margin: 0.3, entropy: 0.25 }[measure];
    const gear = { id: 7, stages: [{ model: 'small', threshold: thresholds, measure, maxBatch: 16, maxQueueDelayUs: 100 }, { model: 'gather', threshold: 0, measure, maxBatch: 16, maxQueueDelayUs: 100 }] };
    const engine = await CascadeEngine.create(options({ gear }));
    const got = await Promise.all(engine.submit(x));
    const want = route(outs, [4, 4], [{ model: 0, threshold: thresholds, measure }, { model: 1, threshold: 0, measure }], n);
    let mismatches = 0;
    let maxDiff = 0;
    got.forEach((r, i) => {
      if (r.status !== 'ok' || r.predictedClass !== want[i].cls || r.exitStage !== want[i].exitStage || r.model !== models[want[i].model].name) mismatches++;
      maxDiff = Math.max(maxDiff, Math.abs(r.certainty - want[i].certainty));
    });
    t.equal(mismatches, 0, `${measure}: class, exit stage and model equal the oracle for all ${n} items`);
    t.ok(maxDiff < 1e-5, `${measure}: certainties within 1e-5 (max diff ${maxDiff})`);
    const exits = want.filter((w) => w.exitStage === 0).length;
    t.ok(exits > 0 && exits < n, `${measure}: both stages answer some items (${exits} exit at stage 0)`);
    const stats = engine.stats();
    t.equal(stats.queues[0].exits + stats.queues[1].exits, n, 'exits counted once per item');
    await engine.close();
  }
});

t.test('gear swaps every millisecond under load: every item answered exactly once', async (t) => {
  const engine = await CascadeEngine.create(options());
  const gears = [
    { id: 1, stages: [{ model: 'small', threshold: 0.6, maxBatch: 8, maxQueueDelayUs: 200 }, { model: 'gather', threshold: 0, maxBatch: 8, maxQueueDelayUs: 200 }] },
    { id: 2, stages: [{ model: 'small', threshold: 0, maxBatch: 32, maxQueueDelayUs: 0 }] },
    { id: 3, stages: [{ model: 'gather', threshold: 0, maxBatch: 4, maxQueueDelayUs: 50 }] },
    { id: 4, stages: [{ model: 'gather', threshold: 0.9, maxBatch: 2, maxQueueDelayUs: 0 }, { model: 'small', threshold: 0, maxBatch: 64, maxQueueDelayUs: 500 }] },
  ];
  let switching = true;
  let switches = 0;
  const switcher = (async () => {
    while (switching) {
      engine.setGear(gears[switches++ % gears.length]);
      await sleep(1);
    }
  })();
  const settled = new Map<number, number>();
  const all: Promise<void>[] = [];
  let sent = 0;
  for (let round = 0; round < 60; round++) {
    const n = 1 + (round % 13);
    engine.submit(items(n, round)).forEach((p) => {
      const id = sent++;
      all.push(p.then((r) => {
        t.equal(r.status, 'ok');
        settled.set(id, (settled.get(id) ?? 0) + 1);
      }));
    });
    await sleep(round % 3);
  }
  await Promise.all(all);
  switching = false;
  await switcher;
  t.equal(settled.size, sent, `all ${sent} items settled`);
  t.ok([...settled.values()].every((c) => c === 1), 'none settled twice');
  const stats = engine.stats();
  t.equal(stats.queues.reduce((a, q) => a + q.exits, 0), sent, 'engine counted each exit once');
  t.ok(stats.gearSwitches >= 2, `the gear switched (${stats.gearSwitches} times)`);
  t.equal(stats.inFlight, 0);
  await engine.close();
});

t.test('an item whose deadline passes before it runs times out without running', async (t) => {
  const engine = await CascadeEngine.create(options());
  engine.pause();
  const pending = engine.submit(items(10), { budgetUs: 1000 });
  await sleep(20);
  engine.resume();
  const results = await Promise.all(pending);
  t.same(results.map((r) => r.status), Array(10).fill('timeout'));
  const stats = engine.stats();
  t.equal(stats.queues[0].timeouts, 10);
  t.equal(stats.queues[0].batches, 0, 'no batch ran');
  // A budget that is already spent never runs either.
  const late = await Promise.all(engine.submit(items(3), { budgetUs: 0 }));
  t.same(late.map((r) => r.status), ['timeout', 'timeout', 'timeout']);
  await engine.close();
});

t.test('a full queue refuses at once; what it accepted is answered', async (t) => {
  const engine = await CascadeEngine.create(options({ maxQueueSizePerStage: 4 }));
  engine.pause();
  const results = engine.submit(items(10));
  const refused = await Promise.all(results.slice(4));
  t.same(refused.map((r) => r.status), Array(6).fill('overloaded'));
  t.equal(engine.stats().queues[0].refusals, 6);
  engine.resume();
  const accepted = await Promise.all(results.slice(0, 4));
  t.same(accepted.map((r) => r.status), Array(4).fill('ok'));
  await engine.close();
});

t.test('an ONNX Runtime failure fails only the rows it rejects, with the runtime message', async (t) => {
  const engine = await CascadeEngine.create(options({
    lanes: [{}],
    gear: { id: 1, stages: [{ model: 'gather', threshold: 0, maxBatch: 1, maxQueueDelayUs: 0 }] },
  }));
  const x = items(5, 3);
  x[2 * 16] = 100; // item 2: Gather index out of range
  const results: ItemResult[] = await Promise.all(engine.submit(x));
  t.same(results.map((r) => r.status), ['ok', 'ok', 'error', 'ok', 'ok']);
  t.match(results[2].error, /indices|out of (data )?bounds|idx/i, `carries ONNX Runtime's message: ${results[2].error}`);
  const stats = engine.stats();
  t.equal(stats.queues[1].failures, 1);
  t.equal(stats.queues[1].exits, 4);
  const after = await engine.infer(items(1, 9));
  t.equal(after.status, 'ok', 'the engine keeps serving');
  // In one batch of eight, the poisoned row fails alone; its batch-mates are answered.
  engine.setGear({ id: 2, stages: [{ model: 'gather', threshold: 0, maxBatch: 8, maxQueueDelayUs: 0 }] });
  engine.pause();
  const y = items(8, 4);
  y[5 * 16] = -50;
  const pending = engine.submit(y);
  engine.resume();
  const mixed = await Promise.all(pending);
  t.same(mixed.map((r) => r.status), ['ok', 'ok', 'ok', 'ok', 'ok', 'error', 'ok', 'ok']);
  t.equal(engine.stats().queues[1].failures, 2);
  await engine.close();
});

t.test('close() cancels what has not run and settles every item once', async (t) => {
  const engine = await CascadeEngine.create(options());
  engine.pause();
  const results = engine.submit(items(25));
  await engine.close();
  const settled = await Promise.all(results);
  t.same(settled.map((r) => r.status), Array(25).fill('cancelled'));
  t.throws(() => engine.submit(items(1)), { code: 'ERR_CS_CLOSED' });
  await engine.close(); // idempotent
});

t.test('invalid configurations fail at construction naming the field', async (t) => {
  const gear = options().gear;
  await t.rejects(CascadeEngine.create({ ...options(), models: [] }), { message: 'options.models must be a non-empty array' });
  await t.rejects(CascadeEngine.create(options({ lanes: [{ kind: 'tpu' as never }] })), { message: "options.lanes[0].kind must be 'cpu' or 'cuda', got tpu" });
  await t.rejects(CascadeEngine.create(options({ placement: { small: [0, 5] } })), { message: 'options.placement["small"][1] lane 5 does not exist (2 lanes)' });
  await t.rejects(CascadeEngine.create(options({ gear: { id: 1, stages: [{ ...gear.stages[0], model: 'nope' }] } })), { message: /options\.gear\.stages\[0\]\.model 'nope' is not a model of the engine/ });
  await t.rejects(CascadeEngine.create(options({ gear: { id: 1, stages: [{ ...gear.stages[0], maxBatch: 0 }] } })), { message: 'options.gear.stages[0].maxBatch must be an integer from 1 to 2147483647, got 0' });
  await t.rejects(CascadeEngine.create({ ...options(), models: [{ ...models[0], itemDims: [15] }, models[1]] }), { message: /options\.models\[1\]\.itemDims hold 16 values per item but options\.models\[0\] takes 15/ });
  await t.rejects(CascadeEngine.create({ ...options(), models: [{ ...models[0], itemDims: [15] }] , gear: { id: 1, stages: [{ model: 'small', threshold: 0, maxBatch: 1 }] } }), {
    code: 'ERR_CS_INVALID_ARGUMENT', message: /model 'small' .*input 'x' is float32 \[-1,16\], expected float32 \[N\]\+\[15\]/,
  });
  await t.rejects(CascadeEngine.create({ ...options(), models: [{ ...models[0], path: fixture('missing.onnx') }, models[1]] }), { message: /cannot load model '.*missing\.onnx'/ });
  await t.rejects(CascadeEngine.create(options({ lanes: [{ kind: 'cuda' }] })), { code: 'ERR_CS_UNAVAILABLE', message: /lanes\[0\].*(cuda|CUDA)/ });
});
