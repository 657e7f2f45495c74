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
  /** Predicted p95 (max over Poisson and bursty simulations at the checked loads). */
  predictedP95Ms: number;
  /** LP-predicted peak lane utilization at maxQps. */
  utilization: number;
}

export interface Plan {
  schema: typeof kPlanSchema;
  createdAt: string;
  profile: { path: string; createdAt: string; models: { name: string; sha256: string }[] };
  manifest: { path: string; name: string };
  slo: { p95Ms: number };
  objective: 'accuracy' | 'cost';
  minAccuracy?: number;
  utilizationCap: number;
  lanes: { kind: 'cpu'; intraOpThreads: number }[];
  placement: Record<string, number[]>;
  models: { name: string; file: string; sha256: string; memoryBytes: number }[];
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
    simulation: { requests: number; seed: number; burstAmplitude: number; burstPhaseMs: number };
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
  c.obj(raw.planner, 'planner');
  if (c.errors.length > 0) throw new PlanValidationError(c.errors);
  return raw as unknown as Plan;
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
