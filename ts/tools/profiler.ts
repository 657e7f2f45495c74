// The profiler behind `cascadeserve profile`: measures each model THROUGH THE NATIVE ENGINE
// (CascadeEngine, one lane of the profiled kind) and caches its answers on the validation
// (and held-out) half for the planner.
//
// Timing: for each batch size b in 1, 2, 4, ... <= maxBatch a single-stage gear is set to
// maxBatch = b with a long maxQueueDelayUs and exactly b items are submitted in one crossing,
// so the queue releases one batch of b rows. ItemResult.computeUs of that batch (the lane's
// wall time of gathering the rows and running ONNX Runtime) is one sample; p50/p95 over
// `reps` samples after `warmup`, the repetitions interleaving the batch sizes. By default
// (timing "rotation") one engine holds every model and each repetition runs every model in
// turn at each size, so a model's batch starts with the caches the other models left: the
// condition of a cascade, whose stages alternate on the lane. Timing "isolated" (one engine
// per model, the same model back to back, caches hot) read the small models 15-30% faster
// than they run inside a cascade, and the planner's p95 predictions were as optimistic.
//
// Answers: every image run through the same engine (batches of `dataBatch`) with
// wantCertainties: the engine returns the answering row's certainty under all three
// measures, the very doubles its exit test compares (native/engine/certainty.cc is the one
// implementation), and they are stored rounded DOWN to float32 (floor32). Stored
// certainties and the planner's thresholds are therefore float32 values, and for such a
// threshold t the engine's test `certainty >= double(float(t))` equals
// `floor32(certainty) >= t`: the cached route of an image is the engine's route whenever
// the engine produces the same output row (test/planner-exactness.test.ts checks the routes,
// test/planner-profile.test.ts the stored values against an independent oracle).
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { arch, cpus, hostname, platform } from 'node:os';
import { CascadeEngine } from '../engine/engine.js';
import type { EngineModel, OutputKind } from '../engine/config.js';
import { runtimeInfo } from '../runtime/runtime.js';
import type { Dataset } from '../contracts/dataset.js';
import { kCertaintyMeasures, kProfileSchema, validateProfile, type BatchTiming, type CertaintyMeasure, type Profile, type ProfileModel, type ValidationResults } from '../contracts/profile-schema.js';

export interface ProfileModelSpec {
  name: string;
  /** Absolute path of the .onnx file. */
  path: string;
  /** As recorded in profile.json (relative to the manifest's directory). */
  file: string;
  input: string;
  output: string;
  outputKind: OutputKind;
  itemDims: number[];
  classes: number;
  params: number;
  mflopsPerImage: number;
}

export type ProfileProgress = (phase: string, done: number, total: number) => void;

export interface ProfilerOptions {
  models: ProfileModelSpec[];
  validation: Dataset;
  /** Held-out half: answers stored under models[i].heldout (for the plan's heldoutAccuracy). */
  heldout?: Dataset;
  manifest: { path: string; name: string };
  /** Largest batch size timed (powers of two up to it, plus it). Default 64. */
  maxBatch?: number;
  /** Timed repetitions per batch size. Default 30. */
  reps?: number;
  /** Untimed repetitions per batch size first. Default 5. */
  warmup?: number;
  /** intraOpThreads of the profiled lane. Default 1. */
  threads?: number;
  /** Rows per batch when collecting answers. Default 64. */
  dataBatch?: number;
  /** "rotation" (default): models timed in turn on one engine; "isolated": each alone, back to back. */
  timing?: 'rotation' | 'isolated';
  /** Skip timing (answers only; timings are then a single placeholder row). Tests only. */
  skipTiming?: boolean;
  runtimeLibrary?: string;
  onProgress?: ProfileProgress;
}

/**
 * Memory estimate of one replica: max(RSS growth from creating the model's engine through
 * its first batch, measured after ONNX Runtime itself was loaded by a throwaway engine,
 * kMemoryFileFactor x file size). RSS is noisy (allocator reuse), hence the floor.
 */
export const kMemoryFileFactor = 2;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Largest float32 value <= x (x finite); NaN stays NaN. */
export function floor32(x: number): number {
  const f = Math.fround(x);
  if (!(f > x)) return f;
  f32[0] = f;
  if (f > 0) u32[0] -= 1;
  else if (f === 0) return -1.401298464324817e-45;
  else u32[0] += 1;
  return f32[0];
}

