// Gear-switching policy: pure, given the measured load and backlog, which gear to run next.
// One small piece behind the GearPolicy interface (ts/contracts/gear-policy.ts), which the
// gear controller and the planner's switching simulator drive alike.
//
// The rule (BacklogGearPolicy), per look:
// - Latency model: an arrival waits for the queued work ahead of it, then runs its own
//   batches. Queued work = the backlog (items in flight) less what normal operation holds
//   (Little's law: rate x the running gear's own latency). An item keeps the stages of the gear
//   it was admitted under, so queued work drains at that gear's service rate: after a switch,
//   what is left of the earlier gears' items (the oldest, answered first: the backlog less the
//   arrivals since) at theirs, the rest at the running gear's (backlogMs). Over a short horizon
//   (one SLO) gear g drains the queue by its spare capacity; arrivals above its sustained
//   capacity add to it over a longer overload horizon (4 SLOs): an overload lasts as long as
//   the burst does, and queued work keeps its gear's stages, so a switch made later cannot
//   speed it up (over one SLO, the gear left only once the queue had spent the budget, and
//   every arrival of a burst waited at the SLO's edge). A gear g "would miss" when
//     queued / serviceRate(current) + (rate - sustained(g)) * H / serviceRate(g)
//   (H: the overload horizon when rate > sustained(g), else the horizon) exceeds budget(g),
//   the SLO minus g's own latency (its queue delays and one batch). The rate is the recent
//   one when it differs from the window's beyond its Poisson noise, else the window's.
// - Down: only when the running gear would miss; then to the most accurate cheaper gear that
//   would not (`would_miss`), judged at the higher of the near rate and the recent window's:
//   whether to leave is read at the near rate (noise must not move the gear), but once the
//   running gear would miss, a recent rate above the window's is a ramp the 200 ms window lags,
//   and a target that held only the window's rate was left again a look later with a longer
//   queue, one gear per look (two thirds of a tuning trial's lost items). Asking the target also to hold the burst's rate indefinitely took a gear
//   below the accuracy target for every short burst a more accurate gear's queue absorbs
//   within the SLO (the azure trace's 100-300 ms bursts: docs/gear-switching.md). When none would (the backlog alone is over budget),
//   switching cannot speed up the queued items, only what arrives next: the target is the most
//   accurate gear whose time to drain the backlog is within one horizon (or 10%, whichever
//   is more) of the fastest gear's (`cannot_meet`); at a low arrival rate that is the running
//   gear, so a single large request does not throw the gear down (its items count as
//   backlog, not as arrival rate: see the load monitor).
// - Up: to the most accurate gear u above the running one that drains the queued work within
//   upDrainFraction of the SLO and under which an arrival now would wait at most
//   upWaitFraction of u's budget (the down rule's prediction, at the same rate and horizons,
//   capacities at the host scale measured by failures, below); at every look for holdMs (the
//   server passes its monitor window); the target is the least accurate gear that qualified
//   at every look of the hold, so a fluctuating load does not overshoot. The hysteresis band
//   is on that prediction: up below upWaitFraction of the budget, down above the budget. A
//   band on the load against u's sustained capacity (window rate < 0.97 x sustained(u)) kept
//   every burst above a gear's capacity on a cheaper gear until the 200 ms window had
//   forgotten it, then one hold more, although u's queue would absorb what was left of it:
//   on the azure trace MS+ served 200-650 ms per burst on its cheap model
//   (docs/gear-switching.md).
// - Failing (the server's measured evidence, before the rules above): while items fail for
//   load (refused at admission, or past their deadline) the running gear holds less here than
//   the plan says: the front end's share of a small host, a slower machine. Admission keeps
//   the backlog short by refusing, so the backlog rule never sees it (the evaluation's HTTP
//   view: failures at a third of the plan's capacity, no switch). What the gear held (the
//   load less what failed) over its planned sustained capacity is this host's scale; the
//   policy takes the most accurate cheaper gear whose capacity at that scale holds the load
//   (`failing`), at most once per hold, and up-switches read every capacity at that scale,
//   which relaxes back to the plan's (it doubles every observedCapMemoryMs). Failures under 5%
//   of the load still step down but do not set the scale: one late item in a light load is a
//   hiccup, not a host that holds a tenth of the plan; nor do failures within one hold and one
//   SLO of a switch: those items were queued under the gear before.
// - Host speed (the server's measurement, GearPolicyInput.slowdown): every figure above is the
//   plan's, computed from batch times profiled before the plan; a host that now runs the models
//   slower (a neighbour, the front end's share of the cores, another machine) holds less, one
//   that runs them faster holds more. With a slowdown s (measured lane busy time over what the
//   plan's batch times give for the same batches, ts/server/host-speed.ts) each gear's
//   capacities are divided by s and its own latency multiplied by it, so the down rule leaves
//   a gear before the queue shows the difference and the up rule does not return to it early.
//   Without a reading (the simulator, an idle server, a plan without batch times) s is 1.
// - Accuracy budget (plans with a load-weighted accuracy target, ts/server/accuracy-budget.ts):
//   a gear below the target is a candidate of the rules above only while the accuracy banked
//   by the gears above it pays for one hold of it; when the balance runs out on such a gear,
//   the policy returns to the cheapest gear meeting the target (`accuracy_budget`) and lets its
//   queue absorb the rest, as the static cascade does. Without it the latency rules spent
//   accuracy the plan did not have (58% of an azure trial's requests on a gear below target).
//   A failed item answers nothing, so it costs the whole target where a gear below it costs a
//   point or two: while items fail for load, or are about to (the running gear's queue alone
//   is past its budget), the budget restricts no gear; and the return waits until that gear
//   holds the load within the up rule's band, over one SLO, at the higher of the window's and
//   the near rate, the down rule would not leave it at once (its overload horizon), and no item
//   fails. Before this
//   (session 18) the budget sent a 25 ms-SLO trial back to a gear at 1.5-2.3x its capacity at
//   the trace's peak and lost up to 6% of its items (docs/gear-switching.md).
// Loads are items per second, times milliseconds.
import type { GearDecision, GearPolicy, GearPolicyInput } from '../contracts/gear-policy.js';
import { AccuracyBudget, type AccuracyBudgetOptions } from './accuracy-budget.js';

