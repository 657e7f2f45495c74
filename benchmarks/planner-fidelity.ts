// Simulator fidelity: drive the real engine (CascadeEngine) with open-loop Poisson arrivals
// and compare the measured p95 end-to-end latency with planner/simulator.ts's prediction
// for the same gear, lanes and arrival process.
//
// Source: the zoo's committed models/fmnist/profile.json + plan.json (two gears: the most
// accurate and the cheapest; three loads each inside the gear's planned range); without the
// zoo, the fixture models profiled on the spot with two hand-made gears.
// Arrivals: seeded exponential gaps (mulberry32), generated in-process; the driver submits
// every item whose scheduled time has come in one crossing and sleeps with setTimeout until
// the next one (option driver: 'spin' spins on setImmediate when it is < 1.5 ms away).
// Latency = settle time (promise callback on the JS thread) - SCHEDULED arrival, so driver
// lateness counts against the engine, as it would for a client. The first 10% of requests
// are warm-up (as in the simulator). Prediction: simulate() with the profile's p50 batch
// times, same request count, median p95 over 3 seeds.
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../bindings/binding.js';
import { columnsOf, exitStages, type CascadeSpec } from '../planner/cascade-eval.js';
import { validatePlan, type PlanStage } from '../planner/plan-schema.js';
import { expVariate, mulberry32 } from '../planner/prng.js';
import { checkProfileAgainstManifest } from '../planner/profile-check.js';
import { profileModels, type ProfileModelSpec } from '../planner/profiler.js';
import { batchTimeUs, timingFor, validateProfile, type ModelTiming, type Profile } from '../planner/profile-schema.js';
import { simulate } from '../planner/simulator.js';
import { CascadeEngine } from '../ts/engine/engine.js';
import { loadDataset, Dataset } from '../ts/zoo/dataset.js';
import { loadManifest } from '../ts/zoo/manifest.js';
import { median, quantile, table, writeResult } from './stats.js';

interface BenchGear {
  label: string;
  stages: PlanStage[];
  /** Loads (QPS) to drive. */
  levels: number[];
}

interface Setup {
  source: string;
  profile: Profile;
  specs: ProfileModelSpec[];
  data: Dataset;
  lanes: number;
  gears: BenchGear[];
}

export interface FidelityOptions {
  quick: boolean;
  /** Defaults: models/fmnist/{profile,plan}.json. */
  profilePath?: string;
  planPath?: string;
  /**
   * 'timer' (default): setTimeout only (1 ms granularity; due arrivals go in one crossing,
   * their lateness counted). 'spin': setImmediate loop when the next arrival is < 1.5 ms
   * away; measured: the spinning JS thread takes a core from the 2 lanes on a 2-core machine
   * and inflates p95 ~20x at low load.
   */
  driver?: 'spin' | 'timer';
  /** Run the plan's gears on this many lanes instead of the plan's (equal shares). */
  lanes?: number;
  /** Load levels as fractions of each gear's range (default 0.2, 0.5, 0.8). */
  fractions?: number[];
}

async function zooSetup(o: FidelityOptions): Promise<Setup | null> {
  const root = packageRoot();
  const dir = join(root, 'models', 'fmnist');
  const files = [join(dir, 'cascade.json'), o.profilePath ?? join(dir, 'profile.json'), o.planPath ?? join(dir, 'plan.json')];
  if (!files.every(existsSync)) return null;
  const manifest = await loadManifest(files[0]);
  const profile = validateProfile(JSON.parse(readFileSync(files[1], 'utf8')));
  checkProfileAgainstManifest(profile, manifest);
  const plan = validatePlan(JSON.parse(readFileSync(files[2], 'utf8')));
  if (plan.gears.length === 0) return null;
  const specs = manifest.models.map((m) => ({
    name: m.name, path: m.file, file: m.file, input: m.input, output: m.output, outputKind: m.outputKind,
    itemDims: manifest.input.shape, classes: manifest.output.classes, params: m.params, mflopsPerImage: m.mflopsPerImage,
  }));
  const first = plan.gears[0];
  const last = plan.gears[plan.gears.length - 1];
  const pick = plan.gears.length > 1 ? [first, last] : [first];
  const gears = pick.map((g) => {
    const lo = g.minQps, hi = g.maxQps;
    return {
      label: `gear ${g.id}: ${g.stages.map((s) => `${s.model}(b${s.maxBatch})`).join('>')}`,
      stages: g.stages,
      levels: (o.fractions ?? [0.2, 0.5, 0.8]).map((f) => Math.round(lo + f * (hi - lo))),
    };
  });
  return { source: `zoo plan (${files[2]})`, profile, specs, data: loadDataset(manifest.data.validation), lanes: plan.lanes.length, gears };
}

