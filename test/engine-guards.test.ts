// Guards at the library's edge and one validation with the addon: budgets and priorities
// refused (naming the option) before they reach C++, the budget bound pinned to the native
// guard's, a closed engine's error coded for a 503, every gear the TypeScript validation
// accepts also accepted by the engine's C++ guards, and the per-measure certainties the
// engine returns checked against the independent oracle (test/helpers/cascade-oracle.ts).
import t from 'tap';
import fc from 'fast-check';
import { loadBinding, type RawEngine } from '../bindings/binding.js';
import { CascadeEngine, type EngineOptions } from '../ts/index.js';
import { fillEngineConfig, fillGear, kMaxBudgetUs, type EngineGear } from '../ts/engine/config.js';
import { fromNative } from '../ts/errors.js';
import { openRuntime } from '../ts/runtime/runtime.js';
import { toHttpError } from '../ts/server/errors.js';
import { certaintyOf, runWithOrtNode, type OracleModel } from './helpers/cascade-oracle.js';
import { fixture } from '../testkit/paths.js';

const models = [
  { name: 'small', path: fixture('mlp_small.onnx'), input: 'x', output: 'y', itemDims: [16], classes: 4 },
  { name: 'gather', path: fixture('gather_mlp.onnx'), input: 'x', output: 'y', itemDims: [16], classes: 4 },
];

function items(n: number, seed = 1): Float32Array {
  const x = new Float32Array(n * 16);
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = i % 16 === 0 ? s >>> 29 : (s / 2 ** 32) * 4 - 2;
  }
  return x;
}

const options = (over: Partial<EngineOptions> = {}): EngineOptions => ({
  models,
  lanes: [{}, {}],
  placement: { small: [0, 1], gather: [1] },
  gear: { id: 1, stages: [{ model: 'small', threshold: 0.6, maxBatch: 8 }, { model: 'gather', threshold: 0, maxBatch: 8 }] },
  ...over,
});

t.test('budgets: NaN, negative and longer than the bound are refused naming the option', async (t) => {
  const engine = await CascadeEngine.create(options());
  t.teardown(() => engine.close());
  for (const b of [1e300, 9.3e18, 2 ** 63, kMaxBudgetUs + 1, -1, -1e300, -Infinity, NaN]) {
    t.throws(() => engine.submit(items(2), { budgetUs: b }), { code: 'ERR_CS_INVALID_ARGUMENT', message: /^options\.budgetUs must be/ }, `budgetUs ${b}`);
  }
  const perItem = new Float64Array([1000, 2000, NaN]);
  t.throws(() => engine.submit(items(3), { budgetUs: perItem }), { code: 'ERR_CS_INVALID_ARGUMENT', message: /^options\.budgetUs\[2\] must be a number, got NaN/ });
  t.throws(() => engine.submit(items(2), { budgetUs: new Float64Array([5, 1e300]) }), { message: /^options\.budgetUs\[1\] must be at most 86400000000/ });
  t.equal(engine.inFlight, 0, 'nothing was queued');
  // The bound itself, no deadline and a spent budget are taken.
  const [atBound, none, spent] = await Promise.all([engine.infer(items(1), { budgetUs: kMaxBudgetUs }), engine.infer(items(1), { budgetUs: Infinity }), engine.infer(items(1), { budgetUs: 0 })]);
  t.equal(atBound.status, 'ok');
  t.equal(none.status, 'ok');
  t.equal(spent.status, 'timeout');
});

t.test('the budget bound is the native guard\'s', async (t) => {
  t.equal(loadBinding().binding.EngineHandle.maxBudgetUs, kMaxBudgetUs, 'native/engine/deadline.h kMaxBudgetUs == ts/engine/config.ts kMaxBudgetUs');
});

t.test('priorities beyond int32 are refused, not wrapped', async (t) => {
  const engine = await CascadeEngine.create(options());
  t.teardown(() => engine.close());
  // 2^32 + 1 would become priority 1 in the Int32Array the addon reads; 2^31 a negative one.
  for (const p of [2 ** 32 + 1, 2 ** 31, 1e20, 0, 1.5]) {
    t.throws(() => engine.submit(items(1), { priority: p }), { code: 'ERR_CS_INVALID_ARGUMENT', message: /^options\.priority must be an integer from 1 to 2147483647/ }, `priority ${p}`);
  }
  t.equal((await engine.infer(items(1), { priority: 2 ** 31 - 1 })).status, 'ok');
});

async function rawEngine(config: EngineOptions): Promise<RawEngine> {
  const filled = fillEngineConfig(config);
  return loadBinding().binding.createEngine(openRuntime(), filled, fillGear(config.gear, filled), () => {});
}

