// computePlan: profile -> plan.json (search, gear candidates, assignment, placement, gears).

import { columnsOf, evalCascade, exitStages, type ValidationColumns } from './cascade-eval.js';
import { assignGears, type LevelAssignment, type Progress } from './gear-assign.js';
import type { GearCascade, HostCpu, LevelEval, ModelTable, PlanContext, SimSettings } from './messages.js';
import { createExecutor, InlineExecutor, type Executor } from './parallel.js';
import { costObjectiveAssignments, estimatePlanSeconds, PlanTooSlowError, type PlanWork } from './plan-estimate.js';
import { availableParallelism } from 'node:os';
import { placeReplicas } from './placement.js';
import { kPlanSchema, type Plan, type PlanGear } from '../ts/contracts/plan-schema.js';
import { timingFor, type Profile } from '../ts/contracts/profile-schema.js';
import { enumerateSubsequences, frontierOf, kDefaultMaxStages, kDefaultThresholds, mergeCandidates, prepareSearch, toFrontierPoints, type FrontierPoint } from './search.js';
import { stageWork } from './batching.js';
import { capacityScale, checkHistogram, cheapestMeeting, loadWeightedAccuracy } from './accuracy-target.js';
import { burstBudgetItems, cascadeCapacity, serviceRateQps, sustainedQps } from './gear-capacity.js';
import type { LoadBin } from '../ts/contracts/plan-schema.js';

export interface PlanOptions {
  sloP95Ms: number;
  lanes: number;
  objective?: 'accuracy' | 'cost';
  minAccuracy?: number;
  maxStages?: number;
  thresholds?: number;
  loadLevels?: number;
  /**
   * Frontier cascades considered as gears: `maxGears` evenly by position, plus for objective
   * accuracy without a load histogram up to `maxGears` more evenly by log cost (thinForGears);
   * with a load histogram half from those meeting the target (by position) and half below it
   * (thinBelowTarget).
   */
  maxGears?: number;
  /**
   * "sustained" (default): a gear's range reaches the load at which its Poisson p95 meets the
   * SLO (utilization cap 0.95, 10,000 simulated requests; see gear-capacity.ts), bursts left to the switching
   * policy and the burst budget; "utilization-cap": the earlier rule (cap 0.8, p95 under
   * Poisson and bursty arrivals, 3,000 requests).
   */
  gearRanges?: 'sustained' | 'utilization-cap';
  utilizationCap?: number;
  delayFraction?: number;
  memoryBudgetBytesPerLane?: number;
  /** Worker threads (1 = in-process). */
  threads?: number;
  /** Shard the cascade search over the workers too (default: search on the calling thread while the pool starts). */
  searchOnWorkers?: boolean;
  /** Top of the load grid; default: capacity of the cheapest candidate on all lanes. */
  maxQps?: number;
  /** Objective "cost": the load levels (QPS) that must be served, e.g. a trace's per-second rates. */
  workload?: number[];
  /**
   * Objective "accuracy" with minAccuracy: the expected load distribution; the plan's accuracy
   * weighted by it must meet minAccuracy (gears below it allowed at the peaks). Without it,
   * every gear meets minAccuracy.
   */
  loadHistogram?: LoadBin[];
  sim?: Partial<SimSettings>;
  profilePath?: string;
  /** CPU work outside the lanes on the same cores (see HostCpu); absent: none. */
  hostCpu?: HostCpu;
}

/** Load levels of the accuracy objective's grid (evenly spaced up to maxQps). */
export const kDefaultLoadLevels = 64;

type Filled = Required<Omit<PlanOptions, 'minAccuracy' | 'maxQps' | 'workload' | 'loadHistogram' | 'sim' | 'searchOnWorkers' | 'hostCpu'>> & Pick<PlanOptions, 'minAccuracy' | 'maxQps' | 'workload' | 'loadHistogram' | 'searchOnWorkers' | 'hostCpu'> & { sim: SimSettings };

/** Limits of a computePlan call. */
export interface PlanLimits {
  /** Refuse (PlanTooSlowError, before any work) when the estimated time is above this many seconds (plan-estimate.ts); absent: no check. */
  timeBudgetS?: number;
}

