// Beyond one machine: the same comparison in the planner's simulator at 1 to 64 lanes
// (cost = lanes needed to serve a trace within the p95 SLO at the accuracy target).
//
// Per lane count L and candidate cascade c, cap[L][c] = the largest constant load at which the
// planner's batching + discrete-event simulator (Poisson and bursty arrivals, utilization cap
// 0.8) meets the SLO (maxFeasibleQps). Then, for a trace (rate curve x scale, in 1 s-equivalent
// bins of the curve):
// - CascadeServe on L lanes runs, in each bin, the most accurate frontier cascade whose cap
//   covers the bin's rate; it serves the trace iff the peak is covered, and meets the target iff
//   the request-weighted held-out accuracy >= target;
// - MS+: the same over single models;
// - static cascade: the cheapest cascade meeting the target; needs cap >= peak;
// - dynamic batching: the cheapest single model meeting the target; needs cap >= peak.
// Lanes needed = the smallest L (of the lane set) that serves and meets the target.
import type { FrontierPoint } from '../../planner/search.js';
import { cheapestMeeting, contextFor, heldoutAccuracy, maxFeasibleQps, type Space, type SystemName } from './systems.js';

export interface LaneRow {
  scale: number;
  lanes: Record<SystemName, number | null>;
  /** Best baseline lanes / CascadeServe lanes. */
  ratio: number | null;
}

function thin<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const idx = new Set<number>();
  for (let i = 0; i < max; i++) idx.add(Math.round((i * (xs.length - 1)) / (max - 1)));
  return [...idx].sort((a, b) => a - b).map((i) => xs[i]);
}

export async function lanesComparison(sp: Space, o: { sloMs: number; drop: number; rate: number[]; laneSet: number[]; scales?: number[]; maxCascades: number; steps: number }) {
  const staticPoint = cheapestMeeting(sp, sp.frontier, o.drop);
  const dynPoint = cheapestMeeting(sp, sp.singles, o.drop);
  const pool: FrontierPoint[] = [...thin(sp.frontier, o.maxCascades)];
  for (const p of [...sp.singles, staticPoint]) if (!pool.includes(p)) pool.push(p);
  const isSingle = pool.map((p) => p.spec.models.length === 1);
  const held = pool.map((p) => heldoutAccuracy(sp, p.spec));
  const target = sp.bestHeld - o.drop;
  const caps: number[][] = [];
  for (const L of o.laneSet) {
    const ctx = contextFor(sp, pool, L, o.sloMs);
    const row: number[] = [];
    for (let c = 0; c < pool.length; c++) row.push((await maxFeasibleQps(ctx, c, o.steps)).qps);
    caps.push(row);
  }
  const peak = Math.max(...o.rate);
  const byAcc = pool.map((_, i) => i).sort((a, b) => pool[b].accuracy - pool[a].accuracy);
  const switching = (li: number, scale: number, singlesOnly: boolean): boolean => {
    let right = 0;
    let total = 0;
    for (const r of o.rate) {
      const q = r * scale;
      const c = byAcc.find((i) => (!singlesOnly || isSingle[i]) && caps[li][i] >= q);
      if (c === undefined) return false;
      right += q * held[c];
      total += q;
    }
    return right / total >= target - 1e-12;
  };
  const fixed = (li: number, scale: number, p: FrontierPoint) => caps[li][pool.indexOf(p)] >= peak * scale;
  const need = (ok: (li: number) => boolean) => {
    for (let li = 0; li < o.laneSet.length; li++) if (ok(li)) return o.laneSet[li];
    return null;
  };
  // default scales: the dynamic baseline's 1-lane capacity for the trace, times 1, 2, 4, ... 32
  const base = caps[0][pool.indexOf(dynPoint)] / peak;
  const scales = o.scales ?? [0.9, 1.8, 3.6, 7.2, 14.4, 28.8].map((k) => k * base).filter((s) => s > 0);
  const rows: LaneRow[] = scales.map((scale) => {
    const lanes = {
      cascadeserve: need((li) => switching(li, scale, false)),
      msplus: need((li) => switching(li, scale, true)),
      static: need((li) => fixed(li, scale, staticPoint)),
      dynamic: need((li) => fixed(li, scale, dynPoint)),
    };
    const baselines = [lanes.msplus, lanes.static, lanes.dynamic].filter((x): x is number => x !== null);
    const bestBase = baselines.length ? Math.min(...baselines) : null;
    return { scale, lanes, ratio: lanes.cascadeserve && bestBase ? bestBase / lanes.cascadeserve : null };
  });
  return {
    target,
    sloMs: o.sloMs,
    laneSet: o.laneSet,
    peakToMean: peak,
    pool: pool.map((p, i) => ({ models: p.spec.models.map((m) => sp.profile.models[m].name), thresholds: p.spec.thresholds, measure: p.spec.measure, valAccuracy: p.accuracy, heldAccuracy: held[i], costUs: p.expectedCostUs, capQps: Object.fromEntries(o.laneSet.map((L, li) => [L, caps[li][i]])) })),
    static: staticPoint.spec.models.map((m) => sp.profile.models[m].name).join('>'),
    dynamic: dynPoint.spec.models.map((m) => sp.profile.models[m].name).join('>'),
    rows,
  };
}