/** How a certainty is stored: floor32, clamped to [0, 1]. Written with 9 significant digits (round-trips float32). */
export function storedCertainty(c: number): number {
  if (!(c > 0)) return 0; // NaN or <= 0
  return Math.min(1, floor32(c));
}

export const batchSizesUpTo = (max: number): number[] => {
  const out: number[] = [];
  for (let b = 1; b < max; b *= 2) out.push(b);
  out.push(max);
  return out;
};

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The q-quantile of a sorted array (the smallest value with at least q of the values at or below it). */
export function quantileOf(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function engineModel(m: ProfileModelSpec): EngineModel {
  return { name: m.name, path: m.path, input: m.input, output: m.output, itemDims: m.itemDims, classes: m.classes, outputKind: m.outputKind };
}

function imagesOf(ds: Dataset, itemElems: number, what: string): Float32Array {
  if (ds.imageSize !== itemElems) throw new Error(`${what} ${ds.path || '(in memory)'} holds ${ds.imageSize} values per image but the models take ${itemElems}`);
  return ds.toFloat32();
}

async function timeBatches(engine: CascadeEngine, model: string, images: Float32Array, count: number, opts: Required<Pick<ProfilerOptions, 'maxBatch' | 'reps' | 'warmup'>>, tick: () => void): Promise<BatchTiming[]> {
  const per = engine.itemElems;
  const sizes = batchSizesUpTo(opts.maxBatch);
  const samples: number[][] = sizes.map(() => []);
  // Repetitions interleave the batch sizes (rep r runs every size once) so that a stretch of
  // CPU contention from other processes spreads over all sizes instead of skewing one.
  for (let r = 0; r < opts.warmup + opts.reps; r++) {
    for (const [k, b] of sizes.entries()) {
      engine.setGear({ id: b, stages: [{ model, threshold: 0, maxBatch: b, maxQueueDelayUs: 10_000_000 }] });
      const start = (r * b) % Math.max(1, count - b + 1);
      const results = await Promise.all(engine.submit(images.subarray(start * per, (start + b) * per)));
      for (const res of results) if (res.status !== 'ok') throw new Error(`model "${model}": timing run at batch ${b} failed (${res.status}${res.error ? `: ${res.error}` : ''})`);
      if (r >= opts.warmup) samples[k].push(Math.max(1, results[0].computeUs));
    }
    if (r >= opts.warmup && (r - opts.warmup + 1) % Math.max(1, Math.floor(opts.reps / sizes.length)) === 0) tick();
  }
  return sizes.map((b, k) => {
    const xs = samples[k].sort((x, y) => x - y);
    return { batch: b, p50: quantileOf(xs, 0.5), p95: quantileOf(xs, 0.95), reps: xs.length };
  });
}

async function answers(engine: CascadeEngine, spec: ProfileModelSpec, images: Float32Array, labels: Uint8Array, dataBatch: number, tick: (done: number) => void): Promise<ValidationResults> {
  const per = engine.itemElems;
  const n = labels.length;
  const out: ValidationResults = { count: n, predictions: new Array(n), correct: new Array(n), certainty: { max_prob: new Array(n), margin: new Array(n), entropy: new Array(n) } };
  const gear = (b: number) => engine.setGear({ id: b, stages: [{ model: spec.name, threshold: 0, measure: 'max_prob', maxBatch: b, maxQueueDelayUs: 10_000_000 }] });
  gear(dataBatch);
  for (let s = 0; s < n; s += dataBatch) {
    const k = Math.min(dataBatch, n - s);
    if (k < dataBatch) gear(k); // the last, short batch must not wait for the delay
    const results = await Promise.all(engine.submit(images.subarray(s * per, (s + k) * per), { wantCertainties: true }));
    results.forEach((r, j) => {
      const i = s + j;
      if (r.status !== 'ok' || !r.certainties) throw new Error(`model "${spec.name}": image ${i} failed (${r.status}${r.error ? `: ${r.error}` : ''})`);
      out.predictions[i] = r.predictedClass;
      out.correct[i] = r.predictedClass === labels[i] ? 1 : 0;
      for (const mu of kCertaintyMeasures) out.certainty[mu][i] = storedCertainty(r.certainties[mu]);
    });
    tick(Math.min(n, s + k));
  }
  return out;
}

/** Rotation timing (see the header): one row per model, one entry per size (batchSizesUpTo). */
export async function timeBatchesRotating(engine: CascadeEngine, names: string[], images: Float32Array, count: number, opts: Required<Pick<ProfilerOptions, 'maxBatch' | 'reps' | 'warmup'>>, tick: () => void): Promise<BatchTiming[][]> {
  const per = engine.itemElems;
  const sizes = batchSizesUpTo(opts.maxBatch);
  const samples: number[][][] = names.map(() => sizes.map(() => []));
  let gid = 1;
  for (let r = 0; r < opts.warmup + opts.reps; r++) {
    for (const [k, b] of sizes.entries()) {
      for (const [m, model] of names.entries()) {
        engine.setGear({ id: gid++, stages: [{ model, threshold: 0, maxBatch: b, maxQueueDelayUs: 10_000_000 }] });
        const start = ((r * names.length + m) * b) % Math.max(1, count - b + 1);
        const results = await Promise.all(engine.submit(images.subarray(start * per, (start + b) * per)));
        for (const res of results) if (res.status !== 'ok') throw new Error(`model "${model}": timing run at batch ${b} failed (${res.status}${res.error ? `: ${res.error}` : ''})`);
        if (r >= opts.warmup) samples[m][k].push(Math.max(1, results[0].computeUs));
      }
    }
    if (r >= opts.warmup && (r - opts.warmup + 1) % Math.max(1, Math.floor(opts.reps / sizes.length)) === 0) tick();
  }
  return samples.map((per_) =>
    sizes.map((b, k) => {
      const xs = per_[k].sort((x, y) => x - y);
      return { batch: b, p50: quantileOf(xs, 0.5), p95: quantileOf(xs, 0.95), reps: xs.length };
    }),
  );
}

/** A larger batch never takes less time than a smaller one (noise guard for the step rule). */
export function monotone(rows: BatchTiming[]): BatchTiming[] {
  for (let i = 1; i < rows.length; i++) {
    rows[i].p50 = Math.max(rows[i].p50, rows[i - 1].p50);
    rows[i].p95 = Math.max(rows[i].p95, rows[i].p50);
  }
  return rows;
}

/** Profiles every model; returns a validated Profile. */
export async function profileModels(o: ProfilerOptions): Promise<Profile> {
  if (o.models.length === 0) throw new Error('no models to profile');
  const maxBatch = o.maxBatch ?? 64;
  const reps = o.reps ?? 30;
  const warmup = o.warmup ?? 5;
  const threads = o.threads ?? 1;
  const dataBatch = o.dataBatch ?? 64;
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1 && maxBatch <= 4096)) throw new Error(`--max-batch must be an integer from 1 to 4096, got ${maxBatch}`);
  if (!(Number.isInteger(reps) && reps >= 1)) throw new Error(`--reps must be a positive integer, got ${reps}`);
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= 256)) throw new Error(`--threads must be an integer from 1 to 256, got ${threads}`);
  const itemElems = o.models[0].itemDims.reduce((a, b) => a * b, 1);
  const val = imagesOf(o.validation, itemElems, 'validation data');
  const ho = o.heldout ? imagesOf(o.heldout, itemElems, 'held-out data') : undefined;
  const sizes = batchSizesUpTo(maxBatch);
  const nVal = o.validation.count;
  const nHo = o.heldout?.count ?? 0;
  const timing = o.timing ?? 'rotation';
  if (timing !== 'rotation' && timing !== 'isolated') throw new Error(`--timing must be "rotation" or "isolated", got "${String(timing)}"`);
  const timingUnits = o.skipTiming ? 0 : sizes.length * 1000; // progress units per model
  const unitsPerModel = (timing === 'isolated' ? timingUnits : 0) + nVal + nHo;
  const total = (unitsPerModel + (timing === 'rotation' ? timingUnits : 0)) * o.models.length;
  let base = 0;
  const progress = (name: string, done: number) => o.onProgress?.(name, Math.min(total, base + done), total);
  const models: ProfileModel[] = [];
  // Load ONNX Runtime and the engine machinery once, so that no model is charged for them.
  {
    const warm = await CascadeEngine.create({ runtimeLibrary: o.runtimeLibrary, models: [engineModel(o.models[0])], lanes: [{ kind: 'cpu', intraOpThreads: threads }], gear: { id: 0, stages: [{ model: o.models[0].name, threshold: 0, maxBatch: 1 }] } });
    await Promise.all(warm.submit(val.subarray(0, itemElems)));
    await warm.close();
  }
  for (const spec of o.models) {
    const rssBefore = process.memoryUsage().rss;
    const engine = await CascadeEngine.create({
      runtimeLibrary: o.runtimeLibrary,
      models: [engineModel(spec)],
      lanes: [{ kind: 'cpu', intraOpThreads: threads }],
      maxQueueSizePerStage: Math.max(1024, maxBatch, dataBatch),
      gear: { id: 0, stages: [{ model: spec.name, threshold: 0, maxBatch: 1 }] },
    });
    try {
      // one run so ONNX Runtime's lazy allocations count towards the replica's memory
      await Promise.all(engine.submit(val.subarray(0, itemElems)));
      const rssDelta = process.memoryUsage().rss - rssBefore;
      let done = 0;
      let batchTimesUs: BatchTiming[];
      if (o.skipTiming || timing === 'rotation') {
        batchTimesUs = [{ batch: 1, p50: 1, p95: 1, reps: 1 }]; // rotation: filled in below
      } else {
        batchTimesUs = monotone(await timeBatches(engine, spec.name, val, nVal, { maxBatch, reps, warmup }, () => progress(`timing ${spec.name}`, (done += 1000))));
      }
      const at = done;
      const validation = await answers(engine, spec, val, o.validation.labels, dataBatch, (d) => progress(`answers ${spec.name}`, at + d));
      const heldout = o.heldout && ho ? await answers(engine, spec, ho, o.heldout.labels, dataBatch, (d) => progress(`held-out ${spec.name}`, at + nVal + d)) : undefined;
      const fileBytes = statSync(spec.path).size;
      models.push({
        name: spec.name,
        file: spec.file,
        sha256: sha256File(spec.path),
        params: spec.params,
        mflopsPerImage: spec.mflopsPerImage,
        memoryBytes: Math.max(rssDelta, kMemoryFileFactor * fileBytes, 1),
        timings: [{ laneKind: 'cpu', intraOpThreads: threads, batchTimesUs }],
        validation,
        ...(heldout ? { heldout } : {}),
      });
    } finally {
      await engine.close();
    }
    base += unitsPerModel;
    progress(`done ${spec.name}`, 0);
  }
  if (timing === 'rotation' && !o.skipTiming) {
    const engine = await CascadeEngine.create({
      runtimeLibrary: o.runtimeLibrary,
      models: o.models.map(engineModel),
      lanes: [{ kind: 'cpu', intraOpThreads: threads }],
      maxQueueSizePerStage: Math.max(1024, maxBatch),
      gear: { id: 0, stages: [{ model: o.models[0].name, threshold: 0, maxBatch: 1 }] },
    });
    try {
      let done = 0;
      const rows = await timeBatchesRotating(engine, o.models.map((m) => m.name), val, nVal, { maxBatch, reps, warmup }, () => progress('timing (models in rotation)', (done += 1000 * o.models.length)));
      rows.forEach((r, m) => (models[m].timings[0].batchTimesUs = monotone(r)));
    } finally {
      await engine.close();
    }
  }
  const profile = {
    ...profileHeader(o.runtimeLibrary),
    manifest: o.manifest,
    lanes: [{ kind: 'cpu' as const, intraOpThreads: threads }],
    models,
    labels: Array.from(o.validation.labels),
    ...(o.heldout ? { heldoutLabels: Array.from(o.heldout.labels) } : {}),
  };
  return validateProfile(profile);
}

