// Simulator fidelity: drive the real engine (CascadeEngine) with open-loop Poisson arrivals
// and compare the measured p95 end-to-end latency with planner/simulator.ts's prediction
// for the same gear, lanes and arrival process.
//
// Source: the zoo's committed models/fmnist/profile.json + plan.json (every gear, or those
// named by --gears; loads at 30/60/85% of each gear's maxQps); without the zoo, the fixture models profiled on the spot with two hand-made gears.
// Arrivals: seeded exponential gaps (mulberry32), generated in-process; the driver submits
// every item whose scheduled time has come in one submit (see drive()). Latency = settle
// time (promise callback on the JS thread) - ACTUAL submit time; lateness (actual -
// scheduled) is reported separately. Prediction: simulate() fed the actual submit times
// (the arrival process the engine saw), the profile's p50 batch times and the host overhead
// calibrated at the start (calibrateHostOverhead); median p95 over 3 routing seeds. Each load
// runs 3 times; the tables show medians over the runs. The first 10% of each run is warm-up.
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../bindings/binding.js';
import { columnsOf, exitStages, type CascadeSpec } from '../planner/cascade-eval.js';
import { validatePlan, type PlanStage } from '../ts/contracts/plan-schema.js';
import { expVariate, mulberry32 } from '../planner/prng.js';
import { checkProfileAgainstManifest } from '../ts/tools/profile-check.js';
import { monotone, profileModels, timeBatchesRotating, type ProfileModelSpec } from '../ts/tools/profiler.js';
import { batchTimeUs, timingFor, validateProfile, type ModelTiming, type Profile } from '../ts/contracts/profile-schema.js';
import { simulate } from '../planner/simulator.js';
import { CascadeEngine } from '../ts/engine/engine.js';
import { loadDataset, Dataset } from '../ts/contracts/dataset.js';
import { loadManifest } from '../ts/contracts/manifest.js';
import { median, quantile, recordFlag, table, writeResult } from './stats.js';

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
  /** Write the results to benchmarks/results/ (else benchmarks/local/). */
  record?: boolean;
  /** Defaults: models/fmnist/{profile,plan}.json. */
  profilePath?: string;
  planPath?: string;
  /**
   * 'timer' (default): setTimeout only (1 ms granularity; every item due at a wake-up goes in
   * one submit). 'hybrid': setTimeout until ~1 ms before the next arrival, then setImmediate
   * (precise, but at high rates the JS thread never sleeps).
   */
  driver?: 'timer' | 'hybrid';
  /** Run the plan's gears on this many lanes instead of the plan's (equal shares). */
  lanes?: number;
  /** Load levels as fractions of each gear's planned maxQps (default 0.3, 0.6, 0.85). */
  fractions?: number[];
  /** Repetitions per load level (default 3; the median ratio is reported). */
  reps?: number;
  /** Seconds per run (default 6, --quick 2). */
  seconds?: number;
  /** Plan gear ids to check (default: every gear of the plan). */
  gearIds?: number[];
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
  // Every gear by default, so that no choice of gears flatters the simulator.
  const pick = o.gearIds ? plan.gears.filter((g) => o.gearIds!.includes(g.id)) : plan.gears;
  const gears = pick.map((g) => {
    // capped at 80% of what the plan's lanes can do with this gear (utilization is at maxQps)
    const cap = g.utilization > 0 ? (0.8 * g.maxQps) / g.utilization : Infinity;
    return {
      label: `gear ${g.id}: ${g.stages.map((s) => `${s.model}(b${s.maxBatch})`).join('>')}`,
      stages: g.stages,
      levels: (o.fractions ?? [0.3, 0.6, 0.85]).map((f) => Math.round(Math.min(cap, f * g.maxQps))),
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

interface DriveResult {
  /** End to end (ms): promise settled - ACTUAL submit time, measured requests only. */
  latencies: number[];
  /** Inside the engine (ms): queuedUs + computeUs, measured requests only. */
  engineLatencies: number[];
  /** Actual submit time of every request (µs from the first submission). */
  submitUs: Float64Array;
  /** Submission lateness (actual - scheduled, ms): mean and p95 over all requests. */
  lateMeanMs: number;
  lateP95Ms: number;
  /** Submit crossings (several due items go in one). */
  submits: number;
  failed: number;
}

/**
 * Drives the engine open-loop. Every item whose scheduled time has come goes in one submit
 * (the engine takes several items per crossing). Waiting: 'timer' sleeps with setTimeout
 * (1 ms granularity) until the next arrival; 'hybrid' sleeps with setTimeout until ~1 ms
 * before it, then yields with setImmediate (results keep settling) for the last stretch.
 */
async function drive(engine: CascadeEngine, data: Float32Array, per: number, n: number, arrivals: Float64Array, driver: 'timer' | 'hybrid'): Promise<DriveResult> {
  const count = arrivals.length;
  const latencies = new Float64Array(count).fill(NaN);
  const engineLat = new Float64Array(count).fill(NaN);
  const submitAt = new Float64Array(count);
  const late = new Float64Array(count);
  const pending: Promise<void>[] = [];
  let failed = 0;
  let submits = 0;
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
      }
      const first = next;
      const ts = performance.now() - t0;
      const promises = engine.submit(x);
      submits++;
      for (let j = 0; j < k; j++) {
        submitAt[first + j] = ts;
        late[first + j] = ts - arrivals[first + j];
        pending.push(promises[j].then((r) => {
          latencies[first + j] = performance.now() - t0 - ts;
          if (r.status !== 'ok') failed++;
          else engineLat[first + j] = (r.queuedUs + r.computeUs) / 1000;
        }));
      }
      next = end;
      continue;
    }
    const wait = arrivals[next] - now;
    if (driver === 'timer') await new Promise((r) => setTimeout(r, Math.max(0, wait - 0.5)));
    else if (wait > 1.2) await new Promise((r) => setTimeout(r, wait - 1.1));
    else await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  const warm = Math.floor(count / 10);
  const first = submitAt[0];
  const lateSorted = Array.from(late).sort((a, b) => a - b);
  return {
    latencies: Array.from(latencies.subarray(warm)),
    engineLatencies: Array.from(engineLat.subarray(warm)).filter(Number.isFinite),
    submitUs: submitAt.map((v) => (v - first) * 1000),
    lateMeanMs: late.reduce((a, b) => a + b, 0) / count,
    lateP95Ms: lateSorted[Math.min(count - 1, Math.ceil(0.95 * count) - 1)],
    submits,
    failed,
  };
}

/**
 * Host overhead calibration: one item at a time (closed loop, nothing else in flight) through
 * a single-stage gear of the cheapest model, maxBatch 1, no queue delay. Per item
 * (settled - submitted) - computeUs = what the engine and the JS thread add outside the
 * lane's batch time. Returns the median (µs) and, for the record, the median minus the
 * profile's batch time instead of computeUs.
 */
async function calibrateHostOverhead(engine: CascadeEngine, x: Float32Array, per: number, model: string, profileB1Us: number, requests: number): Promise<{ overheadUs: number; overheadVsProfileUs: number; p95OverheadUs: number; requests: number }> {
  engine.setGear({ id: 800, stages: [{ model, threshold: 0, maxBatch: 1, maxQueueDelayUs: 0 }] });
  const over: number[] = [];
  const e2e: number[] = [];
  for (let i = 0; i < requests + 200; i++) {
    const one = x.subarray((i % 1000) * per, (i % 1000 + 1) * per);
    const t0 = performance.now();
    const r = await engine.infer(one);
    const us = (performance.now() - t0) * 1000;
    if (i >= 200) {
      over.push(us - r.computeUs);
      e2e.push(us);
    }
  }
  return { overheadUs: Math.max(0, median(over)), overheadVsProfileUs: median(e2e) - profileB1Us, p95OverheadUs: quantile(over, 0.95), requests };
}

/**
 * Batch times measured now, through the bench's own engine, the gear's models in rotation as
 * the profiler times them (lanes idle, one batch at a time): the profile was measured earlier
 * and the machine may be busier now (other processes), which would make the comparison test
 * the machine, not the simulator.
 */
async function timingsNow(engine: CascadeEngine, x: Float32Array, models: string[], maxBatch: number, reps: number): Promise<ModelTiming[]> {
  const rows = await timeBatchesRotating(engine, models, x, x.length / engine.itemElems, { maxBatch, reps, warmup: 2 }, () => {});
  return rows.map((r) => ({ laneKind: 'cpu', intraOpThreads: 1, batchTimesUs: monotone(r) }));
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
  const seconds = opts.seconds ?? (opts.quick ? 2 : 6);
  const reps = opts.reps ?? 3;
  const driver = opts.driver ?? 'timer';
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  let calib: Awaited<ReturnType<typeof calibrateHostOverhead>>;
  try {
    // warm every session, then calibrate the host overhead on the cheapest model
    await Promise.all(engine.submit(x.subarray(0, per * 64)));
    const cheapest = profile.models.reduce((a, b) => (batchTimeUs(timingFor(b, profile.lanes[0]), 1) < batchTimeUs(timingFor(a, profile.lanes[0]), 1) ? b : a));
    calib = await calibrateHostOverhead(engine, x, per, cheapest.name, batchTimeUs(timingFor(cheapest, profile.lanes[0]), 1), opts.quick ? 1000 : 3000);
    let gid = 1;
    for (const g of setup.gears) {
      const modelIdx = g.stages.map((s) => profile.models.findIndex((m) => m.name === s.model));
      const spec: CascadeSpec = { models: modelIdx, thresholds: g.stages.slice(0, -1).map((s) => s.threshold), measure: g.stages[0].measure };
      const exits = exitStages(cols, spec);
      const gear = () => ({ id: gid++, stages: g.stages.map((s) => ({ model: s.model, threshold: s.threshold, measure: s.measure, maxBatch: s.maxBatch, maxQueueDelayUs: s.maxQueueDelayUs, laneWeights: s.laneShares })) });
      engine.setGear(gear());
      await Promise.all(engine.submit(x.subarray(0, per * 64)));
      // each measurement switches the engine's gear
      const now: ModelTiming[] = await timingsNow(engine, x, g.stages.map((st) => st.model), Math.max(...g.stages.map((st) => st.maxBatch)), opts.quick ? 15 : 40);
      engine.setGear(gear());
      const simStages = (table: (i: number) => ModelTiming) =>
        g.stages.map((s, i) => {
          const timeUs = [0];
          for (let b = 1; b <= s.maxBatch; b++) timeUs.push(batchTimeUs(table(i), b));
          return { timeUs, maxBatch: s.maxBatch, maxQueueDelayUs: s.maxQueueDelayUs, laneEligible: s.laneShares.map((w) => w > 1e-6) };
        });
      const fromProfile = simStages((i) => timingFor(profile.models[modelIdx[i]], profile.lanes[0]));
      const fromNow = simStages((i) => now[i]);
      // prediction for one run: the ACTUAL submit times replayed, median p95 over 3 route seeds
      const predict = (trace: Float64Array, stages: typeof fromProfile, hostOverheadUs: number) =>
        median([1, 2, 3].map((seed) => simulate({ stages, lanes, exitStage: exits, qps: 1, arrivals: 'poisson', arrivalTimesUs: trace, hostOverheadUs, seed, sloUs: 1e9, maxBacklog: 100_000 }).p95Ms));
      for (const qps of g.levels) {
        const count = Math.max(500, Math.min(40000, Math.round(qps * seconds)));
        const runs: Record<'measured' | 'engineP95' | 'predicted' | 'predictedNoHost' | 'predictedNow' | 'predictedIdeal' | 'ratio' | 'ratioNow' | 'ratioEngine' | 'ratioIdeal' | 'lateMeanMs' | 'lateP95Ms' | 'itemsPerSubmit' | 'failed' | 'loadAverage', number>[] = [];
        for (let r = 0; r < reps; r++) {
          const arrivals = poissonArrivals(qps, count, 1000 * (r + 1) + qps);
          const run = await drive(engine, x, per, data.count, arrivals, driver);
          const measured = quantile(run.latencies, 0.95);
          const engineP95 = quantile(run.engineLatencies, 0.95);
          const predicted = predict(run.submitUs, fromProfile, calib.overheadUs);
          const predictedNoHost = predict(run.submitUs, fromProfile, 0);
          const predictedNow = predict(run.submitUs, fromNow, calib.overheadUs);
          // the old comparison: ideal Poisson arrivals, no host term
          const predictedIdeal = median([1, 2, 3].map((seed) => simulate({ stages: fromProfile, lanes, exitStage: exits, qps, arrivals: 'poisson', requests: count, seed, sloUs: 1e9, maxBacklog: 100_000 }).p95Ms));
          runs.push({ measured, engineP95, predicted, predictedNoHost, predictedNow, predictedIdeal, ratio: measured / predicted, ratioNow: measured / predictedNow, ratioEngine: engineP95 / predictedNoHost, ratioIdeal: measured / predictedIdeal, lateMeanMs: run.lateMeanMs, lateP95Ms: run.lateP95Ms, itemsPerSubmit: count / run.submits, failed: run.failed, loadAverage: loadavg()[0] });
        }
        const med = (f: (r: (typeof runs)[number]) => number): number => median(runs.map(f));
        rows.push([g.label, qps, count, med((r) => r.measured), med((r) => r.predicted), med((r) => r.ratio), med((r) => r.engineP95), med((r) => r.predictedNoHost), med((r) => r.ratioEngine), med((r) => r.ratioIdeal), med((r) => r.lateMeanMs), med((r) => r.lateP95Ms), med((r) => r.itemsPerSubmit), runs.reduce((a, r) => a + r.failed, 0)]);
        results.push({ gear: g.label, stages: g.stages, qps, requests: count, medianRatio: med((r) => r.ratio), medianRatioNow: med((r) => r.ratioNow), medianRatioEngine: med((r) => r.ratioEngine), medianRatioIdeal: med((r) => r.ratioIdeal), runs, timingsNow: now });
      }
    }
  } finally {
    await engine.close();
  }
  const pick = (k: string) => results.map((r) => r[k] as number);
  const within = (xs: number[]) => xs.filter((r) => Math.abs(r - 1) <= 0.25).length;
  const summary = (xs: number[]) => `${within(xs)}/${xs.length} within 25% (median ${median(xs).toFixed(2)}, range ${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
  const text = [
    `source: ${setup.source}; ${lanes} lane(s) on ${cpus().length} CPU(s), load average ${loadavg()[0].toFixed(1)}; ${seconds} s per run, ${reps} runs per load (medians shown); driver ${driver}`,
    `host overhead (calibrated now, ${calib!.requests} single requests, cheapest model): median ${calib!.overheadUs.toFixed(0)} µs (p95 ${calib!.p95OverheadUs.toFixed(0)}; e2e - profile b1 time: ${calib!.overheadVsProfileUs.toFixed(0)} µs)`,
    'meas = p95 end to end (actual submit -> promise settled); sim = simulator fed the actual submit times, profile batch times + host overhead;',
    'eng = p95 inside the engine (queuedUs + computeUs) vs sim without the host term; ideal = old comparison (ideal Poisson, no host term); late = submission lateness',
    table(['gear', 'qps', 'requests', 'p95 meas ms', 'p95 sim ms', 'meas/sim', 'p95 eng ms', 'sim no-host', 'eng/sim', 'meas/ideal', 'late mean', 'late p95', 'items/submit', 'failed'], rows),
    `meas/sim: ${summary(pick('medianRatio'))}; with batch times re-measured just before: ${summary(pick('medianRatioNow'))}; engine-internal: ${summary(pick('medianRatioEngine'))}; old comparison: ${summary(pick('medianRatioIdeal'))}`,
  ].join('\n');
  const path = writeResult('planner-fidelity', { source: setup.source, lanes, quick: opts.quick, driver, seconds, reps, hostOverhead: calib!, results, withinTarget: within(pick('medianRatio')), runs: results.length }, opts.record ?? false);
  return { text, path };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const { text, path } = await runFidelityBench({ quick: process.argv.includes('--quick'), record: recordFlag(), profilePath: arg('--profile'), planPath: arg('--plan'), driver: arg('--driver') as 'hybrid' | 'timer' | undefined, lanes: arg('--lanes') ? Number(arg('--lanes')) : undefined, fractions: arg('--fractions')?.split(',').map(Number), reps: arg('--reps') ? Number(arg('--reps')) : undefined, seconds: arg('--seconds') ? Number(arg('--seconds')) : undefined, gearIds: arg('--gears')?.split(',').map(Number) });
  process.stdout.write(`${text}\n(written to ${path})\n`);
}
