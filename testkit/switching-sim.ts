// Inputs and the capacity search for switching-simulator checks, shared by
// test/switching-property.test.ts, test/gear-policy-regressions.test.ts and the evaluation
// (batch-time scaling, the overload horizon's choice): arrivals drawn from a rate curve, the
// items they carry, the property test's spike curve, a profile's batch times scaled by a
// calibration, one simulated run judged on the SLO and the target, and the bracketed search
// for the highest passing scale.
import type { GearPolicy } from '../ts/contracts/gear-policy.js';
import type { Profile } from '../ts/contracts/profile-schema.js';
import { LoadMonitor } from '../ts/server/load-monitor.js';
import { expVariate, mulberry32 } from '../planner/prng.js';
import { simulateSwitching, type SwitchSimGear } from '../planner/switching-simulator.js';
import { kRateBinMs } from './traces.js';

/** Poisson arrival times (µs) under rate scale x curve (one value per kRateBinMs): a unit-rate process through the integrated rate. */
export function poissonArrivalsUs(curve: readonly number[], scale: number, seed: number): Float64Array {
  const rnd = mulberry32(seed ^ 0x5eed);
  const out: number[] = [];
  let u = expVariate(rnd, 1);
  let acc = 0;
  const binUs = kRateBinMs * 1000;
  for (let b = 0; b < curve.length; b++) {
    const inBin = (curve[b] * kRateBinMs * scale) / 1000;
    while (u <= acc + inBin) {
      out.push(b * binUs + ((u - acc) / inBin) * binUs);
      u += expVariate(rnd, 1);
    }
    acc += inBin;
  }
  return Float64Array.from(out);
}

/** Rate curve of durationMs (mean 1): flat, 6x for 400 ms somewhere in 30-70% of it. */
export function spikeCurve(durationMs: number, seed: number): number[] {
  const n = Math.round(durationMs / kRateBinMs);
  const at = Math.floor(n * (0.3 + 0.4 * mulberry32(seed)()));
  const raw = Array.from({ length: n }, (_, i) => (i >= at && i < at + 400 / kRateBinMs ? 6 : 1));
  const mean = raw.reduce((a, b) => a + b, 0) / n;
  return raw.map((v) => v / mean);
}

/**
 * Validation item of each arrival: a seeded permutation of the validation set, repeated, so
 * that a gear held fixed answers with its expected accuracy up to the last partial round
 * (random draws moved it by +-0.3 point, as much as a target's margin).
 */
export function itemSequence(count: number, validationN: number, seed: number): Uint32Array {
  const rnd = mulberry32(seed ^ 0x1a6e);
  const perm = Uint32Array.from({ length: validationN }, (_, i) => i);
  for (let i = validationN - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return Uint32Array.from({ length: count }, (_, i) => perm[i % validationN]);
}

/** The profile with every batch time (p50, p95) times k: an engine calibration applied to it. */
export function scaleBatchTimes(p: Profile, k: number): Profile {
  return { ...p, models: p.models.map((m) => ({ ...m, timings: m.timings.map((t) => ({ ...t, batchTimesUs: t.batchTimesUs.map((r) => ({ ...r, p50: r.p50 * k, p95: r.p95 * k })) })) })) };
}

/**
 * Highest passing scale: bracket by factors of 1.5 from `guess`, then bisect to 2%. `below`:
 * nothing passed down to that scale (qps 0).
 */
export function bracketedCapacity(passes: (scale: number) => boolean, guess: number): { qps: number; below?: number } {
  let lo = 0;
  let hi = Infinity;
  let s = guess;
  if (passes(s)) {
    lo = s;
    while (hi === Infinity && s < 1e6) {
      s *= 1.5;
      if (passes(s)) lo = s;
      else hi = s;
    }
  } else {
    hi = s;
    while (lo === 0 && s > 20) {
      s /= 1.5;
      if (passes(s)) lo = s;
      else hi = s;
    }
    if (lo === 0) return { qps: 0, below: s };
  }
  while (hi / lo > 1.02) {
    const mid = Math.sqrt(lo * hi);
    if (passes(mid)) lo = mid;
    else hi = mid;
  }
  return { qps: lo };
}

/** The server's load monitor defaults (ts/server/server.ts); the policy's hold is its window. */
export const kServerMonitor = { windowMs: 200, bucketMs: 5, recentMs: 10 };

/** One simulated run of `gears` under `policy`, fed by a monitor with the server's defaults: its p95 and answered accuracy. */
export function simulatedRun(o: { modelTimeUs: number[][]; gears: SwitchSimGear[]; lanes: number; timesUs: Float64Array; seed: number; sloMs: number; policy: GearPolicy }): { p95Ms: number; accuracy: number } {
  const r = simulateSwitching({
    modelTimeUs: o.modelTimeUs,
    gears: o.gears,
    lanes: o.lanes,
    arrivalTimesUs: o.timesUs,
    items: itemSequence(o.timesUs.length, o.gears[0].exitStage.length, o.seed),
    sloUs: o.sloMs * 1000,
    policy: o.policy,
    monitor: new LoadMonitor(kServerMonitor),
  });
  return { p95Ms: r.p95Ms, accuracy: r.accuracy };
}

/** simulatedRun's verdict: whether its p95 meets the SLO and its answered accuracy the target (to 0.0003). */
export function simulatedRunPasses(o: { modelTimeUs: number[][]; gears: SwitchSimGear[]; lanes: number; timesUs: Float64Array; seed: number; sloMs: number; target: number; policy: GearPolicy }): boolean {
  const r = simulatedRun(o);
  return r.p95Ms <= o.sloMs && r.accuracy >= o.target - 0.0003;
}
