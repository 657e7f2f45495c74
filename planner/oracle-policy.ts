// The oracle switcher: a gear policy that knows the true arrival rate (from the trace that
// generates the arrivals) and runs, at every look, the most accurate gear whose sustained
// capacity holds that rate; no measurement, no hysteresis, no hold. What it loses against a
// gear held fixed is the plan's loss (its gears and ranges); what the real policy loses
// beyond it is the policy's. Used by the switching simulator's property test and, through the
// server's gearPolicy option, by the evaluation's replay.
import type { GearDecision, GearPolicy, GearPolicyInput } from '../ts/contracts/gear-policy.js';

export class OracleGearPolicy implements GearPolicy {
  readonly sustainedQps: readonly number[];
  #trueRateQps: (nowMs: number) => number;

  /**
   * sustainedQps: per gear in plan order (0 = most accurate), the load it holds within the
   * SLO; trueRateQps: the true arrival rate at a time on the policy's clock.
   */
  constructor(sustainedQps: readonly number[], trueRateQps: (nowMs: number) => number) {
    if (sustainedQps.length === 0) throw new RangeError('sustainedQps must not be empty');
    sustainedQps.forEach((q, i) => {
      if (!(q > 0)) throw new RangeError(`sustainedQps[${i}] must be > 0, got ${String(q)}`);
    });
    this.sustainedQps = sustainedQps;
    this.#trueRateQps = trueRateQps;
  }

  /** The most accurate gear whose sustained capacity holds `rateQps` (the cheapest above all). */
  gearFor(rateQps: number): number {
    for (let g = 0; g < this.sustainedQps.length; g++) if (rateQps <= this.sustainedQps[g]) return g;
    return this.sustainedQps.length - 1;
  }

  decide({ nowMs, current }: GearPolicyInput): GearDecision {
    const gear = this.gearFor(this.#trueRateQps(nowMs));
    return gear === current ? { gear, reason: 'stay' } : { gear, reason: 'true_rate' };
  }

  reset(): void {}
}

/**
 * The true rate of a piecewise-constant rate curve: `curve[i]` (multiples of the mean) holds
 * over [i * binMs, (i + 1) * binMs) from `startMs` on the policy's clock, times `scale` (the
 * mean, items/s); 0 outside the curve.
 */
export function curveRate(curve: readonly number[], binMs: number, scale: number, startMs = 0): (nowMs: number) => number {
  return (nowMs) => {
    const i = Math.floor((nowMs - startMs) / binMs);
    return i >= 0 && i < curve.length ? curve[i] * scale : 0;
  };
}
