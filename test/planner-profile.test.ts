// The profiler through the native engine on the fixture models: schema, timings, certainties
// equal to the engine's and to the independent oracle's, JSON round trip, and the `profile` / `plan` commands end to end
// (including a profile whose model file no longer matches).
import t from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { columnsOf } from '../planner/cascade-eval.js';
import { runPlanCommand } from '../ts/cli/plan-command.js';
import { runProfileCommand } from '../ts/cli/profile-command.js';
import { floor32, profileModels, profileToJson, storedCertainty } from '../ts/tools/profiler.js';
import { kCertaintyMeasures, validateProfile } from '../ts/contracts/profile-schema.js';
import { CascadeEngine } from '../ts/engine/engine.js';
import { datasetBytes, fixtureModelSpecs, syntheticDataset } from './planner-fixture.js';
import { certaintyOf, runWithOrtNode } from './helpers/cascade-oracle.js';

const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, out, err };
};

t.test('floor32 rounds down to float32', async (t) => {
  for (const x of [0.1, 0.3, 1 / 3, 0.999999999, 1e-30, 0.5, 1]) {
    const f = floor32(x);
    t.equal(Math.fround(f), f, `${x}: a float32 value`);
    t.ok(f <= x, `${x}: not above`);
    const up = new Float32Array([f]);
    new Uint32Array(up.buffer)[0] += 1;
    t.ok(up[0] > x, `${x}: the next float32 is above`);
  }
  t.equal(storedCertainty(-1e-17), 0);
  t.equal(storedCertainty(NaN), 0);
});

t.test('profileModels: timings and answers through the engine', async (t) => {
  const models = fixtureModelSpecs();
  const validation = syntheticDataset(700, 3);
  const heldout = syntheticDataset(300, 4);
  const phases = new Set<string>();
  const profile = await profileModels({ models, validation, heldout, manifest: { path: 'cascade.json', name: 'fixture' }, maxBatch: 8, reps: 5, warmup: 1, dataBatch: 32, onProgress: (p) => phases.add(p.split(' ')[0]) });
  t.same([...phases].sort(), ['answers', 'done', 'held-out', 'timing'], 'progress reported per phase');
  t.equal(profile.models.length, 2);
  for (const m of profile.models) {
    t.same(m.timings[0].batchTimesUs.map((r) => r.batch), [1, 2, 4, 8], `${m.name}: batch sizes 1..8`);
    t.ok(m.timings[0].batchTimesUs.every((r) => r.p50 >= 1 && r.p95 >= r.p50 && r.reps === 5), `${m.name}: p50 <= p95, 5 reps`);
    t.match(m.sha256, /^[0-9a-f]{64}$/);
    t.ok(m.memoryBytes >= 2 * readFileSync(models.find((x) => x.name === m.name)!.path).length, `${m.name}: memory >= 2x file size`);
    t.equal(m.heldout?.count, 300);
    for (const mu of kCertaintyMeasures) t.ok(m.validation.certainty[mu].every((c) => c >= 0 && c <= 1 && Math.fround(c) === c), `${m.name} ${mu}: float32 values in [0, 1]`);
  }
  t.equal(profile.heldoutLabels?.length, 300);

  // The stored certainty is the engine's: for each measure, run the engine with that measure
  // and compare its certainty (float) and, at a threshold equal to a stored value, its exits.
  const engine = await CascadeEngine.create({
    models: models.map((m) => ({ name: m.name, path: m.path, input: m.input, output: m.output, itemDims: m.itemDims, classes: m.classes })),
    maxQueueSizePerStage: 4096,
    gear: { id: 1, stages: [{ model: 'mlp_small', threshold: 0, maxBatch: 16 }] },
  });
  const x = validation.toFloat32();
  for (const [mi, m] of profile.models.entries()) {
    for (const mu of kCertaintyMeasures) {
      const stored = m.validation.certainty[mu];
      const thr = [...stored].sort((a, b) => a - b)[350];
      const other = profile.models[1 - mi].name;
      engine.setGear({ id: 2, stages: [{ model: m.name, threshold: thr, measure: mu, maxBatch: 16, maxQueueDelayUs: 100 }, { model: other, threshold: 0, maxBatch: 16, maxQueueDelayUs: 100 }] });
      const res = await Promise.all(engine.submit(x));
      let maxDiff = 0;
      let exitMismatch = 0;
      let classMismatch = 0;
      res.forEach((r, i) => {
        if ((r.exitStage === 0) !== (stored[i] >= thr)) exitMismatch++;
        if (r.exitStage === 0) {
          maxDiff = Math.max(maxDiff, Math.abs(r.certainty - stored[i]));
          if (r.predictedClass !== m.validation.predictions[i]) classMismatch++;
        }
      });
      t.equal(exitMismatch, 0, `${m.name} ${mu}: exits at a stored threshold equal the cached decision`);
      t.equal(classMismatch, 0, `${m.name} ${mu}: classes equal`);
      t.ok(maxDiff <= 1.2e-7, `${m.name} ${mu}: certainty within a float ulp of the engine's (${maxDiff})`);
    }
  }
  await engine.close();

  // Independently of the engine: each stored value is the oracle's certainty (float64 from
  // onnxruntime-node's output row, test/helpers/cascade-oracle.ts) rounded down to float32.
  for (const m of profile.models) {
    const spec = models.find((s) => s.name === m.name)!;
    const rows = await runWithOrtNode(spec, x, validation.count);
    for (const mu of kCertaintyMeasures) {
      let worst = 0;
      let above = 0;
      let classMismatch = 0;
      for (let i = 0; i < validation.count; i++) {
        const want = certaintyOf(rows.subarray(i * spec.classes, (i + 1) * spec.classes), mu, spec.outputKind);
        const stored = m.validation.certainty[mu][i];
        worst = Math.max(worst, Math.abs(stored - want.certainty));
        if (stored > want.certainty + 1e-9) above++;
        if (want.cls !== m.validation.predictions[i]) classMismatch++;
      }
      t.ok(worst < 1.2e-7, `${m.name} ${mu}: stored certainties within a float32 step of the oracle's (max diff ${worst.toExponential(2)})`);
      t.equal(above, 0, `${m.name} ${mu}: stored values are rounded down`);
      t.equal(classMismatch, 0, `${m.name} ${mu}: predictions equal the oracle's`);
    }
  }

  // JSON round trip keeps the float32 values exactly
  const back = validateProfile(JSON.parse(profileToJson(profile)));
  const a = columnsOf(profile);
  const b = columnsOf(back);
  for (const mu of kCertaintyMeasures) t.same(Array.from(b.certainty[mu][0]), Array.from(a.certainty[mu][0]), `${mu}: same columns after JSON`);
  const hb = columnsOf(back, back.lanes[0], 'heldout');
  t.equal(hb.n, 300, 'held-out columns');
});

