// #14 planner: burst budget and drain rate per gear (checked against a closed-form drain of a
// single-stage gear), the static cascade always a gear, and the load-weighted accuracy target
// (recomputed here from the plan's gears, routing every validation image through each gear's
// stages from the profile's raw columns, and the histogram).
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { burstBudgetItems, serviceRateQps } from '../planner/gear-capacity.js';
import { computePlan } from '../planner/compute-plan.js';
import type { GearCascade, PlanContext } from '../planner/messages.js';
import { validatePlan, type LoadBin, type Plan, type PlanGear } from '../ts/contracts/plan-schema.js';
import type { Profile } from '../ts/contracts/profile-schema.js';
import { runPlanCommand } from '../ts/cli/plan-command.js';
import { planSvg } from '../planner/svg.js';
import { capacityScale, loadWeightedAccuracy } from '../planner/accuracy-target.js';
import { syntheticProfile } from './planner-fixture.js';

const kSloMs = 50;

/** A one-stage gear on `lanes` lanes with batch time a + c*b µs (no queue delay). */
function oneStageContext(lanes: number, aUs: number, cUs: number, batches: number[]): PlanContext {
  const cascade: GearCascade = { spec: { models: [0], thresholds: [], measure: 'max_prob' }, accuracy: 1, expectedCostUs: aUs + cUs, reach: [1], exitStage: new Uint8Array([0]) };
  return {
    cascades: [cascade],
    models: [{ name: 'm', memoryBytes: 1, batch: batches, p50Us: batches.map((b) => aUs + cUs * b) }],
    lanes,
    hosts: [new Array<boolean>(lanes).fill(true)],
    sloUs: kSloMs * 1000,
    cap: 0.95,
    delayFraction: 0.3,
    batchSizes: batches,
    sim: { requests: 1000, seed: 1, burstAmplitude: 0.5, burstPhaseMs: 50 },
  };
}

/**
 * Closed form: n items at t = 0 in FIFO batches of B on L identical lanes, no queue delay: batch
 * j (1-based) starts when a lane frees, at floor((j-1)/L) x t(B), and ends t(size of batch j)
 * later. Budget = largest n whose p95 (the ceil(0.95 n)-th smallest latency) is <= the SLO,
 * scanning n upwards.
 */
function closedFormBudget(L: number, B: number, tUs: (b: number) => number, sloUs: number): number {
  const p95 = (n: number) => {
    const lat: number[] = [];
    for (let k = 1; k <= n; k++) {
      const j = Math.ceil(k / B);
      const size = Math.min(B, n - (j - 1) * B);
      lat.push(Math.floor((j - 1) / L) * tUs(B) + tUs(size));
    }
    lat.sort((a, b) => a - b);
    return lat[Math.ceil(0.95 * n) - 1];
  };
  let n = 0;
  while (p95(n + 1) <= sloUs) n++;
  return n;
}

t.test('burst budget and drain rate of a one-stage gear match the closed form', async (t) => {
  for (const [L, B, a, c] of [[1, 8, 200, 50], [1, 32, 500, 20], [2, 16, 300, 40]] as const) {
    const batches = [1, 2, 4, 8, 16, 32];
    const ctx = oneStageContext(L, a, c, batches);
    const cfg = { maxBatch: [B], maxQueueDelayUs: [0], laneShares: [new Array<number>(L).fill(1 / L)] };
    const tUs = (b: number) => a + c * batches.find((x) => x >= b)!; // the planner's step-up rule
    const want = closedFormBudget(L, B, tUs, ctx.sloUs);
    t.equal(burstBudgetItems(ctx, 0, cfg, cfg.laneShares, 1), want, `L=${L} B=${B}: budget ${want} items`);
    t.ok(Math.abs(serviceRateQps(ctx, 0, cfg, 1) - (L * B * 1e6) / tUs(B)) < 1e-6, `L=${L} B=${B}: drain rate L*B/t(B)`);
  }
});