export interface PlanStats {
  threads: number;
  searchMs: number;
  assignMs: number;
  /** Part of assignMs: sustained capacity, drain rate and burst budget of every gear. */
  gearFieldsMs: number;
  totalMs: number;
  candidatesEvaluated: number;
  frontierSize: number;
}

export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

function fill(o: PlanOptions): Filled {
  const sustained = (o.gearRanges ?? 'sustained') === 'sustained';
  const f: Filled = {
    gearRanges: sustained ? 'sustained' : 'utilization-cap',
    objective: 'accuracy',
    maxStages: kDefaultMaxStages,
    thresholds: kDefaultThresholds,
    loadLevels: kDefaultLoadLevels,
    maxGears: 24,
    utilizationCap: sustained ? 0.95 : 0.8,
    delayFraction: 0.3,
    memoryBudgetBytesPerLane: Infinity,
    threads: 1,
    profilePath: 'profile.json',
    ...o,
    sim: { requests: sustained ? 10_000 : 3000, seed: 1, burstAmplitude: 0.5, burstPhaseMs: 50, burstCheck: !sustained, ...o.sim },
  };
  if (!(f.sloP95Ms > 0)) throw new PlanError('--slo-p95-ms must be a positive number');
  if (!(Number.isInteger(f.lanes) && f.lanes >= 1)) throw new PlanError('--lanes must be an integer >= 1');
  if (!(f.maxStages >= 1 && f.maxStages <= 3)) throw new PlanError('maxStages must be 1, 2 or 3');
  if (!(f.utilizationCap > 0 && f.utilizationCap <= 1)) throw new PlanError('utilizationCap must be in (0, 1]');
  if (f.hostCpu) {
    if (!(f.hostCpu.cores > 0)) throw new PlanError('--host-cores must be a positive number');
    if (!(f.hostCpu.usPerRequest >= 0)) throw new PlanError('--host-us-per-request must be a number >= 0');
  }
  if (f.objective === 'cost') {
    if (f.minAccuracy === undefined) throw new PlanError('objective "cost" needs --min-accuracy');
    if (!f.workload?.length && f.maxQps === undefined) throw new PlanError('objective "cost" needs a workload (--workload) or --max-qps');
  }
  if (f.loadHistogram) {
    if (f.objective !== 'accuracy') throw new PlanError('a load histogram goes with objective "accuracy" (objective "cost" takes --workload)');
    if (f.minAccuracy === undefined) throw new PlanError('a load histogram needs --min-accuracy (the target it weights)');
    try {
      checkHistogram(f.loadHistogram);
    } catch (err) {
      throw new PlanError((err as Error).message);
    }
  }
  return f;
}

