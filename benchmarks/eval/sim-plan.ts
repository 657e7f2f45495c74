// `node dist/benchmarks/eval/sim-plan.js --plan PLAN[,PLAN...] --calibration K [--trace azure]
// [--seeds 11,12,13] [--day-ms 6000] [--target 0.9312] [--overload-horizon-ms MS] [--guess QPS]`:
// the simulated capacity of frozen plan files under the server's gear policy, per seed, as the
// evaluation's choice of the overload horizon computes it (horizon.ts): the switching
// simulator fed the trace's arrival times, the zoo's profile with its batch times times K
// (the evaluation's engine calibration, printed in its log and kept in
// benchmarks/results/eval-trials.json), capacity = the highest scale whose p95 meets the
// plan's SLO and whose answered accuracy meets the validation target (bracketed search from
// --guess by factors of 1.5, then 2%; default: the most accurate gear's top load, or for a
// one-gear baseline the rate its lanes serve at its expected cost). The search
// steps over scales, and a run's pass is not monotone in the scale, so another start can end
// elsewhere: the evaluation starts at each plan's predicted capacity.
// The target defaults to the plan's own (accuracyObjective.target); a one-gear plan (a
// baseline) has none and needs --target. The horizon defaults to the plan's
// (policy.overloadHorizonMs), else the policy's default. For trying a change of the policy
// on tuning seeds in seconds before any engine trial; the simulator is not the engine (its
// outcomes on the azure trace have differed from the engine's), so it ranks, it does not report.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../ts/contracts/package-root.js';
import { validatePlan } from '../../ts/contracts/plan-schema.js';
import { validateProfile } from '../../ts/contracts/profile-schema.js';
import { scaleBatchTimes } from '../../testkit/switching-sim.js';
import type { TraceShape } from '../../testkit/traces.js';
import { simulatedCapacities } from './horizon.js';
import { median } from './measure.js';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const positive = (name: string, x: string) => {
  const v = Number(x);
  if (!(x.trim() !== '' && Number.isFinite(v) && v > 0)) throw new Error(`${name}: expected a positive number, got '${x}'`);
  return v;
};
const planPaths = arg('--plan')?.split(',');
if (!planPaths) throw new Error('--plan: the plan file(s) to simulate (e.g. benchmarks/results/eval-plans/engine-azure-50ms-drop5-cascadeserve.json)');
const k = arg('--calibration');
if (k === undefined) throw new Error("--calibration: the evaluation's engine calibration the plans were made with (batch times x K; 'calibration' in benchmarks/results/eval-trials.json)");
const calibration = positive('--calibration', k);
const trace = (arg('--trace') ?? 'azure') as TraceShape;
if (!['twitter', 'azure', 'step', 'constant'].includes(trace)) throw new Error(`--trace: unknown trace '${trace}' (twitter, azure, step, constant)`);
const seeds = (arg('--seeds') ?? '11,12,13').split(',').map((x) => positive('--seeds', x));
const dayMs = positive('--day-ms', arg('--day-ms') ?? '6000');
const targetArg = arg('--target');
const horizonArg = arg('--overload-horizon-ms');
const guessArg = arg('--guess');

const root = packageRoot();
const profile = scaleBatchTimes(validateProfile(JSON.parse(readFileSync(join(root, 'models', 'fmnist', 'profile.json'), 'utf8'))), calibration);
// which images the trace draws (from a set of this size) does not matter here, only its arrival times
const heldoutCount = profile.labels.length;

for (const path of planPaths) {
  const plan = validatePlan(JSON.parse(readFileSync(path, 'utf8')));
  const target = targetArg !== undefined ? positive('--target', targetArg) : plan.accuracyObjective?.target;
  if (target === undefined) throw new Error(`${path}: the plan has no accuracy target (a one-gear baseline?): give --target`);
  const overloadHorizonMs = horizonArg !== undefined ? positive('--overload-horizon-ms', horizonArg) : plan.policy?.overloadHorizonMs;
  // a one-gear baseline's range is unbounded (maxQps 1e9): its lanes' rate at its expected cost instead
  const g0 = plan.gears[0];
  const guess = guessArg !== undefined ? positive('--guess', guessArg) : Math.min(g0.maxQps, (plan.lanes.length * 1e6) / g0.expectedCostUs);
  const qps = simulatedCapacities(plan, { profile, trace, dayMs, tuningSeeds: seeds, targetVal: target, guessQps: guess, heldoutCount }, overloadHorizonMs);
  const name = path.replace(/^.*\//, '').replace(/\.json$/, '');
  console.log(`${name}: ${qps.map((q) => q.toFixed(0)).join(' / ')} mean QPS (seeds ${seeds.join(', ')}; median ${median(qps).toFixed(0)}), ${trace}, ${dayMs / 1000} s days, target ${(target * 100).toFixed(2)}%, overload horizon ${overloadHorizonMs ?? 'default'} ms`);
}
