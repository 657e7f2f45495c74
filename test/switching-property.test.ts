// Gear switching pays for itself, in the deterministic simulator (planner/switching-simulator.ts):
// on generated traces (seeded; twitter-like diurnal with bursts, step, spike) the committed
// zoo plan run by the server's gear policy (BacklogGearPolicy on a LoadMonitor, as the server
// builds them) serves at least 0.95x the load of any one of its gears held fixed that meets
// the same accuracy target and SLO. Capacity = the highest trace scale (mean items/s) whose p95
// meets the SLO and whose answered accuracy meets the target, by a bracketed search. The
// oracle switcher (true rate from the trace, no hysteresis) runs the same plan: what it loses
// to a fixed gear is the plan's loss, what the policy loses beyond it is the policy's. Where
// the oracle itself stays under 0.95x, the cell is reported as the plan's loss (a TODO in the
// output, with both ratios) and the policy must reach 0.95x the oracle instead.
// The first tests check the switching simulator itself: with one gear it agrees exactly with
// simulator.ts, and items keep the gear they were admitted under.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GearPolicy, GearSwitchRecord } from '../ts/contracts/gear-policy.js';
import { validatePlan, type Plan } from '../ts/contracts/plan-schema.js';
import { validateProfile } from '../ts/contracts/profile-schema.js';
import { BacklogGearPolicy, policyGears, type PolicyGear } from '../ts/server/gear-policy.js';
import { LoadMonitor } from '../ts/server/load-monitor.js';
import { computePlan } from '../planner/compute-plan.js';
import { simulate } from '../planner/simulator.js';
import { simGearsFromPlan, simulateSwitching, type SwitchSimGear } from '../planner/switching-simulator.js';
import { curveRate, OracleGearPolicy } from '../planner/oracle-policy.js';
import { kRateBinMs, rateCurve } from '../testkit/traces.js';
import { expVariate, mulberry32 } from '../planner/prng.js';
import { root } from '../testkit/paths.js';
import { bracketedCapacity, itemSequence, poissonArrivalsUs, spikeCurve } from '../testkit/switching-sim.js';

/** A policy that never switches (a gear held fixed). */
const hold: GearPolicy = { decide: ({ current }) => ({ gear: current, reason: 'stay' }), reset: () => {} };
const monitor = () => new LoadMonitor({ windowMs: 200, bucketMs: 5, recentMs: 10 });

t.test('switching simulator, one gear: the same latencies as simulator.ts', async (t) => {
  // Two stages on one lane, routes from a 4-item validation set; simulate() draws each
  // arrival's route with mulberry32(seed ^ 0x9e3779b9): the same draws are given here.
  const stageTimes = [
    [0, 300, 350, 420, 480],
    [0, 900, 1000, 1200, 1300],
  ];
  const exitStage = Uint8Array.from([0, 1, 1, 0]);
  const rnd = mulberry32(7);
  const times: number[] = [];
  let at = 0;
  for (let i = 0; i < 3000; i++) times.push((at += expVariate(rnd, 1 / 700)));
  const seed = 11;
  const route = mulberry32(seed ^ 0x9e3779b9);
  const items = Uint32Array.from(times, () => Math.floor(route() * exitStage.length));
  const stages = stageTimes.map((timeUs) => ({ timeUs, maxBatch: 4, maxQueueDelayUs: 800, laneEligible: [true] }));
  const plain = simulate({ stages, lanes: 1, exitStage, qps: 1, arrivals: 'poisson', sloUs: 1e6, arrivalTimesUs: times, warmup: 0, seed });
  const gear: SwitchSimGear = { exitStage, correct: Uint8Array.from([1, 1, 0, 1]), stages: stages.map((s, m) => ({ model: m, maxBatch: 4, maxQueueDelayUs: 800, laneEligible: [true] })) };
  const sw = simulateSwitching({ modelTimeUs: stageTimes, gears: [gear], lanes: 1, arrivalTimesUs: times, items, sloUs: 1e6, policy: hold, monitor: monitor() });
  t.equal(sw.answered, 3000);
  t.equal(sw.p50Ms, plain.p50Ms);
  t.equal(sw.p95Ms, plain.p95Ms);
  t.equal(sw.p99Ms, plain.p99Ms);
  let right = 0;
  for (const i of items) right += gear.correct[i];
  t.equal(sw.accuracy, right / 3000, 'accuracy = the answers of the drawn items');
});

