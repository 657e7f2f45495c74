// `cascadeserve profile` on a version-2 cascade (the token fixture: INT64 input_ids and
// attention_mask with a dynamic sequence axis): every stored answer against onnxruntime-node
// run on the unpadded item, the lengths against the mask, the length buckets against the
// quantiles and shares computed here, the top-level times against the mix; then a plan on it.
import t from 'tap';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { runInitCommand } from '../ts/cli/init-command.js';
import { runProfileCommand } from '../ts/cli/profile-command.js';
import { runPlanCommand } from '../ts/cli/plan-command.js';
import { loadManifest } from '../ts/contracts/manifest.js';
import { readNpy } from '../ts/contracts/npy.js';
import { splitIndices } from '../ts/contracts/items.js';
import { validatePlan } from '../ts/contracts/plan-schema.js';
import { validateProfile } from '../ts/contracts/profile-schema.js';
import { packageRoot } from '../ts/contracts/package-root.js';
import { fixture } from '../testkit/paths.js';
import { halfToFloat } from '../testkit/half.js';
import { tokenItem, writeTokenFolder } from '../testkit/token-folder.js';

const capture = () => {
  const o = { out: '', err: '' };
  return { o, io: { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } } };
};

/** Certainties of a probability row, written out here (not the engine's code). */
function certainties(p: number[]): { pred: number; max_prob: number; margin: number; entropy: number } {
  let top = 0;
  for (let j = 1; j < p.length; j++) if (p[j] > p[top]) top = j;
  let second = -Infinity;
  let h = 0;
  p.forEach((x, j) => {
    if (j !== top) second = Math.max(second, x);
    if (x > 0) h -= x * Math.log(x);
  });
  return { pred: top, max_prob: p[top], margin: p[top] - second, entropy: 1 - h / Math.log(p.length) };
}

t.test('profile a token cascade: answers, lengths, buckets, mix; then plan it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-profile-items-'));
  cpSync(join(packageRoot(), 'test', 'fixtures', 'token-cascade'), dir, { recursive: true });
  let r = capture();
  t.equal(await runInitCommand([dir], r.io), 0, 'init');
  r = capture();
  const profilePath = join(dir, 'profile.json');
  t.equal(await runProfileCommand([join(dir, 'cascade.json'), '--out', profilePath, '--reps', '5', '--warmup', '1', '--max-batch', '16'], r.io), 0, `profile (${r.o.err.split('\n').filter(Boolean).pop() ?? ''})`);
  t.match(r.o.out, /600 validation \+ 600 held-out items/);
  const profile = validateProfile(JSON.parse(readFileSync(profilePath, 'utf8')));
  const manifest = await loadManifest(join(dir, 'cascade.json'));

  // the validation half and its lengths, from the .npy files and the split rule
  const ids = readNpy(join(dir, 'data', 'input_ids.npy'));
  const mask = readNpy(join(dir, 'data', 'attention_mask.npy'));
  const labels = readNpy(join(dir, 'data', 'labels.npy'));
  const [count, padded] = ids.shape;
  const { validation } = splitIndices(count, manifest.data.npy!.split.seed, manifest.data.npy!.split.validationFraction);
  const maskData = mask.data as BigInt64Array;
  const lengths = Array.from(validation, (i) => {
    let n = 0;
    while (n < padded && maskData[i * padded + n] === 1n) n++;
    return n;
  });
  t.same(profile.lengths, lengths, 'lengths: the leading ones of each validation item\'s mask');
  t.same(profile.labels, Array.from(validation, (i) => Number((labels.data as BigInt64Array | Int32Array)[i])), 'labels of the validation half');

  // buckets: quantile edges, shares, the mix at the top level
  const sorted = [...lengths].sort((a, b) => a - b);
  const q = (x: number) => sorted[Math.min(sorted.length - 1, Math.ceil(x * sorted.length) - 1)];
  const edges = [...new Set([0.25, 0.5, 0.75, 1].map(q))];
  for (const m of profile.models) {
    const timing = m.timings[0];
    const buckets = timing.lengthBuckets!;
    t.same(buckets.map((k) => k.length), edges, `${m.name}: bucket edges at the quartiles of the lengths`);
    t.same(buckets.map((k) => k.share), edges.map((e, j) => lengths.filter((len) => len <= e && (j === 0 || len > edges[j - 1])).length / lengths.length), `${m.name}: shares`);
    t.same(timing.batchTimesUs.map((r) => r.batch), [1, 2, 4, 8, 16]);
    // top-level: expected time at the longest of b draws (enumerated for b <= 4, the step rule's own sizes)
    for (const [i, row] of timing.batchTimesUs.entries()) {
      if (row.batch > 4) continue;
      let expect = 0;
      const walk = (d: number, p: number, top: number) => {
        if (d === row.batch) return void (expect += p * buckets[top].batchTimesUs[i].p50);
        buckets.forEach((k, j) => walk(d + 1, p * k.share, Math.max(top, j)));
      };
      walk(0, 1, 0);
      t.ok(Math.abs(row.p50 - expect) < 1e-6 * expect || row.p50 > expect, `${m.name} b${row.batch}: ${row.p50.toFixed(2)} µs, the mix ${expect.toFixed(2)} (or raised to stay monotone)`);
    }
  }

  // every answer equals onnxruntime-node on the unpadded item
  const idsData = ids.data as BigInt64Array;
  for (const [mi, mm] of manifest.models.entries()) {
    const pm = profile.models[mi];
    t.equal(pm.name, mm.name);
    const sess = await ort.InferenceSession.create(mm.file, { intraOpNumThreads: 1 });
    let worst = 0;
    let mismatched = 0;
    for (const [k, i] of validation.entries()) {
      const len = lengths[k];
      const feeds = {
        input_ids: new ort.Tensor('int64', idsData.slice(i * padded, i * padded + len), [1, len]),
        attention_mask: new ort.Tensor('int64', maskData.slice(i * padded, i * padded + len), [1, len]),
      };
      const row = Array.from((await sess.run(feeds))[mm.output].data as Float32Array);
      let probs = row;
      if (mm.outputKind === 'logits') {
        const mx = Math.max(...row);
        const e = row.map((x) => Math.exp(x - mx));
        const z = e.reduce((a, b) => a + b, 0);
        probs = e.map((x) => x / z);
      }
      const c = certainties(probs);
      if (c.margin > 1e-4 && c.pred !== pm.validation.predictions[k]) mismatched++; // a near tie may flip
      for (const mu of ['max_prob', 'margin', 'entropy'] as const) worst = Math.max(worst, Math.abs(c[mu] - pm.validation.certainty[mu][k]));
    }
    await sess.release();
    t.equal(mismatched, 0, `${mm.name}: every predicted class as onnxruntime-node's on the unpadded item`);
    t.ok(worst < 1e-4, `${mm.name}: certainties within 1e-4 of onnxruntime-node's (worst ${worst.toExponential(2)})`);
  }

  // --timing isolated is version 1's: a usage error naming the flag, nothing written
  r = capture();
  t.equal(await runProfileCommand([join(dir, 'cascade.json'), '--out', join(dir, 'other.json'), '--timing', 'isolated'], r.io), 2);
  t.match(r.o.err, /--timing isolated: a version-2 manifest's models are timed in rotation only/);
  t.notOk(existsSync(join(dir, 'other.json')), 'nothing written');

  // the plan uses them (cost by length): valid, and it serves some load
  r = capture();
  const planPath = join(dir, 'plan.json');
  // 2000 qps: far below the cheapest model's capacity (tens of µs per item), so every level is served
  const code = await runPlanCommand(['--profile', profilePath, '--slo-p95-ms', '20', '--lanes', '1', '--threads', '1', '--max-qps', '2000', '--out', planPath], r.io);
  t.equal(code, 0, `plan written, every level served ${r.o.err.split('\n').slice(-3).join(' ')}`);
  const plan = validatePlan(JSON.parse(readFileSync(planPath, 'utf8')));
  t.ok(plan.gears.length >= 1, `${plan.gears.length} gear(s)`);
});

