// Engine view: the trace replayed into the engine in the same process, no HTTP. On 2 shared
// cores the HTTP front end caps every system near the same request rate; here the lanes are
// the bottleneck, so this view answers "does switching use the lanes better". Each request
// goes through the served model the server runs (ts/server/served-model.ts, the server's
// default options): its load monitor and gear controller (onArrival, once per request of one
// image), then engine.submit with the server's default deadline (the plan's SLO; a late item times out in
// the engine, counts as a failure and, as in the server, is reported to the gear policy as a
// failure for load: ServedModel.recordLoadFailures; until session 18 it was not, so the
// policy's `failing` rule never fired in this view). The server's admission control is left out: it is the
// front end's policy, and it refused every request after an overload here (its cost
// estimate, inflated across a gear switch to a much cheaper gear, made one image "too large
// for the deadline" and, with nothing admitted, never recovered).
//
// The oracle switcher: the same plan, engine and controller, with the server's policy replaced
// (ServedModelOptions.gearPolicy) by planner/oracle-policy.ts: at every look, the most
// accurate gear whose sustained capacity holds the TRUE rate of the trace at that moment (rate
// curve x scale), no measurement, no hysteresis; it separates losses of the plan (the oracle
// loses too) from losses of the policy.
//
// Latency is timed from the actual send (see measure.ts); the generator's lag is recorded.
//
// The items a timer tick finds due go to the engine together, up to 64 per submit (until
// session 37: one submit per item). The generator shares the one JavaScript thread with the
// system; at the 100 ms cell's rates (peaks near 190,000 requests/s at 41,000 mean) one crossing
// per item put the generator's lag, not the lanes, at the limit of the cascades, first of
// CascadeServe (a little more thread work per request). The policy
// still sees one arrival per request, but a chunk's arrivals before its items are in the
// engine's backlog (at most 63 items late, where the server interleaves them).
import { performance } from 'node:perf_hooks';
import type { Dataset } from '../../ts/contracts/dataset.js';
import { loadServingPlan, type ServingGear } from '../../ts/server/plan-loader.js';
import { ServedModel, type ServedModelOptions } from '../../ts/server/served-model.js';
import type { GearSwitchEvent } from '../../ts/server/gear-controller.js';
import { curveRate, OracleGearPolicy } from '../../planner/oracle-policy.js';
import { kRateBinMs, type Trace } from '../../testkit/traces.js';
import { emptyRecord, type RequestRecord } from './measure.js';
import { sendDueOnSchedule } from './replay.js';

/** Items per engine.submit at most (one tick's due items go in submits of this many). */
const kSubmitItems = 64;

export interface SwitchRecord {
  /** Since the trial's start, ms (HTTP-view trials recorded before session 23: epoch ms). */
  tMs: number;
  from: number;
  to: number;
  rateQps: number;
  /** The monitor's recent (near) rate the decision read, items/s (absent in trials recorded before). */
  recentRateQps?: number;
  backlogItems: number;
  /** The host slowdown the decision read (absent: none measured). */
  slowdown?: number;
  /** How clumped the arrivals were at the switch (GearSwitchRecord.recentDispersion; absent in trials recorded before). */
  recentDispersion?: number;
  reason?: string;
}

export interface EngineSystem {
  /** Gears in plan order (ids, ranges, accuracy). */
  gears: readonly ServingGear[];
  replay(trace: Trace): Promise<{ record: RequestRecord; switches: SwitchRecord[] }>;
  close(): Promise<void>;
}

/** The server's defaults (ts/server/server.ts), quiet. */
function modelOptions(onSwitch: (e: GearSwitchEvent) => void): ServedModelOptions {
  return {
    maxImagesPerRequest: 256,
    // maxInFlightItems left to the plan, as the server leaves it (served-model.ts
    // inFlightBoundOf); the engine's stage-0 queue follows it. Until session 19 both were a
    // fixed 1024, which refused items in the 100 ms cell of every system at about 35,000 QPS.
    upSwitchHoldMs: 200, // the server's default: the load monitor's window
    loadMonitor: { windowMs: 200, bucketMs: 5, recentMs: 10 },
    tickMs: 10,
    warmUp: true,
    log: { info: () => {}, error: () => {} },
    onSwitch: (_model, e) => onSwitch(e),
  };
}

/**
 * Starts a system in process from a plan file: the served cascade with its own policy, or
 * (oracle) the plan's gears set from the trace's true rate.
 */
