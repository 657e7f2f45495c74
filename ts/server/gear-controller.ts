// Gear controller: the online loop that joins the load monitor, the gear policy and the
// engine. Arrivals are recorded and judged as they come, so a rise switches to a cheaper gear
// within the request that caused it; an unref'd timer looks again every tickMs, so a fall is
// noticed without traffic. Every switch is logged, counted (by from, to and reason) and kept
// in the model's bounded recent-switch log (metrics, status route), with the decision plus
// swap time measured around policy.decide() and engine.setGear(), and passed to onSwitch.
//
// A gear the engine refuses (every gear was validated at start-up, plan-loader.ts, so this
// is a bug, not a load condition) is logged as an error once and never tried again; the
// running gear stays. Only a closed engine is quiet: the server is shutting down.
import { performance } from 'node:perf_hooks';
import { CascadeServeError } from '../errors.js';
import type { CascadeEngine } from '../engine/engine.js';
import type { CostEstimator } from './admission.js';
import type { GearPolicy, GearSwitchRecord } from '../contracts/gear-policy.js';
import type { LoadMonitor } from './load-monitor.js';
import type { ModelStats } from './model-stats.js';
import type { ServingGear } from './plan-loader.js';

export interface SwitchLogger {
  info(obj: object, msg: string): void;
  /** A gear the engine refused; info is used when absent. */
  error?(obj: object, msg: string): void;
}

/** A switch as the controller reports it: the record plus the decision-and-swap time. */
export interface GearSwitchEvent extends GearSwitchRecord {
  /** Decision plus swap, microseconds. */
  switchUs: number;
}

export class GearController {
  readonly gears: readonly ServingGear[];
  #engine: CascadeEngine;
  #monitor: LoadMonitor;
  #failures: LoadMonitor | null;
  #speed: { slowdown(): number | undefined } | null;
  #policy: GearPolicy;
  #cost: CostEstimator;
  #stats: ModelStats;
  #log: SwitchLogger;
  #onSwitch: (e: GearSwitchEvent) => void;
  #current = 0;
  /** Indices of gears the engine refused: never tried again. */
  #refused = new Set<number>();
  /** Time accounting for the autoscaling signals: when the running gear began, and the
   * milliseconds spent below the top gear and on the cheapest one before that. */
  #gearSinceMs: number;
  #belowTopMs = 0;
  #cheapestMs = 0;

