// The engine view's load generator (benchmarks/eval/replay.ts sendDueOnSchedule,
// engine-replay.ts): the items a timer tick finds due go to the engine in submits of at most 64,
// each item is sent once, in order, never before its time, and answered once; answering
// clumps of 100 items due at once in chunks gives the answers one item per tick gives, and the
// accuracy the planner measured for the plan's gear.
// Tests do not import benchmarks/ (test/layers.test.ts): the compiled modules run in a child.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../ts/contracts/package-root.js';

const root = packageRoot();
const url = (...p: string[]) => JSON.stringify(pathToFileURL(join(root, ...p)).href);
const planPath = join(root, 'benchmarks', 'results', 'eval-plans', 'engine-twitter-50ms-drop5-static.json');

interface Outcome {
  earlyMs: number;
  calls: { from: number; to: number; atMs: number }[];
  gearId: number;
  expected: number;
  runs: Record<'clump' | 'spread', { ok: number[]; gear: number[]; correct: number[]; minLagMs: number }>;
}

const script = `
  import { performance } from 'node:perf_hooks';
  const { kEarlyMs, sendDueOnSchedule } = await import(${url('dist', 'benchmarks', 'eval', 'replay.js')});
  const { startEngineSystem } = await import(${url('dist', 'benchmarks', 'eval', 'engine-replay.js')});
  const { loadDataset } = await import(${url('dist', 'ts', 'contracts', 'dataset.js')});
  const { loadManifest } = await import(${url('dist', 'ts', 'contracts', 'manifest.js')});
  const { loadServingPlan } = await import(${url('dist', 'ts', 'server', 'plan-loader.js')});
  const planPath = ${JSON.stringify(planPath)};
  const calls = [];
  const t0 = performance.now() + 5;
  await sendDueOnSchedule(Float64Array.from([0, 0, 0, 0, 12, 12, 30, 31, 31, 60]), t0, (from, to) => calls.push({ from, to, atMs: performance.now() - t0 }));
  const manifest = await loadManifest(${JSON.stringify(join(root, 'models', 'fmnist', 'cascade.json'))});
  const heldout = loadDataset(manifest.data.heldout);
  const gear = (await loadServingPlan(planPath)).gears[0];
  const n = 700;
  const image = Uint32Array.from({ length: n }, (_, i) => (i * 7919) % heldout.count);
  const trace = (sendMs) => ({ shape: 'constant', seed: 0, durationMs: sendMs[n - 1] + 1, scale: 0, rate: [], sendMs, image });
  const sys = await startEngineSystem(planPath, heldout);
  const runs = {};
  // seven clumps of 100 due at once, 400 ms apart: one tick, two submits (64 + 36) each
  const clump = (await sys.replay(trace(Float64Array.from({ length: n }, (_, i) => Math.floor(i / 100) * 400))));
  // one item every 3 ms: one per tick
  const spread = (await sys.replay(trace(Float64Array.from({ length: n }, (_, i) => i * 3))));
  for (const [name, r] of [['clump', clump.record], ['spread', spread.record]]) {
    runs[name] = { ok: [...r.ok], gear: [...r.gear], correct: [...r.correct], minLagMs: Math.min(...r.sendLagMs) };
  }
  await sys.close();
  process.stdout.write(JSON.stringify({ earlyMs: kEarlyMs, calls, gearId: gear.id, expected: gear.expectedAccuracy, runs }));
`;

t.test('the engine view sends each item once, in order, and answers clumps as single items', (t) => {
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: root, timeout: 120_000 })) as Outcome;
  const sendMs = [0, 0, 0, 0, 12, 12, 30, 31, 31, 60];
  const { calls } = out;
  t.equal(calls[0].from, 0, 'sendDueOnSchedule starts at the first item');
  for (let k = 1; k < calls.length; k++) t.equal(calls[k].from, calls[k - 1].to, `call ${k} continues where the one before ended`);
  t.equal(calls[calls.length - 1].to, sendMs.length, 'it ends at the last item');
  for (const c of calls) {
    t.ok(c.to > c.from, 'no empty call');
    t.ok(c.atMs >= sendMs[c.to - 1] - out.earlyMs - 0.05, `items [${c.from}, ${c.to}) due at ${sendMs[c.to - 1]} ms, sent at ${c.atMs.toFixed(2)} ms`);
  }
  t.ok(calls[0].to >= 4, 'the four items due at 0 ms go in the first call');

  const n = 700;
  for (const name of ['clump', 'spread'] as const) {
    const r = out.runs[name];
    const other = out.runs[name === 'clump' ? 'spread' : 'clump'];
    t.equal(r.ok.reduce((a, b) => a + b, 0), n, `${name}: every item answered`);
    t.ok(r.gear.every((g) => g === out.gearId), `${name}: every answer from the plan's one gear (${out.gearId})`);
    const correct = r.correct.reduce((a, b) => a + b, 0);
    t.ok(Math.abs(correct / n - out.expected) < 0.035, `${name}: accuracy ${((correct / n) * 100).toFixed(2)}% within 3.5 points of the planner's ${(out.expected * 100).toFixed(2)}%`);
    const same = r.correct.filter((c, i) => c === other.correct[i]).length;
    t.ok(same >= n - 3, `${name}: the same verdict on ${same} of ${n} items as the other way of sending`);
  }
  t.ok(out.runs.clump.minLagMs > -out.earlyMs - 0.05, 'no clumped item sent before its time');
  t.end();
});
