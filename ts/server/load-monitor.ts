// Arrival-rate monitor: items counted into fixed time buckets (default 10 ms) over a sliding
// window (default 200 ms). The rate is the window's count over its length, so a burst shows
// within one bucket instead of after the research code's 100 ms poll. A second, short recent
// window (default 50 ms) sees a ramp sooner than the long one, whose average lags the ramp by
// half its length; the gear policy uses it to switch down early. Pure bookkeeping with
// an injectable clock and no timers: the gear controller decides when to look.

export interface LoadMonitorOptions {
  /** Bucket width, milliseconds (resolution of the window's edge). Default 10. */
  bucketMs?: number;
  /** Window length, milliseconds; a multiple of bucketMs. Default 200. */
  windowMs?: number;
  /** Length of the recent window, milliseconds; bucketMs to windowMs. Default 50 (within those bounds). */
  recentMs?: number;
}

export interface FilledLoadMonitorOptions {
  bucketMs: number;
  windowMs: number;
  recentMs: number;
}

export function fillLoadMonitorOptions(o: LoadMonitorOptions = {}): FilledLoadMonitorOptions {
  const bucketMs = o.bucketMs ?? 10;
  const windowMs = o.windowMs ?? 200;
  if (!(bucketMs > 0) || !Number.isFinite(bucketMs)) throw new RangeError(`loadMonitor.bucketMs must be a positive number, got ${String(o.bucketMs)}`);
  if (!(windowMs >= bucketMs) || !Number.isFinite(windowMs)) throw new RangeError(`loadMonitor.windowMs must be a number >= bucketMs (${bucketMs}), got ${String(o.windowMs)}`);
  const window = Math.round(windowMs / bucketMs) * bucketMs;
  const recentMs = o.recentMs ?? Math.min(window, Math.max(50, 2 * bucketMs));
  if (!(recentMs >= bucketMs && recentMs <= window) || !Number.isFinite(recentMs)) throw new RangeError(`loadMonitor.recentMs must be a number from bucketMs (${bucketMs}) to windowMs (${window}), got ${String(o.recentMs)}`);
  return { bucketMs, windowMs: window, recentMs: Math.round(recentMs / bucketMs) * bucketMs };
}

export class LoadMonitor {
  readonly options: FilledLoadMonitorOptions;
  #counts: Float64Array;
  /** Ring of per-bucket counts; slot k % n holds absolute bucket k (floor(nowMs / bucketMs)). */
  /** Sum of #counts (every slot is inside the window), kept incrementally. */
  #total = 0;
  #latestBucket = -Infinity;
  #totalItems = 0;

  constructor(options: LoadMonitorOptions = {}) {
    this.options = fillLoadMonitorOptions(options);
    const n = this.options.windowMs / this.options.bucketMs;
    this.#counts = new Float64Array(n);
  }

  /** Counts `items` arrivals at time nowMs (performance.now() scale). O(1) amortized. */
  record(items: number, nowMs: number): void {
    const b = this.#advance(nowMs);
    this.#counts[b % this.#counts.length] += items;
    this.#total += items;
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
    for (let k = b - m + 1; k <= b; k++) sum += this.#counts[((k % n) + n) % n];
    const elapsedMs = Math.max(bucketMs, (m - 1) * bucketMs + (nowMs - b * bucketMs));
    return sum / (elapsedMs / 1000);
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
      const slot = k % n;
      this.#total -= this.#counts[slot];
      this.#counts[slot] = 0;
    }
    if (this.#total < 1e-9) this.#total = 0; // float drift
    this.#latestBucket = b;
    return b;
  }
}
