// Models that take different subsets of the items' inputs (tokens_meanpool.onnx: input_ids and
// attention_mask; tokens_typed.onnx: those and token_type_ids), as a cascade of a DistilBERT-like
// model before a BERT-like one would: the engine feeds each model its own inputs (options.inputs,
// models[].inputs), and a folder goes through init, profile, plan and the server, every answer
// compared with onnxruntime-node on the unpadded item by the model the response names. Until
// 2026-12-05 init wrote such a manifest but profile (and the engine) refused it.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CascadeEngine, type EngineInput, type EngineModel } from '../ts/index.js';
import { runInitCommand } from '../ts/cli/init-command.js';
import { runPlanCommand } from '../ts/cli/plan-command.js';
import { runProfileCommand } from '../ts/cli/profile-command.js';
import { createServer } from '../ts/server/server.js';
import { fixture } from '../testkit/paths.js';
import { maxDiff, softmax } from '../testkit/softmax.js';
import { tokenFixtureConstant, tokenItem, writeTokenFolder } from '../testkit/token-folder.js';
import { postJson } from '../testkit/server-fixture.js';

const kClasses = tokenFixtureConstant('CLASSES');
const ids: EngineInput = { name: 'input_ids', datatype: 'INT64', itemDims: [-1], padValue: 0 };
const mask: EngineInput = { name: 'attention_mask', datatype: 'INT64', itemDims: [-1], padValue: 0 };
const types: EngineInput = { name: 'token_type_ids', datatype: 'INT64', itemDims: [-1], padValue: 0 };
const meanpool: EngineModel = { name: 'meanpool', path: fixture('tokens_meanpool.onnx'), inputs: [ids, mask], output: 'logits', classes: kClasses };
const typed: EngineModel = { name: 'typed', path: fixture('tokens_typed.onnx'), inputs: [ids, mask, types], output: 'logits', classes: kClasses };


/** onnxruntime-node on item i alone at `length`, with the model's own inputs: probabilities. */
async function reference(session: ort.InferenceSession, i: number, length: number, withTypes: boolean): Promise<number[]> {
  const item = tokenItem(i, length);
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', item.ids, [1, length]), attention_mask: new ort.Tensor('int64', item.mask, [1, length]) };
  if (withTypes) feeds.token_type_ids = new ort.Tensor('int64', item.types, [1, length]);
  return softmax((await session.run(feeds)).logits.data as Float32Array);
}

t.test('engine: each model takes its own inputs of the items', async (t) => {
  const sessions = { meanpool: await ort.InferenceSession.create(meanpool.path), typed: await ort.InferenceSession.create(typed.path) };
  t.teardown(async () => {
    for (const s of Object.values(sessions)) await s.release();
  });
  // Every item through both models: the first stage never exits (threshold above 1).
  const engine = await CascadeEngine.create({
    inputs: [ids, mask, types],
    models: [meanpool, typed],
    gear: { id: 1, stages: [{ model: 'meanpool', threshold: 2, maxBatch: 8, maxQueueDelayUs: 2000 }, { model: 'typed', threshold: 0, maxBatch: 8, maxQueueDelayUs: 2000 }] },
  });
  t.teardown(() => engine.close());
  t.same(engine.inputs.map((x) => x.name), ['input_ids', 'attention_mask', 'token_type_ids']);
  const count = 12;
  const length = 6;
  const lengths = Int32Array.from({ length: count }, (_, i) => 1 + (i % length));
  const tensors = { input_ids: new BigInt64Array(count * length), attention_mask: new BigInt64Array(count * length), token_type_ids: new BigInt64Array(count * length) };
  for (let i = 0; i < count; i++) {
    const item = tokenItem(i, lengths[i]);
    tensors.input_ids.set(item.ids, i * length);
    tensors.attention_mask.set(item.mask, i * length);
    tensors.token_type_ids.set(item.types, i * length);
  }
  engine.pause();
  const promises = engine.submitTensors({ count, length, lengths, tensors }, { wantOutput: true });
  engine.resume();
  const results = await Promise.all(promises);
  let worst = 0;
  for (let i = 0; i < count; i++) {
    t.equal(results[i].model, 'typed', `item ${i} answered by the second stage`);
    worst = Math.max(worst, maxDiff(softmax(results[i].output!), await reference(sessions.typed, i, lengths[i], true)));
  }
  t.ok(worst <= 1e-4, `the three-input model's answers equal onnxruntime-node's (worst ${worst.toExponential(2)})`);
  // and the segment ids reached it: without them its answers differ
  const blind = await reference(sessions.typed, 11, lengths[11], true);
  const item = tokenItem(11, lengths[11]);
  const zeros = softmax((await sessions.typed.run({ input_ids: new ort.Tensor('int64', item.ids, [1, lengths[11]]), attention_mask: new ort.Tensor('int64', item.mask, [1, lengths[11]]), token_type_ids: new ort.Tensor('int64', new BigInt64Array(lengths[11]), [1, lengths[11]]) })).logits.data as Float32Array);
  t.ok(maxDiff(blind, zeros) > 1e-3, 'token_type_ids change the answer (the test can fail)');
});