t.test('a closed engine answers with ERR_CS_CLOSED, which HTTP maps to 503', async (t) => {
  const raw = await rawEngine(options());
  raw.close();
  const gear = fillGear(options().gear, fillEngineConfig(options()));
  let caught: unknown;
  try {
    raw.setGear(gear);
  } catch (e) {
    caught = e;
  }
  t.match(caught, { code: 'ERR_CS_CLOSED', message: 'engine is closed' }, 'the addon codes it');
  t.throws(() => raw.stats(), { code: 'ERR_CS_CLOSED' });
  t.throws(() => raw.submit(new Float64Array(1), items(1), new Float64Array(1), new Int32Array(1).fill(1), new Uint8Array(1), new Uint8Array(1)), { code: 'ERR_CS_CLOSED' });
  const http = toHttpError(fromNative(caught));
  t.equal(http.statusCode, 503);
});

t.test('submit guards the typed array kinds and the tickets', async (t) => {
  const raw = await rawEngine(options());
  t.teardown(() => raw.close());
  // An Int32Array of budgets would be read as doubles past its end.
  t.throws(() => raw.submit(new Float64Array(1), items(1), new Int32Array(1) as unknown as Float64Array, new Int32Array(1).fill(1), new Uint8Array(1), new Uint8Array(1)), { name: 'TypeError', message: /expected Float64Array, Float32Array, Float64Array, Int32Array, Uint8Array, Uint8Array/ });
  // accepted is written item by item: a shorter array would be written past its end.
  t.throws(() => raw.submit(new Float64Array(2), items(2), new Float64Array(2), new Int32Array(2).fill(1), new Uint8Array(2), new Uint8Array(1)), { name: 'TypeError', message: 'submit: tickets, budgetsUs, priorities, detail and accepted must have the same length' });
  // Tickets become uint64: NaN or a negative one would be an out-of-range conversion.
  for (const ticket of [NaN, -1, 2 ** 64]) {
    t.throws(() => raw.submit(new Float64Array([ticket]), items(1), new Float64Array(1), new Int32Array(1).fill(1), new Uint8Array(1), new Uint8Array(1)), { name: 'TypeError', message: 'submit: tickets must be integers from 0 to 2^53' }, `ticket ${ticket}`);
  }
});

t.test('what the TypeScript validation refuses that the C++ guards alone would refuse too late', async (t) => {
  // Each passed the TypeScript validation before and failed only in C++ (at a gear switch)
  // or reached it as an out-of-range conversion.
  const config = fillEngineConfig(options());
  const stage = { model: 'small', threshold: 0.5, maxBatch: 4 };
  const cases: [EngineGear, RegExp][] = [
    [{ id: 1, stages: [{ ...stage, maxBatch: 2 ** 31 }] }, /^gear\.stages\[0\]\.maxBatch must be an integer from 1 to 2147483647/],
    [{ id: 1, stages: [{ ...stage, maxBatch: 2 ** 32 + 1 }] }, /^gear\.stages\[0\]\.maxBatch/],
    [{ id: 1, stages: [{ ...stage, maxQueueDelayUs: 1e300 }] }, /^gear\.stages\[0\]\.maxQueueDelayUs must be a number from 0 to 86400000000/],
    [{ id: 1, stages: [{ ...stage, laneWeights: [Infinity, 0] }] }, /^gear\.stages\[0\]\.laneWeights\[0\] must be a finite number >= 0/],
    [{ id: 2 ** 31, stages: [stage] }, /^gear\.id must be a 32-bit integer/],
  ];
  for (const [gear, message] of cases) t.throws(() => fillGear(gear, config), { code: 'ERR_CS_INVALID_ARGUMENT', message }, message.source);
  t.throws(() => fillEngineConfig(options({ placement: { small: [0, 0], gather: [1] } })), { message: 'options.placement["small"][1] lane 0 is listed twice' });
  t.throws(() => fillEngineConfig(options({ lanes: [{ deviceId: 2 ** 32 }] })), { message: /^options\.lanes\[0\]\.deviceId/ });
});

