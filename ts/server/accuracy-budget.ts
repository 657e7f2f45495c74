// Accuracy budget: the online half of the planner's load-weighted accuracy target. A plan
// with that objective has gears below the target, to be afforded by the accuracy its more
// accurate gears bank at lower load (the paper's accuracy-SLO mode). The switching policy's
// latency rules alone do not keep that account: on the azure trace they ran a gear below the
// target for whole bursts that the static cascade's queue absorbs within the p95 (58% of a
// tuning trial's requests on gear 9), and the answers fell short of the target where the
// static cascade's did not (docs/gear-switching.md, "Accuracy budget").
//
// The account, in item-points: every item served on a gear of accuracy a adds (a - target).
// Items are counted from the load monitor's arrival count where the caller passes it (the
// server and the simulator do): an item keeps the gear it entered with, and a request's items
// enter under the gear decided at its own look, so they are charged at the next look to the
// gear then running. Without the count, items are the arrival rate times the time the gear
// ran, which misreads sparse arrivals: a look after a quiet gap reads a short window's rate
// of one request over the whole gap, and sparse arrivals come at low load, on the accurate
// gears (docs/gear-switching.md, "The budget's count and window"). A positive balance decays
// with windowMs (the target holds over about that window, not over all time since start: a
// quiet day must not pay for a degraded week). A gear below the target may be taken only while
// the balance pays for one hold of it at the current rate; when the balance runs out on such
// a gear the policy returns to a gear that meets the target.
//
// Plain state, no clock of its own: the policy calls observe() at every look.

/** Rates and times: items per second, milliseconds. Accuracies are fractions. */
export interface AccuracyBudgetOptions {
  /** The accuracy the answers must meet on average (the plan's accuracyObjective.target). */
  target: number;
  /** Each gear's expected accuracy, by gear index (0 = most accurate). */
  gearAccuracy: readonly number[];
  /** Time constant of the positive balance's decay, ms. Default 60,000. */
  windowMs?: number;
}

/** Longest gap between two looks that counts as serving at the rate read now (a server idle for minutes served nothing in between). */
const kMaxStepMs = 1000;

export class AccuracyBudget {
  readonly target: number;
  readonly gearAccuracy: readonly number[];
  readonly windowMs: number;
  /** Item-points banked: sum over served items of (gear accuracy - target), decayed when positive. */
  #balance = 0;
  #lastMs = NaN;
  /** Arrival count read at the previous look, and the count charged so far (NaN: no count read yet). */
  #seenArrived = NaN;
  #chargedArrived = NaN;

  constructor(o: AccuracyBudgetOptions) {
    if (!(o.target > 0 && o.target <= 1)) throw new RangeError(`accuracy target must be a fraction in (0, 1], got ${String(o.target)}`);
    o.gearAccuracy.forEach((a, i) => {
      if (!(a >= 0 && a <= 1)) throw new RangeError(`gears[${i}].expectedAccuracy must be a fraction in [0, 1], got ${String(a)}`);
    });
    this.windowMs = o.windowMs ?? 60_000;
    if (!(this.windowMs > 0 && Number.isFinite(this.windowMs))) throw new RangeError(`accuracyBudget.windowMs must be a finite number > 0, got ${String(o.windowMs)}`);
    this.target = o.target;
    this.gearAccuracy = o.gearAccuracy;
  }

  /** Item-points banked now (negative: owed). */
  get balance(): number {
    return this.#balance;
  }

  /** True when gear g's expected accuracy meets the target. */
  meets(g: number): boolean {
    return this.gearAccuracy[g] >= this.target - 1e-12;
  }

  /**
   * Counts the items served on gear `current` since the last look: the arrivals up to the
   * previous look when `arrivedItems` (the monitor's running count of items arrived, the
   * request of this look included) is given, else `rateQps` times the time since then.
   */
  observe(nowMs: number, rateQps: number, current: number, arrivedItems?: number): void {
    const dtMs = Number.isNaN(this.#lastMs) ? 0 : Math.max(0, nowMs - this.#lastMs);
    this.#lastMs = nowMs;
    // the decay runs on the whole gap: a server stopped or idle for a minute keeps e^-1 of its
    // bank, not the bank of a second ago (the HTTP view's servers are stopped between trials)
    if (this.#balance > 0 && dtMs > 0) this.#balance *= Math.exp(-dtMs / this.windowMs);
    let items: number;
    if (arrivedItems !== undefined) {
      // the first count read starts the account (a policy may start after arrivals)
      if (Number.isNaN(this.#seenArrived)) this.#seenArrived = this.#chargedArrived = arrivedItems;
      items = Math.max(0, this.#seenArrived - this.#chargedArrived);
      this.#chargedArrived = this.#seenArrived;
      this.#seenArrived = arrivedItems;
    } else {
      items = (Math.max(0, rateQps) * Math.min(kMaxStepMs, dtMs)) / 1000;
    }
    if (items > 0) this.#balance += items * (this.gearAccuracy[current] - this.target);
  }

  /** True when gear g may be taken: it meets the target, or the balance pays for `holdMs` of it at `rateQps`. */
  allows(g: number, rateQps: number, holdMs: number): boolean {
    if (this.meets(g)) return true;
    const costPerItem = this.target - this.gearAccuracy[g];
    return this.#balance >= (costPerItem * Math.max(0, rateQps) * Math.max(holdMs, 1)) / 1000;
  }

  /** True when the running gear is below the target and the balance has run out. */
  exhausted(current: number): boolean {
    return !this.meets(current) && this.#balance <= 0;
  }

  /** The cheapest gear meeting the target (the highest index that does), or -1 when none does. */
  cheapestMeeting(): number {
    for (let g = this.gearAccuracy.length - 1; g >= 0; g--) if (this.meets(g)) return g;
    return -1;
  }
}

/**
 * The budget a plan asks for: its load-weighted accuracy target over its gears' expected
 * (validation) accuracies; undefined for a plan without that objective (every gear then meets
 * its target, or it has none).
 */
export function accuracyBudgetOf(plan: { accuracyObjective?: { mode: string; target: number }; gears: readonly { expectedAccuracy: number }[] }): AccuracyBudgetOptions | undefined {
  const o = plan.accuracyObjective;
  if (!o || o.mode !== 'load-weighted') return undefined;
  return { target: o.target, gearAccuracy: plan.gears.map((g) => g.expectedAccuracy) };
}