/** Each gear's validation accuracy, routing every image through its stages (exit when certainty >= threshold). */
function gearAccuracy(profile: Profile, g: PlanGear, split: 'validation' | 'heldout' = 'validation'): number {
  const byName = new Map(profile.models.map((m) => [m.name, m[split]!]));
  const n = split === 'validation' ? profile.labels.length : profile.heldoutLabels!.length;
  let ok = 0;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < g.stages.length; s++) {
      const st = g.stages[s];
      const m = byName.get(st.model)!;
      const last = s === g.stages.length - 1;
      if (last || Math.fround(m.certainty[st.measure][i]) >= st.threshold) {
        ok += m.correct[i];
        break;
      }
    }
  }
  return ok / n;
}

/**
 * Load-weighted accuracy from the gears' ranges (minQps, maxQps] (0 goes to the first gear),
 * per request: each bin's weight is time, so it yields weight x rate requests (at least one
 * bin's rate > 0 here), each answered by the gear whose range holds its rate; unserved bins
 * count 0.
 */
function weighted(plan: Plan, accs: number[], hist: LoadBin[], scale = 1): { acc: number; served: boolean } {
  let [requests, right, served] = [0, 0, true];
  for (const b of hist) {
    const q = b.rateQps * scale;
    const i = plan.gears.findIndex((g, k) => (q > g.minQps || (k === 0 && q === 0)) && q <= g.maxQps);
    if (i < 0) served = false;
    const n = b.weight * q; // requests in the bin's time at its (scaled) rate
    requests += n;
    right += n * (i < 0 ? 0 : accs[i]);
  }
  return { acc: right / requests, served };
}

const bestSingle = (p: Profile) => Math.max(...p.models.map((m) => m.validation.correct.reduce((a, b) => a + b, 0) / m.validation.count));

t.test('load-weighted accuracy is per request: a bin of weight w (time) at rate r holds w x r requests', async (t) => {
  // 9 s at 50 qps on a gear of 95%, then 1 s at 500 qps on one of 85%
  const gears = [
    { minQps: 0, maxQps: 100, expectedAccuracy: 0.95 },
    { minQps: 100, maxQps: 1000, expectedAccuracy: 0.85 },
  ];
  const perSecond = [...new Array<number>(9).fill(50), 500];
  // the reference: every request of the trace, one by one
  let right = 0;
  let requests = 0;
  for (const q of perSecond) {
    for (let i = 0; i < q; i++) {
      right += q <= 100 ? 0.95 : 0.85;
      requests++;
    }
  }
  const hist: LoadBin[] = [{ rateQps: 50, weight: 9 }, { rateQps: 500, weight: 1 }];
  const acc = loadWeightedAccuracy(gears, hist);
  t.ok(Math.abs(acc - right / requests) < 1e-12, `${acc.toFixed(4)} = the trace's ${(right / requests).toFixed(4)} per request (by time it would read 0.9400)`);
  // the same histogram as one bin per second
  t.ok(Math.abs(loadWeightedAccuracy(gears, perSecond.map((q) => ({ rateQps: q, weight: 1 }))) - acc) < 1e-12, 'one bin per second: the same');
  // target 90%: missed per request (89.7%) as soon as the peak leaves the first gear (x0.2)
  t.ok(Math.abs(capacityScale(gears, hist, 0.9) - 0.2) < 1e-12, `capacity scale ${capacityScale(gears, hist, 0.9)} = 100 / 500`);
  // idle histogram: no request to weight by, bins count equally
  t.equal(loadWeightedAccuracy(gears, [{ rateQps: 0, weight: 1 }]), 0.95);
});

