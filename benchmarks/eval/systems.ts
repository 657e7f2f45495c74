// The systems compared, each a plan served by the same server code and native engine, all
// chosen from the same candidates (the frontier of the validation half's cascade search) on
// the validation half only; the held-out half only measures:
// - cascadeserve: the gear plan (the planner's load-weighted accuracy-target objective over
//   the tuning seeds' load histogram, cascades of up to 3 models), switched by the server's
//   policy;
// - static: one gear = the cheapest frontier cascade meeting the target, with the batching the
//   planner picks at that cascade's own peak load, never switching;
// - staticBest: the same, but chosen in hindsight (the cheapest frontier cascade meeting the
//   target on the held-out half): the strongest static cascade, the one exception to
//   "validation half only", and an advantage for the baseline;
// - dynamic: dynamic batching, one gear = the cheapest single model meeting the target,
//   batching the whole queue (maxBatch 32, no queue delay);
// - msplus: model switching among every single model of the frontier, under the same
//   objective as cascadeserve (the planner with maxStages 1), switched by the same policy;
// - oracle: cascadeserve's plan, its gear set from the trace's true rate (engine-replay.ts).
// A plan with one gear never switches: the gear policy maps every load to it.
import { columnsOf, evalCascade, exitStages, type CascadeSpec, type ValidationColumns } from '../../planner/cascade-eval.js';
import { chooseBatching } from '../../planner/batching.js';
import { computePlan } from '../../planner/compute-plan.js';
import type { GearCascade, HostCpu, LevelEval, ModelTable, PlanContext } from '../../planner/messages.js';
import type { Plan, PlanGear } from '../../ts/contracts/plan-schema.js';
import { timingFor, type Profile } from '../../ts/contracts/profile-schema.js';
import { prepareSearch, searchFrontier, type FrontierPoint } from '../../planner/search.js';

export type SystemName = 'cascadeserve' | 'static' | 'staticBest' | 'dynamic' | 'msplus' | 'oracle';
/** Systems of a capacity cell, in report order. */
export const kSystems: SystemName[] = ['cascadeserve', 'static', 'staticBest', 'dynamic', 'msplus', 'oracle'];
export const kSystemLabel: Record<SystemName, string> = {
  cascadeserve: 'CascadeServe',
  static: 'static cascade',
  staticBest: 'static cascade, best in hindsight',
  dynamic: 'dynamic batching',
  msplus: 'MS+',
  oracle: 'oracle switcher',
};

export const kMaxPlanQps = 12000;
export const kSim = { requests: 3000, seed: 1, burstAmplitude: 0.5, burstPhaseMs: 50 };

/** Search results shared by all systems of one profile. */
export interface Space {
  profile: Profile;
  val: ValidationColumns;
  held: ValidationColumns;
  frontier: FrontierPoint[];
  /** Single-model cascades, cheapest first. */
  singles: FrontierPoint[];
  bestVal: number;
  bestHeld: number;
  /** Index of the best single model on the held-out half (the accuracy targets' reference). */
  bestModel: number;
  models: ModelTable[];
  /** Host CPU work on the lanes' cores (measured by the eval's calibration), for every plan. */
  hostCpu?: HostCpu;
}

export function makeSpace(profile: Profile): Space {
  const val = columnsOf(profile);
  const held = columnsOf(profile, profile.lanes[0], 'heldout');
  const { frontier } = searchFrontier(prepareSearch(val), 3);
  const singles = profile.models
    .map((_, m): FrontierPoint => {
      const spec: CascadeSpec = { models: [m], thresholds: [], measure: 'max_prob' };
      const e = evalCascade(val, spec);
      return { spec, accuracy: e.accuracy, expectedCostUs: e.expectedCostUs };
    })
    .sort((a, b) => a.expectedCostUs - b.expectedCostUs);
  const models: ModelTable[] = profile.models.map((m) => {
    const t = timingFor(m, profile.lanes[0]);
    return { name: m.name, memoryBytes: m.memoryBytes, batch: t.batchTimesUs.map((r) => r.batch), p50Us: t.batchTimesUs.map((r) => r.p50) };
  });
  const heldAcc = profile.models.map((_, m) => evalCascade(held, { models: [m], thresholds: [], measure: 'max_prob' }).accuracy);
  return {
    profile,
    val,
    held,
    frontier,
    singles,
    bestVal: Math.max(...singles.map((s) => s.accuracy)),
    bestHeld: Math.max(...heldAcc),
    bestModel: heldAcc.indexOf(Math.max(...heldAcc)),
    models,
  };
}

export const heldoutAccuracy = (sp: Space, spec: CascadeSpec) => evalCascade(sp.held, spec).accuracy;

