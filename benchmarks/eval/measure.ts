// What one trial measured, from the per-request record of either replayer (HTTP or engine):
// - latency is timed from the moment the request actually left the load generator, so the
//   generator's own lag (actual send - scheduled send, recorded per request) is kept out of
//   it and reported beside it (lag p95 / max): a trial whose generator fell behind says so
//   instead of charging the system for it;
// - p95 over ALL requests, a failure (refused, timed out, unanswered) counting as infinite;
// - the per-second SLO-violation rate: the fraction of 1 s windows (by scheduled send time)
//   whose p95 exceeds the SLO, beside the whole-trial p95;
// - accuracy = the accuracy of the answers actually given, over all requests (a failure is a
//   wrong answer): the pass criterion, against the best single model's accuracy on the same
//   requests minus the drop (cell.ts runTrial); gearAccuracy = the request-weighted held-out accuracy
//   of the gears that answered (each gear's accuracy on the whole held-out half), beside it.

export interface RequestRecord {
  /** Scheduled send time of each request, ms from the trial's start (trace order). */
  sendMs: Float64Array;
  /** ms from the actual send to the answer; Infinity when it failed or got none. */
  latencyMs: Float64Array;
  /** Actual send - scheduled send, ms (>= 0 when late; a little below 0 when sent early). */
  sendLagMs: Float64Array;
  /** 1 = answered, 0 = failed. */
  ok: Uint8Array;
  /** Gear that answered (-1: none or unknown). */
  gear: Int16Array;
  /** 1 = the answer was the held-out label. */
  correct: Uint8Array;
  wallMs: number;
}

export function emptyRecord(sendMs: Float64Array): RequestRecord {
  const n = sendMs.length;
  return { sendMs, latencyMs: new Float64Array(n).fill(Infinity), sendLagMs: new Float64Array(n), ok: new Uint8Array(n), gear: new Int16Array(n).fill(-1), correct: new Uint8Array(n), wallMs: 0 };
}

export interface TrialSummary {
  requests: number;
  failed: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Fraction of 1 s windows whose p95 exceeds the SLO. */
  violationRate: number;
  /** Accuracy of the answers given, over all requests (failures wrong): the pass criterion. */
  accuracy: number;
  /** Request-weighted held-out accuracy of the answering gears (failures 0). */
  gearAccuracy: number;
  /** The load generator's own lag (actual - scheduled send), ms. */
  lagP95Ms: number;
  lagMaxMs: number;
  /** Requests per gear id (the gear that answered). */
  gearShare: Record<string, number>;
  /** The best single model's held-out accuracy on this trial's requests (set by the caller). */
  bestModelAccuracy?: number;
  /** The trial's accuracy target: bestModelAccuracy - drop (set by the caller). */
  target?: number;
}

export function quantileOf(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summarize(r: RequestRecord, o: { sloMs: number; gearAccuracy: Map<number, number> }): TrialSummary {
  const n = r.latencyMs.length;
  const lat = Float64Array.from(r.latencyMs).sort();
  const lag = Float64Array.from(r.sendLagMs).sort();
  let ok = 0;
  let right = 0;
  let expected = 0;
  const share: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    right += r.correct[i];
    if (r.ok[i]) {
      ok++;
      expected += o.gearAccuracy.get(r.gear[i]) ?? r.correct[i];
      share[r.gear[i]] = (share[r.gear[i]] ?? 0) + 1;
    }
  }
  return {
    requests: n,
    failed: n - ok,
    p50Ms: quantileOf(lat, 0.5),
    p95Ms: quantileOf(lat, 0.95),
    p99Ms: quantileOf(lat, 0.99),
    violationRate: violationRate(r, o.sloMs),
    accuracy: n ? right / n : NaN,
    gearAccuracy: n ? expected / n : NaN,
    lagP95Ms: quantileOf(lag, 0.95),
    lagMaxMs: n ? lag[n - 1] : NaN,
    gearShare: share,
  };
}

/** Fraction of the 1 s windows (with at least one request) whose p95 exceeds sloMs. */
export function violationRate(r: RequestRecord, sloMs: number, windowMs = 1000): number {
  const windows = new Map<number, number[]>();
  for (let i = 0; i < r.sendMs.length; i++) {
    const w = Math.floor(r.sendMs[i] / windowMs);
    let xs = windows.get(w);
    if (!xs) windows.set(w, (xs = []));
    xs.push(r.latencyMs[i]);
  }
  let bad = 0;
  for (const xs of windows.values()) if (quantileOf(xs.sort((a, b) => a - b), 0.95) > sloMs) bad++;
  return windows.size ? bad / windows.size : NaN;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
