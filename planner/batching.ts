// Per-stage batching for a gear at a load: the smallest maxBatch (from the measured batch
// sizes, all stages alike) whose throughput covers the load under the utilization cap
// (checked with the LP split), with maxQueueDelayUs per stage = the time to fill the batch
// at that stage's arrival rate, capped at delayFraction * SLO / stages; then the p95 is
// predicted with the simulator under Poisson (and, unless sim.burstCheck is false, bursty)
// arrivals, and the first config meeting the SLO under them wins.

import type { BatchConfig, GearCascade, LevelEval, ModelTable, PlanContext } from './messages.js';
import { splitLoad } from './lp-split.js';
import { simulate, type SimStage } from './simulator.js';
import { lengthBucketOf, mixedBatchTimeUs } from '../ts/contracts/profile-schema.js';

/** Step rule over one table: the time of the smallest measured size >= b, linear above the largest. */
function stepTimeUs(batch: number[], p50Us: number[], b: number): number {
  for (let i = 0; i < batch.length; i++) if (batch[i] >= b) return p50Us[i];
  const last = batch.length - 1;
  return (p50Us[last] * b) / batch[last];
}

/**
 * Batch time (µs) of a model at batch size b: smallest measured size >= b (step), linear above.
 * With cost by length (m.lengthBuckets): the expected time of b items drawn from the length
 * mix `shares` (default: the buckets' shares of the validation items), a batch costing the
 * time at its longest item's bucket.
 */
export function tableTimeUs(m: ModelTable, b: number, shares?: readonly number[]): number {
  if (!m.lengthBuckets) return stepTimeUs(m.batch, m.p50Us, b);
  const times = m.lengthBuckets.map((k) => stepTimeUs(m.batch, k.p50Us, b));
  return mixedBatchTimeUs(times, shares ?? m.lengthBuckets.map((k) => k.share), b);
}

/** Batch time (µs) of a model at batch size b when the batch's longest item falls in length bucket `bucket`. */
export function bucketTimeUs(m: ModelTable, b: number, bucket: number): number {
  const k = m.lengthBuckets![bucket];
  return stepTimeUs(m.batch, k.p50Us, b);
}

const stageSharesCache = new WeakMap<GearCascade, (number[] | undefined)[]>();

/**
 * Length mix of the validation items that reach stage s of the cascade, over the stage
 * model's buckets (a cascade's later stages see the items its earlier ones were unsure of,
 * whose lengths may differ from the data's). Undefined without lengths in the profile.
 */
export function stageLengthShares(ctx: Pick<PlanContext, 'cascades' | 'models' | 'itemLengths'>, cascade: number, s: number): number[] | undefined {
  const c = ctx.cascades[cascade];
  const m = ctx.models[c.spec.models[s]];
  if (!m.lengthBuckets || !ctx.itemLengths) return undefined;
  let cached = stageSharesCache.get(c);
  if (!cached) stageSharesCache.set(c, (cached = []));
  if (s in cached) return cached[s];
  const edges = m.lengthBuckets.map((k) => k.length);
  const counts = new Array<number>(edges.length).fill(0);
  let reached = 0;
  for (let i = 0; i < c.exitStage.length; i++) {
    if (c.exitStage[i] < s) continue;
    counts[lengthBucketOf(edges, ctx.itemLengths[i])]++;
    reached++;
  }
  const shares = reached > 0 ? counts.map((n) => n / reached) : undefined;
  cached[s] = shares;
  return shares;
}

function configFor(ctx: PlanContext, cascade: number, qps: number, B: number): BatchConfig {
  const c = ctx.cascades[cascade];
  const k = c.spec.models.length;
  const budgetUs = (ctx.delayFraction * ctx.sloUs) / k;
  const maxBatch: number[] = [];
  const maxQueueDelayUs: number[] = [];
  for (let s = 0; s < k; s++) {
    const rate = qps * c.reach[s];
    maxBatch.push(B);
    const fillUs = rate > 0 ? ((B - 1) / rate) * 1e6 : 0;
    // Rounded up: a delay rounded down fills B - 1 items at this rate, and the batch of B - 1
    // costs as much as one of B (step times) for fewer items (a hole in the servable loads).
    maxQueueDelayUs.push(Math.ceil(Math.min(fillUs, budgetUs)));
  }
  return { maxBatch, maxQueueDelayUs };
}

/**
 * Factor on batch times at a load when the host's CPU work shares the lanes' cores (see
 * HostCpu): 1 while every lane still has a whole core, Infinity when the host needs them all.
 */
export function laneSlowdown(ctx: Pick<PlanContext, 'lanes' | 'hostCpu'>, qps: number): number {
  if (!ctx.hostCpu) return 1;
  const perLane = (ctx.hostCpu.cores - (qps * ctx.hostCpu.usPerRequest) / 1e6) / ctx.lanes;
  if (perLane >= 1) return 1;
  return perLane > 0.05 ? 1 / perLane : Infinity;
}