/**
 * The cheapest candidate meeting an accuracy target given as a drop from the best single model,
 * judged on the validation half only (accuracy >= bestVal - drop + margin, the margin from planner/selection-margin.ts):
 * the held-out half only measures. None meets it: the most accurate candidate.
 */
export function cheapestMeeting(sp: Space, pool: FrontierPoint[], drop: number, margin = 0): FrontierPoint {
  const sorted = [...pool].sort((a, b) => a.expectedCostUs - b.expectedCostUs);
  for (const p of sorted) if (p.accuracy >= sp.bestVal - drop + margin - 1e-12) return p;
  return [...pool].sort((a, b) => b.accuracy - a.accuracy)[0];
}

/**
 * The cheapest candidate whose accuracy on the HELD-OUT half is at least `heldTarget`: a choice
 * in hindsight, for the strongest static baseline only (null when none reaches it).
 */
export function cheapestHeldMeeting(sp: Space, pool: FrontierPoint[], heldTarget: number): FrontierPoint | null {
  const sorted = [...pool].sort((a, b) => a.expectedCostUs - b.expectedCostUs);
  for (const p of sorted) if (heldoutAccuracy(sp, p.spec) >= heldTarget - 1e-12) return p;
  return null;
}

/** A planner context over the given cascades on `lanes` lanes (every model on every lane). */
export function contextFor(sp: Space, points: FrontierPoint[], lanes: number, sloMs: number): PlanContext {
  const cascades: GearCascade[] = points.map((p) => {
    const e = evalCascade(sp.val, p.spec);
    return { spec: p.spec, accuracy: e.accuracy, expectedCostUs: e.expectedCostUs, reach: e.reach, exitStage: exitStages(sp.val, p.spec) };
  });
  const used = [...new Set(cascades.flatMap((c) => c.spec.models))];
  const batchSizes = [...new Set(used.flatMap((m) => sp.models[m].batch))].filter((b) => b <= 64).sort((a, b) => a - b);
  return {
    cascades,
    models: sp.models,
    lanes,
    hosts: sp.models.map((_, m) => new Array<boolean>(lanes).fill(used.includes(m))),
    sloUs: sloMs * 1000,
    cap: 0.8,
    delayFraction: 0.3,
    batchSizes,
    sim: kSim,
    ...(sp.hostCpu ? { hostCpu: sp.hostCpu } : {}),
  };
}

/** Largest load (QPS) at which the planner finds a batching meeting the SLO (bisection), with it. */
export async function maxFeasibleQps(ctx: PlanContext, cascade: number, steps = 9): Promise<{ qps: number; eval: LevelEval | null }> {
  const c = ctx.cascades[cascade];
  let hi = (ctx.lanes * 1e6 * ctx.cap) / c.expectedCostUs;
  let lo = 0;
  let best: LevelEval | null = null;
  const top = await chooseBatching(ctx, cascade, hi);
  if (top.ok) return { qps: hi, eval: top };
  for (let i = 0; i < steps; i++) {
    const mid = lo === 0 ? hi / 2 : Math.sqrt(lo * hi);
    const e = await chooseBatching(ctx, cascade, mid);
    if (e.ok) {
      lo = mid;
      best = e;
    } else hi = mid;
  }
  return { qps: lo, eval: best };
}

export interface SystemPlan {
  system: SystemName;
  plan: Plan;
  /** Planner's estimate of the highest load it serves within the SLO (QPS). */
  topQps: number;
  description: string;
}

export function gearOf(sp: Space, p: FrontierPoint, e: { maxBatch: number[]; maxQueueDelayUs: number[]; laneShares: number[][]; p95Ms: number; utilization: number }, maxQps = 1e9): PlanGear {
  const k = p.spec.models.length;
  const ev = evalCascade(sp.val, p.spec);
  return {
    id: 0,
    minQps: 0,
    maxQps,
    stages: p.spec.models.map((m, s) => ({
      model: sp.profile.models[m].name,
      threshold: s < k - 1 ? p.spec.thresholds[s] : 0,
      measure: p.spec.measure,
      maxBatch: e.maxBatch[s],
      maxQueueDelayUs: e.maxQueueDelayUs[s],
      laneShares: e.laneShares[s],
    })),
    expectedAccuracy: ev.accuracy,
    heldoutAccuracy: heldoutAccuracy(sp, p.spec),
    expectedCostUs: ev.expectedCostUs,
    predictedP95Ms: e.p95Ms,
    utilization: e.utilization,
  };
}

export const describeGear = (g: PlanGear) => g.stages.map((s) => `${s.model}(b${s.maxBatch})`).join('>') + ` val ${(g.expectedAccuracy * 100).toFixed(2)}% held ${((g.heldoutAccuracy ?? NaN) * 100).toFixed(2)}%`;
export const describePlan = (p: Plan) => p.gears.map((g) => `[${g.minQps.toFixed(0)},${g.maxQps.toFixed(0)}] ${describeGear(g)}`).join('; ');

