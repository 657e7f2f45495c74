// Discrete-event simulator of the engine, used to predict a gear's p95 latency.
//
// Model (mirrors the C++ engine's rules):
// - one shared FIFO queue per stage; arrivals join stage 0's queue;
// - a stage is READY when its queue holds maxBatch items or its oldest item has waited
//   maxQueueDelayUs in that queue (Triton's rule);
// - a lane runs one batch at a time; an idle lane picks, among ready stages it serves
//   (laneEligible), the one whose oldest item has the earliest deadline (arrival + SLO);
//   it takes min(queue length, maxBatch) items;
// - batch time = the stage's batch-time table at the batch size (see profile-schema's
//   batchTimeUs: smallest measured size >= b, step function); with cost by length (a stage's
//   lengthTimeUs and the items' itemLength), the table of the length bucket holding the
//   batch's longest item, as the engine pads a batch to its longest item;
// - after a stage each item exits or joins the next queue according to the route of a
//   validation image drawn uniformly at random (so exit fractions and their correlation
//   across stages are the real ones); the request's length is that image's length.
// Arrivals: Poisson, or bursty = 2-state Markov-modulated Poisson (rates qps*(1±amplitude),
// exponential phases with mean burstPhaseMs), or a given trace (arrivalTimesUs: e.g. the
// times at which a benchmark actually submitted). Deterministic for a given seed.
// Host overhead: hostOverheadUs is added to every request's latency (the engine's constant
// per-request cost outside the lanes' batch time: the submit crossing into C++, the lane's
// wake-up, the results crossing back and the promise settlement on the JS thread). It does
// not occupy a lane. Default 0 (the planner's own predictions; see docs/planner.md).

import { expVariate, mulberry32 } from './prng.js';

export interface SimStage {
  /** Batch time (µs) per batch size: timeUs[b] for b = 1..maxBatch (index 0 unused). */
  timeUs: number[];
  maxBatch: number;
  maxQueueDelayUs: number;
  /** laneEligible[l]: lane l serves this stage. */
  laneEligible: boolean[];
  /**
   * Cost by length: batch times per length bucket (ascending upper edges), used with
   * SimInput.itemLength: a batch takes timeUs[b] of the first bucket whose length is >= its
   * longest item's (the last bucket above every edge).
   */
  lengthTimeUs?: { length: number; timeUs: number[] }[];
}

export type ArrivalKind = 'poisson' | 'bursty';

export interface SimInput {
  stages: SimStage[];
  lanes: number;
  /** Stage at which each validation image exits (see cascade-eval exitStages). */
  exitStage: Uint8Array;
  /** Each validation image's length (same indices as exitStage): enables the stages' lengthTimeUs. */
  itemLength?: Int32Array | number[];
  qps: number;
  arrivals: ArrivalKind;
  burstAmplitude?: number; // default 0.5
  burstPhaseMs?: number; // default 50
  /** Number of simulated requests (the first `warmup` are not measured). */
  requests?: number; // default 4000
  warmup?: number; // default requests / 10
  seed?: number;
  sloUs: number;
  /** Abort as overloaded when a queue holds more than this many items. */
  maxBacklog?: number; // default 5000
  /**
   * Arrival times (µs, non-decreasing) to replay instead of generating arrivals; `requests`
   * defaults to its length and `arrivals`/`qps` only serve as labels. Equal times = one
   * submission of several items.
   */
  arrivalTimesUs?: Float64Array | number[];
  /** Constant added to every request's latency (µs); default 0. */
  hostOverheadUs?: number;
}

export interface SimResult {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Busy time / (lanes * simulated time). */
  utilization: number;
  laneUtilization: number[];
  completed: number;
  /** Requests not answered because the run was aborted as overloaded. */
  dropped: number;
  overloaded: boolean;
  meanBatch: number[];
}

/** Batch time of a batch of b requests at the bucket of its longest request (see SimStage.lengthTimeUs). */
function lengthBatchUs(buckets: { length: number; timeUs: number[] }[], batch: number[], reqLength: Int32Array, b: number): number {
  let longest = 0;
  for (const id of batch) longest = Math.max(longest, reqLength[id]);
  for (const k of buckets) if (longest <= k.length) return k.timeUs[b];
  return buckets[buckets.length - 1].timeUs[b];
}

