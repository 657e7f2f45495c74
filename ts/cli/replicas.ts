// Replicas from a gear plan: how many replicas a load needs and the accuracy each load level
// then gets, so that the autoscaler's bounds come from the plan (docs/deploy.md).
//
// Each replica follows its own share of the load with the plan's gears, so with n replicas
// behind a balancer a total load R puts R/n on each, which runs the gear whose (minQps,
// maxQps] holds R/n: the server's own rule (gearIndexForLoad). The plan's bounds are per
// replica of the plan's lanes; a replica of other lanes scales them linearly, which only
// approximates a plan made for those lanes.
import { readFileSync } from 'node:fs';
import { validatePlan, type Plan } from '../contracts/plan-schema.js';
import { gearIndexForLoad } from '../server/gear-policy.js';

export interface ReplicaGear {
  id: number;
  minQps: number;
  maxQps: number;
  expectedAccuracy: number;
}

export interface ReplicasOptions {
  /** Lanes per replica; default the plan's. */
  lanesPerReplica?: number;
  /** The HPA's target of the top-gear load ratio (deploy/base/hpa.yaml). Default 0.8. */
  target?: number;
}

export interface LoadLevelReport {
  qps: number;
  /** Share of the trace's seconds at this level (1 for a single peak). */
  share: number;
  /** Fewest replicas that serve it at all (every replica on a gear of the plan). */
  minReplicas: number;
  /** Replicas at which each runs the most accurate gear at the HPA's target. */
  topGearReplicas: number;
  /** With the HPA's bounds: the count it settles on, the gear each replica runs and its accuracy. */
  hpaReplicas: number;
  gearId: number | null;
  expectedAccuracy: number | null;
  /** The same with minReplicas only (the HPA not scaled up yet): the gears absorb the load. */
  atMinGearId: number | null;
  atMinAccuracy: number | null;
}

export interface ReplicasReport {
  lanesPerReplica: number;
  planLanes: number;
  target: number;
  gears: ReplicaGear[];
  /** Per replica, images per second: the most accurate gear's bound and the cheapest's. */
  topGearCapacityQps: number;
  planCapacityQps: number;
  peakQps: number;
  /** HPA bounds: min serves the peak on the gears without waiting for a scale-up; max runs it on the top gear. */
  minReplicas: number;
  maxReplicas: number;
  levels: LoadLevelReport[];
  /** Expected accuracy per request over the workload (a level weighs share x qps), with the HPA's counts and at minReplicas. */
  meanAccuracy: number;
  meanAccuracyAtMin: number;
}

export class ReplicasError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicasError';
  }
}

/** Reads a workload file: {"qps": number[]} (one rate per second) or {"histogram": [{"qps", "weight"}]}. */
export function readWorkload(path: string): { qps: number; weight: number }[] {
  let raw: { qps?: unknown; histogram?: unknown };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ReplicasError(`--trace ${path}: ${(e as Error).message}`);
  }
  if (Array.isArray(raw.qps)) {
    if (raw.qps.length === 0) throw new ReplicasError(`--trace ${path}: qps is empty`);
    return raw.qps.map((q, i) => {
      if (typeof q !== 'number' || !(q >= 0) || !Number.isFinite(q)) throw new ReplicasError(`--trace ${path}: qps[${i}]: expected a non-negative number, got ${JSON.stringify(q)}`);
      return { qps: q, weight: 1 };
    });
  }
  if (Array.isArray(raw.histogram)) {
    if (raw.histogram.length === 0) throw new ReplicasError(`--trace ${path}: histogram is empty`);
    return raw.histogram.map((h: { qps?: unknown; weight?: unknown }, i: number) => {
      if (typeof h?.qps !== 'number' || !(h.qps >= 0) || !Number.isFinite(h.qps)) throw new ReplicasError(`--trace ${path}: histogram[${i}].qps: expected a non-negative number`);
      if (typeof h.weight !== 'number' || !(h.weight > 0) || !Number.isFinite(h.weight)) throw new ReplicasError(`--trace ${path}: histogram[${i}].weight: expected a positive number`);
      return { qps: h.qps, weight: h.weight };
    });
  }
  throw new ReplicasError(`--trace ${path}: expected {"qps": number[]} or {"histogram": [{"qps", "weight"}]}`);
}

export function readPlan(path: string): Plan {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ReplicasError(`--plan ${path}: ${(e as Error).message}`);
  }
  const plan = validatePlan(raw);
  if (plan.gears.length === 0) throw new ReplicasError(`--plan ${path}: the plan has no gears`);
  return plan;
}

