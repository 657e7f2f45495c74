// Discrete-event simulator of the engine running a gear PLAN under a gear-switching policy:
// the policy (any ts/contracts GearPolicy, e.g. the server's BacklogGearPolicy or the oracle
// of oracle-policy.ts) is driven with the inputs the server's gear controller gives it, from
// an arrival monitor the caller passes (the server's LoadMonitor): one look per request
// before it is admitted (the request takes the gear chosen), and one per tick without
// arrivals; backlogItems = items admitted and not yet answered (the engine's inFlight).
//
// Engine rules (as simulator.ts, plus what the C++ engine does across gear changes,
// native/engine/engine.h):
// - one FIFO queue per MODEL; an item keeps the gear it was admitted under (its stages and
//   exits) until it is answered, so items of old and new gears share a model's queue;
// - batching parameters are read when a batch forms: a model of the running gear batches
//   with that gear's maxBatch, maxQueueDelayUs and lanes; a model the running gear does not
//   use keeps its last maxBatch and lanes and drains with no queue delay;
// - a queue is ready at maxBatch items or when its oldest item has waited maxQueueDelayUs;
//   an idle lane takes, among ready queues it serves, the one whose oldest item arrived
//   first (the earliest deadline); batch time = the model's table at the batch size;
// - after a stage an item exits or moves on as its validation item does under its gear
//   (exitStage), and is answered right or wrong as that item is (correct).
// Latency = answer time - arrival + hostOverheadUs. Deterministic for given inputs.
import type { ArrivalMonitor, GearPolicy, GearSwitchRecord } from '../ts/contracts/gear-policy.js';
import type { Plan } from '../ts/contracts/plan-schema.js';
import { batchTimeUs, timingFor, type Profile } from '../ts/contracts/profile-schema.js';
import { columnsOf, exitStages } from './cascade-eval.js';
import { mulberry32 } from './prng.js';

export interface SwitchSimStage {
  /** Index into SwitchSimInput.modelTimeUs. */
  model: number;
  maxBatch: number;
  maxQueueDelayUs: number;
  /** laneEligible[l]: lane l serves this stage. */
  laneEligible: boolean[];
}

export interface SwitchSimGear {
  /** The plan's gear id (for the switch records); default the index. */
  id?: number;
  stages: SwitchSimStage[];
  /** Per validation item: the stage at which it exits under this gear. */
  exitStage: Uint8Array;
  /** Per validation item: 1 when its answer under this gear is right. */
  correct: Uint8Array;
}

export interface SwitchSimInput {
  /** Per model, batch time (µs) at batch size b: timeUs[b] for b = 1..(the largest maxBatch a gear gives it). */
  modelTimeUs: number[][];
  /** Gears in plan order: 0 = most accurate. */
  gears: SwitchSimGear[];
  lanes: number;
  /** Arrival times (µs, non-decreasing); equal times are one request of several items. */
  arrivalTimesUs: Float64Array | number[];
  /** Validation item of each arrival; default drawn uniformly (seeded). */
  items?: Uint32Array;
  sloUs: number;
  policy: GearPolicy;
  monitor: ArrivalMonitor;
  /** The controller's tick: how often the policy looks without arrivals, µs. Default 10,000. */
  tickUs?: number;
  /** Gear running at the start. Default 0. */
  startGear?: number;
  /** Constant added to every latency (µs), occupies no lane. Default 0. */
  hostOverheadUs?: number;
  seed?: number;
  /** Stop as overloaded when more items than this are in flight. Default 20,000. */
  maxBacklog?: number;
  onSwitch?: (r: GearSwitchRecord) => void;
}

export interface SwitchSimResult {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  items: number;
  answered: number;
  /** Right answers over answered items. */
  accuracy: number;
  overloaded: boolean;
  switches: number;
  /** Items admitted under each gear. */
  gearItems: number[];
}

