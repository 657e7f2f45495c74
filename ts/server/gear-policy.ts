// Gear-switching policy: pure, given the measured load and backlog, which gear to run next.
// Swappable behind GearPolicy (style.md: policies as small interfaces).
//
// The rule (the research code's, improved):
// - Effective load = max(arrival rate, recent arrival rate, backlog-implied rate), where the
//   backlog-implied rate is the rate that would clear the items in flight within the SLO.
//   Queued work therefore counts even when arrivals have just stopped (a burst that outran
//   the window), and the short recent window catches a ramp ~75 ms before the long one (the
//   evaluation's bursts overran the top gear before the 200 ms average saw them).
// - The target gear is the one whose (minQps, maxQps] holds the effective load; loads above
//   the last gear, or in a gap between gears, take the next cheaper gear.
// - Cheaper target: switch at once (the research code waited for its 100 ms poll).
// - More accurate target: switch only once the backlog has drained (at most
//   drainedBacklogItems in flight) and the lower load has held for holdMs; then go to the gear
//   of the highest effective load seen during the hold, not of the last sample, so a
//   fluctuating load does not overshoot and bounce back (the research code upgraded on the
//   first low sample once the backlog allowed it).

export interface GearRange {
  minQps: number;
  maxQps: number;
}

export interface GearPolicyInput {
  nowMs: number;
  /** Measured arrival rate, items per second. */
  rateQps: number;
  /** Arrival rate over a shorter recent window, items per second (optional). */
  recentRateQps?: number;
  /** Items accepted and not yet answered. */
  backlogItems: number;
  /** Index of the gear running now (0 = most accurate). */
  current: number;
}

export interface GearPolicy {
  /** Index of the gear to run next (may equal input.current). */
  decide(input: GearPolicyInput): number;
  /** Forgets the hold state (after an external gear change). */
  reset(): void;
}

export interface HysteresisPolicyOptions {
  /** How long a lower load must hold before moving to a more accurate gear. Default 500 ms. */
  holdMs?: number;
  /** The latency target; the backlog-implied rate is backlog / SLO. */
  sloMs: number;
  /** "Drained": at most this many items in flight. Default 0 (set it to ~one batch). */
  drainedBacklogItems?: number;
}

/** Index of the gear whose (minQps, maxQps] holds `load`; gaps and overflow go cheaper. */
export function gearIndexForLoad(gears: readonly GearRange[], load: number): number {
  for (let i = 0; i < gears.length; i++) if (load <= gears[i].maxQps) return i;
  return gears.length - 1;
}

export class HysteresisGearPolicy implements GearPolicy {
  readonly holdMs: number;
  readonly sloMs: number;
  readonly drainedBacklogItems: number;
  #gears: readonly GearRange[];
  /** When the target first dropped below the current gear (NaN: it has not). */
  #lowerSinceMs = NaN;
  /** Highest effective load seen since #lowerSinceMs. */
  #peakLoadSinceLower = 0;

  constructor(gears: readonly GearRange[], options: HysteresisPolicyOptions) {
    if (gears.length === 0) throw new RangeError('gears must not be empty');
    const holdMs = options.holdMs ?? 500;
    if (!(holdMs >= 0) || !Number.isFinite(holdMs)) throw new RangeError(`upSwitchHoldMs must be a non-negative number, got ${String(options.holdMs)}`);
    if (!(options.sloMs > 0)) throw new RangeError(`sloMs must be positive, got ${String(options.sloMs)}`);
    this.#gears = gears;
    this.holdMs = holdMs;
    this.sloMs = options.sloMs;
    this.drainedBacklogItems = options.drainedBacklogItems ?? 0;
  }

  effectiveLoad(rateQps: number, backlogItems: number, recentRateQps = 0): number {
    return Math.max(rateQps, recentRateQps, backlogItems / (this.sloMs / 1000));
  }

  decide({ nowMs, rateQps, recentRateQps, backlogItems, current }: GearPolicyInput): number {
    const load = this.effectiveLoad(rateQps, backlogItems, recentRateQps);
    const target = gearIndexForLoad(this.#gears, load);
    if (target >= current) {
      // Same or cheaper: cheaper takes effect at once; either way the hold restarts.
      this.reset();
      return target;
    }
    if (Number.isNaN(this.#lowerSinceMs)) {
      this.#lowerSinceMs = nowMs;
      this.#peakLoadSinceLower = load;
    } else if (load > this.#peakLoadSinceLower) {
      this.#peakLoadSinceLower = load;
    }
    if (nowMs - this.#lowerSinceMs < this.holdMs || backlogItems > this.drainedBacklogItems) return current;
    const next = Math.min(current, gearIndexForLoad(this.#gears, this.#peakLoadSinceLower));
    this.reset();
    return next;
  }

  reset(): void {
    this.#lowerSinceMs = NaN;
    this.#peakLoadSinceLower = 0;
  }
}
