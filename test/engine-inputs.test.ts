// Typed inputs with a dynamic axis through the engine (issue 13): two INT64 inputs
// (input_ids, attention_mask) of varying length, batched with padding for a pad-invariant model
// and by equal length for one that is not, every answer compared with onnxruntime-node run on
// the unpadded item (probabilities within 1e-4). Fixtures: test/fixtures/make_token_fixtures.py.
import t from 'tap';
import * as ort from 'onnxruntime-node';
import { CascadeEngine, type EngineModel, type EngineOptions, type ItemResult } from '../ts/index.js';
import { warmUp } from '../ts/engine/warm-up.js';
import { certaintyOf } from './helpers/cascade-oracle.js';
import { fixture } from '../testkit/paths.js';
import { halfToFloat } from '../testkit/half.js';
import { maxDiff, softmax as probs } from '../testkit/softmax.js';

const kVocab = 50;
const kClasses = 3;
const tokenInputs = [
  { name: 'input_ids', datatype: 'INT64' as const, itemDims: [-1], padValue: 0 },
  { name: 'attention_mask', datatype: 'INT64' as const, itemDims: [-1], padValue: 0 },
];
const meanpool: EngineModel = { name: 'meanpool', path: fixture('tokens_meanpool.onnx'), inputs: tokenInputs, output: 'logits', classes: kClasses };
const paddedMean: EngineModel = { name: 'padded_mean', path: fixture('tokens_padded_mean_fp16.onnx'), inputs: tokenInputs, output: 'logits', classes: kClasses, padInvariant: false };

interface Items { count: number; length: number; ids: BigInt64Array; mask: BigInt64Array; lengths: Int32Array }

/**
 * `count` items padded to `length`: ids in [1, vocab), mask ones then zeros. Positions past an
 * item's own length hold an id outside the vocabulary: were they ever fed to a model, its
 * Gather would fail the run, so every answer being 'ok' shows the engine keeps only the
 * item's own positions and pads with padValue.
 */
function makeItems(count: number, length: number, seed: number): Items {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const ids = new BigInt64Array(count * length);
  const mask = new BigInt64Array(count * length);
  const lengths = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    lengths[i] = 1 + (next() % length);
    for (let p = 0; p < length; p++) {
      const own = p < lengths[i];
      ids[i * length + p] = own ? BigInt(1 + (next() % (kVocab - 1))) : 999n;
      mask[i * length + p] = own ? 1n : 0n;
    }
  }
  return { count, length, ids, mask, lengths };
}


/** onnxruntime-node on each item alone, unpadded ([1, own length]): logits as float64. */
async function referenceLogits(path: string, items: Items): Promise<number[][]> {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const out: number[][] = [];
  for (let i = 0; i < items.count; i++) {
    const n = items.lengths[i];
    const at = i * items.length;
    const feeds = {
      input_ids: new ort.Tensor('int64', items.ids.slice(at, at + n), [1, n]),
      attention_mask: new ort.Tensor('int64', items.mask.slice(at, at + n), [1, n]),
    };
    const r = await session.run(feeds);
    const t = r.logits;
    const data = t.type === 'float16' ? Array.from(t.data as Uint16Array, halfToFloat) : Array.from(t.data as Float32Array);
    out.push(data);
  }
  await session.release();
  return out;
}


/** Every item of `items` in `calls` submitTensors calls of a few items each, all queued before any batch forms. */
async function submitAll(engine: CascadeEngine, items: Items, perCall: number): Promise<ItemResult[]> {
  engine.pause();
  const promises: Promise<ItemResult>[] = [];
  for (let first = 0; first < items.count; first += perCall) {
    const n = Math.min(perCall, items.count - first);
    const span = [first * items.length, (first + n) * items.length] as const;
    promises.push(...engine.submitTensors({
      count: n,
      length: items.length,
      lengths: items.lengths.slice(first, first + n),
      tensors: { input_ids: items.ids.subarray(...span), attention_mask: items.mask.subarray(...span) },
    }, { wantOutput: true }));
  }
  engine.resume();
  return Promise.all(promises);
}

const threshold = 0.75;
const cascade = (models: EngineModel[], maxBatch = 8): EngineOptions => ({
  models,
  gear: { id: 1, stages: [{ model: models[0].name, threshold, maxBatch, maxQueueDelayUs: 2000 }, { model: models[1].name, threshold: 0, maxBatch, maxQueueDelayUs: 2000 }] },
});

