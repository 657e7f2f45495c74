// Arrival-rate monitor: items counted into fixed time buckets (default 5 ms) over a sliding
// window (default 200 ms). The rate is the window's count over its length, so a burst shows
// within one bucket instead of after the research code's 100 ms poll. A second, short recent
// window (default 10 ms) sees a ramp sooner than the long one, whose average lags the ramp by
// half its length; the gear policy uses it to switch down early (a 50 ms one read a 6x spike
// at a third of its rate after 10 ms, and the gear stepped down through every gear between). Pure bookkeeping with
// an injectable clock and no timers: the gear controller decides when to look.
//
// Large requests (recordRequest): a request of more than bulkRequestItems items is not a
// burst of arrivals. Its items are all in the engine's backlog at once, where the policy
// counts their work (which drains); in the rate they count spread over the time since the
// previous large request, at most one window's worth: a lone 256-item request adds nothing
// to the rate, a stream of large requests every half window counts in full, one every two
// windows at half. Before, one 256-image request read as 1,280/s over the 200 ms window
// (5,120/s over the recent 50 ms) and threw the gear to the cheapest for about a second.

import type { ArrivalMonitor } from '../contracts/gear-policy.js';

export interface LoadMonitorOptions {
  /** Bucket width, milliseconds (resolution of the window's edge). Default 5. */
  bucketMs?: number;
  /** Window length, milliseconds; a multiple of bucketMs. Default 200. */
  windowMs?: number;
  /** Length of the recent window, milliseconds; bucketMs to windowMs. Default 10, at least 2 buckets (within those bounds). */
  recentMs?: number;
  /** Requests of more items than this count in the rate as described above. Default 32. */
  bulkRequestItems?: number;
}

export interface FilledLoadMonitorOptions {
  bucketMs: number;
  windowMs: number;
  recentMs: number;
  bulkRequestItems: number;
}

export function fillLoadMonitorOptions(o: LoadMonitorOptions = {}): FilledLoadMonitorOptions {
  const bucketMs = o.bucketMs ?? 5;
  const windowMs = o.windowMs ?? 200;
  if (!(bucketMs > 0) || !Number.isFinite(bucketMs)) throw new RangeError(`loadMonitor.bucketMs must be a positive number, got ${String(o.bucketMs)}`);
  if (!(windowMs >= bucketMs) || !Number.isFinite(windowMs)) throw new RangeError(`loadMonitor.windowMs must be a number >= bucketMs (${bucketMs}), got ${String(o.windowMs)}`);
  const window = Math.round(windowMs / bucketMs) * bucketMs;
  const recentMs = o.recentMs ?? Math.min(window, Math.max(10, 2 * bucketMs));
  if (!(recentMs >= bucketMs && recentMs <= window) || !Number.isFinite(recentMs)) throw new RangeError(`loadMonitor.recentMs must be a number from bucketMs (${bucketMs}) to windowMs (${window}), got ${String(o.recentMs)}`);
  const bulkRequestItems = o.bulkRequestItems ?? 32;
  if (!(bulkRequestItems >= 1) || !Number.isFinite(bulkRequestItems)) throw new RangeError(`loadMonitor.bulkRequestItems must be a number >= 1, got ${String(o.bulkRequestItems)}`);
  return { bucketMs, windowMs: window, recentMs: Math.round(recentMs / bucketMs) * bucketMs, bulkRequestItems };
}

export class LoadMonitor implements ArrivalMonitor {
  readonly options: FilledLoadMonitorOptions;
  #counts: Float64Array;
  /** Ring of per-bucket counts; slot k % n holds absolute bucket k (floor(nowMs / bucketMs)). */
  /** Sum of #counts (every slot is inside the window), kept incrementally. */
  #total = 0;
  #latestBucket = -Infinity;
  #totalItems = 0;
  /** When the previous request of more than bulkRequestItems items arrived. */
  #lastBulkMs = -Infinity;

  constructor(options: LoadMonitorOptions = {}) {
    this.options = fillLoadMonitorOptions(options);
    const n = this.options.windowMs / this.options.bucketMs;
    this.#counts = new Float64Array(n);
  }

  /** Counts `items` arrivals at time nowMs (performance.now() scale), all in the rate. O(1) amortized. */
  record(items: number, nowMs: number): void {
    this.#add(items, items, nowMs);
  }

