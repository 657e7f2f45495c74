// Admission control: every request gets a deadline (its own `timeout` or the plan's SLO), and
// is refused at once when its own items need more time than the deadline allows (even on an
// idle server), when the engine's current queue cannot meet it, or when the hard bound on
// items in flight is reached. Refusing at the door costs microseconds; accepting work that
// will miss its deadline costs the compute and the latency of everything queued behind it.

export interface AdmissionOptions {
  /** Default deadline of a request without `timeout`: the plan's p95 SLO, milliseconds. */
  sloMs: number;
  /** Lanes working in parallel (the plan's lane count). */
  parallelism: number;
  /** Hard bound on items accepted and not yet answered. Default 1024. */
  maxInFlightItems?: number;
  /** Weight of a new cost sample in the moving average. Default 0.2. */
  costSmoothing?: number;
}

export type Admission =
  | { accepted: true; /** Time left to the deadline, microseconds (engine budget). */ budgetUs: number }
  /** Refused for the load: retrying later can succeed. */
  | { accepted: false; kind: 'overloaded'; reason: string; retryAfterS: number }
  /**
   * Refused for its size: the request alone needs more than its deadline, so retrying it
   * unchanged never succeeds; a `timeout` of at least neededTimeoutUs (or fewer items) does.
   */
  | { accepted: false; kind: 'too_large_for_deadline'; reason: string; neededTimeoutUs: number; maxItemsInBudget: number };

/**
 * Time a request needs over the compute estimate of its items: items leave the cascade in
 * batches, stage after stage, so the last one is answered some time after the pure compute
 * (batching delays, stages that do not overlap fully, a shared CPU).
 */
export const kCompletionMargin = 2;

/** Fewest completed items in a sample before it updates the cost estimate (noise guard). */
const kMinItemsPerCostSample = 8;

/** Engine counters at one moment, cumulative since the engine started (CostEstimator.sample). */
export interface EngineTotals {
  /** Lane busy time, summed over the lanes, microseconds. */
  busyUs: number;
  /** Items answered by a stage's exit. */
  completed: number;
  /** Items accepted and not yet answered. */
  inFlight: number;
}

/**
 * Estimates the work per item as the current gear's expected cost (from the plan) times a
 * calibration factor measured from the engine: lane busy time per completed item over the
 * expected cost, smoothed. The factor carries over gear switches; the plan's ratios between
 * gears are trusted, its absolute scale is not (other hardware, other batch sizes).
 *
 * Two rules keep a wrong factor from locking the server out (it once refused every request
 * after an overload: the busy time spent on the expensive gear's backlog, divided by a 20x
 * cheaper gear's planned cost, made one image "too large for the deadline"; with nothing
 * admitted no item completed and no sample could correct it):
 * - a sample spans one gear only: at a switch the sample in progress is dropped, and so is
 *   every sample until the items in flight at the switch (queued, partly run, under the
 *   previous gear) have left or the engine is empty;
 * - without evidence the factor returns to the plan's: once the engine has been idle with no
 *   new sample for staleMs, the factor's logarithm shrinks by e every staleMs. A refusal for
 *   size leaves the engine idle, so an inflated factor lets requests in again within a few
 *   staleMs, and what they measure decides; while items are in flight a sample is coming, so
 *   a busy server keeps its measured factor.
 */
export class CostEstimator {
  readonly smoothing: number;
  /** The planned per-item cost of the plan's costliest gear, microseconds. */
  readonly costliestGearUs: number;
  /** Idle time without a sample after which the factor starts returning to 1, milliseconds. */
  readonly staleMs: number;
  #expectedUs: number;
  #calibration = 1;
  /** Counters where the sample in progress began; null before the first sample() call. */
  #base: { busyUs: number; completed: number } | null = null;
  /** The gear changed since the last sample() call. */
  #switched = false;
  /** After a switch: the count of completed items by which the previous gear's have left. */
  #settleAt: number | null = null;
  /** When the last evidence came (a sample taken, or items in flight), and the last sample() call. */
  #evidenceMs = -Infinity;
  #lastSampleMs = -Infinity;

