// `cascadeserve replicas`: replica counts and accuracies from a plan, checked against figures
// worked out by hand for a three-gear plan, and the CLI on the demo plan against its plan.json.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Plan } from '../ts/contracts/plan-schema.js';
import { planReplicas } from '../ts/cli/replicas.js';
import { writeFixturePlan } from '../testkit/server-fixture.js';
import { root } from '../testkit/paths.js';
import { cliPath } from './helpers/spawn-server.js';

const run = promisify(execFile);

/** The fixture plan with three gears: (0,100] 0.9, (100,300] 0.85, (300,500] 0.8, one lane. */
function threeGearPlan(): { plan: Plan; path: string; cleanup: () => void } {
  const { planPath, cleanup } = writeFixturePlan({ accurateMaxQps: 100 });
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as Plan;
  const [g1, g2] = plan.gears;
  plan.gears = [
    { ...g1, minQps: 0, maxQps: 100, expectedAccuracy: 0.9 },
    { ...g2, id: 2, minQps: 100, maxQps: 300, expectedAccuracy: 0.85 },
    { ...g2, id: 3, minQps: 300, maxQps: 500, expectedAccuracy: 0.8 },
  ];
  writeFileSync(planPath, JSON.stringify(plan));
  return { plan, path: planPath, cleanup };
}

t.test('a peak: bounds and accuracies', async (t) => {
  const { plan, cleanup } = threeGearPlan();
  t.teardown(cleanup);
  const r = planReplicas(plan, [{ qps: 1000, weight: 1 }]);
  t.equal(r.topGearCapacityQps, 100);
  t.equal(r.planCapacityQps, 500);
  t.equal(r.minReplicas, 2, '1000/s over 500/s per replica on the cheapest gear');
  t.equal(r.maxReplicas, 13, 'ceil(1000 / (0.8 * 100))');
  t.same(r.levels.map((l) => [l.hpaReplicas, l.gearId, l.expectedAccuracy, l.atMinGearId, l.atMinAccuracy]), [[13, 1, 0.9, 3, 0.8]], '76.9/s each on 13 replicas: gear 1; 500/s each on 2: gear 3');
  const two = planReplicas(plan, [{ qps: 1000, weight: 1 }], { lanesPerReplica: 2 });
  t.same([two.topGearCapacityQps, two.minReplicas, two.maxReplicas], [200, 1, 7], 'two lanes per replica double the bounds');
  const tight = planReplicas(plan, [{ qps: 1000, weight: 1 }], { target: 0.5 });
  t.equal(tight.maxReplicas, 20);
});

t.test('a trace: per level, within the HPA bounds, and the mean accuracy', async (t) => {
  const { plan, cleanup } = threeGearPlan();
  t.teardown(cleanup);
  // 1 s at 50/s, 2 s at 500/s, 1 s at 1000/s: bounds from the peak (2..13).
  const r = planReplicas(plan, [50, 500, 1000, 500].map((qps) => ({ qps, weight: 1 })));
  t.same([r.minReplicas, r.maxReplicas], [2, 13]);
  t.same(
    r.levels.map((l) => [l.qps, l.share, l.hpaReplicas, l.gearId, l.atMinGearId]),
    [
      [50, 0.25, 2, 1, 1], // ceil(50/80) = 1, raised to minReplicas 2: 25/s each
      [500, 0.5, 7, 1, 2], // ceil(500/80) = 7: 71.4/s each; at 2 replicas 250/s: gear 2
      [1000, 0.25, 13, 1, 3],
    ],
  );
  t.equal(r.meanAccuracy, 0.9);
  // per request, counted request by request over the trace's seconds (not per second: 0.85)
  const gearAcc = [0.9, 0.85, 0.8];
  let [right, n] = [0, 0];
  for (const qps of [50, 500, 1000, 500]) {
    const atMin = r.levels.find((l) => l.qps === qps)!.atMinGearId!;
    for (let i = 0; i < qps; i++) [right, n] = [right + gearAcc[atMin - 1], n + 1];
  }
  t.ok(Math.abs(r.meanAccuracyAtMin - right / n) < 1e-12, `at minReplicas ${r.meanAccuracyAtMin.toFixed(4)} = ${(right / n).toFixed(4)} per request`);
  t.throws(() => planReplicas(plan, [{ qps: 10, weight: 1 }], { lanesPerReplica: 0 }), /--lanes must be an integer >= 1/);
  t.throws(() => planReplicas(plan, [{ qps: 10, weight: 1 }], { target: 1.5 }), /--target must be a number in \(0, 1\]/);
});

t.test('CLI on the demo plan', async (t) => {
  const plan = JSON.parse(readFileSync(join(root, 'models', 'fmnist', 'plan.json'), 'utf8')) as Plan;
  const { stdout } = await run(process.execPath, [cliPath, 'replicas', '--peak-qps', '6000', '--json']);
  const r = JSON.parse(stdout);
  const top = plan.gears[0].maxQps;
  const last = plan.gears[plan.gears.length - 1].maxQps;
  t.equal(r.minReplicas, Math.max(1, Math.ceil(6000 / last)));
  t.equal(r.maxReplicas, Math.ceil(6000 / (0.8 * top)));
  t.equal(r.levels[0].expectedAccuracy, plan.gears[0].expectedAccuracy, 'at maxReplicas the peak runs the most accurate gear');
  const perReplica = 6000 / r.minReplicas;
  const g = plan.gears.find((x) => perReplica > x.minQps && perReplica <= x.maxQps)!;
  t.equal(r.levels[0].atMinGearId, g.id, `at minReplicas ${perReplica}/s per replica runs gear ${g.id}`);
  const text = (await run(process.execPath, [cliPath, 'replicas', '--peak-qps', '6000'])).stdout;
  t.match(text, new RegExp(`minReplicas ${r.minReplicas} `));
  t.match(text, new RegExp(`maxReplicas ${r.maxReplicas} `));

  const bad = async (args: string[], pattern: RegExp) => {
    const e = await run(process.execPath, [cliPath, 'replicas', ...args]).then(() => null, (err: { code: number; stderr: string }) => err);
    t.equal(e?.code, 2, `${args.join(' ')}: exit 2`);
    t.match(e?.stderr, pattern);
    t.notMatch(e?.stderr, /\n\s+at /, 'no stack trace');
  };
  await bad(['--peak-qps=-5'], /--peak-qps must be a positive number/);
  await bad([], /give one of --peak-qps or --trace/);
  await bad(['--trace', '/nonexistent/w.json'], /--trace \/nonexistent\/w\.json: ENOENT/);
  await bad(['--peak-qps', '100', '--lanes', '1.5'], /--lanes must be an integer >= 1/);
  await bad(['--peak-qps', '100', '--plan', join(root, 'package.json')], /--plan: /);
});
