// What one gear can carry: its sustained capacity (the largest constant load its batching,
// held fixed, serves within the SLO in the simulator), the rate at which its lanes drain a
// backlog (full batches), and its burst budget (how many items queued at once it still
// answers with their p95 within the SLO). The online switching policy reads these from
// plan.json (`sustainedQps`, `serviceRateQps`, `burstBudgetItems`).

import { chooseBatching, evaluateConfig, laneSlowdown, tableTimeUs } from './batching.js';
import type { BatchConfig, LevelEval, PlanContext } from './messages.js';
import { simulate, type SimStage } from './simulator.js';

/** Bisection steps for load searches: 2^-12 of the bracket, well below the simulator's noise. */
const kLoadSteps = 12;

/**
 * Items/s the gear's lanes complete when every stage runs full batches (maxBatch), with the
 * host slowdown at `atQps`: lanes / (sum over stages of reach x batch time / batch).
 * Assumes the work spreads over the lanes (the planned split keeps the peak lane at the mean
 * for identical lanes hosting every stage).
 */
export function serviceRateQps(ctx: PlanContext, cascade: number, cfg: BatchConfig, atQps: number): number {
  const c = ctx.cascades[cascade];
  const slow = laneSlowdown(ctx, atQps);
  if (!Number.isFinite(slow)) return 0;
  let usPerItem = 0;
  c.spec.models.forEach((m, s) => {
    const b = cfg.maxBatch[s];
    usPerItem += (c.reach[s] * slow * tableTimeUs(ctx.models[m], b)) / b;
  });
  return usPerItem > 0 ? (ctx.lanes * 1e6) / usPerItem : Infinity;
}

/** Rules of the sustained capacity, whatever the plan's range rule: see sustainedQps. */
export const kSustained = { cap: 0.95, requests: 10_000 };

const sustainedContext = (ctx: PlanContext): PlanContext => ({
  ...ctx,
  cap: Math.max(ctx.cap, kSustained.cap),
  sim: { ...ctx.sim, burstCheck: false, requests: Math.max(ctx.sim.requests, kSustained.requests) },
});

/**
 * Largest load at which the gear's batching `cfg` (held fixed) meets the SLO, by bisection
 * between `knownOkQps` and its service rate: Poisson arrivals, 10,000 simulated requests, LP
 * utilization at most 0.95. The cap is there because a finite simulation near saturation is
 * optimistic: at utilization ~1 the queue of 10,000 requests has not yet grown to its
 * steady state, and the simulated p95 stayed under a 50 ms SLO at the full-batch drain rate.
 */
export async function sustainedQps(ctx: PlanContext, cascade: number, cfg: BatchConfig, knownOkQps: number): Promise<number> {
  const free = sustainedContext(ctx);
  let lo = knownOkQps;
  let hi = serviceRateQps(ctx, cascade, cfg, knownOkQps);
  if (!(hi > lo)) return lo;
  for (let i = 0; i < kLoadSteps; i++) {
    const mid = (lo + hi) / 2;
    const e = await evaluateConfig(free, cascade, mid, cfg);
    if (e.ok) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Largest load at which some batching of `cascade` meets the SLO under the context's cap
 * (bisection; feasibility assumed monotone in load), with the evaluation there; null when even
 * `minQps` fails.
 */
export async function cascadeCapacity(ctx: PlanContext, cascade: number, minQps: number, maxQps: number): Promise<LevelEval | null> {
  const top = await chooseBatching(ctx, cascade, maxQps);
  if (top.ok) return top;
  let best = await chooseBatching(ctx, cascade, minQps);
  if (!best.ok) return null;
  let [lo, hi] = [minQps, maxQps];
  for (let i = 0; i < kLoadSteps; i++) {
    const mid = Math.sqrt(lo * hi);
    const e = await chooseBatching(ctx, cascade, mid);
    if (e.ok) [lo, best] = [mid, e];
    else hi = mid;
  }
  return best;
}

/** Simulated p95 (ms) of `n` items queued at once on idle lanes, with no other arrivals. */
export function burstP95Ms(ctx: PlanContext, cascade: number, cfg: BatchConfig, laneShares: number[][], atQps: number, n: number): number {
  if (n <= 0) return 0;
  const c = ctx.cascades[cascade];
  const slow = laneSlowdown(ctx, atQps);
  if (!Number.isFinite(slow)) return Infinity;
  const stages: SimStage[] = c.spec.models.map((m, s) => {
    const timeUs = [0];
    for (let b = 1; b <= cfg.maxBatch[s]; b++) timeUs.push(slow * tableTimeUs(ctx.models[m], b));
    return { timeUs, maxBatch: cfg.maxBatch[s], maxQueueDelayUs: cfg.maxQueueDelayUs[s], laneEligible: laneShares[s].map((x) => x > 1e-6) };
  });
  const r = simulate({
    stages,
    lanes: ctx.lanes,
    exitStage: c.exitStage,
    qps: 1,
    arrivals: 'poisson',
    arrivalTimesUs: new Float64Array(n),
    requests: n,
    warmup: 0,
    maxBacklog: n + 1,
    seed: ctx.sim.seed,
    sloUs: ctx.sloUs,
  });
  return r.p95Ms;
}

/**
 * Burst budget: the most items that, queued at once on the gear's idle lanes, are answered
 * with their p95 within the SLO (bisection over the count; the p95 grows with the count up to
 * the routing noise of small bursts). Arrivals after them do not delay them (FIFO first stage,
 * oldest deadline first after it); an arrival behind them waits for all of them (about
 * count / serviceRateQps), which is not in this number.
 */
export function burstBudgetItems(ctx: PlanContext, cascade: number, cfg: BatchConfig, laneShares: number[][], atQps: number): number {
  const sloMs = ctx.sloUs / 1000;
  const rate = serviceRateQps(ctx, cascade, cfg, atQps);
  if (!(rate > 0) || !(burstP95Ms(ctx, cascade, cfg, laneShares, atQps, 1) <= sloMs)) return 0;
  // upper bracket: twice what the drain rate clears in one SLO, plus a batch per stage
  let hi = Math.ceil((2 * rate * ctx.sloUs) / 1e6) + cfg.maxBatch.reduce((a, b) => a + b, 0);
  let lo = 1;
  while (burstP95Ms(ctx, cascade, cfg, laneShares, atQps, hi) <= sloMs) [lo, hi] = [hi, hi * 2];
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (burstP95Ms(ctx, cascade, cfg, laneShares, atQps, mid) <= sloMs) lo = mid;
    else hi = mid;
  }
  return lo;
}