/** The report for a plan and a workload (load levels with weights; a peak is one level). */
export function planReplicas(plan: Plan, workload: { qps: number; weight: number }[], o: ReplicasOptions = {}): ReplicasReport {
  const planLanes = plan.lanes.length;
  const lanes = o.lanesPerReplica ?? planLanes;
  if (!Number.isInteger(lanes) || lanes < 1) throw new ReplicasError(`--lanes must be an integer >= 1, got ${String(o.lanesPerReplica)}`);
  const target = o.target ?? 0.8;
  if (!(target > 0 && target <= 1)) throw new ReplicasError(`--target must be a number in (0, 1], got ${String(o.target)}`);
  if (workload.length === 0) throw new ReplicasError('the workload has no load level');
  const scale = lanes / planLanes;
  const gears: ReplicaGear[] = plan.gears.map((g) => ({ id: g.id, minQps: g.minQps * scale, maxQps: g.maxQps * scale, expectedAccuracy: g.expectedAccuracy }));
  const topCap = gears[0].maxQps;
  const planCap = gears[gears.length - 1].maxQps;

  // Level -> weight, merged (a per-second trace repeats its rates).
  const byLevel = new Map<number, number>();
  for (const w of workload) byLevel.set(w.qps, (byLevel.get(w.qps) ?? 0) + w.weight);
  const total = [...byLevel.values()].reduce((a, b) => a + b, 0);
  const peak = Math.max(...byLevel.keys());

  const serveAll = (qps: number) => Math.max(1, Math.ceil(qps / planCap));
  const onTop = (qps: number) => Math.max(1, Math.ceil(qps / (target * topCap)));
  const minReplicas = serveAll(peak);
  const maxReplicas = Math.max(minReplicas, onTop(peak));
  const gearAt = (qps: number, n: number) => {
    const perReplica = qps / n;
    if (perReplica > planCap) return { id: null, acc: null };
    const g = gears[gearIndexForLoad(gears, perReplica)];
    return { id: g.id, acc: g.expectedAccuracy };
  };

  const levels: LoadLevelReport[] = [...byLevel.entries()].sort((a, b) => a[0] - b[0]).map(([qps, weight]) => {
    const hpa = Math.min(maxReplicas, Math.max(minReplicas, onTop(qps)));
    const at = gearAt(qps, hpa);
    const atMin = gearAt(qps, minReplicas);
    return { qps, share: weight / total, minReplicas: serveAll(qps), topGearReplicas: onTop(qps), hpaReplicas: hpa, gearId: at.id, expectedAccuracy: at.acc, atMinGearId: atMin.id, atMinAccuracy: atMin.acc };
  });
  // per request: a level's share is time, so it carries share x qps of the requests (an
  // unservable level's count as wrong); an idle workload has none, its levels count by time
  const requests = levels.reduce((s, l) => s + l.share * l.qps, 0);
  const mean = (pick: (l: LoadLevelReport) => number | null) => (requests > 0 ? levels.reduce((s, l) => s + l.share * l.qps * (pick(l) ?? 0), 0) / requests : levels.reduce((s, l) => s + l.share * (pick(l) ?? 0), 0));
  return {
    lanesPerReplica: lanes,
    planLanes,
    target,
    gears,
    topGearCapacityQps: topCap,
    planCapacityQps: planCap,
    peakQps: peak,
    minReplicas,
    maxReplicas,
    levels,
    meanAccuracy: mean((l) => l.expectedAccuracy),
    meanAccuracyAtMin: mean((l) => l.atMinAccuracy),
  };
}

/** The report as text: the bounds, then one line per load level (at most `maxRows`, by quantile). */
export function formatReplicasReport(r: ReplicasReport, maxRows = 20): string {
  const pct = (a: number | null) => (a === null ? 'unservable' : `${(a * 100).toFixed(2)}%`);
  const lines = [
    `per replica (${r.lanesPerReplica} lane${r.lanesPerReplica === 1 ? '' : 's'}${r.lanesPerReplica !== r.planLanes ? `; the plan is for ${r.planLanes}: bounds scaled linearly, re-plan with --lanes ${r.lanesPerReplica} for exact figures` : ''}):`,
    `  the most accurate gear holds ${fmtQps(r.topGearCapacityQps)} images/s (${pct(r.gears[0].expectedAccuracy)}), the cheapest ${fmtQps(r.planCapacityQps)} images/s (${pct(r.gears[r.gears.length - 1].expectedAccuracy)})`,
    `peak ${fmtQps(r.peakQps)} images/s, HPA target ${r.target} of the top gear's capacity:`,
    `  minReplicas ${r.minReplicas}  (serve the peak at once on cheaper gears while the HPA scales)`,
    `  maxReplicas ${r.maxReplicas}  (the peak on the most accurate gear at the target)`,
    '',
    'load (images/s)  share   min replicas  HPA replicas  gear  accuracy    at minReplicas: gear  accuracy',
  ];
  let rows = r.levels;
  if (rows.length > maxRows) rows = Array.from({ length: maxRows }, (_, i) => r.levels[Math.round((i * (r.levels.length - 1)) / (maxRows - 1))]);
  for (const l of rows) {
    lines.push(
      `${fmtQps(l.qps).padStart(15)}  ${(l.share * 100).toFixed(1).padStart(5)}%  ${String(l.minReplicas).padStart(12)}  ${String(l.hpaReplicas).padStart(12)}  ${String(l.gearId ?? '-').padStart(4)}  ${pct(l.expectedAccuracy).padStart(10)}  ${String(l.atMinGearId ?? '-').padStart(20)}  ${pct(l.atMinAccuracy).padStart(10)}`,
    );
  }
  if (rows.length < r.levels.length) lines.push(`(${rows.length} of ${r.levels.length} load levels shown, by quantile; --json has all)`);
  lines.push('', `expected accuracy per request over the workload: ${pct(r.meanAccuracy)} with the HPA's replicas, ${pct(r.meanAccuracyAtMin)} at minReplicas`);
  return lines.join('\n') + '\n';
}

function fmtQps(q: number): string {
  return Number.isInteger(q) ? String(q) : q.toFixed(1);
}
