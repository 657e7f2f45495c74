// Admission control: every request gets a deadline (its own `timeout` or the plan's SLO), and
// is refused at once when the engine's current queue cannot meet it, or when the hard bound
// on items in flight is reached. Refusing at the door costs microseconds; accepting work that
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
  | { accepted: false; reason: string; retryAfterS: number };

/** Fewest completed items in a sample before it updates the cost estimate (noise guard). */
const kMinItemsPerCostSample = 8;

/**
 * Estimates the work per item as the current gear's expected cost (from the plan) times a
 * calibration factor measured from the engine: lane busy time per completed item over the
 * expected cost, smoothed. The factor carries over gear switches; the plan's ratios between
 * gears are trusted, its absolute scale is not (other hardware, other batch sizes).
 */
export class CostEstimator {
  readonly smoothing: number;
  #expectedUs: number;
  #calibration = 1;

  constructor(expectedCostUs: number, smoothing = 0.2) {
    this.#expectedUs = Math.max(1, expectedCostUs);
    this.smoothing = smoothing;
  }

  /** Per-item work of the gear now running, microseconds. */
  get perItemUs(): number {
    return this.#expectedUs * this.#calibration;
  }

  get calibration(): number {
    return this.#calibration;
  }

  /** The gear changed: its planned per-item cost. */
  setExpectedCost(expectedCostUs: number): void {
    this.#expectedUs = Math.max(1, expectedCostUs);
  }

  /** Lane busy time and items completed since the last sample. */
  observe(busyUs: number, completedItems: number): void {
    if (completedItems < kMinItemsPerCostSample || !(busyUs >= 0)) return;
    const ratio = busyUs / completedItems / this.#expectedUs;
    this.#calibration += this.smoothing * (ratio - this.#calibration);
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
   * Decides on a request of `items` items with an optional timeout (microseconds) given the
   * items already in flight. A request alone on an idle server is never refused for its
   * deadline: the engine times it out (504) if it really cannot make it.
   */
  admit(items: number, timeoutUs: number | undefined, backlogItems: number): Admission {
    const budgetUs = timeoutUs ?? this.sloUs;
    if (backlogItems + items > this.maxInFlightItems) {
      return { accepted: false, reason: `server is at its limit of ${this.maxInFlightItems} images in flight`, retryAfterS: this.#retryAfterS(backlogItems) };
    }
    if (backlogItems > 0) {
      const waitUs = this.estimatedWaitUs(backlogItems, items);
      if (waitUs > budgetUs) {
        return {
          accepted: false,
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