/** The profile's header: its schema, when and on which machine and runtime it was measured. */
export function profileHeader(runtimeLibrary?: string): Pick<Profile, 'schema' | 'createdAt' | 'machine' | 'runtime'> {
  let version = 'unknown';
  try {
    version = runtimeInfo(runtimeLibrary).version;
  } catch {
    /* keep 'unknown' */
  }
  const cpu = cpus();
  return {
    schema: kProfileSchema,
    createdAt: new Date().toISOString(),
    machine: { hostname: hostname(), cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', platform: platform(), arch: arch() },
    runtime: { name: 'onnxruntime', version },
  };
}

/** profile.json text: certainties with 9 significant digits (exact float32 round trip), compact arrays. */
export function profileToJson(p: Profile): string {
  const measures = new Set<string>(kCertaintyMeasures);
  const text = JSON.stringify(
    p,
    function (this: unknown, key: string, value: unknown) {
      if (measures.has(key) && Array.isArray(value)) return value.map((x: number) => Number(x.toPrecision(9)));
      return value;
    },
    1,
  );
  // one line per number array keeps the file diffable and ~3x smaller than one number a line
  return text.replace(/\[\s*([-0-9.e+,\s]*?)\s*\]/g, (_m, body: string) => `[${body.replace(/\s+/g, '')}]`) + '\n';
}

export type { CertaintyMeasure };