async function fixtureSetup(quick: boolean): Promise<Setup> {
  const root = packageRoot();
  const specs: ProfileModelSpec[] = ['mlp_small', 'gather_mlp'].map((name) => ({
    name, path: join(root, 'test', 'fixtures', `${name}.onnx`), file: `${name}.onnx`, input: 'x', output: 'y',
    outputKind: 'logits', itemDims: [16], classes: 4, params: 0, mflopsPerImage: 0,
  }));
  const rnd = mulberry32(5);
  const n = 2000;
  const pixels = Uint8Array.from({ length: n * 16 }, () => Math.floor(rnd() * 256));
  const labels = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 4));
  const data = new Dataset(n, 1, 16, 4, pixels, labels);
  const profile = await profileModels({ models: specs, validation: data, manifest: { path: 'fixture', name: 'fixture' }, maxBatch: 16, reps: quick ? 10 : 30, warmup: 3 });
  const medianCert = [...profile.models[0].validation.certainty.max_prob].sort((a, b) => a - b)[n >> 1];
  const stage = (model: string, threshold: number, maxBatch: number, delay: number): PlanStage => ({ model, threshold, measure: 'max_prob', maxBatch, maxQueueDelayUs: delay, laneShares: [0.5, 0.5] });
  return {
    source: 'fixture models (test/fixtures), profiled now',
    profile, specs, data, lanes: 2,
    gears: [
      { label: 'mlp_small>gather_mlp (b8)', stages: [stage('mlp_small', medianCert, 8, 500), stage('gather_mlp', 0, 8, 500)], levels: [1000, 2500, 5000] },
      { label: 'mlp_small (b16)', stages: [stage('mlp_small', 0, 16, 1000)], levels: [1000, 3000, 6000] },
    ],
  };
}

function poissonArrivals(qps: number, count: number, seed: number): Float64Array {
  const rnd = mulberry32(seed);
  const t = new Float64Array(count);
  let now = 0;
  for (let i = 0; i < count; i++) {
    now += expVariate(rnd, qps / 1000); // ms
    t[i] = now;
  }
  return t;
}

