// Capacity of a gear plan against the static cascade, in the planner's simulator (steady state
// per load level, no switching costs): `node dist/benchmarks/planner-gears.js [--profile P]
// [--slo-p95-ms 50] [--drop 0.005] [--seed 1] [--lanes 1]`.
// Target = the best single model's validation accuracy - drop. Prints the static cascade's
// range under both range rules, then plans with a twitter-shaped load histogram (testkit's
// rate curve, 30 s, quantized into 40 bins) scaled so that its peak is the static cascade's
// sustained capacity: the plan's capacity scale is then its capacity over the static's.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { capacityScale } from '../planner/accuracy-target.js';
import { tableTimeUs } from '../planner/batching.js';
import { columnsOf, exitStages } from '../planner/cascade-eval.js';
import { simulate } from '../planner/simulator.js';
import { computePlan } from '../planner/compute-plan.js';
import type { LoadBin, Plan } from '../ts/contracts/plan-schema.js';
import { validateProfile } from '../ts/contracts/profile-schema.js';
import { rateCurve } from '../testkit/traces.js';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'models/fmnist/profile.json' },
    'slo-p95-ms': { type: 'string', default: '50' },
    drop: { type: 'string', default: '0.005' },
    seed: { type: 'string', default: '1' },
    lanes: { type: 'string', default: '1' },
  },
});
const profile = validateProfile(JSON.parse(readFileSync(values.profile!, 'utf8')));
const sloP95Ms = Number(values['slo-p95-ms']);
const lanes = Number(values.lanes);
const best = Math.max(...profile.models.map((m) => m.validation.correct.reduce((a, b) => a + b, 0) / m.validation.count));
const target = best - Number(values.drop);

const describe = (p: Plan) =>
  p.gears.map((g) => `  ${g.static ? '*' : ' '}gear ${g.id}: ${g.minQps.toFixed(0)}-${g.maxQps.toFixed(0)} qps  ${g.stages.map((s) => `${s.model}(b${s.maxBatch})`).join(' > ')}  acc ${g.expectedAccuracy.toFixed(4)}  sustained ${g.sustainedQps?.toFixed(0)}  drain ${g.serviceRateQps?.toFixed(0)}/s  burst ${g.burstBudgetItems}`).join('\n');
const staticOf = (p: Plan) => p.gears.find((g) => g.static);

/** p95 (ms) of a gear at its range top, Poisson and bursty, with `requests` simulated requests. */
function resimulate(plan: Plan, gearId: number, requests: number, seed: number): [number, number] {
  const g = plan.gears[gearId];
  const names = profile.models.map((m) => m.name);
  const spec = { models: g.stages.map((st) => names.indexOf(st.model)), thresholds: g.stages.slice(0, -1).map((st) => st.threshold), measure: g.stages[0].measure };
  const stages = g.stages.map((st, i) => {
    const rows = profile.models[spec.models[i]].timings[0].batchTimesUs;
    const table = { name: st.model, memoryBytes: 0, batch: rows.map((r) => r.batch), p50Us: rows.map((r) => r.p50) };
    const timeUs = [0];
    for (let b = 1; b <= st.maxBatch; b++) timeUs.push(tableTimeUs(table, b));
    return { timeUs, maxBatch: st.maxBatch, maxQueueDelayUs: st.maxQueueDelayUs, laneEligible: st.laneShares.map((x) => x > 1e-6) };
  });
  const common = { stages, lanes: plan.lanes.length, exitStage: exitStages(columnsOf(profile), spec), qps: g.maxQps, requests, sloUs: sloP95Ms * 1000 };
  return [simulate({ ...common, arrivals: 'poisson', seed }).p95Ms, simulate({ ...common, arrivals: 'bursty', seed: seed + 1, burstAmplitude: 0.5, burstPhaseMs: 50 }).p95Ms];
}

console.log(`profile ${values.profile}, SLO p95 ${sloP95Ms} ms, ${lanes} lane(s), target ${target.toFixed(4)} (best single ${best.toFixed(4)} - ${values.drop})`);
const base = { sloP95Ms, lanes, minAccuracy: target, threads: 1 };
for (const gearRanges of ['utilization-cap', 'sustained'] as const) {
  const t0 = performance.now();
  const { plan, stats } = await computePlan(profile, { ...base, gearRanges });
  const st = staticOf(plan);
  console.log(`\nranges "${gearRanges}", no histogram (every gear meets the target), ${((performance.now() - t0) / 1000).toFixed(1)} s (gear fields ${(stats.gearFieldsMs / 1000).toFixed(1)} s): static cascade's range tops at ${st?.maxQps.toFixed(0)} qps (sustained ${st?.sustainedQps?.toFixed(0)})`);
  console.log(describe(plan));
  if (gearRanges === 'utilization-cap') {
    // is 3,000 simulated requests (the rule's length) enough for the bursty check?
    console.log('  p95 (ms) at each range top, Poisson | bursty: 3,000 requests (seed 1); 30,000 requests (seeds 5, 9)');
    for (const g of plan.gears) {
      const cells = [[3000, 1], [30_000, 5], [30_000, 9]].map(([n, seed]) => resimulate(plan, g.id, n, seed).map((x) => x.toFixed(1)).join(' | '));
      console.log(`   gear ${g.id} at ${g.maxQps.toFixed(0)} qps: ${cells.join(';  ')}`);
    }
  }
}

const { plan: every } = await computePlan(profile, base);
const cap = staticOf(every)!.sustainedQps!;
const curve = rateCurve('twitter', 30_000, Number(values.seed));
const peak = Math.max(...curve);
const kBins = 40;
const counts = new Array<number>(kBins).fill(0);
for (const r of curve) counts[Math.min(kBins - 1, Math.floor((r / peak) * kBins))]++;
// bin j holds rates in [j, j+1) x peak/40: its upper edge (conservative), so the top bin is the peak
const hist: LoadBin[] = counts.flatMap((w, j) => (w > 0 ? [{ rateQps: (((j + 1) / kBins) * peak * cap) / peak, weight: w }] : []));
const mean = hist.reduce((a, b) => a + b.rateQps * b.weight, 0) / hist.reduce((a, b) => a + b.weight, 0);
const t0 = performance.now();
const { plan } = await computePlan(profile, { ...base, loadHistogram: hist });
const ao = plan.accuracyObjective!;
console.log(`\ntwitter histogram (seed ${values.seed}) scaled to peak ${cap.toFixed(0)} qps = the static cascade's sustained capacity (mean ${mean.toFixed(0)} qps), ${((performance.now() - t0) / 1000).toFixed(1)} s:`);
console.log(describe(plan));
console.log(`load-weighted accuracy ${ao.loadWeightedAccuracy!.toFixed(4)} (held-out ${ao.loadWeightedHeldoutAccuracy?.toFixed(4)}; target ${target.toFixed(4)}, met ${ao.met}); capacity scale x${ao.capacityScale?.toFixed(3)}: the plan holds ${ao.capacityScale?.toFixed(2)}x the static cascade's load on this histogram (steady state, simulator)`);
console.log(`plan without the histogram (every gear meets the target) on the same histogram: x${capacityScale(every.gears, hist, target).toFixed(3)}`);