export interface GearPlanRequest {
  sloMs: number;
  lanes: number;
  /** Top of the load grid (QPS). */
  maxQps: number;
  /** 1: single models (MS+); 3: cascades. */
  maxStages: 1 | 3;
  /**
   * 'target': the load-weighted accuracy-target objective over `histogram` (load-weighted
   * validation accuracy >= targetVal); 'accuracy': the most accurate gear at every load.
   */
  objective: 'target' | 'accuracy';
  targetVal: number;
  /** Expected load (QPS) distribution: bin upper edges and time fractions (tuning seeds). */
  histogram?: { upperQps: number[]; weight: number[] };
}

/** A gear plan from the planner; `objectiveUsed` says which objective the planner ran. */
export async function gearPlan(sp: Space, r: GearPlanRequest, manifestPath: string): Promise<{ plan: Plan; objectiveUsed: string }> {
  const common = { sloP95Ms: r.sloMs, lanes: r.lanes, threads: 1, sim: kSim, maxQps: r.maxQps * r.lanes, maxStages: r.maxStages, objective: 'accuracy' as const, ...(sp.hostCpu ? { hostCpu: sp.hostCpu } : {}) };
  const target = r.objective === 'target' ? { minAccuracy: r.targetVal, ...(r.histogram ? { loadHistogram: r.histogram.upperQps.map((q, i) => ({ rateQps: q, weight: r.histogram!.weight[i] })).filter((b) => b.weight > 0) } : {}) } : {};
  const plan = (await computePlan(sp.profile, { ...common, ...target })).plan;
  const used = plan.accuracyObjective ? `accuracy target ${(plan.accuracyObjective.target * 100).toFixed(2)}% (${plan.accuracyObjective.mode}${plan.accuracyObjective.met ? '' : ', NOT met'})` : 'most accurate gear per load';
  return { plan: { ...plan, manifest: { path: manifestPath, name: plan.manifest.name } }, objectiveUsed: used };
}

/** A plan of one gear (a baseline), on the given lanes, from a base plan's header. */
export function oneGearPlan(base: Plan, g: PlanGear, lanes: number): Plan {
  // not the base plan's static-gear mark or accuracy objective: they describe its gear set
  const { staticGearId: _s, accuracyObjective: _a, ...rest } = base;
  const { static: _g, ...gear } = g;
  return { ...rest, gears: [{ ...gear, id: 0, minQps: 0, maxQps: 1e9 }], unservable: [], loadGrid: { levels: 1, maxQps: 1e9 }, placement: Object.fromEntries(g.stages.map((s) => [s.model, Array.from({ length: lanes }, (_, i) => i)])) };
}

/** The static cascade: one gear, batching the planner picks at that cascade's own peak load. */
export async function staticGear(sp: Space, point: FrontierPoint, lanes: number, sloMs: number): Promise<{ gear: PlanGear; topQps: number }> {
  const ctx = contextFor(sp, [point], lanes, sloMs);
  const max = await maxFeasibleQps(ctx, 0);
  const e = max.eval ?? (await chooseBatching(ctx, 0, 1));
  return { gear: gearOf(sp, point, e), topQps: max.qps };
}

/** Dynamic batching on one model: batch the whole queue (maxBatch 32, no queue delay). */
export async function dynamicGear(sp: Space, point: FrontierPoint, lanes: number, sloMs: number): Promise<{ gear: PlanGear; topQps: number }> {
  const ctx = contextFor(sp, [point], lanes, sloMs);
  const max = await maxFeasibleQps(ctx, 0);
  return { gear: gearOf(sp, point, { maxBatch: [32], maxQueueDelayUs: [0], laneShares: [new Array<number>(lanes).fill(1 / lanes)], p95Ms: max.eval?.p95Ms ?? NaN, utilization: max.eval?.utilization ?? NaN }), topQps: max.qps };
}

/**
 * The most accurate candidate of `pool` whose planned p95 meets the SLO at `peakQps` (the
 * planner's batching and simulator; validation data only), with its gear; null when none.
 */
export async function mostAccurateHolding(sp: Space, pool: FrontierPoint[], peakQps: number, lanes: number, sloMs: number, skip = 0): Promise<{ point: FrontierPoint; gear: PlanGear } | null> {
  const byAcc = [...pool].sort((a, b) => b.accuracy - a.accuracy || a.expectedCostUs - b.expectedCostUs);
  let skipped = 0;
  for (const p of byAcc) {
    const ctx = contextFor(sp, [p], lanes, sloMs);
    const e = await chooseBatching(ctx, 0, peakQps);
    if (!e.ok) continue;
    if (skipped++ < skip) continue;
    return { point: p, gear: gearOf(sp, p, e) };
  }
  return null;
}