export async function computePlan(profile: Profile, options: PlanOptions & PlanLimits, onProgress?: Progress): Promise<{ plan: Plan; stats: PlanStats }> {
  const t0 = performance.now();
  const o = fill(options);
  if (options.timeBudgetS !== undefined) {
    const work = planWorkOf(profile, o);
    const estimate = estimatePlanSeconds(work);
    if (estimate.totalS > options.timeBudgetS) throw new PlanTooSlowError(estimate, work, options.timeBudgetS);
  }
  const exec = createExecutor(o.threads);
  try {
    // 1. search
    const cols = columnsOf(profile);
    const data = prepareSearch(cols, o.thresholds);
    const subseqs = enumerateSubsequences(data.costUs, o.maxStages);
    // The search (~0.1 s for the zoo) runs on this thread while the worker pool starts up
    // (Piscina spawns its threads at creation); the workers then take the gear assignment,
    // which is most of the time. Measured: sharding the search over cold workers was slower.
    const searchExec = o.threads > 1 && !o.searchOnWorkers ? new InlineExecutor() : exec;
    const shards = Math.min(subseqs.length, searchExec.threads > 1 ? o.threads * 2 : 1);
    const ids = subseqs.map((_, i) => i);
    // heaviest (3-stage) subsequences dealt round-robin so shards are balanced
    const parts = await Promise.all(
      Array.from({ length: shards }, async (_, s) => {
        const r = await searchExec.run({ kind: 'search', data, subseqs, ids: ids.filter((i) => i % shards === s) });
        if (r.kind !== 'search') throw new Error('unexpected worker result');
        onProgress?.('cascade search', s + 1, shards);
        return r.candidates;
      }),
    );
    const merged = mergeCandidates(parts);
    const frontier = toFrontierPoints(data, subseqs, frontierOf(merged));
    const tSearch = performance.now();
    // 2. gear candidates; with an accuracy target, the static cascade (the cheapest frontier
    // cascade meeting it) is always one of them
    let staticPoint: FrontierPoint | undefined;
    if (o.objective === 'accuracy' && o.minAccuracy !== undefined) {
      const i = cheapestMeeting(frontier, o.minAccuracy);
      if (i < 0) throw new PlanError(`no cascade reaches the accuracy target ${o.minAccuracy}; the most accurate candidate has ${Math.max(...frontier.map((p) => p.accuracy)).toFixed(4)} on the validation set`);
      staticPoint = frontier[i];
    }
    let pool = frontier;
    // without a load histogram every gear meets the target (switching then only buys capacity)
    if (staticPoint && !o.loadHistogram) pool = frontier.filter((p) => p.accuracy >= o.minAccuracy! - 1e-12);
    if (o.objective === 'cost') {
      pool = frontier.filter((p) => p.accuracy >= o.minAccuracy! - 1e-12);
      if (pool.length === 0) {
        const best = Math.max(...frontier.map((p) => p.accuracy));
        throw new PlanError(`no cascade reaches the accuracy floor ${o.minAccuracy}; the most accurate candidate has ${best.toFixed(4)} on the validation set`);
      }
    }
    // With a histogram, half the candidates from cascades meeting the target and half from the
    // cheaper rest: thinning the whole frontier evenly by cost left few above the target. The
    // cheaper half is spaced by cost ratio below the static cascade's cost (thinBelowTarget).
    const meets = (p: FrontierPoint) => p.accuracy >= o.minAccuracy! - 1e-12;
    const thinned = staticPoint && o.loadHistogram
      ? [...thin(pool.filter(meets), Math.ceil(o.maxGears / 2)), ...thinBelowTarget(pool.filter((p) => !meets(p)), staticPoint.expectedCostUs, Math.floor(o.maxGears / 2))]
      : o.objective === 'accuracy'
        ? thinForGears(pool, o.maxGears)
        : thin(pool, o.maxGears);
    if (staticPoint && !thinned.includes(staticPoint)) thinned.push(staticPoint);
    const cascades = thinned.map((p): GearCascade => {
      const e = evalCascade(cols, p.spec);
      return { spec: p.spec, accuracy: e.accuracy, expectedCostUs: e.expectedCostUs, reach: e.reach, exitStage: exitStages(cols, p.spec) };
    });
    cascades.sort((a, b) => b.accuracy - a.accuracy || a.expectedCostUs - b.expectedCostUs);
    const staticIdx = staticPoint ? cascades.findIndex((c) => c.spec === staticPoint!.spec) : -1;
    const models: ModelTable[] = profile.models.map((m) => {
      const t = timingFor(m, profile.lanes[0]);
      const byLength = t.lengthBuckets ? { lengthBuckets: t.lengthBuckets.map((k) => ({ length: k.length, share: k.share, p50Us: k.batchTimesUs.map((r) => r.p50) })) } : {};
      return { name: m.name, memoryBytes: m.memoryBytes, batch: t.batchTimesUs.map((r) => r.batch), p50Us: t.batchTimesUs.map((r) => r.p50), ...byLength };
    });
    const used = [...new Set(cascades.flatMap((c) => c.spec.models))].sort((a, b) => a - b);
    const batchSizes = [...new Set(used.flatMap((m) => models[m].batch))].filter((b) => b <= 64).sort((a, b) => a - b);
    const mkCtx = (lanes: number, hosts?: boolean[][]): PlanContext => ({
      cascades,
      models,
      lanes,
      hosts: hosts ?? models.map((_, m) => new Array<boolean>(lanes).fill(used.includes(m))),
      sloUs: o.sloP95Ms * 1000,
      cap: o.utilizationCap,
      delayFraction: o.delayFraction,
      batchSizes,
      sim: o.sim,
      ...(o.hostCpu ? { hostCpu: o.hostCpu } : {}),
      ...(profile.lengths ? { itemLengths: Int32Array.from(profile.lengths) } : {}),
    });
    const cheapest = cascades[cascades.length - 1];
    // 3. load levels and assignment
    let lanes = o.lanes;
    let levels: number[];
    let ctx: PlanContext;
    let assigned: LevelAssignment[];
    const pins = new Map<number, number>();
    if (o.objective === 'accuracy') {
      const allLanes = (lanes * 1e6) / cheapest.expectedCostUs;
      // with a histogram and no --max-qps: up to 4x its highest rate (room for the peaks to grow)
      const peak = o.loadHistogram ? Math.max(...o.loadHistogram.map((b) => b.rateQps)) : 0;
      ctx = mkCtx(lanes);
      // Otherwise up to what the cheapest cascade holds under the utilization cap, searched:
      // its cost at full utilization (allLanes) is always above the cap, and a grid topped
      // there listed its top level as unservable in every plan made without --max-qps.
      const top = o.maxQps ?? (peak > 0 && 4 * peak < allLanes ? 4 * peak : ((await cascadeCapacity(ctx, cascades.length - 1, allLanes / 1024, allLanes))?.qps ?? allLanes));
      levels = Array.from({ length: o.loadLevels }, (_, i) => (top * (i + 1)) / o.loadLevels);
      if (staticIdx >= 0) {
        // The static cascade's own capacity becomes a load level, pinned to it: the grid alone
        // may put no level between the capacities of its neighbours. Searched beyond the grid's
        // top: a top below that capacity (--max-qps) left the load above it to the cascade batched
        // for the top, and the plan held about a quarter of what the static cascade alone holds (the
        // evaluation's 100 ms cell in the simulator: 20,000 against 73,000 items/s).
        const cap = await cascadeCapacity(ctx, staticIdx, levels[0] / 16, Math.max(top, allLanes));
        if (cap) {
          if (!levels.includes(cap.qps)) levels = [...levels, cap.qps].sort((a, b) => a - b);
          pins.set(levels.indexOf(cap.qps), staticIdx);
        }
      }
      assigned = await assignGears(ctx, levels, exec, onProgress, pins);
    } else {
      levels = requiredLevels(o.workload ?? [o.maxQps!], o.loadLevels);
      const need = levels[levels.length - 1];
      type Try = { lanes: number; ctx: PlanContext; assigned: LevelAssignment[] };
      const attempt = async (L: number): Promise<Try> => {
        const c = mkCtx(L);
        return { lanes: L, ctx: c, assigned: await assignGears(c, levels, exec, (p, d, t) => onProgress?.(`${p} (${L} lanes)`, d, t)) };
      };
      const servesAll = (x: Try) => x.assigned.every((a) => a.eval);
      // Fewest lanes that serve every level: below `lo` the cheapest cascade lacks the capacity;
      // more lanes never serve less, so a binary search over [lo, --lanes] finds the same count
      // as trying each in turn, with at most log2(--lanes) + 1 assignments instead of --lanes.
      let lo = 1;
      while (lo <= o.lanes && (lo * 1e6 * o.utilizationCap) / cheapest.expectedCostUs < need) lo++;
      let pick: Try;
      if (lo > o.lanes) {
        pick = { lanes: o.lanes, ctx: mkCtx(o.lanes), assigned: levels.map((q, i) => ({ level: i, qps: q, eval: null, reason: `capacity of ${o.lanes} lane(s) below the load at the utilization cap` })) };
      } else {
        pick = await attempt(o.lanes);
        let [bad, good] = [lo - 1, servesAll(pick) ? o.lanes : -1];
        while (good > 0 && good - bad > 1) {
          const mid = (bad + good) >> 1;
          const x = await attempt(mid);
          if (servesAll(x)) [good, pick] = [mid, x];
          else bad = mid;
        }
      }
      lanes = pick.lanes;
      ctx = pick.ctx;
      assigned = pick.assigned;
    }
    // 4. placement under the memory budget (then re-assign with the pruned placement)
    const usedBytes = used.reduce((s, m) => s + models[m].memoryBytes, 0);
    if (usedBytes > o.memoryBudgetBytesPerLane) {
      const demands = assigned.filter((a) => a.eval).map((a) => ({ models: cascades[a.eval!.cascade].spec.models, work: stageWork(ctx, a.eval!.cascade, a.qps, a.eval!) }));
      const hosts = await placeReplicas({ memoryBytes: models.map((m) => m.memoryBytes), used, lanes, budgetBytesPerLane: o.memoryBudgetBytesPerLane, demands, cap: o.utilizationCap, modelNames: models.map((m) => m.name) });
      ctx = mkCtx(lanes, hosts);
      assigned = await assignGears(ctx, levels, exec, onProgress, pins);
    }
    // held-out accuracy per gear: the profile's answers on the held-out half, when it has them
    const heldout = profile.heldoutLabels ? columnsOf(profile, profile.lanes[0], 'heldout') : undefined;
    const { gears, unservable, sources } = await buildGears(ctx, levels, assigned, exec, profile, heldout);
    const tFields = performance.now();
    const staticGearId = await annotateGears(ctx, gears, sources, staticIdx);
    const gearFieldsMs = performance.now() - tFields;
    const accuracyObjective = o.objective === 'accuracy' && o.minAccuracy !== undefined ? targetReport(gears, o.minAccuracy, o.loadHistogram) : undefined;
    const tAssign = performance.now();
    const placement: Record<string, number[]> = {};
    used.forEach((m) => {
      const l = ctx.hosts[m].flatMap((h, i) => (h ? [i] : []));
      if (l.length) placement[models[m].name] = l;
    });
    const plan: Plan = {
      schema: kPlanSchema,
      createdAt: new Date().toISOString(),
      profile: { path: o.profilePath, createdAt: profile.createdAt, models: profile.models.map((m) => ({ name: m.name, sha256: m.sha256 })) },
      manifest: { ...profile.manifest },
      slo: { p95Ms: o.sloP95Ms },
      objective: o.objective,
      ...(o.minAccuracy !== undefined ? { minAccuracy: o.minAccuracy } : {}),
      ...(staticGearId !== undefined ? { staticGearId } : {}),
      ...(accuracyObjective ? { accuracyObjective } : {}),
      utilizationCap: o.utilizationCap,
      lanes: Array.from({ length: lanes }, () => ({ ...profile.lanes[0] })),
      placement,
      // the batch times planned with: the server measures the host's speed against them
      models: profile.models.map((m, i) => ({ name: m.name, file: m.file, sha256: m.sha256, memoryBytes: m.memoryBytes, batchTimesUs: models[i].batch.map((batch, j) => ({ batch, p50Us: models[i].p50Us[j] })) })),
      loadGrid: { levels: levels.length, maxQps: levels[levels.length - 1] },
      gears,
      unservable,
      planner: {
        thresholdsPerStage: o.thresholds,
        maxStages: o.maxStages,
        candidatesEvaluated: merged.evaluated,
        frontierSize: frontier.length,
        gearCandidates: cascades.length,
        batchTimeRule: 'step-up',
        simulation: { ...o.sim },
        gearRanges: o.gearRanges,
        ...(o.hostCpu ? { hostCpu: { ...o.hostCpu } } : {}),
      },
    };
    const tEnd = performance.now();
    return {
      plan,
      stats: { threads: o.threads, searchMs: tSearch - t0, assignMs: tAssign - tSearch, gearFieldsMs, totalMs: tEnd - t0, candidatesEvaluated: merged.evaluated, frontierSize: frontier.length },
    };
  } finally {
    await exec.close();
  }
}

