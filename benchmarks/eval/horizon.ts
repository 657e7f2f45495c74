// The gear policy's overload horizon of a switched plan (cascadeserve, MS+), chosen in the
// deterministic switching simulator on the TUNING seeds before any reported trial, and frozen
// into the plan (plan.policy.overloadHorizonMs, which the server reads).
//
// Why per plan: the horizon is how long an overload above a gear's capacity is expected to
// last. On the twitter trace at a 100 ms SLO one SLO was too short (the policy left a gear only
// once its queue had spent the budget); on the azure trace's short bursts four SLOs read each
// burst as a lasting overload and left accurate gears for nothing (docs/gear-switching.md).
// Which holds depends on the trace's burst lengths against the SLO, which the tuning seeds
// show and the reported ones are never asked.
//
// Capacity in the simulator as in test/gear-policy-regressions.test.ts: the highest scale whose
// p95 meets the SLO and whose answered accuracy meets the validation target (bracketed search).
// The choice: the candidate with the highest median capacity over the tuning seeds; ties go
// to the policy's default (4 SLOs), then to the longer horizon.
//
// The fixed-hardware view has no capacity to search: its plans serve given loads, and what
// they deliver there is accuracy within the SLO. There the choice
// (chooseOverloadHorizonForAccuracy) is the candidate with the highest median simulated
// accuracy over the tuning seeds and the view's scales among those whose every run meets the
// SLO (if none does: the fewest runs over it), with the same ties.
import { simGearsFromPlan } from '../../planner/switching-simulator.js';
import type { Plan } from '../../ts/contracts/plan-schema.js';
import type { Profile } from '../../ts/contracts/profile-schema.js';
import { BacklogGearPolicy, policyGears } from '../../ts/server/gear-policy.js';
import { accuracyBudgetOf, type AccuracyBudgetOptions } from '../../ts/server/accuracy-budget.js';
import { bracketedCapacity, kServerMonitor, simulatedRun, simulatedRunPasses } from '../../testkit/switching-sim.js';
import { makeTrace, type TraceShape } from '../../testkit/traces.js';
import { median } from './measure.js';

/** Candidate horizons, in SLOs. */
export const kHorizonSlos = [1, 2, 4] as const;
/** The policy's own default, in SLOs (ts/server/gear-policy.ts). */
const kDefaultSlos = 4;

export interface HorizonChoice {
  overloadHorizonMs: number;
  /** Per candidate (in SLOs): simulated capacity per tuning seed, items/s. */
  capacities: { slos: number; qps: number[] }[];
  chosenBy: string;
}

export interface HorizonTuning {
  profile: Profile;
  trace: TraceShape;
  dayMs: number;
  tuningSeeds: readonly number[];
  /** The validation accuracy target the plan was made for. */
  targetVal: number;
  /** Where each search starts, items/s (the plan's predicted capacity). */
  guessQps: number;
  /** Items per held-out pass of the trace generator (only shapes request sizes). */
  heldoutCount: number;
}

/** The plan's accuracy budget with the window the evaluation's servers run it with: one day. */
function dayBudget(plan: Plan, dayMs: number): AccuracyBudgetOptions | undefined {
  const of = accuracyBudgetOf(plan);
  return of ? { ...of, windowMs: dayMs } : undefined;
}

/** Simulated capacity of `plan` under the server's policy with the given overload horizon (undefined: the policy's default), per tuning seed. */
export function simulatedCapacities(plan: Plan, o: HorizonTuning, overloadHorizonMs: number | undefined): number[] {
  const { gears, modelTimeUs } = simGearsFromPlan(plan, o.profile);
  const figures = policyGears(plan.gears, plan.slo.p95Ms, plan.lanes.length);
  const budget = dayBudget(plan, o.dayMs);
  const sloMs = plan.slo.p95Ms;
  return o.tuningSeeds.map((seed) => {
    const passes = (scale: number) =>
      simulatedRunPasses({
        modelTimeUs,
        gears,
        lanes: plan.lanes.length,
        timesUs: Float64Array.from(makeTrace(o.trace, scale, o.dayMs, seed, o.heldoutCount).sendMs, (x) => x * 1000),
        seed,
        sloMs,
        target: o.targetVal,
        // the server's policy as it serves this plan, accuracy budget included
        policy: new BacklogGearPolicy(figures, { sloMs, holdMs: kServerMonitor.windowMs, recentMs: kServerMonitor.recentMs, ...(overloadHorizonMs !== undefined ? { overloadHorizonMs } : {}), ...(budget ? { accuracyBudget: budget } : {}) }),
      });
    return bracketedCapacity(passes, Math.max(20, o.guessQps)).qps;
  });
}