t.test('mixed-length batches: every answer equals onnxruntime-node on the unpadded item', async (t) => {
  const items = makeItems(160, 12, 7);
  const [refMean, refPadded] = await Promise.all([referenceLogits(meanpool.path, items), referenceLogits(paddedMean.path, items)]);
  const engine = await CascadeEngine.create(cascade([meanpool, paddedMean]));
  t.teardown(() => engine.close());
  t.same(engine.inputs, [
    { name: 'input_ids', datatype: 'INT64', itemDims: [-1], padValue: 0, dynamicAxis: 0 },
    { name: 'attention_mask', datatype: 'INT64', itemDims: [-1], padValue: 0, dynamicAxis: 0 },
  ]);
  const results = await submitAll(engine, items, 3);
  let worst = 0;
  const answeredBy = { meanpool: 0, padded_mean: 0 };
  for (let i = 0; i < items.count; i++) {
    const r = results[i];
    if (r.status !== 'ok' || !r.output) {
      t.fail(`item ${i}: status ${r.status} ${r.error ?? ''}`);
      continue;
    }
    answeredBy[r.model as keyof typeof answeredBy]++;
    const ref = r.model === 'meanpool' ? refMean[i] : refPadded[i];
    const d = maxDiff(probs(r.output), probs(ref));
    worst = Math.max(worst, d);
    if (d > 1e-4) t.fail(`item ${i} (length ${items.lengths[i]}, ${r.model}): probabilities differ by ${d}`);
    // Routing by the reference: the first stage answers exactly when its certainty reaches the threshold.
    const first = certaintyOf(refMean[i], 'max_prob').certainty;
    if (Math.abs(first - Math.fround(threshold)) > 1e-5) t.equal(r.exitStage, first >= Math.fround(threshold) ? 0 : 1, `item ${i} exits where the reference does`);
    t.equal(r.predictedClass, certaintyOf(ref, 'max_prob').cls, `item ${i} class`);
  }
  t.ok(worst <= 1e-4, `largest probability difference ${worst.toExponential(2)} <= 1e-4`);
  t.ok(answeredBy.meanpool > 0 && answeredBy.padded_mean > 0, `both stages answered (${JSON.stringify(answeredBy)})`);
  const [q0, q1] = engine.stats().queues;
  t.ok(q0.paddedPositions > 0, `the pad-invariant stage ran mixed-length batches (${q0.paddedPositions} padded positions for ${q0.itemPositions})`);
  t.ok(q0.batches < q0.items, 'and batched several items together');
  t.equal(q1.paddedPositions, 0, 'the stage that is not pad-invariant ran only equal-length batches');
  t.ok(q1.items > 0 && q1.batches < q1.items, 'and still batched items together');
});

t.test('the same cascade with padding allowed for the pad-sensitive model gives wrong answers (the test can fail)', async (t) => {
  const items = makeItems(160, 12, 7);
  const refPadded = await referenceLogits(paddedMean.path, items);
  // The second model alone, told (wrongly) that padding is harmless.
  const careless = { ...paddedMean, padInvariant: true };
  const engine = await CascadeEngine.create({ models: [careless], gear: { id: 1, stages: [{ model: careless.name, threshold: 0, maxBatch: 8, maxQueueDelayUs: 2000 }] } });
  t.teardown(() => engine.close());
  const results = await submitAll(engine, items, 3);
  const wrong = results.filter((r, i) => r.output && maxDiff(probs(r.output), probs(refPadded[i])) > 1e-4).length;
  t.ok(wrong > 0, `${wrong} of ${items.count} answers differ from the unpadded reference once padded`);
});