export function simulate(input: SimInput): SimResult {
  const trace = input.arrivalTimesUs;
  const requests = trace ? Math.min(input.requests ?? trace.length, trace.length) : input.requests ?? 4000;
  const hostUs = input.hostOverheadUs ?? 0;
  if (!(hostUs >= 0)) throw new RangeError('hostOverheadUs must be >= 0');
  const warmup = input.warmup ?? Math.floor(requests / 10);
  const amp = input.burstAmplitude ?? 0.5;
  const phaseUs = (input.burstPhaseMs ?? 50) * 1000;
  const maxBacklog = input.maxBacklog ?? 5000;
  const { stages, lanes } = input;
  const k = stages.length;
  const rnd = mulberry32(input.seed ?? 12345);
  const rndRoute = mulberry32((input.seed ?? 12345) ^ 0x9e3779b9);
  const ratePerUs = input.qps / 1e6;
  if (!trace && !(ratePerUs > 0)) throw new RangeError('qps must be positive');

  const arrival = new Float64Array(requests);
  const enq = new Float64Array(requests);
  const exitAt = new Uint8Array(requests);
  const lengths = input.itemLength;
  const reqLength = new Int32Array(lengths ? requests : 0);
  const latency = new Float64Array(requests).fill(NaN);
  const queues: Int32Array[] = stages.map(() => new Int32Array(requests));
  const qHead = new Int32Array(k);
  const qTail = new Int32Array(k);
  const laneBusyUntil = new Float64Array(lanes).fill(-1);
  const laneStage = new Int32Array(lanes).fill(-1);
  const laneBatch: number[][] = Array.from({ length: lanes }, () => []);
  const laneBusy = new Float64Array(lanes);
  const batches = new Float64Array(k);
  const batchItems = new Float64Array(k);

  // arrival process state
  let nextId = 0;
  let tNext = 0;
  let burstOn = rnd() < 0.5;
  let phaseEnd = expVariate(rnd, 1 / phaseUs);
  let traceNext = 0;
  const drawNextArrival = (from: number): number => {
    if (trace) return traceNext < requests ? Math.max(from, trace[traceNext++]) : Infinity;
    if (input.arrivals === 'poisson') return from + expVariate(rnd, ratePerUs);
    let t = from;
    for (;;) {
      const rate = ratePerUs * (burstOn ? 1 + amp : 1 - amp);
      const cand = rate > 0 ? t + expVariate(rnd, rate) : Infinity;
      if (cand <= phaseEnd) return cand;
      t = phaseEnd;
      burstOn = !burstOn;
      phaseEnd = t + expVariate(rnd, 1 / phaseUs);
    }
  };
  tNext = drawNextArrival(trace ? -Infinity : 0);

  const n = input.exitStage.length;
  let done = 0;
  let overloaded = false;
  let t = 0;
  let rr = 0;
  const enqueue = (s: number, id: number, now: number) => {
    queues[s][qTail[s]++] = id;
    enq[id] = now;
  };

  while (done < requests) {
    // next event time
    let tEv = nextId < requests ? tNext : Infinity;
    let anyIdle = false;
    for (let l = 0; l < lanes; l++) {
      if (laneStage[l] >= 0) tEv = Math.min(tEv, laneBusyUntil[l]);
      else anyIdle = true;
    }
    if (anyIdle) {
      for (let s = 0; s < k; s++) {
        if (qTail[s] === qHead[s]) continue;
        const timer = enq[queues[s][qHead[s]]] + stages[s].maxQueueDelayUs;
        if (timer > t) tEv = Math.min(tEv, timer); // past timers: ready, waiting for a lane

      }
    }
    if (tEv === Infinity) break; // nothing can progress (a stage with no eligible lane)
    t = Math.max(t, tEv);
    // 1. completions
    for (let l = 0; l < lanes; l++) {
      if (laneStage[l] < 0 || laneBusyUntil[l] > t) continue;
      const s = laneStage[l];
      for (const id of laneBatch[l]) {
        if (exitAt[id] <= s) {
          latency[id] = t - arrival[id] + hostUs;
          done++;
        } else enqueue(s + 1, id, t);
      }
      laneBatch[l] = [];
      laneStage[l] = -1;
    }
    // 2. arrivals
    while (nextId < requests && tNext <= t) {
      const id = nextId++;
      arrival[id] = tNext;
      const item = Math.floor(rndRoute() * n);
      exitAt[id] = input.exitStage[item];
      if (lengths) reqLength[id] = lengths[item];
      enqueue(0, id, tNext);
      tNext = drawNextArrival(tNext);
    }
    // 3. dispatch to idle lanes (rotating start for fairness)
    for (let i = 0; i < lanes; i++) {
      const l = (rr + i) % lanes;
      if (laneStage[l] >= 0) continue;
      let best = -1;
      let bestDeadline = Infinity;
      for (let s = 0; s < k; s++) {
        const len = qTail[s] - qHead[s];
        if (len === 0 || !stages[s].laneEligible[l]) continue;
        const oldest = queues[s][qHead[s]];
        const ready = len >= stages[s].maxBatch || t >= enq[oldest] + stages[s].maxQueueDelayUs - 1e-9;
        if (ready && arrival[oldest] < bestDeadline) {
          bestDeadline = arrival[oldest];
          best = s;
        }
      }
      if (best < 0) continue;
      const st = stages[best];
      const b = Math.min(qTail[best] - qHead[best], st.maxBatch);
      const batch: number[] = [];
      for (let j = 0; j < b; j++) batch.push(queues[best][qHead[best]++]);
      const dur = st.lengthTimeUs && lengths ? lengthBatchUs(st.lengthTimeUs, batch, reqLength, b) : st.timeUs[b];
      laneBatch[l] = batch;
      laneStage[l] = best;
      laneBusyUntil[l] = t + dur;
      laneBusy[l] += dur;
      batches[best]++;
      batchItems[best] += b;
    }
    rr = (rr + 1) % lanes;
    let backlog = 0;
    for (let s = 0; s < k; s++) backlog = Math.max(backlog, qTail[s] - qHead[s]);
    if (backlog > maxBacklog) {
      overloaded = true;
      break;
    }
  }

  const measured: number[] = [];
  for (let id = warmup; id < requests; id++) measured.push(Number.isNaN(latency[id]) ? Infinity : latency[id]);
  measured.sort((a, b) => a - b);
  const q = (p: number) => (measured.length ? measured[Math.min(measured.length - 1, Math.ceil(p * measured.length) - 1)] / 1000 : NaN);
  const finite = measured.filter(Number.isFinite);
  const span = Math.max(t, 1);
  const laneUtilization = Array.from(laneBusy, (b) => Math.min(1, b / span));
  return {
    p50Ms: q(0.5),
    p95Ms: overloaded ? Infinity : q(0.95),
    p99Ms: overloaded ? Infinity : q(0.99),
    meanMs: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length / 1000 : NaN,
    utilization: laneUtilization.reduce((a, b) => a + b, 0) / lanes,
    laneUtilization,
    completed: done,
    dropped: requests - done,
    overloaded: overloaded || done < requests,
    meanBatch: Array.from(batches, (b, s) => (b ? batchItems[s] / b : 0)),
  };
}
