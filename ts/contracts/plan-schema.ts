// plan.json: the offline planner's output and the server's gear table.
// Schema "cascadeserve.plan/1"; see docs/planner.md. validatePlan checks shape and
// consistency (gear ranges ordered and disjoint, shares summing to 1 over lanes that host
// the model, known model names) and names the field path in every message.

import { Checker, kCertaintyMeasures, ProfileValidationError, type CertaintyMeasure } from './profile-schema.js';

export const kPlanSchema = 'cascadeserve.plan/1';

export interface PlanStage {
  model: string;
  /** Exit when certainty >= threshold; the last stage always answers (threshold written as 0). */
  threshold: number;
  measure: CertaintyMeasure;
  maxBatch: number;
  maxQueueDelayUs: number;
  /** Planned share of this stage's work per lane (sums to 1; 0 = the lane does not serve it). */
  laneShares: number[];
}

export interface PlanGear {
  id: number;
  /** The gear serves loads in (minQps, maxQps]; the first gear starts at 0. */
  minQps: number;
  maxQps: number;
  stages: PlanStage[];
  expectedAccuracy: number;
  heldoutAccuracy?: number;
  expectedCostUs: number;
  /** Predicted p95 at the checked loads (Poisson; also bursty under the "utilization-cap" range rule: the max). */
  predictedP95Ms: number;
  /** LP-predicted peak lane utilization at maxQps. */
  utilization: number;
  /**
   * Optional (plans since #14; older plans lack them). Largest constant load (items/s) at
   * which this gear's batching, held fixed, has a simulated p95 within the SLO (Poisson and
   * bursty arrivals, as for the ranges).
   */
  sustainedQps?: number;
  /** Items/s the gear's lanes complete when saturated (full batches): the drain rate of a backlog. */
  serviceRateQps?: number;
  /**
   * Items that can be queued at once on this gear (idle lanes, no other arrivals) and still
   * be answered with their p95 within the SLO (simulated). Arrivals after them do not delay
   * them (FIFO first stage, oldest-deadline-first later stages); an item arriving behind such
   * a backlog waits for all of it (about burstBudgetItems / serviceRateQps).
   */
  burstBudgetItems?: number;
  /** True on the gear running the static cascade (the cheapest frontier cascade meeting minAccuracy). */
  static?: boolean;
}

/** One bin of the expected load distribution the accuracy target is weighted over. */
export interface LoadBin {
  rateQps: number;
  weight: number;
}

/** How the plan meets an accuracy target (`minAccuracy`) under objective "accuracy". */
export interface AccuracyObjective {
  target: number;
  /**
   * "load-weighted": the gears' accuracy weighted by the load histogram meets the target
   * (gears below it allowed at the peaks); "every-gear": no histogram, every gear meets it.
   */
  mode: 'load-weighted' | 'every-gear';
  histogram?: LoadBin[];
  /** Accuracy per request: sum over bins of weight x rateQps x accuracy of the gear serving rateQps (0 where no gear serves it) / sum of weight x rateQps (a bin's weight is its share of time). */
  loadWeightedAccuracy?: number;
  /** The same with the gears' heldoutAccuracy (when every gear has one); reported, never used to choose. */
  loadWeightedHeldoutAccuracy?: number;
  /** Largest factor the histogram's rates can be multiplied by with the load-weighted accuracy still >= target and every bin served. */
  capacityScale?: number;
  met: boolean;
}

/** Gear-policy parameters a plan carries (ts/server/gear-policy.ts); the server's options override them. */
export interface PlanPolicy {
  /** How far ahead arrivals above a gear's sustained capacity are counted, ms (the policy's default: 4 x the SLO). */
  overloadHorizonMs?: number;
  /** How the parameters were chosen, in words (for example the simulator runs and seeds that chose them). */
  chosenBy?: string;
}