/**
 * What the plan will compute, for estimatePlanSeconds: the frontier is thinned to at most
 * maxGears candidates before the assignment, 2·maxGears for objective accuracy without a load
 * histogram (thinForGears).
 */
export function planWorkOf(profile: Profile, o: Pick<Filled, 'maxStages' | 'thresholds' | 'maxGears' | 'loadLevels' | 'lanes' | 'sim' | 'objective' | 'memoryBudgetBytesPerLane' | 'threads' | 'minAccuracy' | 'loadHistogram'>): PlanWork {
  const models = profile.models.length;
  return {
    items: profile.labels.length,
    models,
    maxStages: Math.min(o.maxStages, models),
    thresholds: o.thresholds,
    measures: 3,
    gearCandidates: o.objective === 'accuracy' && !(o.minAccuracy !== undefined && o.loadHistogram) ? 2 * o.maxGears : o.maxGears,
    levels: o.loadLevels,
    lanes: o.lanes,
    requests: o.sim.requests,
    // ranges by sustained capacity (sim.burstCheck false) run the Poisson simulation only
    simulationsPerChoice: o.sim.burstCheck === false ? 1 : 2,
    stages: Math.min(o.maxStages, models),
    assignments: (o.objective === 'cost' ? costObjectiveAssignments(o.lanes) : 1) + (Number.isFinite(o.memoryBudgetBytesPerLane) ? 1 : 0),
    threads: o.threads,
    cores: availableParallelism(),
  };
}

