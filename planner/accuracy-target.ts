// The accuracy target of objective "accuracy" (`minAccuracy`): the static cascade (cheapest
// frontier cascade meeting it), and the load-weighted accuracy of a plan's gears over the
// expected load distribution (a histogram of rates), the paper's accuracy-SLO mode.

import type { LoadBin } from '../ts/contracts/plan-schema.js';

/** What these functions need of a gear: the loads it serves, (minQps, maxQps], and its accuracy. */
export interface GearRange {
  minQps: number;
  maxQps: number;
  expectedAccuracy: number;
}

/** Index of the cheapest point (expected cost) whose accuracy meets the target; -1 when none does. */
export function cheapestMeeting(points: { accuracy: number; expectedCostUs: number }[], target: number): number {
  let best = -1;
  points.forEach((p, i) => {
    if (p.accuracy >= target - 1e-12 && (best < 0 || p.expectedCostUs < points[best].expectedCostUs)) best = i;
  });
  return best;
}

/** The gear serving `qps` (ranges (minQps, maxQps], the first gear also takes 0); undefined above or between gears. */
export function gearAt<G extends GearRange>(gears: G[], qps: number): G | undefined {
  return gears.find((g, i) => (qps > g.minQps || (i === 0 && qps >= g.minQps)) && qps <= g.maxQps);
}

/**
 * Accuracy per request over the histogram: a bin's weight is a share of time, so it holds
 * weight x rate requests, each answered by the gear serving that rate (0 where none does).
 * Weighting by time alone counted an hour at the peak like an hour at night, though it carries
 * many times the requests: in the evaluation's recorded azure plan the loads served below the
 * target are 18% of the time and about half of the requests, and the plan, 0.19 point above
 * the target by time, was 0.21 point below it per request.
 * Equal weights for all bins when every rate is 0 (idle: no request to weight by).
 */
export function loadWeightedAccuracy(gears: GearRange[], histogram: LoadBin[], scale = 1): number {
  const busy = histogram.some((b) => b.rateQps > 0);
  let w = 0;
  let acc = 0;
  for (const b of histogram) {
    const requests = busy ? b.weight * b.rateQps : b.weight;
    w += requests;
    acc += requests * (gearAt(gears, b.rateQps * scale)?.expectedAccuracy ?? 0);
  }
  return w > 0 ? acc / w : 0;
}

/**
 * Largest factor m such that, for every factor up to m, the histogram with its rates times
 * that factor is served by the gears (every bin inside a gear's range) with a load-weighted
 * accuracy >= target. The factor scales every bin's requests alike, so the weights' ratios do
 * not change with it, and the weighted accuracy is constant between the factors at which a bin
 * reaches the bottom or top of a gear (minQps / rate, maxQps / rate: a gap between gears is
 * caught at its lower end), so those breakpoints are checked in order.
 * Infinity when every rate is 0 and the target is met; 0 when it fails at the smallest loads.
 */
export function capacityScale(gears: GearRange[], histogram: LoadBin[], target: number): number {
  const rates = histogram.filter((b) => b.rateQps > 0).map((b) => b.rateQps);
  const meets = (m: number) => histogram.every((b) => gearAt(gears, b.rateQps * m) !== undefined) && loadWeightedAccuracy(gears, histogram, m) >= target - 1e-12;
  if (rates.length === 0) return meets(1) ? Infinity : 0;
  const breaks = [...new Set(gears.flatMap((g) => rates.flatMap((r) => [g.minQps / r, g.maxQps / r])))].filter((m) => m > 0).sort((a, b) => a - b);
  let ok = 0;
  for (const m of breaks) {
    if (!meets(m)) break;
    ok = m;
  }
  return ok;
}

/** Checks a histogram's bins; throws with the bin's index in the message. */
export function checkHistogram(histogram: LoadBin[], what = 'load histogram'): void {
  if (histogram.length === 0) throw new RangeError(`${what}: no bins`);
  histogram.forEach((b, i) => {
    if (!(typeof b.rateQps === 'number' && b.rateQps >= 0 && Number.isFinite(b.rateQps))) throw new RangeError(`${what}[${i}].rateQps: expected a number >= 0, got ${JSON.stringify(b.rateQps)}`);
    if (!(typeof b.weight === 'number' && b.weight > 0 && Number.isFinite(b.weight))) throw new RangeError(`${what}[${i}].weight: expected a positive number, got ${JSON.stringify(b.weight)}`);
  });
}