t.test('a model that batches only equal lengths: answers per item, without waiting out a queue delay', async (t) => {
  // tokens_padded_mean_fp16.onnx averages over the padded length (padInvariant false), so the
  // engine runs each length of a slice as its own batch. The accuracy pass used a 10 s queue
  // delay, which every length group of such a model waited out (322 s for 2,000 items); the
  // bound below is far above a normal run (about a second) and far below one such wait.
  const dir = join(mkdtempSync(join(tmpdir(), 'cs-profile-equal-')), 'equal');
  writeTokenFolder(dir, { models: { meanpool: 'tokens_meanpool.onnx', padded: 'tokens_padded_mean_fp16.onnx' }, items: 60, padded: 6 });
  let r = capture();
  t.equal(await runInitCommand([dir], r.io), 0, r.o.err);
  const manifest = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  t.equal(manifest.models.find((m: { name: string }) => m.name === 'padded').padInvariant, false, 'init records it as not pad-invariant');
  r = capture();
  const t0 = Date.now();
  t.equal(await runProfileCommand([join(dir, 'cascade.json'), '--out', join(dir, 'profile.json'), '--max-batch', '8', '--reps', '3', '--warmup', '1'], r.io), 0, r.o.err);
  const seconds = (Date.now() - t0) / 1000;
  t.ok(seconds < 10, `profile took ${seconds.toFixed(1)} s, less than one 10 s queue delay`);
  const profile = validateProfile(JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')));
  const model = profile.models.find((m) => m.name === 'padded')!;
  const session = await ort.InferenceSession.create(fixture('tokens_padded_mean_fp16.onnx'));
  t.teardown(() => session.release());
  const parts = splitIndices(60, manifest.data.split.seed, manifest.data.split.validationFraction);
  let wrong = 0;
  for (const [k, i] of Array.from(parts.validation).entries()) {
    const length = 1 + (i % 6);
    const item = tokenItem(i, length);
    const out = await session.run({ input_ids: new ort.Tensor('int64', item.ids, [1, length]), attention_mask: new ort.Tensor('int64', item.mask, [1, length]) });
    const logits = Array.from(out.logits.data as Uint16Array, halfToFloat);
    let top = 0;
    for (let c = 1; c < logits.length; c++) if (logits[c] > logits[top]) top = c;
    if (model.validation.predictions[k] !== top) wrong++;
  }
  t.equal(wrong, 0, 'every stored prediction is onnxruntime-node\'s on the unpadded item');
});