/** Positions of at most `max` points of `n`, evenly spaced, the first and last included. */
function evenPositions(n: number, max: number): Set<number> {
  const idx = new Set<number>();
  for (let i = 0; i < max; i++) idx.add(Math.round((i * (n - 1)) / (max - 1)));
  return idx;
}

/** At most `max` points of a frontier (cheapest first), evenly spaced by position. */
export function thin(frontier: FrontierPoint[], max: number): FrontierPoint[] {
  if (frontier.length <= max) return frontier;
  return [...evenPositions(frontier.length, max)].sort((a, b) => a - b).map((i) => frontier[i]);
}

/**
 * Gear candidates for objective accuracy without a load histogram (the most accurate gear at
 * every load): `thin` by position, plus, for `max` costs evenly spaced on a log scale from
 * the cheapest point's to the dearest's, the most accurate point costing at most that (at most
 * 2·max in all, cheapest first; on a frontier accuracy rises with cost). Why: a gear's capacity goes as
 * 1 / cost, and on the zoo's frontier the points are dense at the cheap end, so spacing by
 * position alone left one candidate between 128 and 256 µs per query: the plan stepped from
 * 93.58% to 93.18% where cascades of 93.3-93.5% held the load (docs/planner.md).
 */
export function thinForGears(frontier: FrontierPoint[], max: number): FrontierPoint[] {
  if (frontier.length <= max) return frontier;
  const idx = evenPositions(frontier.length, max);
  const lo = frontier[0].expectedCostUs;
  const hi = frontier[frontier.length - 1].expectedCostUs;
  if (lo > 0 && hi > lo) {
    let j = 0;
    for (let k = 0; k < max; k++) {
      const cap = k === max - 1 ? hi : lo * Math.pow(hi / lo, k / (max - 1));
      while (j + 1 < frontier.length && frontier[j + 1].expectedCostUs <= cap) j++;
      idx.add(j);
    }
  }
  return [...idx].sort((a, b) => a - b).map((i) => frontier[i]);
}