export async function startEngineSystem(planPath: string, heldout: Dataset, o: { oracle?: boolean; accuracyBudget?: boolean; accuracyWindowMs?: number; maxInFlightItems?: number; submitItems?: number } = {}): Promise<EngineSystem> {
  const switches: SwitchRecord[] = [];
  let tBase = performance.now();
  // the oracle's true rate: the running trial's curve (0 between trials: the top gear)
  let trueRate: (nowMs: number) => number = () => 0;
  const options = modelOptions((e) => switches.push({ tMs: performance.now() - tBase, from: e.from, to: e.to, rateQps: e.rateQps, recentRateQps: Math.round(e.recentRateQps), backlogItems: e.backlogItems, ...(e.slowdown !== undefined ? { slowdown: Math.round(e.slowdown * 1000) / 1000 } : {}), ...(e.recentDispersion !== undefined ? { recentDispersion: Math.round(e.recentDispersion * 100) / 100 } : {}), reason: e.reason }));
  if (o.accuracyBudget === false) options.accuracyBudget = false;
  if (o.accuracyWindowMs !== undefined) options.accuracyWindowMs = o.accuracyWindowMs;
  if (o.maxInFlightItems !== undefined) options.maxInFlightItems = o.maxInFlightItems;
  if (o.oracle) options.gearPolicy = (gears) => new OracleGearPolicy(gears.map((g) => g.sustainedQps ?? g.maxQps), (nowMs) => trueRate(nowMs));
  const plan = await loadServingPlan(planPath);
  const served = await ServedModel.cascade(plan, options);
  const engine = served.engineIfReady!;
  const images = heldout.toFloat32();
  const elems = heldout.imageSize;
  // The generator's own work per request kept small (it shares the JavaScript thread with the
  // system under test): one view per image made once, one options object, one reaction per item.
  const views = Array.from({ length: heldout.count }, (_, k) => images.subarray(k * elems, (k + 1) * elems));
  const gears = plan.gears;
  // the deadline the server gives a request without a timeout: the plan's SLO
  const sloUs = plan.sloMs * 1000;
  const submitOptions = { budgetUs: sloUs };
  // the due items' images side by side, for one submit (engine.submit copies them)
  // (o.submitItems: another chunk size, for comparing; 1 = one submit per item, as before)
  const submitItems = o.submitItems ?? kSubmitItems;
  if (!(Number.isInteger(submitItems) && submitItems >= 1)) throw new RangeError(`submitItems: expected a positive integer, got ${submitItems}`);
  const batch = new Float32Array(submitItems * elems);

  const replay = async (trace: Trace) => {
    switches.length = 0;
    const n = trace.sendMs.length;
    const res = emptyRecord(trace.sendMs);
    let pending = 0;
    let sent = 0;
    let allDone: () => void = () => {};
    const done = new Promise<void>((r) => (allDone = r));
    const t0 = performance.now() + 20;
    tBase = t0;
    if (o.oracle) trueRate = curveRate(trace.rate, kRateBinMs, trace.scale, t0);
    const finish = () => {
      pending--;
      if (pending === 0 && sent === n) allDone();
    };
    // One chunk of the items a timer tick finds due: each is an arrival of one request for the
    // load monitor and the policy (as in the server), then the chunk goes to the engine in one
    // submit.
    const sendDue = (from: number, to: number) => {
      const actual = performance.now();
      const k = to - from;
      for (let i = from; i < to; i++) {
        res.sendLagMs[i] = actual - (t0 + trace.sendMs[i]);
        served.onArrival(1);
        batch.set(views[trace.image[i]], (i - from) * elems);
      }
      const gearId = engine.gear.id;
      pending += k;
      const answers = engine.submit(batch.subarray(0, k * elems), submitOptions);
      for (let i = from; i < to; i++) {
        const img = trace.image[i];
        answers[i - from].then((r) => {
          if (r.status === 'ok') {
            res.latencyMs[i] = performance.now() - actual;
            res.ok[i] = 1;
            res.gear[i] = gearId;
            res.correct[i] = r.predictedClass === heldout.labels[img] ? 1 : 0;
          } else if (r.status === 'timeout' || r.status === 'overloaded') {
            // as the server does for a request on the plan's deadline (infer-core.ts): the
            // policy's `failing` rule reads these
            served.recordLoadFailures(1);
          }
          finish();
        }, finish);
      }
    };
    await sendDueOnSchedule(trace.sendMs, t0, (from, to) => {
      // at most submitItems per submit, so that a generator behind its schedule catches up
      // in steps the engine takes at its usual cost per item
      for (let a = from; a < to; a += submitItems) {
        const b = Math.min(to, a + submitItems);
        sent = b;
        sendDue(a, b);
      }
    });
    if (pending === 0) allDone();
    await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
    trueRate = () => 0;
    res.wallMs = performance.now() - t0;
    return { record: res, switches: [...switches] };
  };
  return { gears, replay, close: () => served.close() };
}