  constructor(args: {
    gears: readonly ServingGear[];
    engine: CascadeEngine;
    monitor: LoadMonitor;
    /** Items failing for load (ServedModel.recordLoadFailures), read as GearPolicyInput.failedRateQps. */
    failures?: LoadMonitor;
    /** The host's measured slowdown (ServedModel's HostSpeedMonitor), read as GearPolicyInput.slowdown. */
    speed?: { slowdown(): number | undefined };
    policy: GearPolicy;
    cost: CostEstimator;
    stats: ModelStats;
    log: SwitchLogger;
    onSwitch?: (e: GearSwitchEvent) => void;
    /** Start of the time accounting (performance.now() scale). Default: now. */
    startMs?: number;
  }) {
    this.gears = args.gears;
    this.#engine = args.engine;
    this.#monitor = args.monitor;
    this.#failures = args.failures ?? null;
    this.#speed = args.speed ?? null;
    this.#policy = args.policy;
    this.#cost = args.cost;
    this.#stats = args.stats;
    this.#log = args.log;
    this.#onSwitch = args.onSwitch ?? (() => {});
    const running = this.gears.findIndex((g) => g.id === this.#engine.gear.id);
    this.#current = running >= 0 ? running : 0;
    this.#gearSinceMs = args.startMs ?? performance.now();
    this.#cost.setExpectedCost(this.gears[this.#current].expectedCostUs);
  }

  /**
   * Seconds spent below the top gear (index > 0) and on the cheapest gear (the last, when the
   * plan has more than one) since the controller started, up to nowMs.
   */
  gearSeconds(nowMs = performance.now()): { belowTop: number; cheapest: number } {
    const runningMs = Math.max(0, nowMs - this.#gearSinceMs);
    const last = this.gears.length - 1;
    const belowTopMs = this.#belowTopMs + (this.#current > 0 ? runningMs : 0);
    const cheapestMs = this.#cheapestMs + (last > 0 && this.#current === last ? runningMs : 0);
    return { belowTop: belowTopMs / 1000, cheapest: cheapestMs / 1000 };
  }

  /** The policy that decides the switches (status reports its parameters). */
  get policy(): GearPolicy {
    return this.#policy;
  }

  get current(): ServingGear {
    return this.gears[this.#current];
  }

  /** Gears the engine refused to switch to (logged once each), by index. */
  get refusedGears(): number[] {
    return [...this.#refused];
  }

  rateQps(nowMs = performance.now()): number {
    return this.#monitor.rateQps(nowMs);
  }

  /** Records one request of `items` arriving now and switches gear if the policy says so. */
  onArrival(items: number): void {
    const now = performance.now();
    this.#monitor.recordRequest(items, now);
    this.evaluate(now);
  }

  /** Judges the load at nowMs; switches when the policy picks another gear. */
  evaluate(nowMs = performance.now()): void {
    const t0 = performance.now();
    const rateQps = this.#monitor.rateQps(nowMs);
    const recentRateQps = this.#monitor.recentRateQps(nowMs);
    const backlogItems = this.#engine.inFlight;
    const failedRateQps = this.#failures?.rateQps(nowMs);
    const slowdown = this.#speed?.slowdown();
    const arrivedItems = this.#monitor.totalItems;
    const decision = this.#policy.decide({ nowMs, rateQps, recentRateQps, arrivedItems, backlogItems, current: this.#current, ...(failedRateQps !== undefined ? { failedRateQps } : {}), ...(slowdown !== undefined ? { slowdown } : {}) });
    const next = decision.gear;
    if (next === this.#current || decision.reason === 'stay' || this.#refused.has(next)) return;
    const from = this.gears[this.#current];
    const to = this.gears[next];
    try {
      this.#engine.setGear(to.engine);
    } catch (err) {
      if (err instanceof CascadeServeError && err.code === 'ERR_CS_CLOSED') return; // shutting down
      this.#refused.add(next);
      const message = err instanceof Error ? err.message : String(err);
      const report = this.#log.error ?? this.#log.info;
      report.call(this.#log, { model: this.#stats.name, gear: to.id, gearIndex: next, runningGear: from.id, err: message }, `gear switch refused by the engine, gear ${to.id} disabled: ${message}`);
      return;
    }
    const ranMs = Math.max(0, nowMs - this.#gearSinceMs);
    if (this.#current > 0) this.#belowTopMs += ranMs;
    if (this.gears.length > 1 && this.#current === this.gears.length - 1) this.#cheapestMs += ranMs;
    this.#gearSinceMs = nowMs;
    this.#current = next;
    const switchUs = (performance.now() - t0) * 1000;
    this.#cost.setExpectedCost(to.expectedCostUs);
    const cheaper = next > from.index;
    this.#stats.recordSwitch(cheaper, switchUs);
    const event: GearSwitchEvent = { atMs: nowMs, from: from.id, to: to.id, fromIndex: from.index, toIndex: next, rateQps, recentRateQps, backlogItems, ...(failedRateQps !== undefined ? { failedRateQps } : {}), ...(slowdown !== undefined ? { slowdown } : {}), recentDispersion: this.#monitor.dispersion(nowMs), reason: decision.reason, switchUs };
    this.#stats.recordSwitchEvent(event, Date.now());
    this.#log.info({ model: this.#stats.name, ...event, expectedAccuracy: to.expectedAccuracy }, cheaper ? 'gear switch: cheaper' : 'gear switch: more accurate');
    this.#onSwitch(event);
  }
}