t.test('switching simulator: items keep the gear they were admitted under; switches recorded', async (t) => {
  // Gear 0: model 0 then model 1 (item 0 exits at stage 0, item 1 goes on); gear 1: model 2 alone.
  const gears: SwitchSimGear[] = [
    { id: 5, exitStage: Uint8Array.from([0, 1]), correct: Uint8Array.from([1, 1]), stages: [{ model: 0, maxBatch: 1, maxQueueDelayUs: 0, laneEligible: [true] }, { model: 1, maxBatch: 1, maxQueueDelayUs: 0, laneEligible: [true] }] },
    { id: 9, exitStage: Uint8Array.from([0, 0]), correct: Uint8Array.from([0, 0]), stages: [{ model: 2, maxBatch: 1, maxQueueDelayUs: 0, laneEligible: [true] }] },
  ];
  // Switches to gear 1 at the second request (t = 50 µs), before it is admitted.
  let looks = 0;
  const policy: GearPolicy = { decide: ({ current }) => (++looks === 2 ? { gear: 1, reason: 'would_miss' } : { gear: current, reason: 'stay' }), reset: () => {} };
  const records: GearSwitchRecord[] = [];
  const r = simulateSwitching({
    modelTimeUs: [[0, 100], [0, 1000], [0, 10]],
    gears,
    lanes: 1,
    arrivalTimesUs: [0, 50],
    items: Uint32Array.from([1, 1]),
    sloUs: 1e6,
    policy,
    monitor: monitor(),
    onSwitch: (e) => records.push(e),
  });
  // item 0 (gear 0): model 0 [0, 100], then model 1; item 1 (gear 1) arrived at 50, runs model 2
  // at 100 (earliest arrival first: item 0 is in model 1's queue, but arrived earlier) ...
  // item 0 runs model 1 [100, 1100]; item 1 model 2 [1100, 1110]: latencies 1100 and 1060 µs.
  t.equal(r.answered, 2);
  t.equal(r.p50Ms, 1.06);
  t.equal(r.p99Ms, 1.1);
  t.equal(r.accuracy, 0.5, 'item 0 answered right by gear 0, item 1 wrong by gear 1');
  t.same(r.gearItems, [1, 1]);
  t.equal(r.switches, 1);
  t.match(records, [{ atMs: 0.05, from: 5, to: 9, fromIndex: 0, toIndex: 1, backlogItems: 1, reason: 'would_miss' }]);
});

// ---- the property ----

const profile = validateProfile(JSON.parse(readFileSync(join(root, 'models', 'fmnist', 'profile.json'), 'utf8')));
const bestModelAccuracy = Math.max(...profile.models.map((m) => m.validation.correct.reduce((a, b) => a + b, 0) / m.validation.count));
const monitorOptions = { windowMs: 200, bucketMs: 5, recentMs: 10 };

type Shape = 'twitter' | 'step' | 'spike';
const kDurationMs = 12_000;

/** Rate curve (mean 1, one value per kRateBinMs): testkit's twitter and step, and the spike. */
function curve(shape: Shape, seed: number): number[] {
  return shape === 'spike' ? spikeCurve(kDurationMs, seed) : rateCurve(shape, kDurationMs, seed);
}

interface PlanCase {
  name: string;
  plan: Plan;
  gears: SwitchSimGear[];
  modelTimeUs: number[][];
  capacities: PolicyGear[];
}

function planCase(name: string, plan: Plan): PlanCase {
  const { gears, modelTimeUs } = simGearsFromPlan(plan, profile);
  return { name, plan, gears, modelTimeUs, capacities: policyGears(plan.gears, plan.slo.p95Ms, plan.lanes.length) };
}

type System = { gears: SwitchSimGear[]; policy: (c: number[], scale: number) => GearPolicy };