export type { GearDecision, GearPolicy, GearPolicyInput } from '../contracts/gear-policy.js';

export interface GearRange {
  minQps: number;
  maxQps: number;
}

/** Index of the gear whose (minQps, maxQps] holds `load`; gaps and overflow go cheaper. */
export function gearIndexForLoad(gears: readonly GearRange[], load: number): number {
  for (let i = 0; i < gears.length; i++) if (load <= gears[i].maxQps) return i;
  return gears.length - 1;
}

/** What the policy knows of one gear. */
export interface PolicyGear {
  /** Load the gear holds within the SLO indefinitely, items/s. */
  sustainedQps: number;
  /** Items/s its lanes clear when fully busy. */
  serviceRateQps: number;
  /** Wait an arrival can afford before its own batches and run: the SLO minus the gear's own latency, ms. */
  budgetMs: number;
  /** The gear's own latency (queue delays + one first-stage batch), ms: rate x this is the in-flight count of normal operation. */
  ownLatencyMs: number;
}

/** The plan's figures of a gear the policy's capacities are derived from. */
export interface PlanGearFigures {
  maxQps: number;
  /** LP-predicted peak lane utilization at maxQps (0 or absent: unknown). */
  utilization?: number;
  expectedCostUs: number;
  stages: readonly { maxBatch: number; maxQueueDelayUs: number }[];
  /** Optional plan fields (plans since #14, ts/contracts/plan-schema.ts); derived from the above when absent or 0. */
  sustainedQps?: number;
  serviceRateQps?: number;
  burstBudgetItems?: number;
}