/** How far below the static cascade's cost the cheaper candidates are spaced (thinBelowTarget). */
export const kBelowTargetCostSpan = 8;

/**
 * Candidates below the accuracy target (a frontier's points, cheapest first): for `max` - 1
 * costs spaced by equal ratios from `topCostUs` (the static cascade's) down to 1/8 of it, the
 * most accurate point costing at most that, and the cheapest point. Why: a gear below the target
 * serves the loads above the static cascade's capacity, and the accuracy the plan gives up
 * there is set by the most accurate candidate that holds each load. Spaced by position, the
 * zoo's frontier (dense at the cheap end: 84-91.5% for costs up to a fifth of the static cascade's) gave
 * the 50 ms plans nothing between 93.10% (at the static cascade's cost) and 92.30% (at 45% of
 * it): the loads just above the static cascade's capacity went 0.8 point below it where
 * cascades of 92.5-93.0% held them. Below 1/8 of its cost only the cheapest point is kept,
 * for loads far above its capacity.
 */
export function thinBelowTarget(points: FrontierPoint[], topCostUs: number, max: number): FrontierPoint[] {
  if (points.length <= max) return points;
  const idx = new Set<number>([0]);
  let j = points.length - 1;
  for (let k = 0; k < max - 1; k++) {
    const cap = topCostUs * Math.pow(1 / kBelowTargetCostSpan, k / Math.max(1, max - 2));
    while (j > 0 && points[j].expectedCostUs > cap * (1 + 1e-12)) j--; // a point at the cap itself counts
    idx.add(j);
  }
  return [...idx].sort((a, b) => a - b).map((i) => points[i]);
}