/** Expected per-stage work (utilization units) for a config, with batches of the expected size. */
export function stageWork(ctx: PlanContext, cascade: number, qps: number, cfg: BatchConfig): number[] {
  const c = ctx.cascades[cascade];
  const slow = laneSlowdown(ctx, qps);
  return c.spec.models.map((m, s) => {
    const rate = qps * c.reach[s];
    if (rate <= 0) return 0;
    const beff = Math.max(1, Math.min(cfg.maxBatch[s], 1 + (rate * cfg.maxQueueDelayUs[s]) / 1e6));
    const b = Math.floor(beff);
    return (rate * slow * tableTimeUs(ctx.models[m], b, stageLengthShares(ctx, cascade, s))) / b / 1e6;
  });
}

export async function evaluateConfig(ctx: PlanContext, cascade: number, qps: number, config: BatchConfig): Promise<LevelEval> {
  const cfg: BatchConfig = { maxBatch: [...config.maxBatch], maxQueueDelayUs: [...config.maxQueueDelayUs] };
  const c = ctx.cascades[cascade];
  const work = stageWork(ctx, cascade, qps, cfg);
  const eligible = c.spec.models.map((m) => ctx.hosts[m].slice());
  const split = await splitLoad({ work: work.map((w) => new Array<number>(ctx.lanes).fill(w)), eligible, cap: ctx.cap });
  const base: LevelEval = {
    ok: false,
    cascade,
    qps,
    ...cfg,
    laneShares: split.shares,
    p95Ms: Infinity,
    p95PoissonMs: Infinity,
    p95BurstyMs: Infinity,
    utilization: split.maxUtilization,
    simUtilization: NaN,
  };
  const slow = laneSlowdown(ctx, qps);
  if (slow === Infinity) {
    return { ...base, reason: `the host's CPU work (${ctx.hostCpu!.usPerRequest.toFixed(0)} µs per request on ${ctx.hostCpu!.cores} cores) leaves the lanes no core at ${qps.toFixed(0)} QPS` };
  }
  if (!split.feasible) {
    return { ...base, reason: `peak lane utilization ${split.maxUtilization.toFixed(2)} above the cap ${ctx.cap}` };
  }
  const stages: SimStage[] = c.spec.models.map((m, s) => {
    const table = ctx.models[m];
    const shares = stageLengthShares(ctx, cascade, s);
    const timeUs = [0];
    for (let b = 1; b <= cfg.maxBatch[s]; b++) timeUs.push(slow * tableTimeUs(table, b, shares));
    const stage: SimStage = { timeUs, maxBatch: cfg.maxBatch[s], maxQueueDelayUs: cfg.maxQueueDelayUs[s], laneEligible: split.shares[s].map((x) => x > 1e-6) };
    // cost by length: the simulator draws each request's length and times a batch at its longest item's bucket
    if (table.lengthBuckets && ctx.itemLengths) {
      stage.lengthTimeUs = table.lengthBuckets.map((k, j) => ({ length: k.length, timeUs: [0, ...Array.from({ length: cfg.maxBatch[s] }, (_, i) => slow * bucketTimeUs(table, i + 1, j))] }));
    }
    return stage;
  });
  const common = { stages, lanes: ctx.lanes, exitStage: c.exitStage, ...(ctx.itemLengths ? { itemLength: ctx.itemLengths } : {}), qps, sloUs: ctx.sloUs, requests: ctx.sim.requests, seed: ctx.sim.seed };
  const pois = simulate({ ...common, arrivals: 'poisson' });
  base.p95PoissonMs = pois.p95Ms;
  base.simUtilization = pois.utilization;
  const sloMs = ctx.sloUs / 1000;
  if (!(pois.p95Ms <= sloMs)) return { ...base, p95Ms: pois.p95Ms, reason: `predicted p95 ${fmtMs(pois.p95Ms)} (Poisson) above the SLO ${sloMs} ms` };
  if (ctx.sim.burstCheck === false) return { ...base, p95Ms: pois.p95Ms, ok: true };
  const burst = simulate({ ...common, arrivals: 'bursty', burstAmplitude: ctx.sim.burstAmplitude, burstPhaseMs: ctx.sim.burstPhaseMs, seed: ctx.sim.seed + 1 });
  base.p95BurstyMs = burst.p95Ms;
  base.p95Ms = Math.max(pois.p95Ms, burst.p95Ms);
  if (!(burst.p95Ms <= sloMs)) return { ...base, reason: `predicted p95 ${fmtMs(burst.p95Ms)} (bursty) above the SLO ${sloMs} ms` };
  return { ...base, ok: true };
}

const fmtMs = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : 'unbounded (overloaded)');

/** Chooses batching for `cascade` at `qps`; tries `preferred` first when given. */
export async function chooseBatching(ctx: PlanContext, cascade: number, qps: number, preferred?: BatchConfig): Promise<LevelEval> {
  if (preferred) {
    const e = await evaluateConfig(ctx, cascade, qps, preferred);
    if (e.ok) return e;
  }
  let last: LevelEval | undefined;
  let lastSimulated: LevelEval | undefined;
  for (const B of ctx.batchSizes) {
    const e = await evaluateConfig(ctx, cascade, qps, configFor(ctx, cascade, qps, B));
    if (e.ok) return e;
    last = e;
    if (Number.isFinite(e.p95PoissonMs) || e.simUtilization === e.simUtilization) lastSimulated = e;
  }
  return lastSimulated ?? last!;
}