/** Drives the engine open-loop; returns end-to-end latencies (ms) of the measured requests. */
async function drive(engine: CascadeEngine, data: Float32Array, per: number, n: number, arrivals: Float64Array, spin: boolean): Promise<{ latencies: number[]; lateMs: number; failed: number }> {
  const count = arrivals.length;
  const latencies = new Float64Array(count).fill(NaN);
  const pending: Promise<void>[] = [];
  let failed = 0;
  let lateSum = 0;
  const t0 = performance.now() + 5;
  let next = 0;
  while (next < count) {
    const now = performance.now() - t0;
    let end = next;
    while (end < count && arrivals[end] <= now) end++;
    if (end > next) {
      const k = end - next;
      const x = new Float32Array(k * per);
      for (let j = 0; j < k; j++) {
        const img = (next + j) % n;
        x.set(data.subarray(img * per, (img + 1) * per), j * per);
        lateSum += now - arrivals[next + j];
      }
      const first = next;
      engine.submit(x).forEach((p, j) => {
        pending.push(p.then((r) => {
          if (r.status !== 'ok') failed++;
          latencies[first + j] = performance.now() - t0 - arrivals[first + j];
        }));
      });
      next = end;
      continue;
    }
    const wait = arrivals[next] - now;
    if (!spin || wait > 1.5) await new Promise((r) => setTimeout(r, spin ? wait - 1.2 : Math.max(0, wait - 0.5)));
    else await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  const warm = Math.floor(count / 10);
  return { latencies: Array.from(latencies.subarray(warm)), lateMs: lateSum / count, failed };
}

/**
 * Batch times measured now, through the bench's own engine (both lanes idle, one batch at a
 * time): the profile was measured earlier and the machine may be busier now (other
 * processes), which would make the comparison test the machine, not the simulator.
 */
async function timingsNow(engine: CascadeEngine, x: Float32Array, per: number, model: string, maxBatch: number, reps: number): Promise<ModelTiming> {
  const rows = [];
  for (let b = 1; ; b = Math.min(b * 2, maxBatch)) {
    engine.setGear({ id: 900 + b, stages: [{ model, threshold: 0, maxBatch: b, maxQueueDelayUs: 10_000_000 }] });
    const xs: number[] = [];
    for (let r = 0; r < reps + 2; r++) {
      const res = await Promise.all(engine.submit(x.subarray(r * b * per, (r + 1) * b * per)));
      if (r >= 2) xs.push(Math.max(1, res[0].computeUs));
    }
    rows.push({ batch: b, p50: median(xs), p95: quantile(xs, 0.95), reps });
    if (b === maxBatch) break;
  }
  for (let i = 1; i < rows.length; i++) rows[i].p50 = Math.max(rows[i].p50, rows[i - 1].p50);
  return { laneKind: 'cpu', intraOpThreads: 1, batchTimesUs: rows };
}

export async function runFidelityBench(opts: FidelityOptions): Promise<{ text: string; path: string }> {
  const setup = (await zooSetup(opts)) ?? (await fixtureSetup(opts.quick));
  if (opts.lanes && opts.lanes !== setup.lanes) {
    setup.lanes = opts.lanes;
    for (const g of setup.gears) g.stages = g.stages.map((st) => ({ ...st, laneShares: new Array<number>(opts.lanes!).fill(1 / opts.lanes!) }));
  }
  const { profile, specs, data, lanes } = setup;
  const cols = columnsOf(profile);
  const per = specs[0].itemDims.reduce((a, b) => a * b, 1);
  const x = data.toFloat32();
  const engine = await CascadeEngine.create({
    models: specs.map((m) => ({ name: m.name, path: m.path, input: m.input, output: m.output, itemDims: m.itemDims, classes: m.classes, outputKind: m.outputKind })),
    lanes: Array.from({ length: lanes }, () => ({ kind: 'cpu' as const, intraOpThreads: profile.lanes[0].intraOpThreads })),
    maxQueueSizePerStage: 100_000,
    gear: { id: 0, stages: [{ model: specs[0].name, threshold: 0, maxBatch: 1 }] },
  });
  const seconds = opts.quick ? 3 : 8;
  const rows: (string | number)[][] = [];
  const results: unknown[] = [];
  try {
    let gid = 1;
    for (const g of setup.gears) {
      const modelIdx = g.stages.map((s) => profile.models.findIndex((m) => m.name === s.model));
      const spec: CascadeSpec = { models: modelIdx, thresholds: g.stages.slice(0, -1).map((s) => s.threshold), measure: g.stages[0].measure };
      const exits = exitStages(cols, spec);
      engine.setGear({ id: gid++, stages: g.stages.map((s) => ({ model: s.model, threshold: s.threshold, measure: s.measure, maxBatch: s.maxBatch, maxQueueDelayUs: s.maxQueueDelayUs, laneWeights: s.laneShares })) });
      // warm the sessions at this gear's batch sizes
      await Promise.all(engine.submit(x.subarray(0, per * 64)));
      const now = await Promise.all(g.stages.map((st) => timingsNow(engine, x, per, st.model, st.maxBatch, opts.quick ? 15 : 40)));
      engine.setGear({ id: gid++, stages: g.stages.map((s) => ({ model: s.model, threshold: s.threshold, measure: s.measure, maxBatch: s.maxBatch, maxQueueDelayUs: s.maxQueueDelayUs, laneWeights: s.laneShares })) });
      const predict = (qps: number, count: number, table: (i: number) => ModelTiming) =>
        [1, 2, 3].map((seed) =>
          simulate({
            stages: g.stages.map((s, i) => {
              const timeUs = [0];
              for (let b = 1; b <= s.maxBatch; b++) timeUs.push(batchTimeUs(table(i), b));
              return { timeUs, maxBatch: s.maxBatch, maxQueueDelayUs: s.maxQueueDelayUs, laneEligible: s.laneShares.map((w) => w > 1e-6) };
            }),
            lanes, exitStage: exits, qps, arrivals: 'poisson', requests: count, seed, sloUs: 1e9, maxBacklog: 100_000,
          }),
        );
      for (const qps of g.levels) {
        const count = Math.max(500, Math.min(20000, Math.round(qps * seconds)));
        const arrivals = poissonArrivals(qps, count, 1000 + qps);
        const run = await drive(engine, x, per, data.count, arrivals, opts.driver === 'spin');
        const measured = quantile(run.latencies, 0.95);
        const preds = predict(qps, count, (i) => timingFor(profile.models[modelIdx[i]], profile.lanes[0]));
        const predsNow = predict(qps, count, (i) => now[i]);
        const predicted = median(preds.map((p) => p.p95Ms));
        const predictedNow = median(predsNow.map((p) => p.p95Ms));
        const ratio = measured / predicted;
        const ratioNow = measured / predictedNow;
        rows.push([g.label, qps, count, measured, predicted, ratio, median(run.latencies), median(preds.map((p) => p.p50Ms)), run.lateMs, run.failed]);
        results.push({ gear: g.label, stages: g.stages, qps, requests: count, measuredP95Ms: measured, predictedP95Ms: predicted, ratio, predictedP95NowMs: predictedNow, ratioNow, timingsNow: now, measuredP50Ms: median(run.latencies), predictedP50Ms: median(preds.map((p) => p.p50Ms)), predictedP95PerSeed: preds.map((p) => p.p95Ms), meanDriverLatenessMs: run.lateMs, failed: run.failed, loadAverage: loadavg()[0] });
      }
    }
  } finally {
    await engine.close();
  }
  const ratios = (results as { ratio: number }[]).map((r) => r.ratio);
  const ratiosNow = (results as { ratioNow: number }[]).map((r) => r.ratioNow);
  const within = ratios.filter((r) => Math.abs(r - 1) <= 0.25).length;
  const withinNow = ratiosNow.filter((r) => Math.abs(r - 1) <= 0.25).length;
  const summary = (xs: number[]) => `median ${median(xs).toFixed(2)}, range ${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
  const text = [
    `source: ${setup.source}; ${lanes} lane(s) on ${cpus().length} CPU(s), load average ${loadavg()[0].toFixed(1)}; ${seconds} s per load; p95 end to end (scheduled arrival -> promise settled)`,
    `sim = simulator with the profile's batch times (median of 3 seeds); driver ${opts.driver ?? 'timer'}; late = mean submission lateness`,
    table(['gear', 'qps', 'requests', 'p95 meas ms', 'p95 sim ms', 'meas/sim', 'p50 meas', 'p50 sim', 'late ms', 'failed'], rows),
    `within 25%: ${within}/${ratios.length} (${summary(ratios)}); with batch times re-measured just before (in the JSON, noisy on a shared machine): ${withinNow}/${ratiosNow.length} (${summary(ratiosNow)})`,
  ].join('\n');
  const path = writeResult('planner-fidelity', { source: setup.source, lanes, quick: opts.quick, results, withinTarget: within, withinTargetNow: withinNow, runs: ratios.length });
  return { text, path };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const { text, path } = await runFidelityBench({ quick: process.argv.includes('--quick'), profilePath: arg('--profile'), planPath: arg('--plan'), driver: arg('--driver') as 'spin' | 'timer' | undefined, lanes: arg('--lanes') ? Number(arg('--lanes')) : undefined, fractions: arg('--fractions')?.split(',').map(Number) });
  process.stdout.write(`${text}\n(written to ${path})\n`);
}