function runAt(pc: PlanCase, sys: System, c: number[], scale: number, seed: number) {
  const times = poissonArrivalsUs(c, scale, seed);
  const items = itemSequence(times.length, pc.gears[0].exitStage.length, seed);
  return simulateSwitching({ modelTimeUs: pc.modelTimeUs, gears: sys.gears, lanes: pc.plan.lanes.length, arrivalTimesUs: times, items, sloUs: pc.plan.slo.p95Ms * 1000, policy: sys.policy(c, scale), monitor: new LoadMonitor(monitorOptions) });
}

/**
 * The answered accuracy of a gear held fixed is its expected accuracy up to the last partial
 * round of the item permutation (a few hundredths of a point); a gear exactly at the target
 * (the static gear is the cheapest meeting it) would pass or fail by that alone.
 */
const kAccuracySlack = 0.0003;

/** Highest passing scale (testkit's bracketed search). */
function capacity(pc: PlanCase, sys: System, c: number[], seed: number, target: number, guess: number): { qps: number; below?: number } {
  return bracketedCapacity((scale) => {
    const r = runAt(pc, sys, c, scale, seed);
    return r.p95Ms <= pc.plan.slo.p95Ms && r.accuracy >= target - kAccuracySlack;
  }, guess);
}

// As served-model.ts builds it: the plan's figures, its SLO, hold = the monitor window.
const planSystem = (pc: PlanCase): System => ({ gears: pc.gears, policy: () => new BacklogGearPolicy(pc.capacities, { sloMs: pc.plan.slo.p95Ms, holdMs: monitorOptions.windowMs, recentMs: monitorOptions.recentMs }) });
const oracleSystem = (pc: PlanCase): System => ({ gears: pc.gears, policy: (c, scale) => new OracleGearPolicy(pc.capacities.map((g) => g.sustainedQps), curveRate(c, kRateBinMs, scale)) });
const fixedSystem = (pc: PlanCase, g: number): System => ({ gears: [pc.gears[g]], policy: () => hold });

const shapes: { shape: Shape; seed: number }[] = [
  { shape: 'twitter', seed: 101 },
  { shape: 'step', seed: 202 },
  { shape: 'spike', seed: 303 },
];

function property(pc: PlanCase, target: { name: string; value: number }, parent: Test = t): void {
  const sloMs = pc.plan.slo.p95Ms;
  parent.test(`${pc.name}, target ${target.name} (${(target.value * 100).toFixed(2)}%), SLO ${sloMs} ms: plan + policy >= 0.95x the best fixed gear that meets it`, async (t) => {
    pc.plan.gears.forEach((g, i) => {
      const acc = pc.gears[i].correct.reduce((a, b) => a + b, 0) / pc.gears[i].correct.length;
      t.ok(Math.abs(acc - g.expectedAccuracy) < 1e-9, `simulated gear ${g.id} answers as planned: ${acc.toFixed(4)} vs ${g.expectedAccuracy}`);
    });
    const eligible = pc.plan.gears.map((_, i) => i).filter((i) => pc.plan.gears[i].expectedAccuracy >= target.value);
    t.ok(eligible.length > 0, `gears meeting the target: ${eligible.join(', ')}`);
    for (const { shape, seed } of shapes) {
      const c = curve(shape, seed);
      const peak = Math.max(...c);
      const fixed = eligible.map((g) => ({ g, cap: capacity(pc, fixedSystem(pc, g), c, seed, target.value, pc.capacities[g].sustainedQps / peak) }));
      const best = fixed.reduce((a, b) => (b.cap.qps > a.cap.qps ? b : a));
      const guess = Math.max(best.cap.qps, 50);
      const sw = capacity(pc, planSystem(pc), c, seed, target.value, guess);
      const oracle = capacity(pc, oracleSystem(pc), c, seed, target.value, guess);
      const fmt = (x: { qps: number; below?: number }) => (x.below !== undefined ? `below ${x.below.toFixed(0)}` : x.qps.toFixed(0));
      const ratio = sw.qps / best.cap.qps;
      t.comment(`${shape} (seed ${seed}, peak/mean ${peak.toFixed(2)}), mean QPS: fixed ${fixed.map((f) => `g${f.g} ${fmt(f.cap)}`).join(', ')}; plan+policy ${fmt(sw)} (${ratio.toFixed(2)}x the best fixed), oracle ${fmt(oracle)} (${(oracle.qps / best.cap.qps).toFixed(2)}x)`);
      const oracleRatio = oracle.qps / best.cap.qps;
      const claim = `${shape}: plan + policy ${sw.qps.toFixed(0)} >= 0.95 x gear ${best.g} fixed ${best.cap.qps.toFixed(0)} (ratio ${ratio.toFixed(3)}; oracle ${oracleRatio.toFixed(3)})`;
      if (oracleRatio >= 0.95) t.ok(ratio >= 0.95, claim);
      else {
        // The oracle (true rates, no hysteresis) misses the bar too: the plan's loss, reported
        // as such (TODO, not hidden); the policy must then lose no more than 5% to the oracle.
        t.ok(ratio >= 0.95, claim, { todo: `the plan's loss: its oracle reaches ${oracleRatio.toFixed(3)}x` });
        t.ok(sw.qps >= 0.95 * oracle.qps, `${shape}: plan + policy ${sw.qps.toFixed(0)} >= 0.95 x the oracle's ${oracle.qps.toFixed(0)} on the same plan`);
      }
    }
  });
}

