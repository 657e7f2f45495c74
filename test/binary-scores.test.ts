// Binary classifiers that answer one score column ([batch, 1], a sigmoid head's logit or
// probability) served as two classes (#13): the fixture test/fixtures/binary-cascade mixes one
// logit column (weak), two logit columns (mid) and a sigmoid probability (strong). It goes
// through the commands a user runs (`init`, `profile`, `plan`, `serve --plan`) as processes;
// every answer must equal onnxruntime-node run here on the item by the model the response
// names, widened here to [1 - p, p] (p = sigmoid(z) for a logit): probabilities within 1e-4,
// the class their argmax, and the exit where the plan's thresholds put it. Each model is also
// asked alone (its member endpoint), so both one-column kinds answer whatever the plan chose.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import * as ort from 'onnxruntime-node';
import { fixture } from '../testkit/paths.js';
import { initProfilePlan, runCli, startServeProcess } from '../testkit/serve-process.js';
import { encodeNpy, readNpy } from '../ts/contracts/npy.js';
import { certaintyOf, exitMismatch, probabilitiesOf, type OutputKind, type PlanGearStages } from './helpers/cascade-oracle.js';

const kProbTolerance = 1e-4;
const kThresholdTolerance = 1e-5;


interface ManifestJson {
  name: string;
  models: { name: string; file: string; output: string; outputKind: OutputKind }[];
}
interface PlanJson {
  gears: PlanGearStages[];
}
interface InferResponse {
  outputs: { name: string; shape: number[]; data: (number | string)[]; parameters?: Record<string, number | string> }[];
  parameters?: Record<string, number | string>;
}

