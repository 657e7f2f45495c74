// Engine view: the trace replayed into the engine in the same process, no HTTP. On 2 shared
// cores the HTTP front end caps every system near the same request rate; here the lanes are
// the bottleneck, so this view answers "does switching use the lanes better". Each request
// goes the server's own way minus the protocol: the served model's load monitor and gear
// controller (onArrival), its admission control, then one engine.submit of one image; the
// same ServedModel class the server runs (ts/server/served-model.ts), with the server's
// default options.
//
// The oracle switcher: the same plan and engine, but the gear is set from the TRUE rate of
// the trace at each moment (rate curve x scale, looked up every tick), with no hysteresis and
// no measurement; it separates losses of the plan (the oracle loses too) from losses of the
// policy. It is served from a copy of the plan whose gears all cover every load, so that the
// server's own controller never moves the engine; the oracle's timer does.
//
// Latency is timed from the actual send (see measure.ts); the generator's lag is recorded.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Dataset } from '../../ts/contracts/dataset.js';
import type { Plan } from '../../ts/contracts/plan-schema.js';
import { loadServingPlan, type ServingGear } from '../../ts/server/plan-loader.js';
import { ServedModel, type ServedModelOptions } from '../../ts/server/served-model.js';
import { gearIndexForLoad } from '../../ts/server/gear-policy.js';
import { kRateBinMs, type Trace } from '../../testkit/traces.js';
import { emptyRecord, type RequestRecord } from './measure.js';
import { kEarlyMs } from './replay.js';

export interface SwitchRecord {
  tMs: number;
  from: number;
  to: number;
  rateQps: number;
  backlogItems: number;
  reason?: string;
}

export interface EngineSystem {
  /** Gears in plan order (ids, ranges, accuracy). */
  gears: readonly ServingGear[];
  replay(trace: Trace): Promise<{ record: RequestRecord; switches: SwitchRecord[] }>;
  close(): Promise<void>;
}

/** The server's defaults (ts/server/server.ts), quiet. */
function modelOptions(onSwitch: (e: { from: number; to: number; rateQps: number; backlogItems: number; reason?: string }) => void): ServedModelOptions {
  return {
    maxImagesPerRequest: 256,
    maxInFlightItems: 1024,
    upSwitchHoldMs: 500,
    loadMonitor: { windowMs: 200, bucketMs: 10 },
    tickMs: 10,
    warmUp: true,
    log: { info: () => {}, error: () => {} },
    onSwitch: (_model, e) => onSwitch(e as { from: number; to: number; rateQps: number; backlogItems: number; reason?: string }),
  };
}

/**
 * Starts a system in process from a plan file: the served cascade with its own policy, or
 * (oracle) the plan's gears set from the trace's true rate.
 */
export async function startEngineSystem(planPath: string, heldout: Dataset, o: { oracle?: boolean; work?: string } = {}): Promise<EngineSystem> {
  let servedPath = planPath;
  const original = await loadServingPlan(planPath);
  if (o.oracle) {
    // gear 0 covers every load a trial can send (the others sit beyond it, disjoint as a plan
    // must be): the controller's policy never leaves gear 0 on its own
    const far = 1e12;
    const plan: Plan = { ...original.plan, gears: original.plan.gears.map((g, i) => ({ ...g, minQps: i === 0 ? 0 : far + i - 1, maxQps: far + i })) };
    servedPath = join(mkdtempSync(join(tmpdir(), 'cs-oracle-')), 'plan.json');
    writeFileSync(servedPath, JSON.stringify(plan));
  }
  const switches: SwitchRecord[] = [];
  let tBase = performance.now();
  const served = await ServedModel.cascade(await loadServingPlan(servedPath), modelOptions((e) => switches.push({ tMs: performance.now() - tBase, from: e.from, to: e.to, rateQps: e.rateQps, backlogItems: e.backlogItems, ...(e.reason ? { reason: e.reason } : {}) })));
  const engine = served.engineIfReady!;
  const images = heldout.toFloat32();
  const elems = heldout.imageSize;
  const gears = original.gears;

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
    let oracleTimer: NodeJS.Timeout | null = null;
    let oracleGear = -1;
    if (o.oracle) {
      const setByRate = () => {
        const bin = Math.min(trace.rate.length - 1, Math.max(0, Math.floor((performance.now() - t0) / kRateBinMs)));
        const rate = trace.rate[bin] * trace.scale;
        const next = gearIndexForLoad(gears, rate);
        if (next !== oracleGear) {
          const from = oracleGear < 0 ? gears[0].id : gears[oracleGear].id;
          engine.setGear(gears[next].engine);
          if (oracleGear >= 0) switches.push({ tMs: performance.now() - t0, from, to: gears[next].id, rateQps: rate, backlogItems: engine.inFlight, reason: 'oracle: true rate' });
          oracleGear = next;
        }
      };
      setByRate();
      oracleTimer = setInterval(setByRate, 10);
    }
    const send = (i: number) => {
      const actual = performance.now();
      res.sendLagMs[i] = actual - (t0 + trace.sendMs[i]);
      const img = trace.image[i];
      served.onArrival(1);
      const admission = served.admission.admit(1, undefined, engine.inFlight);
      if (!admission.accepted) return; // refused: a failure (latency stays Infinity)
      const gearId = engine.gear.id;
      pending++;
      const [p] = engine.submit(images.subarray(img * elems, (img + 1) * elems), { budgetUs: admission.budgetUs });
      p.then(
        (r) => {
          if (r.status === 'ok') {
            res.latencyMs[i] = performance.now() - actual;
            res.ok[i] = 1;
            res.gear[i] = gearId;
            res.correct[i] = r.predictedClass === heldout.labels[img] ? 1 : 0;
          }
        },
        () => {},
      ).finally(() => {
        pending--;
        if (pending === 0 && sent === n) allDone();
      });
    };
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        while (sent < n && t0 + trace.sendMs[sent] <= now + kEarlyMs) send(sent++);
        if (sent === n) return resolve();
        setTimeout(tick, Math.max(0, t0 + trace.sendMs[sent] - performance.now() - kEarlyMs));
      };
      tick();
    });
    if (pending === 0) allDone();
    await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
    if (oracleTimer) clearInterval(oracleTimer);
    if (o.oracle) engine.setGear(gears[0].engine);
    res.wallMs = performance.now() - t0;
    return { record: res, switches: [...switches] };
  };
  return { gears, replay, close: () => served.close() };
}
