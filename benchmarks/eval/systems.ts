// The systems compared, each a plan file served by the same server and native engine:
// - cascadeserve: the gear plan (computePlan, objective accuracy, cascades of up to 3 models);
// - msplus: model switching, the same planner with single-model cascades only (maxStages 1),
//   switched by the same load monitor (= the ablation "gears without cascades");
// - static: one gear = the cheapest cascade meeting the accuracy target, with the batching the
//   planner picks at that cascade's own peak load, no switching (= "cascades without switching");
// - dynamic: one gear = the single model that meets the target (the cheapest one that does:
//   the strongest such baseline; at the headline target only the most accurate model does),
//   batching the whole queue (Triton-like: maxBatch 32, no queue delay), no switching.
// A plan with one gear never switches: the gear policy maps every load to it.
import { columnsOf, evalCascade, exitStages, type CascadeSpec, type ValidationColumns } from '../../planner/cascade-eval.js';
import { chooseBatching } from '../../planner/batching.js';
import { computePlan } from '../../planner/compute-plan.js';
import type { GearCascade, HostCpu, LevelEval, ModelTable, PlanContext } from '../../planner/messages.js';
import type { Plan, PlanGear } from '../../ts/contracts/plan-schema.js';
import { timingFor, type Profile } from '../../ts/contracts/profile-schema.js';
import { prepareSearch, searchFrontier, type FrontierPoint } from '../../planner/search.js';

export type SystemName = 'cascadeserve' | 'msplus' | 'static' | 'dynamic';
export const kSystems: SystemName[] = ['cascadeserve', 'msplus', 'static', 'dynamic'];
export const kSystemLabel: Record<SystemName, string> = {
  cascadeserve: 'CascadeServe (gear plan)',
  msplus: 'MS+ (model switching)',
  static: 'static cascade',
  dynamic: 'dynamic batching (one model)',
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
  return {
    profile,
    val,
    held,
    frontier,
    singles,
    bestVal: Math.max(...singles.map((s) => s.accuracy)),
    bestHeld: Math.max(...profile.models.map((_, m) => evalCascade(held, { models: [m], thresholds: [], measure: 'max_prob' }).accuracy)),
    models,
  };
}

export const heldoutAccuracy = (sp: Space, spec: CascadeSpec) => evalCascade(sp.held, spec).accuracy;

/**
 * The cheapest candidate meeting an accuracy target given as a drop from the best single model:
 * chosen on the validation half (accuracy >= bestVal - drop), then confirmed on the held-out
 * half (>= bestHeld - drop; if not, the next more accurate candidate): the baselines get the
 * benefit of the doubt.
 */
export function cheapestMeeting(sp: Space, pool: FrontierPoint[], drop: number): FrontierPoint {
  const sorted = [...pool].sort((a, b) => a.expectedCostUs - b.expectedCostUs);
  for (const p of sorted) {
    if (p.accuracy >= sp.bestVal - drop - 1e-12 && heldoutAccuracy(sp, p.spec) >= sp.bestHeld - drop - 1e-12) return p;
  }
  return [...pool].sort((a, b) => b.accuracy - a.accuracy)[0];
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

function gearOf(sp: Space, p: FrontierPoint, e: { maxBatch: number[]; maxQueueDelayUs: number[]; laneShares: number[][]; p95Ms: number; utilization: number }): PlanGear {
  const k = p.spec.models.length;
  const ev = evalCascade(sp.val, p.spec);
  return {
    id: 0,
    minQps: 0,
    maxQps: 1e9,
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

const describe = (sp: Space, g: PlanGear) => g.stages.map((s) => `${s.model}(b${s.maxBatch})`).join('>') + ` val ${(g.expectedAccuracy * 100).toFixed(2)}% held ${((g.heldoutAccuracy ?? NaN) * 100).toFixed(2)}%`;

/** Plans of all four systems for an SLO and an accuracy drop (static and dynamic depend on it). */
export async function systemPlans(sp: Space, sloMs: number, drop: number, lanes: number, manifestPath: string, maxQpsPerLane = kMaxPlanQps): Promise<Record<SystemName, SystemPlan>> {
  // The load grid tops at maxQpsPerLane (the eval passes 0.9x the measured front end's
  // capacity, at most kMaxPlanQps): above it the HTTP front end, not the models, is the
  // bottleneck; the planner's default (capacity of the cheapest cascade, ~2M QPS for logreg)
  // would leave the first of its 64 levels far above anything the accurate gears can serve.
  const common = { sloP95Ms: sloMs, lanes, objective: 'accuracy' as const, threads: 1, sim: kSim, maxQps: maxQpsPerLane * lanes, ...(sp.hostCpu ? { hostCpu: sp.hostCpu } : {}) };
  const fix = (plan: Plan) => ({ ...plan, manifest: { path: manifestPath, name: plan.manifest.name } });
  const cs = fix((await computePlan(sp.profile, common)).plan);
  const ms = fix((await computePlan(sp.profile, { ...common, maxStages: 1 })).plan);
  const topOf = (p: Plan) => p.gears[p.gears.length - 1]?.maxQps ?? 0;
  const gearDesc = (p: Plan) => p.gears.map((g) => `[${g.minQps.toFixed(0)},${g.maxQps.toFixed(0)}] ${describe(sp, g)}`).join('; ');
  // static: cheapest cascade meeting the target, batching for its own peak
  const sPoint = cheapestMeeting(sp, sp.frontier, drop);
  const sCtx = contextFor(sp, [sPoint], lanes, sloMs);
  const sMax = await maxFeasibleQps(sCtx, 0);
  const sEval = sMax.eval ?? (await chooseBatching(sCtx, 0, 1));
  const staticGear = gearOf(sp, sPoint, sEval);
  // dynamic batching: cheapest single model meeting the target, batch the whole queue
  const dPoint = cheapestMeeting(sp, sp.singles, drop);
  const dCtx = contextFor(sp, [dPoint], lanes, sloMs);
  const dMax = await maxFeasibleQps(dCtx, 0);
  const dynGear = gearOf(sp, dPoint, { maxBatch: [32], maxQueueDelayUs: [0], laneShares: [new Array<number>(lanes).fill(1 / lanes)], p95Ms: dMax.eval?.p95Ms ?? NaN, utilization: dMax.eval?.utilization ?? NaN });
  const one = (g: PlanGear): Plan => ({ ...cs, gears: [g], unservable: [], loadGrid: { levels: 1, maxQps: g.maxQps }, placement: Object.fromEntries(g.stages.map((s) => [s.model, Array.from({ length: lanes }, (_, i) => i)])) });
  return {
    cascadeserve: { system: 'cascadeserve', plan: cs, topQps: topOf(cs), description: gearDesc(cs) },
    msplus: { system: 'msplus', plan: ms, topQps: topOf(ms), description: gearDesc(ms) },
    static: { system: 'static', plan: one(staticGear), topQps: sMax.qps, description: describe(sp, staticGear) },
    dynamic: { system: 'dynamic', plan: one(dynGear), topQps: dMax.qps, description: describe(sp, dynGear) },
  };
}