/**
 * Per gear: sustained capacity, service rate and the SLO budget left for waiting.
 * Plans with the optional fields use them; older plans derive them: sustained = maxQps (the
 * gear's planned upper load), service rate = maxQps / utilization (the load at which the
 * busiest lane is saturated), else lanes / expected cost. Budget = SLO - (queue delays of
 * every stage + one first-stage batch of expected cost), or the plan's burst budget turned
 * into time at the service rate when that is smaller.
 */
export function policyGears(gears: readonly PlanGearFigures[], sloMs: number, lanes: number): PolicyGear[] {
  return gears.map((g) => {
    const sustainedQps = g.sustainedQps || g.maxQps;
    const util = g.utilization ?? 0;
    const serviceRateQps = g.serviceRateQps || (util > 0 ? g.maxQps / util : (lanes * 1e6) / Math.max(g.expectedCostUs, 1e-3));
    let ownUs = (g.stages[0]?.maxBatch ?? 1) * g.expectedCostUs;
    for (const s of g.stages) ownUs += s.maxQueueDelayUs;
    let budgetMs = sloMs - ownUs / 1000;
    // The plan's burst budget is the p95 of a burst's OWN items, most of which leave at the
    // first stage; an arrival behind the burst waits for all of it (the burst's later stages
    // go first, oldest deadline first). So it can only tighten the derived budget: on the zoo
    // at SLO 10 ms it read 10-19 ms of drain, and the policy then missed the SLO (see docs).
    if (g.burstBudgetItems !== undefined) budgetMs = Math.min(budgetMs, (g.burstBudgetItems / serviceRateQps) * 1000);
    return { sustainedQps, serviceRateQps: Math.max(serviceRateQps, sustainedQps), budgetMs: Math.max(0, budgetMs), ownLatencyMs: ownUs / 1000 };
  });
}

/** Failures below this share of the load do not measure the host's scale (a `failing` switch still steps down). */
const kHiccupShare = 0.05;

/** When no gear meets the SLO: a drain time this much (relative) above the fastest is as good. */
const kDrainTolerance = 0.1;

/**
 * Bounds on the measured slowdown the rule follows (GearPolicyInput.slowdown): beyond them the
 * reading is more likely a measurement's fault (a few batches after an idle spell) than the host.
 */
export const kMinSlowdown = 0.67;
export const kMaxSlowdown = 4;

export interface BacklogPolicyOptions {
  /** The latency target, ms. */
  sloMs: number;
  /** How far ahead excess arrivals are counted, ms. Default: the SLO. */
  horizonMs?: number;
  /** How long the up-switch condition must hold, ms; the server passes its monitor window. Default 200. */
  holdMs?: number;
  /** Up only when the backlog drains under the better gear within this fraction of the SLO. Default 0.25. */
  upDrainFraction?: number;
  /**
   * Up only when an arrival under the better gear would wait at most this fraction of its
   * budget (the down rule's prediction: the queued work's drain plus the excess arrivals over
   * the horizon). Default 0.5: in the switching simulator on the evaluation's tuning seeds 0.25
   * held less, 0.75 more on some cells and less on others (docs/gear-switching.md).
   */
  upWaitFraction?: number;
  /** How fast the host scale measured at a `failing` switch returns to the plan's (1): it doubles every this many ms. Default 10,000. */
  observedCapMemoryMs?: number;
  /**
   * How far ahead arrivals above a gear's sustained capacity are counted, ms. Default 4 x the
   * SLO: with one SLO the policy left a gear only once its queue had spent the budget, and at a
   * 100 ms SLO served 0.4x the load of the cheapest gear held fixed (docs/gear-switching.md).
   */
  overloadHorizonMs?: number;
  /** Length of the monitor's recent window, ms (the server passes its own). Default 10. */
  recentMs?: number;
  /** Keep the answers' accuracy at a target on average (see AccuracyBudget); absent: gears below a target are taken on latency alone. */
  accuracyBudget?: AccuracyBudgetOptions;
}

