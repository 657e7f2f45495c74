// Host speed: how much slower (or faster) this host runs the plan's models now than the batch
// times the plan was computed from. The gear policy's capacities are the plan's; on a host
// that runs the models slower (a neighbour on the cores, the HTTP front end's share of them,
// another machine) every gear holds less than planned, and the policy learns it only from
// failures unless it is told (ts/server/gear-policy.ts, "Host speed").
//
// Measured from the engine's cumulative counters, read periodically (the server's tick): the
// lanes' busy time (wall time running batches) against what the plan's batch times give for
// the batches run in the same interval, per model: batches x time(items / batches), the time
// interpolated linearly between the profiled batch sizes (batch time is close to affine in the
// batch size, so the mean batch stands for the batches). Both sums decay with a time constant,
// so the reading weighs recent work and forgets an idle spell; without enough recent work
// there is no reading.

/** A model's profiled batch times: ascending batch sizes and their p50, microseconds. */
export interface ModelBatchTimes {
  batch: readonly number[];
  p50Us: readonly number[];
}

/** The engine counters the monitor reads (EngineStats has them). */
export interface EngineWork {
  queues: readonly { model: number; batches: number; items: number }[];
  lanes: readonly { busyUs: number }[];
}

export interface HostSpeedOptions {
  /** Time constant of the decaying sums, ms. Default 500. */
  timeConstantMs?: number;
  /** Least planned work (decayed), microseconds, for a reading. Default 20,000 (20 ms). */
  minPlannedUs?: number;
}

/** Planned time of one batch of `items` rows (may be fractional: a mean batch), microseconds. */
export function plannedBatchUs(t: ModelBatchTimes, items: number): number {
  const n = t.batch.length;
  if (items <= t.batch[0]) return (t.p50Us[0] * items) / t.batch[0];
  for (let i = 1; i < n; i++) {
    if (items <= t.batch[i]) {
      const f = (items - t.batch[i - 1]) / (t.batch[i] - t.batch[i - 1]);
      return t.p50Us[i - 1] + f * (t.p50Us[i] - t.p50Us[i - 1]);
    }
  }
  return (t.p50Us[n - 1] * items) / t.batch[n - 1];
}

export class HostSpeedMonitor {
  readonly timeConstantMs: number;
  readonly minPlannedUs: number;
  /** By engine model index. */
  readonly #times: readonly ModelBatchTimes[];
  #last: { atMs: number; busyUs: number; batches: number[]; items: number[] } | null = null;
  /** Decayed sums since the first sample: busy time measured and planned, microseconds. */
  #busyUs = 0;
  #plannedUs = 0;

  /** `times[m]`: the batch times of the engine's model m (config order). */
  constructor(times: readonly ModelBatchTimes[], options: HostSpeedOptions = {}) {
    times.forEach((t, m) => {
      const ok = t.batch.length > 0 && t.batch.length === t.p50Us.length && t.batch.every((b, i) => b >= 1 && (i === 0 || b > t.batch[i - 1])) && t.p50Us.every((u) => u > 0);
      if (!ok) throw new RangeError(`times[${m}]: batch sizes must ascend from 1 or more, one positive p50Us each`);
    });
    this.#times = times;
    this.timeConstantMs = options.timeConstantMs ?? 500;
    this.minPlannedUs = options.minPlannedUs ?? 20_000;
    if (!(this.timeConstantMs > 0)) throw new RangeError(`timeConstantMs must be > 0, got ${String(options.timeConstantMs)}`);
    if (!(this.minPlannedUs > 0)) throw new RangeError(`minPlannedUs must be > 0, got ${String(options.minPlannedUs)}`);
  }

  /** The engine's counters at nowMs (ms, monotonic). The first call only marks the start. */
  sample(work: EngineWork, nowMs: number): void {
    let busyUs = 0;
    for (const l of work.lanes) busyUs += l.busyUs;
    const batches = this.#times.map(() => 0);
    const items = this.#times.map(() => 0);
    for (const q of work.queues) {
      if (q.model < 0 || q.model >= this.#times.length) continue;
      batches[q.model] += q.batches;
      items[q.model] += q.items;
    }
    const last = this.#last;
    this.#last = { atMs: nowMs, busyUs, batches, items };
    if (!last || !(nowMs >= last.atMs)) return;
    let plannedUs = 0;
    for (let m = 0; m < batches.length; m++) {
      const db = batches[m] - last.batches[m];
      if (db > 0) plannedUs += db * plannedBatchUs(this.#times[m], (items[m] - last.items[m]) / db);
    }
    const decay = Math.exp(-(nowMs - last.atMs) / this.timeConstantMs);
    this.#busyUs = this.#busyUs * decay + Math.max(0, busyUs - last.busyUs);
    this.#plannedUs = this.#plannedUs * decay + plannedUs;
  }

  /** Measured over planned busy time (> 1: slower than planned); undefined without enough recent work. */
  slowdown(): number | undefined {
    return this.#plannedUs >= this.minPlannedUs ? this.#busyUs / this.#plannedUs : undefined;
  }
}