  constructor(expectedCostUs: number, smoothing = 0.2, costliestGearUs = expectedCostUs, staleMs = 200) {
    this.#expectedUs = Math.max(1, expectedCostUs);
    this.smoothing = smoothing;
    this.costliestGearUs = Math.max(1, costliestGearUs, expectedCostUs);
    if (!(staleMs > 0)) throw new RangeError(`staleMs must be positive, got ${String(staleMs)}`);
    this.staleMs = staleMs;
  }

  /** Per-item work of the gear now running, microseconds. */
  get perItemUs(): number {
    return this.#expectedUs * this.#calibration;
  }

  /**
   * Per-item work in the plan's costliest gear, microseconds: a bound whatever gear runs
   * (the gear can change while a large request is served, and its arrival changes the load).
   */
  get costliestPerItemUs(): number {
    return Math.max(this.#expectedUs, this.costliestGearUs) * this.#calibration;
  }

  get calibration(): number {
    return this.#calibration;
  }

  /** The gear changed: its planned per-item cost. The sample in progress is dropped (see above). */
  setExpectedCost(expectedCostUs: number): void {
    this.#expectedUs = Math.max(1, expectedCostUs);
    this.#switched = true;
  }

  /** Lane busy time and items completed, all under the running gear: one sample. */
  observe(busyUs: number, completedItems: number): void {
    if (completedItems < kMinItemsPerCostSample || !(busyUs >= 0)) return;
    const ratio = busyUs / completedItems / this.#expectedUs;
    this.#calibration += this.smoothing * (ratio - this.#calibration);
  }

  /**
   * The engine's counters at nowMs (milliseconds, any monotonic clock), read periodically: a
   * sample is taken once kMinItemsPerCostSample items completed since the last one under one
   * gear. The first call only marks where sampling starts.
   */
  sample(t: EngineTotals, nowMs: number): void {
    const sinceMs = this.#lastSampleMs;
    this.#lastSampleMs = nowMs;
    if (t.inFlight > 0) this.#evidenceMs = nowMs;
    if (this.#base === null) {
      this.#rebase(t);
      this.#evidenceMs = nowMs;
      this.#switched = false;
      return;
    }
    if (this.#switched) {
      this.#switched = false;
      this.#settleAt = t.completed + t.inFlight;
    }
    if (this.#settleAt !== null) {
      // Busy time and exits so far may be the previous gear's: dropped.
      this.#rebase(t);
      if (t.completed >= this.#settleAt || t.inFlight === 0) this.#settleAt = null;
      return;
    }
    const done = t.completed - this.#base.completed;
    if (done >= kMinItemsPerCostSample) {
      this.observe(t.busyUs - this.#base.busyUs, done);
      this.#rebase(t);
      this.#evidenceMs = nowMs;
      return;
    }
    if (t.inFlight > 0) return;
    // Idle with no new sample: past the hold, the factor returns toward 1 (log scale: it is a
    // ratio, so x8 and x1/8 are as far from the plan).
    const from = Math.max(sinceMs, this.#evidenceMs + this.staleMs);
    if (nowMs > from) this.#calibration = Math.exp(Math.log(this.#calibration) * Math.exp(-(nowMs - from) / this.staleMs));
  }

  #rebase(t: EngineTotals): void {
    this.#base = { busyUs: t.busyUs, completed: t.completed };
  }
}

export class AdmissionController {
  readonly sloUs: number;
  readonly parallelism: number;
  readonly maxInFlightItems: number;
  readonly cost: CostEstimator;

  constructor(options: AdmissionOptions, cost: CostEstimator) {
    if (!(options.sloMs > 0)) throw new RangeError(`sloMs must be positive, got ${String(options.sloMs)}`);
    const maxInFlight = options.maxInFlightItems ?? 1024;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`maxInFlightItems must be a positive integer, got ${String(options.maxInFlightItems)}`);
    this.sloUs = options.sloMs * 1000;
    this.parallelism = Math.max(1, options.parallelism);
    this.maxInFlightItems = maxInFlight;
    this.cost = cost;
  }

  /** Expected wait before `items` more items would be answered, microseconds. */
  estimatedWaitUs(backlogItems: number, items: number): number {
    return ((backlogItems + items) * this.cost.perItemUs) / this.parallelism;
  }

  /**
   * Time a request of `items` items needs on an idle server, microseconds: its compute at the
   * costliest gear's estimated cost, times kCompletionMargin. The costliest gear, not the
   * current one: the bound and the advice given with a refusal then hold whatever the gear.
   */
  ownTimeUs(items: number): number {
    return ((items * this.cost.costliestPerItemUs) / this.parallelism) * kCompletionMargin;
  }

  /** Most items one request may carry to be answered within `budgetUs` on an idle server. */
  maxItemsWithin(budgetUs: number): number {
    return Math.floor((budgetUs * this.parallelism) / (this.cost.costliestPerItemUs * kCompletionMargin));
  }

  /**
   * Decides on a request of `items` items with an optional timeout (microseconds) given the
   * items already in flight. A request whose own items need more than its deadline is refused
   * whatever the load: one late item fails the whole request, so accepting it would cost the
   * compute and still answer 504.
   */
  admit(items: number, timeoutUs: number | undefined, backlogItems: number): Admission {
    const budgetUs = timeoutUs ?? this.sloUs;
    const ownUs = this.ownTimeUs(items);
    if (ownUs > budgetUs) {
      // Whole milliseconds, rounded up: the suggestion is itself enough.
      const neededTimeoutUs = Math.ceil(ownUs / 1000) * 1000;
      const maxItemsInBudget = this.maxItemsWithin(budgetUs);
      const deadline = timeoutUs === undefined ? `the default deadline of ${formatMs(budgetUs)} ms (the plan's SLO)` : `the requested timeout of ${formatMs(budgetUs)} ms`;
      const fewer = maxItemsInBudget >= 1 ? `, or send at most ${maxItemsInBudget} items per request` : '';
      return {
        accepted: false,
        kind: 'too_large_for_deadline',
        reason:
          `too large for the deadline: ${items} items need about ${formatMs(ownUs)} ms, more than ${deadline}; ` +
          `ask for more time with parameters.timeout of at least ${neededTimeoutUs} (microseconds)${fewer}`,
        neededTimeoutUs,
        maxItemsInBudget,
      };
    }
    if (backlogItems + items > this.maxInFlightItems) {
      return { accepted: false, kind: 'overloaded', reason: `server is at its limit of ${this.maxInFlightItems} items in flight`, retryAfterS: this.#retryAfterS(backlogItems) };
    }
    if (backlogItems > 0) {
      const waitUs = this.estimatedWaitUs(backlogItems, items);
      if (waitUs > budgetUs) {
        return {
          accepted: false,
          kind: 'overloaded',
          reason: `the queue cannot meet the deadline: about ${Math.round(waitUs / 1000)} ms of work ahead, ${Math.round(budgetUs / 1000)} ms allowed`,
          retryAfterS: this.#retryAfterS(backlogItems),
        };
      }
    }
    return { accepted: true, budgetUs };
  }

  /** Whole seconds (HTTP Retry-After), at least 1: the time to drain the current backlog. */
  #retryAfterS(backlogItems: number): number {
    return Math.max(1, Math.ceil(this.estimatedWaitUs(backlogItems, 0) / 1e6));
  }
}

/** Milliseconds for a message: whole above 10, one decimal below. */
function formatMs(us: number): string {
  const ms = us / 1000;
  return ms >= 10 ? String(Math.round(ms)) : ms.toFixed(1);
}