export class BacklogGearPolicy implements GearPolicy {
  readonly gears: readonly PolicyGear[];
  readonly sloMs: number;
  readonly horizonMs: number;
  readonly holdMs: number;
  readonly upDrainFraction: number;
  readonly upWaitFraction: number;
  readonly overloadHorizonMs: number;
  readonly recentMs: number;
  /** When the up condition first held (NaN: it does not hold now). */
  #upSinceMs = NaN;
  /** The least accurate gear that qualified at every look since #upSinceMs. */
  #upTarget = -1;
  readonly observedCapMemoryMs: number;
  /** Capacity here over the plan's, measured at the last `failing` switch (1: no evidence), and when. */
  #hostScale = 1;
  #hostScaleAtMs = -Infinity;
  /** When the last `failing` switch was made. */
  #failingSwitchMs = -Infinity;
  // The gear of the last look (or the one it chose) and since when it runs: items failing in the
  // load window were admitted up to one SLO before it, so only holdMs + sloMs after a switch are
  // they all this gear's. -Infinity: the gear the server started on.
  #seenGear = -1;
  #seenGearSinceMs = -Infinity;
  /** The gears' figures at the host's measured speed (#atSpeed), and that slowdown. */
  #eff: readonly PolicyGear[];
  #effSlowdown = 1;
  // Items in flight when the running gear started (admitted under earlier gears: they keep those
  // gears' stages), how many of them may still be queued, the arrival count and time then, and
  // the rate their work drains at (items/s, at the speed of that switch). The oldest go first,
  // so what is left of them is the backlog less what arrived since.
  #carryItems = 0;
  #carryArrived = NaN;
  #carryAtMs = 0;
  #carryServiceQps = Infinity;
  readonly #budget: AccuracyBudget | null;