  /** Counts one request of `items` items at nowMs; a large one counts in the rate as described above. */
  recordRequest(items: number, nowMs: number): void {
    const bulk = this.options.bulkRequestItems;
    if (items <= bulk) {
      this.#add(items, items, nowMs);
      return;
    }
    const share = Math.min(1, this.options.windowMs / Math.max(nowMs - this.#lastBulkMs, 1e-9));
    this.#lastBulkMs = nowMs;
    this.#add(items * share, items, nowMs);
  }

  #add(counted: number, items: number, nowMs: number): void {
    const b = this.#advance(nowMs);
    this.#counts[slotOf(b, this.#counts.length)] += counted;
    this.#total += counted;
    this.#totalItems += items;
  }

  /** Items per second over the window ending at nowMs. */
  rateQps(nowMs: number): number {
    this.#advance(nowMs);
    return this.#total / (this.options.windowMs / 1000);
  }

  /**
   * Items per second over the recent window ending at nowMs: its whole buckets plus the
   * elapsed part of the current one (dividing by the full length would under-read a ramp).
   */
  recentRateQps(nowMs: number): number {
    const b = this.#advance(nowMs);
    const { bucketMs, recentMs } = this.options;
    const m = recentMs / bucketMs;
    const n = this.#counts.length;
    let sum = 0;
    for (let k = b - m + 1; k <= b; k++) sum += this.#counts[slotOf(k, n)];
    const elapsedMs = Math.max(bucketMs, (m - 1) * bucketMs + (nowMs - b * bucketMs));
    return sum / (elapsedMs / 1000);
  }

  /**
   * How much more the count of a recent window varies than a Poisson count would (variance over
   * mean, at least 1), measured on the window's older part in blocks of the recent window's
   * length, from neighbouring blocks' differences (a ramp's trend is not noise). Arrivals taken
   * up in clumps (a busy event loop, a time-sliced CPU) read several times 1; the recent window's
   * own count is left out, so a spike does not widen its own reading. 1 while the older part
   * holds fewer than 4 blocks or no arrivals. A diagnostic of the switch records (O(window) per
   * call): the gear policy does not read it.
   */
  dispersion(nowMs: number): number {
    const b = this.#advance(nowMs);
    const { bucketMs, recentMs } = this.options;
    const m = recentMs / bucketMs;
    const n = this.#counts.length;
    const blocks = Math.floor((n - m) / m);
    if (blocks < 4) return 1;
    let sum = 0;
    let sumSqDiff = 0;
    let prev = NaN;
    for (let j = 0; j < blocks; j++) {
      let c = 0;
      for (let k = b - m * (j + 2) + 1; k <= b - m * (j + 1); k++) c += this.#counts[slotOf(k, n)];
      sum += c;
      if (j > 0) sumSqDiff += (c - prev) ** 2;
      prev = c;
    }
    const mean = sum / blocks;
    if (mean <= 0) return 1;
    // Half the mean squared difference of neighbouring blocks: the variance without a ramp's trend.
    const variance = sumSqDiff / (2 * (blocks - 1));
    return Math.max(1, variance / mean);
  }

  /** Items recorded since creation. */
  get totalItems(): number {
    return this.#totalItems;
  }

  /** Moves the window's head to nowMs, expiring buckets that fell out; returns the bucket. */
  #advance(nowMs: number): number {
    const b = Math.floor(nowMs / this.options.bucketMs);
    if (b <= this.#latestBucket) return Math.max(b, this.#latestBucket - this.#counts.length + 1);
    const n = this.#counts.length;
    // Expire at most n slots: a long idle gap clears the whole ring once.
    const from = Math.max(this.#latestBucket + 1, b - n + 1);
    for (let k = from; k <= b; k++) {
      const slot = slotOf(k, n);
      this.#total -= this.#counts[slot];
      this.#counts[slot] = 0;
    }
    if (this.#total < 1e-9) this.#total = 0; // float drift
    this.#latestBucket = b;
    return b;
  }
}

/** Ring slot of absolute bucket k (k may be negative: a clock that starts at 0, as in the simulator). */
function slotOf(k: number, n: number): number {
  return ((k % n) + n) % n;
}
