// The gear-switching policy's contract (types only): what a policy reads at each look, what it
// answers, and how a switch is recorded. The server (ts/server/gear-controller.ts) and the
// planner's switching simulator (planner/switching-simulator.ts) both drive any object of
// this shape with the same inputs, so a policy is one small replaceable piece, and the
// evaluation can run an oracle in its place.

/** What a policy reads at each look (every arrival and every controller tick). */
export interface GearPolicyInput {
  /** Clock, milliseconds (performance.now() scale in the server, trace time in the simulator). */
  nowMs: number;
  /** Arrival rate over the load monitor's window, items per second. */
  rateQps: number;
  /** Arrival rate over the monitor's short recent window, items per second (optional). */
  recentRateQps?: number;
  /**
   * Items arrived since the monitor started, this look's own request included (the load
   * monitor's running count; optional). The accuracy budget charges them to the gear they
   * entered under, and the backlog policy counts how much of a switch's backlog is still
   * queued (the backlog less the arrivals since); without it, both count the arrival rate
   * times time.
   */
  arrivedItems?: number;
  /** Items accepted and not yet answered (the engine's in-flight count). */
  backlogItems: number;
  /** Index of the gear running now (0 = most accurate). */
  current: number;
  /**
   * Items per second over the monitor's window that failed for load: refused at admission
   * for it, or past their deadline (the server's; absent in the simulator, which refuses
   * nothing). Only items whose deadline was the plan's SLO or longer count, so a client's own
   * tight `timeout` does not move the gear.
   */
  failedRateQps?: number;
  /**
   * How much slower the host runs the plan's models now than the plan's batch times say
   * (measured lane busy time over planned, smoothed; < 1: faster), from the server's host
   * speed monitor (ts/server/host-speed.ts); absent without a reading (the simulator, an idle
   * server, a plan without batch times), which reads as 1.
   */
  slowdown?: number;
}

/**
 * Why a gear was chosen. Down: `would_miss` (the running gear's backlog plus the horizon's
 * excess arrivals would miss the SLO; the target is the most accurate gear that would not, at
 * the higher of the near and the recent rate),
 * `cannot_meet` (no gear would meet it; the target drains the backlog soonest, see the
 * policy), `failing` (items are failing for load on the running gear: it holds less here
 * than the plan says). Up: `drained`; `accuracy_budget` (the running gear is below the
 * plan's accuracy target and the accuracy banked for it has run out: back to the cheapest gear
 * meeting the target). `true_rate`: an oracle's choice from the trace's true
 * rate. `stay`: no switch.
 */
export type GearSwitchReason = 'would_miss' | 'cannot_meet' | 'failing' | 'drained' | 'accuracy_budget' | 'true_rate' | 'stay';

export interface GearDecision {
  /** Index of the gear to run next (may equal input.current). */
  gear: number;
  reason: GearSwitchReason;
}

export interface GearPolicy {
  decide(input: GearPolicyInput): GearDecision;
  /** Forgets the hold state (after an external gear change). */
  reset(): void;
}

/** Counts arrivals and reports rates: the server's LoadMonitor; the simulator is given one. */
export interface ArrivalMonitor {
  /** One request of `items` items arriving at nowMs. */
  recordRequest(items: number, nowMs: number): void;
  rateQps(nowMs: number): number;
  recentRateQps(nowMs: number): number;
  /** How clumped the arrivals are (LoadMonitor.dispersion); optional, read only when a switch is recorded. */
  dispersion?(nowMs: number): number;
  /** Items recorded since the monitor started (every request's whole count). */
  readonly totalItems: number;
}

/** One gear switch as the server's metrics, status route and the evaluation record it. */
export interface GearSwitchRecord {
  /** The clock of GearPolicyInput.nowMs at the decision. */
  atMs: number;
  /** Gear ids (plan ids) and plan positions. */
  from: number;
  to: number;
  fromIndex: number;
  toIndex: number;
  /** The measured load the decision read: window rate, recent rate (items/s), backlog (items). */
  rateQps: number;
  recentRateQps: number;
  backlogItems: number;
  /** Items failing for load per second the decision read (GearPolicyInput.failedRateQps); absent where none is measured. */
  failedRateQps?: number;
  /** The host slowdown the decision read (GearPolicyInput.slowdown); absent where none was measured. */
  slowdown?: number;
  /**
   * How much more the recent window's count varied than a Poisson count's at the switch
   * (ArrivalMonitor.dispersion, >= 1; absent where none was measured): a diagnostic of arrivals
   * reaching the monitor in clumps, which the policy does not read.
   */
  recentDispersion?: number;
  reason: Exclude<GearSwitchReason, 'stay'>;
}