t.test('submitTensors checks: missing, extra and mistyped tensors, sizes and lengths are named', async (t) => {
  const engine = await CascadeEngine.create(cascade([meanpool, paddedMean]));
  t.teardown(() => engine.close());
  const items = makeItems(2, 5, 3);
  const good = { count: 2, length: 5, lengths: items.lengths, tensors: { input_ids: items.ids, attention_mask: items.mask } };
  const bad = (over: object) => ({ ...good, ...over });
  const code = 'ERR_CS_INVALID_ARGUMENT';
  t.throws(() => engine.submitTensors(bad({ tensors: { input_ids: items.ids } })), { code, message: /^items\.tensors\["attention_mask"\] is missing/ });
  t.throws(() => engine.submitTensors(bad({ tensors: { ...good.tensors, token_type_ids: items.ids } })), { code, message: /^items\.tensors\["token_type_ids"\] is not an input of the engine \(inputs: input_ids, attention_mask\)/ });
  t.throws(() => engine.submitTensors(bad({ tensors: { ...good.tensors, attention_mask: new Int32Array(10) } })), { code, message: /^items\.tensors\["attention_mask"\] must be a BigInt64Array for INT64, got Int32Array/ });
  t.throws(() => engine.submitTensors(bad({ tensors: { ...good.tensors, attention_mask: items.mask.subarray(0, 9) } })), { code, message: /^items\.tensors\["attention_mask"\] must hold 10 elements \(2 items of \[5\]\), got 9/ });
  t.throws(() => engine.submitTensors(bad({ lengths: new Int32Array([5, 6]) })), { code, message: /^items\.lengths\[1\] must be from 1 to 5/ });
  t.throws(() => engine.submitTensors(bad({ lengths: new Int32Array([0, 2]) })), { code, message: /^items\.lengths\[0\] must be from 1 to 5/ });
  t.throws(() => engine.submitTensors(bad({ lengths: new Int32Array([1]) })), { code, message: /^items\.lengths must be an Int32Array of 2 entries/ });
  t.throws(() => engine.submitTensors(bad({ count: 0 })), { code, message: /^items\.count must be an integer/ });
  t.throws(() => engine.submit(new Float32Array(10)), { code, message: /^inputs this engine takes the inputs input_ids \(INT64 \[-1\]\), attention_mask \(INT64 \[-1\]\): submit them with submitTensors/ });
  t.equal(engine.inFlight, 0, 'nothing was queued');
  // The length is read from the arrays when not given; lengths default to it.
  const [a, b] = await Promise.all(engine.submitTensors({ count: 2, tensors: { input_ids: items.ids.map(() => 3n), attention_mask: items.mask.map(() => 1n) } }));
  t.equal(a.status, 'ok');
  t.equal(b.status, 'ok');
});

t.test('engine options: models that disagree on their inputs are refused naming the field', async (t) => {
  const code = 'ERR_CS_INVALID_ARGUMENT';
  const withInputs = (inputs: EngineModel['inputs']) => ({ ...paddedMean, inputs });
  const create = (second: EngineModel) => CascadeEngine.create(cascade([meanpool, second]));
  await t.rejects(create(withInputs([tokenInputs[0], { ...tokenInputs[1], datatype: 'INT32' }])), { code, message: /^options\.models\[1\]\.inputs\[1\]\.datatype is INT32 but options\.models\[0\] has INT64/ });
  await t.rejects(create(withInputs([tokenInputs[0], { ...tokenInputs[1], name: 'mask' }])), { code, message: /^options\.models\[1\]\.inputs\[1\]\.name is 'mask'/ });
  await t.rejects(create(withInputs([tokenInputs[0], { ...tokenInputs[1], itemDims: [4] }])), { code, message: /^options\.models\[1\]\.inputs\[1\]\.itemDims is \[4\]/ });
  await t.rejects(create(withInputs([tokenInputs[0]])), { code, message: /^options\.models\[1\]\.inputs has 1 input\(s\) but options\.models\[0\] has 2/ });
  await t.rejects(create(withInputs([tokenInputs[0], { ...tokenInputs[1], datatype: 'INT128' as 'INT64' }])), { code, message: /^options\.models\[1\]\.inputs\[1\]\.datatype must be one of FP32, UINT8, INT32, INT64, BOOL, FP16/ });
  await t.rejects(create(withInputs([{ ...tokenInputs[0], itemDims: [-1, -1] }, tokenInputs[1]])), { code, message: /^options\.models\[1\]\.inputs\[0\]\.itemDims has more than one dynamic axis/ });
  await t.rejects(create(withInputs([{ ...tokenInputs[0], padValue: 0.5 }, tokenInputs[1]])), { code, message: /^options\.models\[1\]\.inputs\[0\]\.padValue must be a safe integer for INT64/ });
  await t.rejects(create({ ...paddedMean, padInvariant: 'no' as unknown as boolean }), { code, message: /^options\.models\[1\]\.padInvariant must be true or false/ });
  // A model file whose inputs differ from the declared ones is refused by the runtime check, naming the input.
  await t.rejects(CascadeEngine.create({ models: [{ ...meanpool, inputs: [{ ...tokenInputs[0], datatype: 'INT32' }, { ...tokenInputs[1], datatype: 'INT32' }] }], gear: { id: 1, stages: [{ model: 'meanpool', threshold: 0, maxBatch: 4 }] } }), { message: /input 'input_ids' is int64 \[-1,-1\], expected int32/ });
});