t.test('profile and plan commands: end to end, and a profile that no longer matches its files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-profile-'));
  for (const m of fixtureModelSpecs()) copyFileSync(m.path, join(dir, m.file));
  writeFileSync(join(dir, 'validation.bin'), datasetBytes(syntheticDataset(400, 5)));
  writeFileSync(join(dir, 'heldout.bin'), datasetBytes(syntheticDataset(200, 6)));
  const manifest = {
    name: 'fixture', version: 1, description: 'fixture models',
    input: { name: 'x', shape: [16], datatype: 'FP32', preprocessing: 'pixel/255' },
    output: { name: 'y', kind: 'logits', classes: 4 },
    classNames: ['a', 'b', 'c', 'd'],
    data: { validation: 'validation.bin', heldout: 'heldout.bin' },
    models: [{ name: 'mlp_small', file: 'mlp_small.onnx', params: 100, mflopsPerImage: 0.01 }, { name: 'gather_mlp', file: 'gather_mlp.onnx', params: 200, mflopsPerImage: 0.02 }],
  };
  writeFileSync(join(dir, 'cascade.json'), JSON.stringify(manifest));
  const p = io();
  const code = await runProfileCommand([join(dir, 'cascade.json'), '--out', join(dir, 'profile.json'), '--max-batch', '4', '--reps', '3', '--warmup', '1'], p.io);
  t.equal(code, 0, p.err.join(''));
  t.match(p.out.join(''), /wrote .*profile\.json: 2 model\(s\), 400 validation \+ 200 held-out images/);
  t.match(p.err.join(''), /^\d+% timing \(models in rotation\)\n/m, 'plain progress lines without a TTY');
  const iso = io();
  t.equal(await runProfileCommand([join(dir, 'cascade.json'), '--out', join(dir, 'profile-isolated.json'), '--max-batch', '2', '--reps', '2', '--warmup', '1', '--timing', 'isolated'], iso.io), 0, iso.err.join(''));
  t.match(iso.err.join(''), /^\d+% timing mlp_small\n/m, '--timing isolated: each model timed on its own');
  validateProfile(JSON.parse(readFileSync(join(dir, 'profile-isolated.json'), 'utf8')));
  const bad = io();
  t.equal(await runProfileCommand([join(dir, 'cascade.json'), '--timing', 'sometimes'], bad.io), 2, 'usage error');
  t.match(bad.err.join(''), /--timing must be one of rotation, isolated, got 'sometimes'/);
  const profile = validateProfile(JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')));
  t.equal(profile.manifest.path, 'cascade.json', 'manifest path relative to the profile');
  t.same(profile.models.map((m) => m.file), ['mlp_small.onnx', 'gather_mlp.onnx']);

  const q = io();
  const planCode = await runPlanCommand(['--profile', join(dir, 'profile.json'), '--slo-p95-ms', '20', '--lanes', '2', '--threads', '1', '--out', join(dir, 'plan.json')], q.io);
  t.ok(planCode === 0 || planCode === 3, `plan written (${planCode}) ${q.err.join('')}`);
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
  t.equal(plan.manifest.path, 'cascade.json');
  t.ok(plan.gears.length >= 1 && plan.gears.every((g: { heldoutAccuracy?: number }) => typeof g.heldoutAccuracy === 'number'), 'every gear has a held-out accuracy');

  // a model file changed after profiling
  const bytes = readFileSync(join(dir, 'gather_mlp.onnx'));
  writeFileSync(join(dir, 'gather_mlp.onnx'), Buffer.concat([bytes, Buffer.from([0])]));
  const r = io();
  t.equal(await runPlanCommand(['--profile', join(dir, 'profile.json'), '--slo-p95-ms', '20', '--lanes', '2', '--threads', '1', '--out', join(dir, 'plan2.json')], r.io), 1);
  t.match(r.err.join(''), /model "gather_mlp": file .*gather_mlp\.onnx has sha256 [0-9a-f]{64}, the profile was measured on [0-9a-f]{64}/);

  const u = io();
  t.equal(await runProfileCommand([], u.io), 2, 'usage error');
  t.match(u.err.join(''), /expected manifest\.json, got nothing/);
});