/** The candidate whose rank is lexicographically highest (the first of equals). */
function highestRanked<T>(xs: readonly T[], rank: (x: T) => number[]): T {
  let best = xs[0];
  for (const x of xs.slice(1)) {
    const a = rank(x);
    const b = rank(best);
    const i = a.findIndex((v, k) => v !== b[k]);
    if (i >= 0 && a[i] > b[i]) best = x;
  }
  return best;
}

export function chooseOverloadHorizon(plan: Plan, o: HorizonTuning): HorizonChoice {
  const sloMs = plan.slo.p95Ms;
  const capacities = kHorizonSlos.map((slos) => ({ slos, qps: simulatedCapacities(plan, o, slos * sloMs) }));
  const best = highestRanked(capacities, (c) => [median(c.qps), c.slos === kDefaultSlos ? 1 : 0, c.slos]);
  const table = capacities.map((c) => `${c.slos} SLO: ${c.qps.map((q) => q.toFixed(0)).join('/')}`).join('; ');
  return {
    overloadHorizonMs: best.slos * sloMs,
    capacities,
    chosenBy: `switching simulator, ${o.trace} trace, tuning seeds ${o.tuningSeeds.join(', ')} (${o.dayMs / 1000} s days): the highest median capacity of ${kHorizonSlos.join(', ')} SLOs (${table} items/s)`,
  };
}

export interface AccuracyHorizonChoice {
  overloadHorizonMs: number;
  /** Per candidate (in SLOs): simulated accuracy and p95 per (scale, tuning seed), scales outer. */
  runs: { slos: number; accuracy: number[]; p95Ms: number[] }[];
  chosenBy: string;
}

/** The overload horizon that gives `plan` the most accurate answers within its SLO at the given loads (the fixed-hardware view), in the simulator on the tuning seeds. */
export function chooseOverloadHorizonForAccuracy(plan: Plan, o: Omit<HorizonTuning, 'targetVal' | 'guessQps'> & { scalesQps: readonly number[] }): AccuracyHorizonChoice {
  const { gears, modelTimeUs } = simGearsFromPlan(plan, o.profile);
  const figures = policyGears(plan.gears, plan.slo.p95Ms, plan.lanes.length);
  const budget = dayBudget(plan, o.dayMs);
  const sloMs = plan.slo.p95Ms;
  const traces = o.scalesQps.flatMap((scale) => o.tuningSeeds.map((seed) => ({ seed, timesUs: Float64Array.from(makeTrace(o.trace, scale, o.dayMs, seed, o.heldoutCount).sendMs, (x) => x * 1000) })));
  const runs = kHorizonSlos.map((slos) => {
    const rs = traces.map((t) => simulatedRun({ modelTimeUs, gears, lanes: plan.lanes.length, timesUs: t.timesUs, seed: t.seed, sloMs, policy: new BacklogGearPolicy(figures, { sloMs, holdMs: kServerMonitor.windowMs, recentMs: kServerMonitor.recentMs, overloadHorizonMs: slos * sloMs, ...(budget ? { accuracyBudget: budget } : {}) }) }));
    return { slos, accuracy: rs.map((r) => r.accuracy), p95Ms: rs.map((r) => r.p95Ms) };
  });
  const best = highestRanked(runs, (c) => [-c.p95Ms.filter((x) => x > sloMs).length, median(c.accuracy), c.slos === kDefaultSlos ? 1 : 0, c.slos]);
  const table = runs.map((c) => `${c.slos} SLO: median ${(median(c.accuracy) * 100).toFixed(2)}%, p95 up to ${Math.max(...c.p95Ms).toFixed(0)} ms`).join('; ');
  return {
    overloadHorizonMs: best.slos * sloMs,
    runs,
    chosenBy: `switching simulator, ${o.trace} trace at ${o.scalesQps.map((x) => x.toFixed(0)).join(', ')} mean QPS, tuning seeds ${o.tuningSeeds.join(', ')} (${o.dayMs / 1000} s days): the highest median accuracy of ${kHorizonSlos.join(', ')} SLOs among those within the SLO on every run (${table})`,
  };
}
