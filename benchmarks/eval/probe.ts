// `node dist/benchmarks/eval/probe.js --plan PLAN [--scales 4200,4700] [--seeds 11,12,13]
// [--trace azure] [--day-ms 6000] [--drop 0.005]`: replays a trace into the engine from one
// frozen plan file (engine-replay.ts, the evaluation's engine view), once per seed and scale,
// and prints what decides a trial: the answered accuracy against the trial's target (best
// single model on the same images minus the drop), the gear-weighted accuracy, p95, failed
// items and the share of requests per gear. For looking into one cell between recorded runs,
// on tuning seeds; its outcomes are single trials, not capacities.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../../ts/contracts/dataset.js';
import { loadManifest } from '../../ts/contracts/manifest.js';
import { packageRoot } from '../../ts/contracts/package-root.js';
import { validateProfile } from '../../ts/contracts/profile-schema.js';
import { validatePlan } from '../../ts/contracts/plan-schema.js';
import { makeTrace, type TraceShape } from '../../testkit/traces.js';
import { startEngineSystem } from './engine-replay.js';
import { summarize } from './measure.js';
import { makeSpace } from './systems.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt?: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const numbers = (name: string, dflt: string) =>
  arg(name, dflt)!.split(',').map((x) => {
    const v = Number(x);
    if (!(x.trim() !== '' && Number.isFinite(v) && v > 0)) throw new Error(`${name}: expected positive numbers separated by commas, got '${x}'`);
    return v;
  });
const planPath = arg('--plan');
if (!planPath) throw new Error('--plan: the plan file to replay into (e.g. benchmarks/results/eval-plans/engine-azure-50ms-drop5-cascadeserve.json)');
const trace = arg('--trace', 'azure') as TraceShape;
if (!['twitter', 'azure', 'step', 'constant'].includes(trace)) throw new Error(`--trace: unknown trace '${trace}' (twitter, azure, step, constant)`);
const [dayMs] = numbers('--day-ms', '6000');
const drop = Number(arg('--drop', '0.005'));
if (!(drop >= 0 && drop < 1)) throw new Error(`--drop: expected a fraction in [0, 1), got '${arg('--drop')}'`);

const root = packageRoot();
const manifest = await loadManifest(join(root, 'models', 'fmnist', 'cascade.json'));
const heldout = loadDataset(manifest.data.heldout);
const sp = makeSpace(validateProfile(JSON.parse(readFileSync(join(root, 'models', 'fmnist', 'profile.json'), 'utf8'))));
const plan = validatePlan(JSON.parse(readFileSync(planPath, 'utf8')));
const gearAccuracy = new Map(plan.gears.map((g) => [g.id, g.heldoutAccuracy ?? g.expectedAccuracy]));
const sloMs = plan.slo.p95Ms;
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

const sys = await startEngineSystem(planPath, heldout);
try {
  // warm-up, as the evaluation's: a tuning seed at a low constant rate
  await sys.replay(makeTrace('constant', 500, 2000, 11, heldout.count));
  let passed = 0;
  let n = 0;
  for (const seed of numbers('--seeds', '11,12,13')) {
    for (const scale of numbers('--scales', '4200,4700')) {
      const t = makeTrace(trace, scale, dayMs, seed, heldout.count);
      const { record, switches } = await sys.replay(t);
      const s = summarize(record, { sloMs, gearAccuracy });
      let right = 0;
      for (const img of t.image) right += sp.held.correct[sp.bestModel][img];
      const target = right / t.image.length - drop;
      const pass = s.accuracy >= target - 1e-9 && s.p95Ms <= sloMs;
      passed += pass ? 1 : 0;
      n++;
      const share = Object.entries(s.gearShare).map(([g, k]) => `${g}:${((100 * k) / s.requests).toFixed(0)}%`).join(' ');
      console.log(`seed ${seed} scale ${scale}: accuracy ${pct(s.accuracy)} (gears ${pct(s.gearAccuracy)}) vs target ${pct(target)}, p95 ${s.p95Ms.toFixed(1)} ms, failed ${s.failed}/${s.requests}, switches ${switches.length} -> ${pass ? 'pass' : 'fail'}; requests per gear ${share}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  console.log(`${passed} of ${n} trials passed`);
} finally {
  await sys.close();
}