t.test('static gear, burst fields and the load-weighted accuracy target on a synthetic profile', async (t) => {
  const profile = syntheticProfile(800);
  const target = bestSingle(profile) - 0.005;
  const base = { sloP95Ms: kSloMs, lanes: 1, minAccuracy: target, threads: 1, loadLevels: 16, maxGears: 8 };
  const { plan: every } = await computePlan(profile, base);
  validatePlan(every);
  // the batch times planned with travel in the plan (the server's host speed reads them)
  profile.models.forEach((m, k) => {
    const want = m.timings[0].batchTimesUs.map((r) => ({ batch: r.batch, p50Us: r.p50 }));
    t.same(every.models[k].batchTimesUs, want, `models[${k}].batchTimesUs are the profile's p50s`);
  });
  const broken = structuredClone(every);
  broken.models[0].batchTimesUs = [{ batch: 4, p50Us: 10 }, { batch: 2, p50Us: 5 }];
  t.throws(() => validatePlan(broken), /models\[0\]\.batchTimesUs\[1\]\.batch: must be greater than the previous entry's \(4\)/);
  t.equal(every.accuracyObjective?.mode, 'every-gear');
  const accsEvery = every.gears.map((g) => gearAccuracy(profile, g));
  accsEvery.forEach((a, i) => t.ok(a >= target - 1e-12, `no histogram: gear ${i} accuracy ${a.toFixed(4)} meets the target ${target.toFixed(4)}`));
  const st = every.gears.find((g) => g.static);
  t.ok(st, 'a gear is marked static');
  t.equal(every.staticGearId, st?.id);
  // the static cascade is the cheapest gear meeting the target, and no single model meeting it is cheaper
  for (const g of every.gears) if (accsEvery[g.id] >= target - 1e-12) t.ok(st!.expectedCostUs <= g.expectedCostUs + 1e-9, `static no costlier than gear ${g.id}`);
  profile.models.forEach((m, k) => {
    const acc = m.validation.correct.reduce((a, b) => a + b, 0) / m.validation.count;
    const us = Math.min(...m.timings[0].batchTimesUs.map((r) => r.p50 / r.batch));
    if (acc >= target) t.ok(st!.expectedCostUs <= us + 1e-9, `static no costlier than model ${k} alone`);
  });
  for (const g of every.gears) {
    t.ok(g.sustainedQps! >= g.maxQps - 1e-9, `gear ${g.id}: sustained ${g.sustainedQps!.toFixed(0)} >= range top ${g.maxQps.toFixed(0)}`);
    t.ok(g.sustainedQps! < g.serviceRateQps!, `gear ${g.id}: sustained below the drain rate ${g.serviceRateQps!.toFixed(0)}`);
    t.ok(Number.isInteger(g.burstBudgetItems) && g.burstBudgetItems! > 0, `gear ${g.id}: burst budget ${g.burstBudgetItems}`);
    // a backlog of the budget drains in about budget / rate; its p95 item within the SLO
    t.ok((0.95 * g.burstBudgetItems!) / g.serviceRateQps! <= (kSloMs / 1000) * 1.5, `gear ${g.id}: budget consistent with its drain rate`);
  }

  // a histogram whose peak is above the static cascade's capacity
  const cap = st!.sustainedQps!;
  const hist: LoadBin[] = [{ rateQps: 0, weight: 1 }, { rateQps: cap * 0.2, weight: 8 }, { rateQps: cap * 0.6, weight: 3 }, { rateQps: cap * 1.4, weight: 0.25 }];
  // held-out answers: another synthetic draw of the same models (reported, never used to choose)
  const other = syntheticProfile(600, 8);
  const withHeldout: Profile = { ...profile, models: profile.models.map((m, k) => ({ ...m, heldout: other.models[k].validation })), heldoutLabels: other.labels };
  const { plan } = await computePlan(withHeldout, { ...base, loadHistogram: hist });
  validatePlan(plan);
  const ao = plan.accuracyObjective!;
  t.equal(ao.mode, 'load-weighted');
  const accs = plan.gears.map((g) => gearAccuracy(profile, g));
  accs.forEach((a, i) => t.ok(Math.abs(a - plan.gears[i].expectedAccuracy) < 1e-12, `gear ${i}: expectedAccuracy equals the recomputed ${a.toFixed(4)}`));
  const w = weighted(plan, accs, hist);
  t.ok(w.served, 'every bin served');
  t.ok(Math.abs(w.acc - ao.loadWeightedAccuracy!) < 1e-9, `load-weighted accuracy ${w.acc.toFixed(4)} as recorded`);
  const held = weighted(plan, plan.gears.map((g) => gearAccuracy(withHeldout, g, 'heldout')), hist);
  t.ok(Math.abs(held.acc - ao.loadWeightedHeldoutAccuracy!) < 1e-9, `load-weighted held-out accuracy ${held.acc.toFixed(4)} as recorded`);
  t.ok(w.acc >= target, `load-weighted accuracy ${w.acc.toFixed(4)} meets the target ${target.toFixed(4)}`);
  t.equal(ao.met, true);
  t.ok(plan.gears.some((g) => g.static), 'with a histogram, still a static gear');
  const svg = planSvg(plan);
  t.match(svg, /accuracy target [0-9.]+ \(load-weighted\)/, 'the SVG draws the target');
  t.match(svg, /\(static cascade\)<\/title>/, 'the SVG names the static gear');
  t.ok(plan.gears.some((g, i) => accs[i] < target), 'a gear below the target serves the peak');
  // capacity scale: the histogram times it still meets the target; a little more does not
  const m = ao.capacityScale!;
  t.ok(m >= 1, `capacity scale ${m.toFixed(3)}`);
  const at = weighted(plan, accs, hist, m);
  t.ok(at.served && at.acc >= target - 1e-12, `at x${m.toFixed(3)} served and meets the target`);
  const past = weighted(plan, accs, hist, m * 1.0001);
  t.ok(!past.served || past.acc < target, `past x${m.toFixed(3)} the target is missed or a bin unserved`);
  // the static cascade alone serves the histogram only up to its capacity over the peak rate
  const staticScale = plan.gears.find((g) => g.static)!.sustainedQps! / (cap * 1.4);
  t.ok(m > staticScale, `plan x${m.toFixed(3)} beats the static cascade's x${staticScale.toFixed(3)}`);
});

t.test('plan --load-histogram: written objective; bad files and flag combinations named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-plan-hist-'));
  const run = async (args: string[]) => {
    const o = { out: '', err: '' };
    const code = await runPlanCommand(args, { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } } as never);
    return { code, ...o };
  };
  const profile = syntheticProfile(500);
  writeFileSync(join(dir, 'p.json'), JSON.stringify(profile));
  const target = String(bestSingle(profile) - 0.01);
  const common = ['--profile', join(dir, 'p.json'), '--slo-p95-ms', '50', '--lanes', '1', '--threads', '1'];
  writeFileSync(join(dir, 'h.json'), JSON.stringify({ histogram: [{ rateQps: 50, weight: 2 }, { qps: 200, weight: 1 }] }));
  let r = await run([...common, '--load-histogram', join(dir, 'h.json'), '--out', join(dir, 'x.json')]);
  t.equal(r.code, 2, 'needs --min-accuracy');
  t.match(r.err, /--load-histogram needs --min-accuracy/);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ rateQps: 50, weight: 0 }]));
  r = await run([...common, '--min-accuracy', target, '--load-histogram', join(dir, 'bad.json'), '--out', join(dir, 'x.json')]);
  t.equal(r.code, 1);
  t.match(r.err, /--load-histogram .*bad\.json: \[0\]\.weight: expected a positive number, got 0/);
  r = await run([...common, '--min-accuracy', target, '--load-histogram', join(dir, 'h.json'), '--out', join(dir, 'plan.json')]);
  t.ok(r.code === 0 || r.code === 3, `exit ${r.code}`);
  const plan = validatePlan(JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')));
  t.same(plan.accuracyObjective?.histogram, [{ rateQps: 50, weight: 2 }, { rateQps: 200, weight: 1 }]);
  t.equal(plan.planner.gearRanges, 'sustained');
  t.match(r.out, /accuracy target .*load-weighted accuracy/);
  t.match(r.out, /\(static\)/);
  // a target no cascade reaches: an input error naming it
  r = await run([...common, '--min-accuracy', '0.9999', '--out', join(dir, 'x.json')]);
  t.equal(r.code, 1);
  t.match(r.err, /no cascade reaches the accuracy target 0\.9999/);
  // all the load far above the static cascade's capacity: written, the miss reported
  const staticCap = plan.gears.find((g) => g.static)!.sustainedQps!;
  writeFileSync(join(dir, 'high.json'), JSON.stringify([{ rateQps: Math.round(staticCap * 3), weight: 1 }]));
  r = await run([...common, '--min-accuracy', target, '--load-histogram', join(dir, 'high.json'), '--out', join(dir, 'high-plan.json')]);
  const high = validatePlan(JSON.parse(readFileSync(join(dir, 'high-plan.json'), 'utf8')));
  t.equal(high.accuracyObjective?.met, false, `load-weighted ${high.accuracyObjective?.loadWeightedAccuracy} below ${target}`);
  t.match(r.err, /the accuracy target .* is not met \(load-weighted/);
});