/** At most `max` load levels covering the workload: its distinct rates, or quantiles of them. */
export function requiredLevels(qps: number[], max: number): number[] {
  const pos = [...new Set(qps.filter((q) => q > 0))].sort((a, b) => a - b);
  if (pos.length === 0) throw new PlanError('workload has no positive QPS value');
  if (pos.length <= max) return pos;
  return [...new Set(Array.from({ length: max }, (_, i) => pos[Math.round(((i + 1) * (pos.length - 1)) / max)]))];
}

const sameConfig = (a: LevelEval, b: LevelEval) => a.cascade === b.cascade && a.maxBatch.join() === b.maxBatch.join() && a.maxQueueDelayUs.join() === b.maxQueueDelayUs.join();

async function buildGears(ctx: PlanContext, levels: number[], assigned: LevelAssignment[], exec: Executor, profile: Profile, heldout?: ValidationColumns): Promise<{ gears: PlanGear[]; unservable: Plan['unservable']; sources: LevelEval[] }> {
  type Seg = { a: number; b: number; e: LevelEval; p95: number };
  const segs: Seg[] = [];
  const unservable: Plan['unservable'] = [];
  const lo = (i: number) => (i === 0 ? 0 : levels[i - 1]);
  let i = 0;
  while (i < assigned.length) {
    const x = assigned[i];
    if (!x.eval) {
      let j = i;
      while (j + 1 < assigned.length && !assigned[j + 1].eval) j++;
      unservable.push({ minQps: lo(i), maxQps: levels[j], reason: x.reason ?? 'no candidate meets the SLO' });
      i = j + 1;
      continue;
    }
    let j = i;
    while (j + 1 < assigned.length && assigned[j + 1].eval && assigned[j + 1].eval!.cascade === x.eval.cascade) j++;
    // one run of the same cascade over levels i..j: try the top level's config for all of it
    const top = assigned[j].eval!;
    const allSame = assigned.slice(i, j + 1).every((y) => sameConfig(y.eval!, top));
    let merged = allSame;
    let p95 = Math.max(...assigned.slice(i, j + 1).map((y) => (sameConfig(y.eval!, top) ? y.eval!.p95Ms : 0)));
    if (!allSame) {
      const r = await exec.run({ kind: 'evalLevel', ctx, cascade: top.cascade, qps: levels[i], config: top });
      if (r.kind === 'evalLevel' && r.eval.ok) {
        merged = true;
        p95 = Math.max(p95, r.eval.p95Ms);
      }
    }
    if (merged) segs.push({ a: i, b: j, e: top, p95 });
    else {
      // Fewest segments, greedily from the low end: each segment [k..m] takes the config
      // chosen at its top level m (which met the SLO there) if it also meets it at level k.
      // Configs differ level to level (the queue delay is the fill time at that rate), so
      // splitting at every change would give one gear per level.
      for (let k = i; k <= j; ) {
        let placed = false;
        for (let m = j; m > k && !placed; m--) {
          const cfg = assigned[m].eval!;
          if (m < j && sameConfig(cfg, assigned[m + 1].eval!)) continue; // tried already
          const r = await exec.run({ kind: 'evalLevel', ctx, cascade: cfg.cascade, qps: levels[k], config: cfg });
          if (r.kind === 'evalLevel' && r.eval.ok) {
            const same = assigned.slice(k, m + 1).filter((y) => sameConfig(y.eval!, cfg)).map((y) => y.eval!.p95Ms);
            segs.push({ a: k, b: m, e: cfg, p95: Math.max(r.eval.p95Ms, ...same) });
            k = m + 1;
            placed = true;
          }
        }
        if (!placed) {
          segs.push({ a: k, b: k, e: assigned[k].eval!, p95: assigned[k].eval!.p95Ms });
          k++;
        }
      }
    }
    i = j + 1;
  }
  const gears = segs.map((s, id): PlanGear => {
    const c = ctx.cascades[s.e.cascade];
    const k = c.spec.models.length;
    return {
      id,
      minQps: lo(s.a),
      maxQps: levels[s.b],
      stages: c.spec.models.map((m, st) => ({
        model: profile.models[m].name,
        threshold: st < k - 1 ? c.spec.thresholds[st] : 0,
        measure: c.spec.measure,
        maxBatch: s.e.maxBatch[st],
        maxQueueDelayUs: s.e.maxQueueDelayUs[st],
        laneShares: s.e.laneShares[st].map((x) => Math.round(x * 1e6) / 1e6),
      })),
      expectedAccuracy: c.accuracy,
      ...(heldout ? { heldoutAccuracy: evalCascade(heldout, c.spec).accuracy } : {}),
      expectedCostUs: c.expectedCostUs,
      predictedP95Ms: s.p95,
      utilization: s.e.utilization,
    };
  });
  // re-normalize rounded shares so they sum to exactly 1
  for (const g of gears) for (const st of g.stages) {
    const sum = st.laneShares.reduce((a, b) => a + b, 0);
    const l = st.laneShares.indexOf(Math.max(...st.laneShares));
    st.laneShares[l] = Math.round((st.laneShares[l] + 1 - sum) * 1e9) / 1e9;
  }
  return { gears, unservable, sources: segs.map((s) => s.e) };
}