export interface Plan {
  schema: typeof kPlanSchema;
  createdAt: string;
  profile: { path: string; createdAt: string; models: { name: string; sha256: string }[] };
  manifest: { path: string; name: string };
  slo: { p95Ms: number };
  objective: 'accuracy' | 'cost';
  minAccuracy?: number;
  /** Optional (#14): id of the gear with `static: true`. */
  staticGearId?: number;
  /** Optional (#14): present when planned with an accuracy target under objective "accuracy". */
  accuracyObjective?: AccuracyObjective;
  /** Optional: parameters of the server's gear policy chosen offline for this plan (absent: the policy's defaults). */
  policy?: PlanPolicy;
  utilizationCap: number;
  lanes: { kind: 'cpu'; intraOpThreads: number }[];
  placement: Record<string, number[]>;
  /**
   * `batchTimesUs` (optional, plans since session 15): the profiled p50 per batch size the plan
   * was computed from, ascending; the server measures the host's speed against it
   * (ts/server/host-speed.ts).
   */
  models: { name: string; file: string; sha256: string; memoryBytes: number; batchTimesUs?: { batch: number; p50Us: number }[] }[];
  loadGrid: { levels: number; maxQps: number };
  gears: PlanGear[];
  unservable: { minQps: number; maxQps: number; reason: string }[];
  planner: {
    thresholdsPerStage: number;
    maxStages: number;
    candidatesEvaluated: number;
    frontierSize: number;
    gearCandidates: number;
    batchTimeRule: 'step-up';
    simulation: { requests: number; seed: number; burstAmplitude: number; burstPhaseMs: number; burstCheck?: boolean };
    /** How gear ranges were set (absent: "utilization-cap", plans before #14); see docs/planner.md. */
    gearRanges?: 'sustained' | 'utilization-cap';
    /** Host CPU work the plan assumed on the lanes' cores (see HostCpu in messages.ts). */
    hostCpu?: { cores: number; usPerRequest: number };
  };
}

export class PlanValidationError extends ProfileValidationError {
  constructor(errors: string[]) {
    super(errors, 'plan');
    this.name = 'PlanValidationError';
  }
}