export function simulateSwitching(input: SwitchSimInput): SwitchSimResult {
  const { gears, lanes, policy, monitor } = input;
  const times = input.arrivalTimesUs;
  const n = times.length;
  const models = input.modelTimeUs.length;
  if (gears.length === 0) throw new RangeError('gears must not be empty');
  const validation = gears[0].exitStage.length;
  gears.forEach((g, gi) => {
    if (g.exitStage.length !== validation || g.correct.length !== validation) throw new RangeError(`gears[${gi}]: exitStage and correct must have ${validation} entries (one per validation item)`);
    g.stages.forEach((s, si) => {
      if (!(s.model >= 0 && s.model < models)) throw new RangeError(`gears[${gi}].stages[${si}].model: no model ${s.model}`);
      if (!(input.modelTimeUs[s.model].length > s.maxBatch)) throw new RangeError(`gears[${gi}].stages[${si}]: modelTimeUs[${s.model}] has no batch time for maxBatch ${s.maxBatch}`);
    });
  });
  const tickUs = input.tickUs ?? 10_000;
  const hostUs = input.hostOverheadUs ?? 0;
  const maxBacklog = input.maxBacklog ?? 20_000;
  let items = input.items;
  if (!items) {
    const rnd = mulberry32(input.seed ?? 12345);
    items = new Uint32Array(n);
    for (let i = 0; i < n; i++) items[i] = Math.floor(rnd() * validation);
  }

  // Per model queue: its batching parameters now, and a FIFO of item ids.
  const qMaxBatch = new Int32Array(models).fill(1);
  const qDelayUs = new Float64Array(models);
  const qEligible: boolean[][] = Array.from({ length: models }, () => new Array<boolean>(lanes).fill(true));
  for (let gi = gears.length - 1; gi >= 0; gi--) {
    for (const s of gears[gi].stages) {
      qMaxBatch[s.model] = s.maxBatch;
      qEligible[s.model] = s.laneEligible;
    }
  }
  const applyGear = (gi: number) => {
    const inGear = new Set<number>();
    for (const s of gears[gi].stages) {
      inGear.add(s.model);
      qMaxBatch[s.model] = s.maxBatch;
      qDelayUs[s.model] = s.maxQueueDelayUs;
      qEligible[s.model] = s.laneEligible;
    }
    for (let m = 0; m < models; m++) if (!inGear.has(m)) qDelayUs[m] = 0;
  };
  let current = Math.min(Math.max(input.startGear ?? 0, 0), gears.length - 1);
  applyGear(current);

  const queue = Array.from({ length: models }, () => new Int32Array(n));
  const qHead = new Int32Array(models);
  const qTail = new Int32Array(models);
  const gearOf = new Uint8Array(n);
  const stageOf = new Uint8Array(n);
  const enqUs = new Float64Array(n);
  const latencyUs = new Float64Array(n).fill(Infinity);
  const laneUntil = new Float64Array(lanes);
  const laneModel = new Int32Array(lanes).fill(-1);
  const laneBatch: number[][] = Array.from({ length: lanes }, () => []);
  const gearItems = new Array<number>(gears.length).fill(0);

  let next = 0; // next arrival
  let done = 0;
  let right = 0;
  let switches = 0;
  let nextTickUs = tickUs;
  let t = 0;
  let overloaded = false;

  const look = (nowUs: number) => {
    const nowMs = nowUs / 1000;
    const rateQps = monitor.rateQps(nowMs);
    const recentRateQps = monitor.recentRateQps(nowMs);
    const backlogItems = next - done;
    const d = policy.decide({ nowMs, rateQps, recentRateQps, arrivedItems: monitor.totalItems, backlogItems, current });
    if (d.reason === 'stay' || d.gear === current || !(d.gear >= 0 && d.gear < gears.length)) return;
    switches++;
    input.onSwitch?.({ atMs: nowMs, from: gears[current].id ?? current, to: gears[d.gear].id ?? d.gear, fromIndex: current, toIndex: d.gear, rateQps, recentRateQps, backlogItems, ...(monitor.dispersion ? { recentDispersion: monitor.dispersion(nowMs) } : {}), reason: d.reason });
    current = d.gear;
    applyGear(current);
  };
  const enqueue = (m: number, id: number, nowUs: number) => {
    queue[m][qTail[m]++] = id;
    enqUs[id] = nowUs;
  };

  while (done < n) {
    let tEv = next < n ? times[next] : Infinity;
    let anyIdle = false;
    for (let l = 0; l < lanes; l++) {
      if (laneModel[l] >= 0) tEv = Math.min(tEv, laneUntil[l]);
      else anyIdle = true;
    }
    if (anyIdle) {
      for (let m = 0; m < models; m++) {
        if (qTail[m] === qHead[m]) continue;
        const timer = enqUs[queue[m][qHead[m]]] + qDelayUs[m];
        if (timer > t) tEv = Math.min(tEv, timer);
      }
    }
    if (tEv === Infinity) break; // nothing can progress (a stage no lane serves)
    // Ticks only matter while something is pending; they never move time past an event.
    if (nextTickUs <= tEv) {
      t = Math.max(t, nextTickUs);
      nextTickUs += tickUs;
      look(t);
      continue;
    }
    t = Math.max(t, tEv);
    // 1. completions
    for (let l = 0; l < lanes; l++) {
      const m = laneModel[l];
      if (m < 0 || laneUntil[l] > t) continue;
      for (const id of laneBatch[l]) {
        const g = gears[gearOf[id]];
        const s = stageOf[id];
        const img = items[id];
        if (g.exitStage[img] <= s) {
          latencyUs[id] = t - times[id] + hostUs;
          right += g.correct[img];
          done++;
        } else {
          stageOf[id] = s + 1;
          enqueue(g.stages[s + 1].model, id, t);
        }
      }
      laneBatch[l] = [];
      laneModel[l] = -1;
    }
    // 2. arrivals: one request = the items with the same time; one look before admission.
    while (next < n && times[next] <= t) {
      const at = times[next];
      let k = 1;
      while (next + k < n && times[next + k] === at) k++;
      monitor.recordRequest(k, at / 1000);
      look(at);
      const m0 = gears[current].stages[0].model;
      for (let j = 0; j < k; j++, next++) {
        gearOf[next] = current;
        stageOf[next] = 0;
        gearItems[current]++;
        enqueue(m0, next, at);
      }
    }
    // 3. dispatch to idle lanes
    for (let l = 0; l < lanes; l++) {
      if (laneModel[l] >= 0) continue;
      let best = -1;
      let bestArrival = Infinity;
      for (let m = 0; m < models; m++) {
        const len = qTail[m] - qHead[m];
        if (len === 0 || !qEligible[m][l]) continue;
        const oldest = queue[m][qHead[m]];
        const ready = len >= qMaxBatch[m] || t >= enqUs[oldest] + qDelayUs[m] - 1e-9;
        if (ready && times[oldest] < bestArrival) {
          bestArrival = times[oldest];
          best = m;
        }
      }
      if (best < 0) continue;
      const b = Math.min(qTail[best] - qHead[best], qMaxBatch[best]);
      const batch: number[] = [];
      for (let j = 0; j < b; j++) batch.push(queue[best][qHead[best]++]);
      laneBatch[l] = batch;
      laneModel[l] = best;
      laneUntil[l] = t + input.modelTimeUs[best][b];
    }
    if (next - done > maxBacklog) {
      overloaded = true;
      break;
    }
  }

  const sorted = Float64Array.from(latencyUs).sort();
  const q = (p: number) => (n ? sorted[Math.min(n - 1, Math.ceil(p * n) - 1)] / 1000 : NaN);
  const unbounded = overloaded || done < n;
  return {
    p50Ms: q(0.5),
    p95Ms: unbounded ? Infinity : q(0.95),
    p99Ms: unbounded ? Infinity : q(0.99),
    items: n,
    answered: done,
    accuracy: done ? right / done : NaN,
    overloaded: unbounded,
    switches,
    gearItems,
  };
}