/**
 * Adds what the switching policy reads to each gear (sustained capacity, drain rate, burst
 * budget, all with the gear's batching at its top load) and marks the static cascade's gear:
 * the one at the top of its run (its batching is the one chosen at its own capacity).
 * Returns the static gear's id.
 */
async function annotateGears(ctx: PlanContext, gears: PlanGear[], sources: LevelEval[], staticIdx: number): Promise<number | undefined> {
  let staticGearId: number | undefined;
  for (let i = 0; i < gears.length; i++) {
    const g = gears[i];
    const e = sources[i];
    g.sustainedQps = await sustainedQps(ctx, e.cascade, e, g.maxQps);
    g.serviceRateQps = serviceRateQps(ctx, e.cascade, e, g.maxQps);
    g.burstBudgetItems = burstBudgetItems(ctx, e.cascade, e, e.laneShares, g.maxQps);
    if (e.cascade === staticIdx && sources[i + 1]?.cascade !== staticIdx) staticGearId = g.id;
  }
  if (staticGearId !== undefined) gears[staticGearId].static = true;
  return staticGearId;
}

/** The accuracy target's report: load-weighted over the histogram, or every gear meeting it. */
function targetReport(gears: PlanGear[], target: number, histogram?: LoadBin[]): NonNullable<Plan['accuracyObjective']> {
  if (!histogram) return { target, mode: 'every-gear', met: gears.length > 0 && gears.every((g) => g.expectedAccuracy >= target - 1e-12) };
  const lwa = loadWeightedAccuracy(gears, histogram);
  const scale = capacityScale(gears, histogram, target);
  const heldout = gears.length > 0 && gears.every((g) => g.heldoutAccuracy !== undefined) ? gears.map((g) => ({ ...g, expectedAccuracy: g.heldoutAccuracy! })) : undefined;
  return {
    target,
    mode: 'load-weighted',
    histogram: histogram.map((b) => ({ rateQps: b.rateQps, weight: b.weight })),
    loadWeightedAccuracy: lwa,
    ...(heldout ? { loadWeightedHeldoutAccuracy: loadWeightedAccuracy(heldout, histogram) } : {}),
    ...(Number.isFinite(scale) ? { capacityScale: scale } : {}),
    met: lwa >= target - 1e-12,
  };
}