const headline = bestModelAccuracy - 0.005;

// The committed zoo plan (planned before #14: no accuracy target, no capacity fields, so the
// policy derives them): the headline target, and one every gear meets (the cheapest gear's
// accuracy - 0.5 point), where the SLO alone binds.
const zoo = planCase('committed zoo plan', validatePlan(JSON.parse(readFileSync(join(root, 'models', 'fmnist', 'plan.json'), 'utf8'))));
property(zoo, { name: 'best - 0.5 pt', value: headline });
property(zoo, { name: 'every gear', value: Math.min(...zoo.plan.gears.map((g) => g.expectedAccuracy)) - 0.005 });

// A plan made now for the headline target (every gear meets it, the static cascade is one of
// them; sustained capacities and burst budgets from the planner), as `cascadeserve plan
// --slo-p95-ms 10 --lanes 1 --max-qps 25000 --min-accuracy <target>` writes it.
t.test('plans for the headline target: every gear meeting it, and load-weighted', async (t) => {
  const { plan } = await computePlan(profile, { sloP95Ms: 10, lanes: 1, maxQps: 25_000, objective: 'accuracy', minAccuracy: headline, threads: 1 });
  t.ok(plan.gears.every((g) => g.sustainedQps !== undefined && g.burstBudgetItems !== undefined), 'the plan carries the policy\'s capacity fields');
  const derived = policyGears(plan.gears.map((g) => ({ ...g, burstBudgetItems: undefined })), plan.slo.p95Ms, plan.lanes.length);
  const ms = (x: number) => x.toFixed(1);
  t.comment(`burst budgets as drain time, ms: ${plan.gears.map((g, i) => ms((g.burstBudgetItems! / derived[i].serviceRateQps) * 1000)).join(', ')}; derived wait budgets: ${derived.map((g) => ms(g.budgetMs)).join(', ')}`);
  property(planCase('plan for the target', plan), { name: 'best - 0.5 pt', value: headline }, t);

  // Load-weighted (--load-histogram): the histogram of a twitter curve of another seed (999)
  // at 1,700 QPS mean, so gears below the target may serve its peaks.
  const bins = new Map<number, number>();
  for (const v of rateCurve('twitter', kDurationMs, 999)) {
    const q = Math.max(100, Math.round((v * 1700) / 100) * 100);
    bins.set(q, (bins.get(q) ?? 0) + 1);
  }
  const histogram = [...bins].map(([rateQps, weight]) => ({ rateQps, weight }));
  const weighted = (await computePlan(profile, { sloP95Ms: 10, lanes: 1, maxQps: 25_000, objective: 'accuracy', minAccuracy: headline, loadHistogram: histogram, threads: 1 })).plan;
  t.equal(weighted.accuracyObjective?.mode, 'load-weighted');
  t.comment(`load-weighted plan: gears ${weighted.gears.map((g) => `${g.id} ${(g.expectedAccuracy * 100).toFixed(2)}% to ${g.maxQps.toFixed(0)} QPS`).join(', ')}; load-weighted accuracy ${weighted.accuracyObjective?.loadWeightedAccuracy?.toFixed(4)}`);
  property(planCase('load-weighted plan', weighted), { name: 'best - 0.5 pt', value: headline }, t);
});