t.test('init -> profile -> plan -> serve on one-column binary classifiers answers as onnxruntime-node', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-binary-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(fixture('binary-cascade'), dir, { recursive: true });
  const failed = await initProfilePlan(dir);
  if (failed) {
    t.fail(failed);
    return;
  }
  const manifest = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8')) as ManifestJson;
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as PlanJson;
  const kinds = Object.fromEntries(manifest.models.map((m) => [m.name, m.outputKind]));
  t.same(kinds, { weak: 'binary_logit', mid: 'logits', strong: 'binary_probability' }, 'init read each output: one logit column, two logit columns, a sigmoid probability');

  const x = readNpy(join(dir, 'data', 'x.npy'));
  const [count, width] = x.shape;
  const values = x.data as Float32Array;
  const item = (i: number) => Array.from(values.subarray(i * width, (i + 1) * width));

  // The reference: each model's own output for the item, through onnxruntime-node.
  const sessions = new Map<string, ort.InferenceSession>();
  for (const m of manifest.models) sessions.set(m.name, await ort.InferenceSession.create(join(dir, m.file), { intraOpNumThreads: 1 }));
  t.teardown(async () => {
    for (const s of sessions.values()) await s.release();
  });
  const raw = async (i: number, model: string): Promise<number[]> => {
    const m = manifest.models.find((x) => x.name === model)!;
    const out = await sessions.get(model)!.run({ x: new ort.Tensor('float32', Float32Array.from(item(i)), [1, width]) });
    return Array.from(out[m.output].data as Float32Array);
  };
  const columns = await Promise.all(manifest.models.map(async (m) => [m.name, (await raw(0, m.name)).length] as const));
  t.same(Object.fromEntries(columns), { weak: 1, mid: 2, strong: 1 }, 'onnxruntime-node: weak and strong answer one column, mid two');

  const server = await startServeProcess(['--plan', join(dir, 'plan.json'), '--port', '0']);
  t.teardown(() => server.stop());
  const infer = `${server.url}/v2/models/${manifest.name}/infer`;
  const meta = await (await fetch(`${server.url}/v2/models/${manifest.name}`)).json();
  t.same(meta.outputs.find((o: { name: string }) => o.name === 'probabilities').shape, [-1, 2], 'metadata: probabilities of two classes');

  const send = async (i: number): Promise<InferResponse> => {
    const body = { parameters: { timeout: 60_000_000 }, outputs: [{ name: 'probabilities' }, { name: 'class' }], inputs: [{ name: 'x', shape: [1, width], datatype: 'FP32', data: item(i) }] };
    const res = await fetch(infer, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`item ${i}: ${res.status} ${text}`);
    return JSON.parse(text) as InferResponse;
  };
  // Every item, one request each, all at once: batches of several items form per stage.
  const answers = await Promise.all(Array.from({ length: count }, (_, i) => send(i)));
  let worst = 0;
  const wrong: string[] = [];
  const byModel = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const probs = answers[i].outputs.find((o) => o.name === 'probabilities')!;
    const cls = answers[i].outputs.find((o) => o.name === 'class')!.data[0] as number;
    const params = { ...answers[i].parameters, ...probs.parameters };
    const model = params.model as string;
    byModel.set(model, (byModel.get(model) ?? 0) + 1);
    const want = probabilitiesOf(await raw(i, model), kinds[model]);
    const got = probs.data as number[];
    if (got.length !== 2) wrong.push(`item ${i}: ${got.length} probabilities, want 2`);
    for (let c = 0; c < 2; c++) worst = Math.max(worst, Math.abs(got[c] - want[c]));
    if (Math.abs(want[0] - want[1]) > kThresholdTolerance && cls !== (want[1] > want[0] ? 1 : 0)) wrong.push(`item ${i}: class ${cls}, probabilities ${want}`);
    const exit = await exitMismatch(plan.gears, params.gear as number, params.exit_stage as number, model, async (m, mu) => certaintyOf(await raw(i, m), mu, kinds[m]).certainty, kThresholdTolerance);
    if (exit) wrong.push(`item ${i}: ${exit}`);
  }
  t.same(wrong, [], 'every item has the class of its probabilities and exits where the thresholds put it');
  t.ok(worst <= kProbTolerance, `probabilities within ${kProbTolerance} of onnxruntime-node's, widened to two classes (worst ${worst})`);
  t.comment(`${count} items; answered by ${[...byModel].map(([m, n]) => `${m} ${n}`).join(', ')}`);

  // Each model alone (its member endpoint), so that both one-column kinds answer whatever the
  // plan chose on this machine's timings.
  for (const m of manifest.models) {
    let worstAlone = 0;
    const bad: string[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async (_, k) => {
        const i = k * 6;
        const body = { outputs: [{ name: 'probabilities' }, { name: 'class' }], inputs: [{ name: 'x', shape: [1, width], datatype: 'FP32', data: item(i) }] };
        const res = await fetch(`${server.url}/v2/models/${manifest.name}.${m.name}/infer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
        const out = (await res.json()) as InferResponse;
        if (res.status !== 200) return void bad.push(`item ${i}: ${res.status} ${JSON.stringify(out)}`);
        const want = probabilitiesOf(await raw(i, m.name), m.outputKind);
        const got = out.outputs.find((o) => o.name === 'probabilities')!.data as number[];
        for (let c = 0; c < 2; c++) worstAlone = Math.max(worstAlone, Math.abs(got[c] - want[c]));
        const cls = out.outputs.find((o) => o.name === 'class')!.data[0] as number;
        if (Math.abs(want[0] - want[1]) > kThresholdTolerance && cls !== (want[1] > want[0] ? 1 : 0)) bad.push(`item ${i}: class ${cls}, probabilities ${want}`);
      }),
    );
    t.same(bad, [], `${m.name} alone (${m.outputKind}): every item answered with the class of its probabilities`);
    t.ok(worstAlone <= kProbTolerance, `${m.name} alone: probabilities within ${kProbTolerance} of onnxruntime-node's (worst ${worstAlone})`);
  }
});

t.test('a one-column model with labels of three classes is refused, naming the labels and the model', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-binary-3-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(fixture('binary-cascade'), dir, { recursive: true });
  const labels = readNpy(join(dir, 'data', 'labels.npy'));
  const three = BigInt64Array.from(labels.data as BigInt64Array, (v, i) => (i % 5 === 0 ? 2n : v));
  writeFileSync(join(dir, 'data', 'labels.npy'), encodeNpy({ descr: '<i8', shape: labels.shape, data: three }));
  const r = await runCli(['init', dir]);
  t.equal(r.code, 1, 'init exits 1');
  t.match(r.out, /labels\.npy: labels\[0\] = 2 is out of range: expected a class id from 0 to 1 \(2 classes\)/, 'names the labels file and the label');
  t.match(r.out, /strong\.onnx: one score column, a binary classifier/, 'says which model fixes two classes');
});
