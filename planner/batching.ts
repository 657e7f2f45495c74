// Per-stage batching for a gear at a load: the smallest maxBatch (from the measured batch
// sizes, all stages alike) whose throughput covers the load under the utilization cap
// (checked with the LP split), with maxQueueDelayUs per stage = the time to fill the batch
// at that stage's arrival rate, capped at delayFraction * SLO / stages; then the p95 is
// predicted with the simulator under Poisson and bursty arrivals, and the first config
// meeting the SLO under both wins.

import type { BatchConfig, LevelEval, ModelTable, PlanContext } from './messages.js';
import { splitLoad } from './lp-split.js';
import { simulate, type SimStage } from './simulator.js';

/** Batch time (µs) of a model at batch size b: smallest measured size >= b (step), linear above. */
export function tableTimeUs(m: ModelTable, b: number): number {
  for (let i = 0; i < m.batch.length; i++) if (m.batch[i] >= b) return m.p50Us[i];
  const last = m.batch.length - 1;
  return (m.p50Us[last] * b) / m.batch[last];
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
    maxQueueDelayUs.push(Math.round(Math.min(fillUs, budgetUs)));
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
    return (rate * slow * tableTimeUs(ctx.models[m], b)) / b / 1e6;
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
    const timeUs = [0];
    for (let b = 1; b <= cfg.maxBatch[s]; b++) timeUs.push(slow * tableTimeUs(ctx.models[m], b));
    return { timeUs, maxBatch: cfg.maxBatch[s], maxQueueDelayUs: cfg.maxQueueDelayUs[s], laneEligible: split.shares[s].map((x) => x > 1e-6) };
  });
  const common = { stages, lanes: ctx.lanes, exitStage: c.exitStage, qps, sloUs: ctx.sloUs, requests: ctx.sim.requests, seed: ctx.sim.seed };
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