t.test('engine options: a model input that is not one of options.inputs is named', async (t) => {
  const gear = { id: 1, stages: [{ model: 'typed', threshold: 0, maxBatch: 8 }] };
  await t.rejects(CascadeEngine.create({ inputs: [ids, mask], models: [typed], gear }), { message: /options\.models\[0\]\.inputs\[2\]\.name 'token_type_ids' is not one of options\.inputs \(input_ids, attention_mask\)/ });
  await t.rejects(CascadeEngine.create({ inputs: [ids, mask, { ...types, datatype: 'INT32' }], models: [typed], gear }), { message: /options\.models\[0\]\.inputs\[2\]\.datatype is INT64 but options\.inputs\[2\] is INT32/ });
  await t.rejects(CascadeEngine.create({ inputs: [ids, mask, { ...types, padValue: 1 }], models: [typed], gear }), { message: /options\.models\[0\]\.inputs\[2\]\.padValue is 0 but options\.inputs\[2\] pads with 1/ });
});

t.test('init -> profile -> plan -> serve with models on different inputs answers as onnxruntime-node', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'cs-subsets-')), 'segments');
  t.teardown(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
  writeTokenFolder(dir, { models: { meanpool: 'tokens_meanpool.onnx', typed: 'tokens_typed.onnx' }, items: 60, padded: 6, types: true });
  const io = () => {
    const o = { out: '', err: '' };
    return { o, io: { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } } };
  };
  let r = io();
  t.equal(await runInitCommand([dir], r.io), 0, r.o.err);
  const manifest = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  t.same(manifest.inputs.map((x: { name: string }) => x.name), ['input_ids', 'attention_mask', 'token_type_ids']);
  t.same(manifest.models.find((m: { name: string }) => m.name === 'meanpool').inputs, ['input_ids', 'attention_mask'], 'the two-input model lists its inputs');
  r = io();
  t.equal(await runProfileCommand([join(dir, 'cascade.json'), '--out', join(dir, 'profile.json'), '--max-batch', '8', '--reps', '3', '--warmup', '1'], r.io), 0, r.o.err);
  r = io();
  t.equal(await runPlanCommand(['--profile', join(dir, 'profile.json'), '--slo-p95-ms', '50', '--lanes', '1', '--threads', '1', '--max-qps', '2000', '--out', join(dir, 'plan.json')], r.io), 0, r.o.err);

  const server = await createServer({ plan: join(dir, 'plan.json'), port: 0, host: '127.0.0.1' });
  t.teardown(() => server.close());
  const url = await server.listen();
  const sessions = { meanpool: await ort.InferenceSession.create(meanpool.path), typed: await ort.InferenceSession.create(typed.path) };
  t.teardown(async () => {
    for (const s of Object.values(sessions)) await s.release();
  });
  const body = (i: number, length: number) => {
    const item = tokenItem(i, length);
    return { inputs: [
      { name: 'input_ids', shape: [1, length], datatype: 'INT64', data: Array.from(item.ids, Number) },
      { name: 'attention_mask', shape: [1, length], datatype: 'INT64', data: Array.from(item.mask, Number) },
      { name: 'token_type_ids', shape: [1, length], datatype: 'INT64', data: Array.from(item.types, Number) },
    ] };
  };
  for (const endpoint of ['segments', 'segments.meanpool', 'segments.typed']) {
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => postJson(`${url}/v2/models/${endpoint}/infer`, body(i, 1 + (i % 6)))));
    let worst = 0;
    const by = new Map<string, number>();
    for (const [i, a] of answers.entries()) {
      t.equal(a.status, 200, `${endpoint} item ${i}: ${JSON.stringify(a.json).slice(0, 200)}`);
      const out = a.json.outputs[0];
      const model = out.parameters.model as 'meanpool' | 'typed';
      by.set(model, (by.get(model) ?? 0) + 1);
      worst = Math.max(worst, maxDiff(out.data, await reference(sessions[model], i, 1 + (i % 6), model === 'typed')));
    }
    t.ok(worst <= 1e-4, `${endpoint}: every answer equals onnxruntime-node on the model that answered (${[...by].map(([m, n]) => `${m} ${n}`).join(', ')}; worst ${worst.toExponential(2)})`);
  }
  const missing = await postJson(`${url}/v2/models/segments/infer`, { inputs: body(0, 3).inputs.slice(0, 2) });
  t.equal(missing.status, 400);
  t.match(missing.json.error, /^inputs: missing input 'token_type_ids'/, 'a request to the cascade carries every input of the folder');

  // A member alone needs only the inputs its model reads: meanpool without token_type_ids.
  const metaOf = async (name: string) => ((await (await fetch(`${url}/v2/models/${name}`)).json()) as { inputs: { name: string }[] }).inputs.map((x) => x.name);
  t.same(await metaOf('segments.meanpool'), ['input_ids', 'attention_mask'], 'the member meanpool lists the inputs it reads');
  t.same(await metaOf('segments.typed'), ['input_ids', 'attention_mask', 'token_type_ids'], 'the member typed lists all three');
  t.same(await metaOf('segments'), ['input_ids', 'attention_mask', 'token_type_ids'], 'the cascade lists all three');
  let worstAlone = 0;
  for (let i = 0; i < 12; i++) {
    const length = 1 + (i % 6);
    const a = await postJson(`${url}/v2/models/segments.meanpool/infer`, { inputs: body(i, length).inputs.slice(0, 2) });
    t.equal(a.status, 200, `meanpool without token_type_ids, item ${i}: ${JSON.stringify(a.json).slice(0, 200)}`);
    worstAlone = Math.max(worstAlone, maxDiff(a.json.outputs[0].data, await reference(sessions.meanpool, i, length, false)));
  }
  t.ok(worstAlone <= 1e-4, `meanpool alone, its two inputs only: equals onnxruntime-node (worst ${worstAlone.toExponential(2)})`);
  const noMask = await postJson(`${url}/v2/models/segments.meanpool/infer`, { inputs: [body(0, 3).inputs[0]] });
  t.equal(noMask.status, 400);
  t.match(noMask.json.error, /^inputs: missing input 'attention_mask'; this model takes input_ids, attention_mask$/, 'an input it reads is still required, and the message lists only those');
  const typedMissing = await postJson(`${url}/v2/models/segments.typed/infer`, { inputs: body(0, 3).inputs.slice(0, 2) });
  t.match(typedMissing.json.error, /^inputs: missing input 'token_type_ids'/, 'typed reads token_type_ids: required');
  const badExtra = await postJson(`${url}/v2/models/segments.meanpool/infer`, { inputs: [...body(0, 3).inputs.slice(0, 2), { name: 'token_type_ids', shape: [1, 3], datatype: 'INT32', data: [0, 0, 1] }] });
  t.match(badExtra.json.error, /^inputs\[2\]\.datatype: input 'token_type_ids' is INT64, got 'INT32'/, 'an input it does not read, when given, is checked like any other');
});