export function validatePlan(raw: unknown): Plan {
  const c = new Checker();
  if (!c.obj(raw, 'plan')) throw new PlanValidationError(c.errors);
  if (raw.schema !== kPlanSchema) c.fail('schema', `expected "${kPlanSchema}", got ${JSON.stringify(raw.schema)}`);
  if (c.str(raw.createdAt, 'createdAt') && Number.isNaN(Date.parse(raw.createdAt))) c.fail('createdAt', 'expected an ISO date');
  if (c.obj(raw.profile, 'profile')) {
    c.str(raw.profile.path, 'profile.path');
    c.arr(raw.profile.models, 'profile.models');
  }
  if (c.obj(raw.manifest, 'manifest')) {
    c.str(raw.manifest.path, 'manifest.path');
    c.str(raw.manifest.name, 'manifest.name');
  }
  if (c.obj(raw.slo, 'slo')) c.num(raw.slo.p95Ms, 'slo.p95Ms', 'positive');
  c.lit(raw.objective, 'objective', ['accuracy', 'cost']);
  if (raw.minAccuracy !== undefined) c.num(raw.minAccuracy, 'minAccuracy', 'unit');
  c.num(raw.utilizationCap, 'utilizationCap', 'unit');
  let laneCount = -1;
  if (c.arr(raw.lanes, 'lanes', 1)) {
    laneCount = raw.lanes.length;
    raw.lanes.forEach((l, i) => {
      if (!c.obj(l, `lanes[${i}]`)) return;
      c.lit(l.kind, `lanes[${i}].kind`, ['cpu']);
      c.int(l.intraOpThreads, `lanes[${i}].intraOpThreads`, 1);
    });
  }
  const names = new Set<string>();
  if (c.arr(raw.models, 'models', 1)) {
    raw.models.forEach((m, i) => {
      if (!c.obj(m, `models[${i}]`)) return;
      if (c.str(m.name, `models[${i}].name`)) names.add(m.name);
      c.str(m.file, `models[${i}].file`);
      c.str(m.sha256, `models[${i}].sha256`);
      c.num(m.memoryBytes, `models[${i}].memoryBytes`, 'positive');
      if (m.batchTimesUs !== undefined && c.arr(m.batchTimesUs, `models[${i}].batchTimesUs`, 1)) {
        let prev = 0;
        m.batchTimesUs.forEach((r, j) => {
          const p = `models[${i}].batchTimesUs[${j}]`;
          if (!c.obj(r, p)) return;
          if (c.int(r.batch, `${p}.batch`, 1)) {
            if (r.batch <= prev) c.fail(`${p}.batch`, `must be greater than the previous entry's (${prev}), got ${String(r.batch)}`);
            prev = r.batch;
          }
          c.num(r.p50Us, `${p}.p50Us`, 'positive');
        });
      }
    });
  }
  const placement = new Map<string, Set<number>>();
  if (c.obj(raw.placement, 'placement')) {
    for (const [name, lanes] of Object.entries(raw.placement)) {
      const p = `placement.${name}`;
      if (!names.has(name)) c.fail(p, `unknown model "${name}" (not in models)`);
      if (!c.arr(lanes, p, 1)) continue;
      const set = new Set<number>();
      lanes.forEach((l, j) => {
        if (c.int(l, `${p}[${j}]`, 0)) {
          if (laneCount >= 0 && l >= laneCount) c.fail(`${p}[${j}]`, `lane index ${l} out of range (${laneCount} lanes)`);
          set.add(l);
        }
      });
      placement.set(name, set);
    }
  }
  if (c.obj(raw.loadGrid, 'loadGrid')) {
    c.int(raw.loadGrid.levels, 'loadGrid.levels', 1);
    c.num(raw.loadGrid.maxQps, 'loadGrid.maxQps', 'positive');
  }
  if (c.arr(raw.gears, 'gears')) {
    let prevMax = -Infinity;
    raw.gears.forEach((g, i) => {
      const p = `gears[${i}]`;
      if (!c.obj(g, p)) return;
      c.int(g.id, `${p}.id`, 0);
      const okMin = c.num(g.minQps, `${p}.minQps`, 'nonneg');
      const okMax = c.num(g.maxQps, `${p}.maxQps`, 'positive');
      if (okMin && okMax) {
        if ((g.maxQps as number) <= (g.minQps as number)) c.fail(`${p}.maxQps`, `expected > minQps (${String(g.minQps)})`);
        if ((g.minQps as number) < prevMax - 1e-9) c.fail(`${p}.minQps`, `overlaps the previous gear (maxQps ${prevMax}); gears must be sorted by load and disjoint`);
        prevMax = g.maxQps as number;
      }
      c.num(g.expectedAccuracy, `${p}.expectedAccuracy`, 'unit');
      if (g.heldoutAccuracy !== undefined) c.num(g.heldoutAccuracy, `${p}.heldoutAccuracy`, 'unit');
      c.num(g.expectedCostUs, `${p}.expectedCostUs`, 'nonneg');
      c.num(g.predictedP95Ms, `${p}.predictedP95Ms`, 'positive');
      c.num(g.utilization, `${p}.utilization`, 'nonneg');
      if (g.sustainedQps !== undefined) c.num(g.sustainedQps, `${p}.sustainedQps`, 'nonneg');
      if (g.serviceRateQps !== undefined) c.num(g.serviceRateQps, `${p}.serviceRateQps`, 'nonneg');
      if (g.burstBudgetItems !== undefined) c.int(g.burstBudgetItems, `${p}.burstBudgetItems`, 0);
      if (g.static !== undefined && typeof g.static !== 'boolean') c.fail(`${p}.static`, `expected a boolean, got ${JSON.stringify(g.static)}`);
      if (!c.arr(g.stages, `${p}.stages`, 1)) return;
      g.stages.forEach((s, j) => checkStage(c, s, `${p}.stages[${j}]`, names, placement, laneCount));
    });
  }
  if (c.arr(raw.unservable, 'unservable')) {
    raw.unservable.forEach((u, i) => {
      if (!c.obj(u, `unservable[${i}]`)) return;
      c.num(u.minQps, `unservable[${i}].minQps`, 'nonneg');
      c.num(u.maxQps, `unservable[${i}].maxQps`, 'positive');
      c.str(u.reason, `unservable[${i}].reason`);
    });
  }
  if (raw.staticGearId !== undefined && c.int(raw.staticGearId, 'staticGearId', 0)) {
    const gears = Array.isArray(raw.gears) ? (raw.gears as { id?: unknown; static?: unknown }[]) : [];
    const g = gears.find((x) => x && x.id === raw.staticGearId);
    if (!g) c.fail('staticGearId', `no gear has id ${String(raw.staticGearId)}`);
    else if (g.static !== true) c.fail('staticGearId', `gear ${String(raw.staticGearId)} is not marked static: true`);
  }
  if (raw.accuracyObjective !== undefined) checkAccuracyObjective(c, raw.accuracyObjective);
  if (raw.policy !== undefined && c.obj(raw.policy, 'policy')) {
    if (raw.policy.overloadHorizonMs !== undefined) c.num(raw.policy.overloadHorizonMs, 'policy.overloadHorizonMs', 'nonneg');
    if (raw.policy.chosenBy !== undefined) c.str(raw.policy.chosenBy, 'policy.chosenBy');
  }
  c.obj(raw.planner, 'planner');
  if (c.errors.length > 0) throw new PlanValidationError(c.errors);
  return raw as unknown as Plan;
}