  constructor(gears: readonly PolicyGear[], options: BacklogPolicyOptions) {
    if (gears.length === 0) throw new RangeError('gears must not be empty');
    const check = (name: string, v: number, ok: boolean) => {
      if (!ok || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number${name === 'sloMs' ? ' > 0' : name === 'upDrainFraction' || name === 'upWaitFraction' ? ' in [0, 1)' : name === 'recentMs' ? ' > 0' : ' >= 0'}, got ${String(v)}`);
    };
    check('sloMs', options.sloMs, options.sloMs > 0);
    this.sloMs = options.sloMs;
    this.horizonMs = options.horizonMs ?? options.sloMs;
    check('horizonMs', this.horizonMs, this.horizonMs >= 0);
    // The server's option name: the hold is its --up-switch-hold-ms.
    this.holdMs = options.holdMs ?? 200;
    check('upSwitchHoldMs', this.holdMs, this.holdMs >= 0);
    this.upDrainFraction = options.upDrainFraction ?? 0.25;
    check('upDrainFraction', this.upDrainFraction, this.upDrainFraction >= 0 && this.upDrainFraction < 1);
    this.upWaitFraction = options.upWaitFraction ?? 0.5;
    check('upWaitFraction', this.upWaitFraction, this.upWaitFraction >= 0 && this.upWaitFraction < 1);
    this.observedCapMemoryMs = options.observedCapMemoryMs ?? 10_000;
    check('observedCapMemoryMs', this.observedCapMemoryMs, this.observedCapMemoryMs > 0);
    this.overloadHorizonMs = options.overloadHorizonMs ?? 4 * options.sloMs;
    check('overloadHorizonMs', this.overloadHorizonMs, this.overloadHorizonMs >= 0);
    this.recentMs = options.recentMs ?? 10;
    check('recentMs', this.recentMs, this.recentMs > 0);
    gears.forEach((g, i) => {
      if (!(g.sustainedQps > 0 && g.serviceRateQps > 0 && g.budgetMs >= 0 && g.ownLatencyMs >= 0)) throw new RangeError(`gears[${i}]: sustainedQps and serviceRateQps must be > 0, budgetMs and ownLatencyMs >= 0, got ${JSON.stringify(g)}`);
    });
    this.gears = gears;
    this.#eff = gears;
    if (options.accuracyBudget && options.accuracyBudget.gearAccuracy.length !== gears.length) throw new RangeError(`accuracyBudget.gearAccuracy has ${options.accuracyBudget.gearAccuracy.length} entries for ${gears.length} gears`);
    this.#budget = options.accuracyBudget ? new AccuracyBudget(options.accuracyBudget) : null;
  }

  /** The accuracy budget the policy keeps (null: none). */
  get accuracyBudget(): AccuracyBudget | null {
    return this.#budget;
  }

  /**
   * Items of the backlog that are queued work ahead of an arrival: the in-flight count less
   * what normal operation holds at this rate (Little's law: rate x the gear's own latency, the
   * items forming and running their own batches). Counting all of it read a gear running near
   * its capacity as about to miss, and blocked up-switches under load as the earlier "in flight
   * below one batch" rule did (Little's law: under load the in-flight count is never small).
   */
  queuedItems(g: number, backlogItems: number, rateQps: number): number {
    return Math.max(0, backlogItems - (rateQps * this.#eff[g].ownLatencyMs) / 1000);
  }

  /**
   * Wait (ms) of an arrival under gear g: the backlog's drain plus the excess over the (overload)
   * horizon; `shortHorizon` counts an overload's excess over the short horizon only.
   */
  waitMs(g: number, backlogMs: number, rateQps: number, shortHorizon = false): number {
    const gear = this.#eff[g];
    const horizonMs = rateQps > gear.sustainedQps && !shortHorizon ? this.overloadHorizonMs : this.horizonMs;
    return backlogMs + ((rateQps - gear.sustainedQps) * horizonMs) / gear.serviceRateQps;
  }

  wouldMiss(g: number, backlogMs: number, rateQps: number): boolean {
    return this.waitMs(g, backlogMs, rateQps) > this.#eff[g].budgetMs;
  }

  /** Time (ms) to drain the backlog while arrivals run under gear g (Infinity: it never drains). */
  drainMs(g: number, backlogMs: number, rateQps: number): number {
    const spare = 1 - rateQps / this.#eff[g].serviceRateQps;
    return spare > 0 ? backlogMs / spare : Infinity;
  }

  /** This host's capacity over the plan's (<= 1), as last measured by failures, relaxed back towards 1 since. */
  hostScale(nowMs: number): number {
    if (this.#hostScale >= 1) return 1;
    return Math.min(1, this.#hostScale * 2 ** (Math.max(0, nowMs - this.#hostScaleAtMs) / this.observedCapMemoryMs));
  }

  /** Load gear g holds here, items/s: its sustained capacity at the host scale. */
  upCapacityQps(g: number, nowMs: number): number {
    return this.#eff[g].sustainedQps * this.hostScale(nowMs);
  }

  /**
   * The rate of the near future: the recent rate when it differs from the window's by more than
   * its own Poisson noise (5 sigma of a count over recentMs at the window's rate: a ramp or a
   * spike), else the window's. A short recent window sees a spike within milliseconds, but
   * read as it is, its noise (+-14% at 5,000/s over 10 ms; 3 sigma is passed several times a
   * second when every arrival looks) switched gears down on nothing. The noise is taken as at
   * least one item: at a low rate a single arrival fills the recent window (one image at 10/s
   * read as 100-200/s and, over the overload horizon, threw a fixture server off its top gear).
   */
  nearRate(rateQps: number, recentRateQps?: number): number {
    if (recentRateQps === undefined) return rateQps;
    const windowS = this.recentMs / 1000;
    const sigmaQps = Math.sqrt(Math.max(rateQps * windowS, 1)) / windowS;
    return Math.abs(recentRateQps - rateQps) > 5 * sigmaQps ? recentRateQps : rateQps;
  }

  /**
   * The gears at this host's measured speed: capacities and service rates over the slowdown,
   * each gear's own latency times it, and the budget left for waiting shrunk (or grown) by the
   * difference. Recomputed only when the slowdown moves by more than 1%.
   */
  #atSpeed(slowdown: number | undefined): void {
    const s = slowdown === undefined || !Number.isFinite(slowdown) ? 1 : Math.min(kMaxSlowdown, Math.max(kMinSlowdown, slowdown));
    if (Math.abs(s / this.#effSlowdown - 1) <= 0.01) return;
    this.#effSlowdown = s;
    this.#eff = s === 1 ? this.gears : this.gears.map((g) => ({
      sustainedQps: g.sustainedQps / s,
      serviceRateQps: g.serviceRateQps / s,
      ownLatencyMs: g.ownLatencyMs * s,
      budgetMs: Math.max(0, g.budgetMs - g.ownLatencyMs * (s - 1)),
    }));
  }

  /** The slowdown the rule's figures are at now (1: the plan's). */
  get slowdown(): number {
    return this.#effSlowdown;
  }

  decide(input: GearPolicyInput): GearDecision {
    this.#atSpeed(input.slowdown);
    const { nowMs } = input;
    const cur = Math.min(Math.max(input.current, 0), this.gears.length - 1);
    if (cur !== this.#seenGear) {
      if (this.#seenGear >= 0) {
        this.#seenGearSinceMs = nowMs;
        this.#carryOver(this.#seenGear, input);
      }
      this.#seenGear = cur;
    }
    const d = this.#decide(input, cur);
    if (d.gear !== cur) {
      this.#carryOver(cur, input);
      this.#seenGear = d.gear;
      this.#seenGearSinceMs = nowMs;
    }
    return d;
  }

  /**
   * Items admitted under the gears before the running one that are still in flight (never more
   * than the backlog). The count only falls, so each look also forgets what has drained.
   */
  carriedItems({ nowMs, rateQps, arrivedItems, backlogItems }: GearPolicyInput): number {
    if (this.#carryItems <= 0) return 0;
    const since = arrivedItems !== undefined && !Number.isNaN(this.#carryArrived) ? arrivedItems - this.#carryArrived : (rateQps * Math.max(0, nowMs - this.#carryAtMs)) / 1000;
    // a count that went back (another monitor) says nothing of what is left: forget the carry
    this.#carryItems = since < 0 ? 0 : Math.min(this.#carryItems, Math.max(0, backlogItems - since));
    return this.#carryItems;
  }

  /** A switch away from gear `from` at this look: its backlog (and what is left of the one before) is carried. */
  #carryOver(from: number, input: GearPolicyInput): void {
    const left = this.carriedItems(input);
    const b = input.backlogItems;
    const workS = left / this.#carryServiceQps + Math.max(0, b - left) / this.#eff[from].serviceRateQps;
    this.#carryItems = b;
    this.#carryServiceQps = b > 0 && workS > 0 ? b / workS : Infinity;
    this.#carryArrived = input.arrivedItems ?? NaN;
    this.#carryAtMs = input.nowMs;
  }

  /**
   * Time (ms) the queued work ahead of an arrival takes on gear `cur`'s lanes: the queued items
   * (queuedItems) that were admitted under earlier gears drain at those gears' rate, the rest at
   * cur's. Read at cur's rate alone, a resnet queue left behind by a step to a model 10x faster
   * looked drained a look later: the accuracy budget's return took resnet back, the next look
   * left it again, 212 switches in a 6 s tuning trial of MS+ and every other request on the
   * queue that was missing its deadlines (docs/gear-switching.md, "A queue keeps its gear").
   */
  backlogMs(cur: number, input: GearPolicyInput, rateQps: number): number {
    const queued = this.queuedItems(cur, input.backlogItems, rateQps);
    const carried = Math.min(queued, this.carriedItems(input));
    return (carried / this.#carryServiceQps + (queued - carried) / this.#eff[cur].serviceRateQps) * 1000;
  }

  #decide(input: GearPolicyInput, cur: number): GearDecision {
    const { nowMs, rateQps, recentRateQps, arrivedItems, backlogItems, failedRateQps } = input;
    const last = this.gears.length - 1;
    const budget = this.#budget;
    const rate = this.nearRate(rateQps, recentRateQps);
    // Items failing for load now: the load is more than the running gear holds here.
    const failing = failedRateQps !== undefined && failedRateQps > 0;
    const backlogMs = this.backlogMs(cur, input, rate);
    if (budget) {
      // items served counted from the arrival count; without one, at the short window's rate
      // (the long window lags a burst by its length, and a burst's items went uncounted)
      budget.observe(nowMs, recentRateQps ?? rateQps, cur, arrivedItems);
      if (budget.exhausted(cur)) {
        const g = budget.cheapestMeeting();
        // Not back to a gear that cannot hold this load even for one SLO (its queue absorbs a
        // short burst, not a peak at twice its capacity), nor while items fail, nor to one that
        // failures showed holds less than the load: its items would fail, and a failed item
        // costs the whole target where a cheaper gear costs a point or two. Within the up rule's
        // band (upWaitFraction of the budget), or the return and the `losing` rule below flap.
        // At the higher of the two rates: a return is a step to a slower gear, and a dip of the
        // short window is as often a stall of the arrivals (an event loop busy for 10 ms) as a
        // lull: read as one, 138/s against a window of 18,240/s took the headline cell's plan back
        // to its target gear at the peak (docs/gear-switching.md, "Two misreadings at the peak").
        // Nor to a gear the down rule would leave at once: a return at 1.3x the gear's capacity,
        // within the band over one SLO, was followed by `would_miss` 77 ms later with 401 items
        // queued, and lost 22 (docs/gear-switching.md, "Two changes from the loss episodes").
        const returnRate = Math.max(rate, rateQps);
        const holds = g >= 0 && this.waitMs(g, backlogMs, returnRate, true) <= this.upWaitFraction * this.#eff[g].budgetMs && !this.wouldMiss(g, backlogMs, returnRate) && !(this.hostScale(nowMs) < 1 && this.upCapacityQps(g, nowMs) < returnRate);
        if (holds && !failing) {
          this.reset();
          return { gear: g, reason: 'accuracy_budget' };
        }
      }
    }
    // Cheaper gears the accuracy budget allows now: all of them without one, and all while items
    // fail for load or are about to (for the same reason: on the evaluation's 25 ms cell the
    // budget held a gear that lost up to 6% of a trial's items while the cheapest gear, 1.5 points
    // below the target, went unused; docs/gear-switching.md, "When items fail, the budget steps
    // aside"). About to: the running gear's queued work alone is past its budget, so what is
    // queued times out (counting one SLO of excess arrivals too spent the azure cell's accuracy
    // on bursts the queue absorbs).
    const losing = failing || backlogMs > this.#eff[cur].budgetMs;
    const allowed = (g: number, atRate: number) => losing || !budget || budget.allows(g, atRate, this.holdMs);
    let lastAllowed = -1;
    for (let g = last; g > cur; g--) if (allowed(g, rate)) {
      lastAllowed = g;
      break;
    }
    // Failures counted over the last hold were (mostly) under the gear that runs now: one step
    // per hold, so a cheaper gear gets its window to show whether it holds.
    if (failing && lastAllowed > cur && nowMs - this.#failingSwitchMs >= this.holdMs) {
      this.reset();
      this.#failingSwitchMs = nowMs;
      // What the gear held (never above the load) over what the plan says it holds.
      const held = Math.max(0, Math.min(rateQps, rateQps - failedRateQps!));
      // A few failures in a light load are a hiccup (one late batch), not the host's scale: read
      // as one, a single timeout at a fifth of gear 0's capacity held every capacity at a tenth
      // for seconds in the engine view. Only a share a p95 SLO would not tolerate counts. Nor
      // failures of items queued under the gear before (within holdMs + sloMs of a switch): the
      // backlog a would_miss step left behind, read against a gear at half its capacity, halved
      // every capacity for seconds.
      if (failedRateQps! >= kHiccupShare * rateQps && nowMs - this.#seenGearSinceMs >= this.holdMs + this.sloMs) {
        this.#hostScale = Math.min(this.hostScale(nowMs), held / this.#eff[cur].sustainedQps);
        this.#hostScaleAtMs = nowMs;
      }
      let target = lastAllowed;
      for (let g = cur + 1; g < lastAllowed; g++) {
        if (allowed(g, rate) && this.upCapacityQps(g, nowMs) >= rateQps) {
          target = g;
          break;
        }
      }
      return { gear: target, reason: 'failing' };
    }
    if (this.wouldMiss(cur, backlogMs, rate)) {
      this.reset();
      if (lastAllowed < 0) return { gear: cur, reason: 'stay' };
      const downRate = Math.max(rate, recentRateQps ?? rate);
      for (let g = cur + 1; g <= lastAllowed; g++) if (allowed(g, rate) && !this.wouldMiss(g, backlogMs, downRate)) return { gear: g, reason: 'would_miss' };
      let fastest = Infinity;
      for (let g = cur; g <= lastAllowed; g++) if (g === cur || allowed(g, rate)) fastest = Math.min(fastest, this.drainMs(g, backlogMs, rate));
      if (fastest === Infinity) return { gear: lastAllowed, reason: 'cannot_meet' };
      const tolerableMs = fastest + Math.max(this.horizonMs, kDrainTolerance * fastest);
      for (let g = cur; g <= lastAllowed; g++) {
        if ((g === cur || allowed(g, rate)) && this.drainMs(g, backlogMs, rate) <= tolerableMs) return g === cur ? { gear: cur, reason: 'stay' } : { gear: g, reason: 'cannot_meet' };
      }
      return { gear: lastAllowed, reason: 'cannot_meet' };
    }
    let best = -1;
    // queued work as before, normal operation's in-flight share at the window's rate (the near
    // rate there, tried in the simulator, gave less: docs/gear-switching.md)
    const queued = this.queuedItems(cur, backlogItems, rateQps);
    // capacities at the host scale read as the load over it
    const hostRate = rate / this.hostScale(nowMs);
    // Not while items still fail: the load is more than the running gear holds.
    for (let u = 0; u < (failing ? 0 : cur); u++) {
      const drainMs = (queued / this.#eff[u].serviceRateQps) * 1000;
      if (drainMs <= this.upDrainFraction * this.sloMs && this.waitMs(u, drainMs, hostRate) <= this.upWaitFraction * this.#eff[u].budgetMs) {
        best = u;
        break;
      }
    }
    if (best < 0) {
      this.reset();
      return { gear: cur, reason: 'stay' };
    }
    if (Number.isNaN(this.#upSinceMs)) {
      this.#upSinceMs = nowMs;
      this.#upTarget = best;
    } else this.#upTarget = Math.max(this.#upTarget, best);
    if (nowMs - this.#upSinceMs < this.holdMs) return { gear: cur, reason: 'stay' };
    const target = this.#upTarget;
    this.reset();
    return { gear: target, reason: 'drained' };
  }

  reset(): void {
    this.#upSinceMs = NaN;
    this.#upTarget = -1;
  }
}