t.test('warm-up runs typed-input models at every batch size the gears use', async (t) => {
  const options = cascade([meanpool, paddedMean], 4);
  const engine = await CascadeEngine.create(options);
  t.teardown(() => engine.close());
  const runs = await warmUp(engine, options, [options.gear]);
  t.same(runs.map((r) => `${r.model}@${r.batch}`), ['meanpool@1', 'meanpool@4', 'padded_mean@1', 'padded_mean@4']);
  const queues = engine.stats().queues;
  t.same(queues.map((q) => q.items), [5, 5], 'each model ran 1 + 4 items');
  t.same(queues.map((q) => q.itemPositions), [5 * 32, 5 * 32], 'at the warm-up length');
});

t.test('FP16 input and output without a dynamic axis: the engine feeds half bits and returns floats', async (t) => {
  // identity_float16.onnx: x FP16 [N, 3] -> y FP16 [N, 3] (test/fixtures/make_fixtures.py).
  const model: EngineModel = { name: 'id16', path: fixture('identity_float16.onnx'), inputs: [{ name: 'x', datatype: 'FP16', itemDims: [3] }], output: 'y', classes: 3, outputKind: 'probabilities' };
  const engine = await CascadeEngine.create({ models: [model], gear: { id: 1, stages: [{ model: 'id16', threshold: 0, maxBatch: 4, maxQueueDelayUs: 1000 }] } });
  t.teardown(() => engine.close());
  t.equal(engine.itemElems, 0, 'not the single-FP32 form');
  // Halves chosen exactly: 0.25, 0.5, 0.125, 1, 0.0625, subnormal 2^-24, ...
  const bits = new Uint16Array([0x3400, 0x3800, 0x3000, 0x3c00, 0x2c00, 0x0001, 0x3555, 0x3a00, 0x0000]);
  const results = await Promise.all(engine.submitTensors({ count: 3, tensors: { x: bits } }, { wantOutput: true }));
  results.forEach((r, i) => {
    t.equal(r.status, 'ok');
    t.same(Array.from(r.output ?? []), Array.from(bits.subarray(i * 3, i * 3 + 3), halfToFloat), `item ${i}: the half values as floats`);
  });
  t.throws(() => engine.submitTensors({ count: 1, length: 3, tensors: { x: bits.subarray(0, 3) } }), { message: /^items\.length must be absent/ });
});

t.test('an item too long for a model fails alone: the shorter items of its batch are run again at their own lengths', async (t) => {
  // tokens_positional.onnx has a position table of 8 rows: ONNX Runtime fails any run longer
  // than 8, so a batch padded to a 12-long item fails as a whole.
  const positional: EngineModel = { name: 'positional', path: fixture('tokens_positional.onnx'), inputs: tokenInputs, output: 'logits', classes: kClasses };
  const items = makeItems(16, 12, 11);
  for (let i = 0; i < items.count; i++) items.lengths[i] = Math.min(items.lengths[i], 8);
  items.lengths[5] = 12;
  for (let p = 0; p < 12; p++) {
    items.ids[5 * 12 + p] = BigInt(1 + p);
    items.mask[5 * 12 + p] = 1n;
  }
  for (let i = 0; i < items.count; i++) {
    for (let p = items.lengths[i]; p < 12; p++) items.mask[i * 12 + p] = 0n;
  }
  // the reference of the long item (not compared) is taken on its first 8 positions
  const ref = await referenceLogits(positional.path, { ...items, lengths: Int32Array.from(items.lengths, (n) => Math.min(n, 8)) });
  const engine = await CascadeEngine.create({ models: [positional], gear: { id: 1, stages: [{ model: 'positional', threshold: 0, maxBatch: 16, maxQueueDelayUs: 2000 }] } });
  t.teardown(() => engine.close());
  const results = await submitAll(engine, items, 1);
  t.equal(engine.stats().queues[0].batches, 1, 'all 16 items went in one batch');
  const long = results[5];
  t.equal(long.status, 'error', 'the 12-long item fails');
  t.match(long.error, /Non-zero status code returned while running/, "with ONNX Runtime's message");
  let worst = 0;
  for (let i = 0; i < items.count; i++) {
    if (i === 5) continue;
    t.equal(results[i].status, 'ok', `item ${i} (length ${items.lengths[i]}) is answered`);
    const output = results[i].output;
    if (output) worst = Math.max(worst, maxDiff(probs(output), probs(ref[i])));
  }
  t.ok(worst <= 1e-4, `every other answer equals onnxruntime-node on the unpadded item (worst ${worst.toExponential(2)})`);
});