function checkAccuracyObjective(c: Checker, a: unknown): void {
  const p = 'accuracyObjective';
  if (!c.obj(a, p)) return;
  c.num(a.target, `${p}.target`, 'unit');
  c.lit(a.mode, `${p}.mode`, ['load-weighted', 'every-gear']);
  if (a.histogram !== undefined && c.arr(a.histogram, `${p}.histogram`, 1)) {
    a.histogram.forEach((b, i) => {
      if (!c.obj(b, `${p}.histogram[${i}]`)) return;
      c.num(b.rateQps, `${p}.histogram[${i}].rateQps`, 'nonneg');
      c.num(b.weight, `${p}.histogram[${i}].weight`, 'positive');
    });
  }
  if (a.loadWeightedAccuracy !== undefined) c.num(a.loadWeightedAccuracy, `${p}.loadWeightedAccuracy`, 'unit');
  if (a.loadWeightedHeldoutAccuracy !== undefined) c.num(a.loadWeightedHeldoutAccuracy, `${p}.loadWeightedHeldoutAccuracy`, 'unit');
  if (a.capacityScale !== undefined) c.num(a.capacityScale, `${p}.capacityScale`, 'nonneg');
  if (typeof a.met !== 'boolean') c.fail(`${p}.met`, `expected a boolean, got ${JSON.stringify(a.met)}`);
}

function checkStage(c: Checker, s: unknown, p: string, names: Set<string>, placement: Map<string, Set<number>>, laneCount: number): void {
  if (!c.obj(s, p)) return;
  if (c.str(s.model, `${p}.model`) && !names.has(s.model)) c.fail(`${p}.model`, `unknown model "${s.model}" (not in models)`);
  c.num(s.threshold, `${p}.threshold`, 'unit');
  c.lit(s.measure, `${p}.measure`, kCertaintyMeasures);
  c.int(s.maxBatch, `${p}.maxBatch`, 1);
  c.num(s.maxQueueDelayUs, `${p}.maxQueueDelayUs`, 'nonneg');
  if (!c.arr(s.laneShares, `${p}.laneShares`)) return;
  if (laneCount >= 0 && s.laneShares.length !== laneCount) {
    c.fail(`${p}.laneShares`, `expected ${laneCount} shares (one per lane), got ${s.laneShares.length}`);
    return;
  }
  let sum = 0;
  const hosted = typeof s.model === 'string' ? placement.get(s.model) : undefined;
  s.laneShares.forEach((x, l) => {
    if (!c.num(x, `${p}.laneShares[${l}]`, 'unit')) return;
    sum += x;
    if (x > 0 && hosted && !hosted.has(l)) c.fail(`${p}.laneShares[${l}]`, `lane ${l} does not host model "${String(s.model)}" (placement)`);
  });
  if (Math.abs(sum - 1) > 1e-6) c.fail(`${p}.laneShares`, `expected shares summing to 1, got ${sum}`);
}
