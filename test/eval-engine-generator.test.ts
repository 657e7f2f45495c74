// The engine view's load generator (benchmarks/eval/replay.ts sendDueOnSchedule,
// engine-replay.ts): the items a timer tick finds due go to the engine in submits of at most 64,
// each item is sent once, in order, never before its time, and answered once; answering a
// clump of 100 items due at once in chunks gives the answers one item per tick gives, and the
// accuracy the planner measured for the plan's gear on the held-out half.
import t from 'tap';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { type Dataset, loadDataset } from '../ts/contracts/dataset.js';
import { loadManifest } from '../ts/contracts/manifest.js';
import { packageRoot } from '../ts/contracts/package-root.js';
import { loadServingPlan } from '../ts/server/plan-loader.js';
import type { Trace } from '../testkit/traces.js';

const root = packageRoot();
// The test layer does not compile against benchmarks/ (test/tsconfig.json): its built modules
// are loaded at run time, with the few types used here.
interface Recorded { ok: Uint8Array; gear: Int16Array; correct: Uint8Array; sendLagMs: Float64Array }
const { kEarlyMs, sendDueOnSchedule } = (await import(pathToFileURL(join(root, 'dist', 'benchmarks', 'eval', 'replay.js')).href)) as {
  kEarlyMs: number;
  sendDueOnSchedule: (sendMs: Float64Array, t0: number, sendDue: (from: number, to: number) => void) => Promise<void>;
};
const { startEngineSystem } = (await import(pathToFileURL(join(root, 'dist', 'benchmarks', 'eval', 'engine-replay.js')).href)) as {
  startEngineSystem: (planPath: string, heldout: Dataset) => Promise<{ replay: (trace: Trace) => Promise<{ record: Recorded }>; close: () => Promise<void> }>;
};

t.test('sendDueOnSchedule: every item once, in order, not before its time', async (t) => {
  const sendMs = Float64Array.from([0, 0, 0, 0, 12, 12, 30, 31, 31, 60]);
  const calls: { from: number; to: number; atMs: number }[] = [];
  const t0 = performance.now() + 5;
  await sendDueOnSchedule(sendMs, t0, (from, to) => calls.push({ from, to, atMs: performance.now() - t0 }));
  t.equal(calls[0].from, 0, 'starts at the first item');
  for (let k = 1; k < calls.length; k++) t.equal(calls[k].from, calls[k - 1].to, `call ${k} continues where the one before ended`);
  t.equal(calls[calls.length - 1].to, sendMs.length, 'ends at the last item');
  for (const c of calls) {
    t.ok(c.to > c.from, 'no empty call');
    t.ok(c.atMs >= sendMs[c.to - 1] - kEarlyMs - 0.05, `items [${c.from}, ${c.to}) due at ${sendMs[c.to - 1]} ms, sent at ${c.atMs.toFixed(2)} ms`);
  }
  t.ok(calls[0].to >= 4, 'the four items due at 0 ms go in the first call');
});

t.test('engine view: a clump answered in chunks as one item per tick answers it', async (t) => {
  const manifest = await loadManifest(join(root, 'models', 'fmnist', 'cascade.json'));
  const heldout = loadDataset(manifest.data.heldout);
  const planPath = join(root, 'benchmarks', 'results', 'eval-plans', 'engine-twitter-50ms-drop5-static.json');
  const plan = await loadServingPlan(planPath);
  const gear = plan.gears[0];
  const n = 700;
  const image = Uint32Array.from({ length: n }, (_, i) => (i * 7919) % heldout.count);
  const trace = (sendMs: Float64Array): Trace => ({ shape: 'constant', seed: 0, durationMs: sendMs[n - 1] + 1, scale: 0, rate: [], sendMs, image });
  const sys = await startEngineSystem(planPath, heldout);
  t.teardown(() => sys.close());
  // seven clumps of 100 due at once, 400 ms apart: one tick, two submits (64 + 36) each
  const clump = await sys.replay(trace(Float64Array.from({ length: n }, (_, i) => Math.floor(i / 100) * 400)));
  // one item every 3 ms: one per tick
  const spread = await sys.replay(trace(Float64Array.from({ length: n }, (_, i) => i * 3)));
  for (const [name, r] of [['clump', clump.record], ['spread', spread.record]] as const) {
    let ok = 0;
    for (let i = 0; i < n; i++) ok += r.ok[i];
    t.equal(ok, n, `${name}: every item answered`);
    t.ok(r.gear.every((g) => g === gear.id), `${name}: every answer from the plan's one gear (${gear.id})`);
    let correct = 0;
    let right = 0;
    for (let i = 0; i < n; i++) {
      correct += r.correct[i];
      right += r.correct[i] === (r === clump.record ? spread.record : clump.record).correct[i] ? 1 : 0;
    }
    const expected = gear.expectedAccuracy;
    t.ok(Math.abs(correct / n - expected) < 0.035, `${name}: accuracy ${((correct / n) * 100).toFixed(2)}% within 3.5 points of the planner's ${(expected * 100).toFixed(2)}%`);
    t.ok(right >= n - 3, `${name}: the same verdict on ${right} of ${n} items as the other way of sending`);
  }
  t.ok(clump.record.sendLagMs.every((x) => x > -kEarlyMs - 0.05), 'no item sent before its time');
});