/**
 * A plan's gears as the switching simulator runs them, from the profile the plan was made
 * from: each gear's route and answer per validation item (cascade-eval's exact rule), and
 * per model the batch times of the plan's lane kind (the step-up table) up to the largest
 * batch any gear gives it. Batch times are divided by nothing: a plan made with host CPU
 * shares (planner.hostCpu) runs here as if the lanes had whole cores.
 */
export function simGearsFromPlan(plan: Plan, profile: Profile): { gears: SwitchSimGear[]; modelTimeUs: number[][] } {
  const lane = profile.lanes[0];
  const cols = columnsOf(profile, lane);
  const index = new Map(profile.models.map((m, i) => [m.name, i]));
  const idx = (name: string, where: string) => {
    const i = index.get(name);
    if (i === undefined) throw new RangeError(`${where}: model "${name}" is not in the profile`);
    return i;
  };
  const largest = new Array<number>(profile.models.length).fill(1);
  const gears = plan.gears.map((g, gi): SwitchSimGear => {
    const models = g.stages.map((s, si) => idx(s.model, `gears[${gi}].stages[${si}]`));
    const spec = { models, thresholds: g.stages.slice(0, -1).map((s) => s.threshold), measure: g.stages[0].measure };
    const exitStage = exitStages(cols, spec);
    const correct = new Uint8Array(cols.n);
    for (let i = 0; i < cols.n; i++) correct[i] = cols.correct[models[exitStage[i]]][i];
    g.stages.forEach((s, si) => (largest[models[si]] = Math.max(largest[models[si]], s.maxBatch)));
    return {
      id: g.id,
      exitStage,
      correct,
      stages: g.stages.map((s, si) => ({ model: models[si], maxBatch: s.maxBatch, maxQueueDelayUs: s.maxQueueDelayUs, laneEligible: s.laneShares.map((x) => x > 1e-6) })),
    };
  });
  const modelTimeUs = profile.models.map((m, mi) => {
    const timing = timingFor(m, lane);
    const table = [0];
    for (let b = 1; b <= largest[mi]; b++) table.push(batchTimeUs(timing, b));
    return table;
  });
  return { gears, modelTimeUs };
}