t.test('every gear the TypeScript validation accepts, the engine accepts (property)', async (t) => {
  const raw = await rawEngine(options());
  t.teardown(() => raw.close());
  const config = fillEngineConfig(options());
  // Mostly ordinary values, so that many gears pass, with the edges mixed in.
  const edgeInt = fc.oneof({ arbitrary: fc.constantFrom(0, 1, 2, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 1, 1e20, 1.5, NaN, Infinity), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 64 }), weight: 3 });
  const edgeNum = fc.oneof(
    { arbitrary: fc.constantFrom(0, -0, 0.5, 1, -1, 1e300, -1e300, Infinity, -Infinity, NaN, kMaxBudgetUs, kMaxBudgetUs + 1, 2 ** 63), weight: 1 },
    { arbitrary: fc.double({ min: 0, max: 2, noNaN: true }), weight: 3 },
    { arbitrary: fc.double(), weight: 1 },
  );
  const stageArb = fc.record(
    {
      model: fc.constantFrom('small', 'gather', 'small', 'gather', 'nope'),
      threshold: edgeNum,
      measure: fc.constantFrom('max_prob', 'margin', 'entropy', 'other'),
      maxBatch: edgeInt,
      maxQueueDelayUs: edgeNum,
      laneWeights: fc.oneof({ arbitrary: fc.constant([]), weight: 2 }, { arbitrary: fc.array(edgeNum, { minLength: 1, maxLength: 3 }), weight: 2 }),
    },
    { requiredKeys: ['model', 'threshold', 'maxBatch'] },
  );
  const gearArb = fc.record({ id: edgeInt, stages: fc.array(stageArb, { minLength: 0, maxLength: 2 }) });
  let accepted = 0;
  fc.assert(
    fc.property(gearArb, (gear) => {
      let filled;
      try {
        filled = fillGear(gear as EngineGear, config);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_CS_INVALID_ARGUMENT') throw e;
        return; // refused in TypeScript, naming the field: fine
      }
      accepted++;
      raw.setGear(filled); // must not throw: the C++ guards know no rule TypeScript does not
    }),
    { numRuns: 3000, seed: 12 },
  );
  t.ok(accepted > 100, `${accepted} accepted gears were set on the engine`);
});

t.test('certainties of every measure: the engine\'s numbers agree with the oracle', async (t) => {
  const n = 300;
  const x = items(n, 77);
  const engine = await CascadeEngine.create(options({ lanes: [{}], placement: undefined, gear: { id: 1, stages: [{ model: 'small', threshold: 0.5, measure: 'margin', maxBatch: 16 }, { model: 'gather', threshold: 0, measure: 'entropy', maxBatch: 16 }] } }));
  t.teardown(() => engine.close());
  const results = await Promise.all(engine.submit(x, { wantCertainties: true }));
  const rows = await Promise.all(models.map((m) => runWithOrtNode(m as OracleModel, x, n)));
  const measures = ['max_prob', 'margin', 'entropy'] as const;
  let worst = 0;
  let routedMismatch = 0;
  let classMismatch = 0;
  t.same(results.filter((r) => r.status !== 'ok'), [], 'every item answered');
  results.forEach((r, i) => {
    const m = r.exitStage === 0 ? 0 : 1;
    const row = rows[m].subarray(i * 4, (i + 1) * 4);
    for (const mu of measures) {
      const want = certaintyOf(row, mu);
      worst = Math.max(worst, Math.abs(r.certainties![mu] - want.certainty));
      if (want.cls !== r.predictedClass) classMismatch++;
    }
    // The certainty column is the routed measure's double rounded to float.
    if (Math.fround(r.certainties![r.exitStage === 0 ? 'margin' : 'entropy']) !== r.certainty) routedMismatch++;
  });
  t.ok(worst < 1e-6, `every measure within 1e-6 of the oracle (max diff ${worst.toExponential(2)})`);
  t.equal(classMismatch, 0, 'classes agree');
  t.equal(routedMismatch, 0, 'certainty column = float(certainties[stage measure])');
  t.ok(results.some((r) => r.exitStage === 0) && results.some((r) => r.exitStage === 1), 'both stages answer');
  const plain = await engine.infer(items(1, 5));
  t.equal(plain.certainties, undefined, 'not returned unless asked');
});

t.test('a binary score needs two classes: named by the TypeScript validation and by the C++ guard', async (t) => {
  const model = { name: 'b', path: fixture('binary_score.onnx'), input: 'x', output: 'y', itemDims: [3] };
  const gear: EngineGear = { id: 0, stages: [{ model: 'b', threshold: 0, maxBatch: 4 }] };
  t.throws(() => fillEngineConfig({ models: [{ ...model, classes: 3, outputKind: 'binary_logit' }], gear }), { code: 'ERR_CS_INVALID_ARGUMENT', message: /^options\.models\[0\]\.classes must be 2 for outputKind 'binary_logit'/ });
  t.throws(() => fillEngineConfig({ models: [{ ...model, classes: 2, outputKind: 'sigmoid' as never }], gear }), { message: /^options\.models\[0\]\.outputKind must be one of 'logits', 'probabilities', 'binary_logit', 'binary_probability', got sigmoid/ });
  const ok = fillEngineConfig({ models: [{ ...model, classes: 2, outputKind: 'binary_probability' }], gear });
  t.equal(ok.models[0].outputKind, 3, 'binary_probability crosses as 3');
  // The C++ guard, past the TypeScript validation.
  const bad = { ...ok, models: [{ ...ok.models[0], classes: 3 }] };
  await t.rejects(async () => loadBinding().binding.createEngine(openRuntime(), bad, fillGear(gear, ok), () => {}), /models\[0\]\.output_elems: a binary score answers 2 classes \(got 3\)/);
});
