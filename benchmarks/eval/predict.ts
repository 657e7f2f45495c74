// The fluid model's prediction of a system's capacity on a trace shape, used to pick the load
// scale a plan is made for, to start the switching simulator's searches (horizon.ts), and to
// centre the real capacity search where the switching simulator does not (the HTTP view, the
// oracle, a switched plan the simulator finds short of its target; cell.ts); it is computed
// on the TUNING seeds' rate curves, never on reported ones.
//
// A fluid model over the rate curve, smoothed over a short window (a queue absorbs bursts
// shorter than that): at a scale s, each moment runs the gear the plan's ranges give for the
// rate there (the oracle's choice: true rate, no hysteresis); the system holds the trace when
// the highest smoothed rate is within the plan's top (for a one-gear baseline: the planner's
// largest feasible load), and meets the target when the load-weighted VALIDATION accuracy of
// those gears does. The capacity prediction is the largest such s (bisection on a log scale).
import { gearIndexForLoad } from '../../ts/server/gear-policy.js';

export interface PredictGear {
  minQps: number;
  maxQps: number;
  /** Validation accuracy. */
  accuracy: number;
}

export function predictCapacity(gears: PredictGear[], topQps: number, curves: number[][], targetVal: number): number {
  const holds = (s: number): boolean => {
    let right = 0;
    let total = 0;
    for (const c of curves) {
      for (const r of c) {
        const q = r * s;
        if (q > topQps) return false;
        const g = gears[gearIndexForLoad(gears, q)];
        right += r * g.accuracy;
        total += r;
      }
    }
    return right / total >= targetVal - 1e-12;
  };
  let lo = 0;
  let hi = 1;
  while (holds(hi) && hi < 1e7) [lo, hi] = [hi, hi * 2];
  if (lo === 0) {
    // not even scale 1: search below it
    let x = 1;
    while (x > 1e-3 && !holds(x)) x /= 2;
    if (!holds(x)) return 0;
    [lo, hi] = [x, x * 2];
  }
  for (let i = 0; i < 40 && hi / lo > 1.001; i++) {
    const mid = Math.sqrt(lo * hi);
    if (holds(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
