// `node dist/benchmarks/eval/replan.js PLAN.json --calibration K --out NEW.json`: a frozen
// switched plan of a recorded run (CascadeServe's or MS+'s, made for a load histogram) made
// again by the current planner from what the plan file records: its SLO, lanes, load grid's
// top, stages, accuracy target and histogram, with the zoo's profile at batch times x K (the
// calibration the run planned with, in its trials file). The overload horizon is copied, not
// chosen again. For comparing a planner change with a recorded plan on tuning seeds
// (sim-plan.js, probe.js) before any recorded run.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseScriptArgs, type CommandSpec } from '../../ts/cli/args.js';
import { packageRoot } from '../../ts/contracts/package-root.js';
import { validatePlan } from '../../ts/contracts/plan-schema.js';
import { validateProfile } from '../../ts/contracts/profile-schema.js';
import { scaleBatchTimes } from '../../testkit/switching-sim.js';
import { writePlanFile } from './cell.js';
import { gearPlan, makeSpace } from './systems.js';

const kSpec: CommandSpec = {
  name: 'replan',
  description: 'A recorded switched plan (made for a load histogram) made again by the current planner, from the settings the plan file records.',
  positionals: [{ name: 'PLAN.json', kind: 'input-file', help: 'the recorded plan (e.g. benchmarks/results/eval-s37-full/eval-plans/engine-twitter-50ms-drop5-cascadeserve.json)' }],
  flags: [
    { name: 'calibration', kind: 'number', above: 0, required: true, help: "the run's batch-time factor (calibration in its trials file)" },
    { name: 'out', kind: 'output-file', required: true, help: 'where the new plan goes' },
  ],
};

async function main(): Promise<void> {
  const parsed = parseScriptArgs(kSpec, process.argv.slice(2), 'node dist/benchmarks/eval/replan.js');
  if (!parsed) return;
  const file = parsed.positionals[0];
  const ref = validatePlan(JSON.parse(readFileSync(file, 'utf8')));
  const obj = ref.accuracyObjective;
  if (obj?.mode !== 'load-weighted' || !obj.histogram) throw new Error(`${file}: accuracyObjective.histogram: none (not a plan made for a load histogram)`);
  const profile = validateProfile(JSON.parse(readFileSync(join(packageRoot(), 'models', 'fmnist', 'profile.json'), 'utf8')));
  const sp = makeSpace(scaleBatchTimes(profile, parsed.values.calibration as number));
  const lanes = ref.lanes.length;
  const made = await gearPlan(sp, { sloMs: ref.slo.p95Ms, lanes, maxQps: ref.loadGrid.maxQps / lanes, maxStages: Math.max(...ref.gears.map((g) => g.stages.length)) === 1 ? 1 : 3, objective: 'target', targetVal: obj.target, histogram: { upperQps: obj.histogram.map((b) => b.rateQps), weight: obj.histogram.map((b) => b.weight) } }, resolve(dirname(file), ref.manifest.path));
  const out = parsed.values.out as string;
  writePlanFile(out, { ...made.plan, ...(ref.policy ? { policy: ref.policy } : {}) });
  console.log(`${out}: ${made.plan.gears.length} gears (${file}: ${ref.gears.length}), ${made.objectiveUsed}, capacity scale ${made.plan.accuracyObjective?.capacityScale?.toFixed(3) ?? '-'} (${obj.capacityScale?.toFixed(3) ?? '-'})`);
}

await main();
