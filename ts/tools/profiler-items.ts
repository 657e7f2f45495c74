// The profiler for a version-2 manifest (typed inputs, optionally one dynamic axis): the same
// measurements as profiler.ts, through engine.submitTensors.
//
// Answers: every validation (and held-out) item, in its own length (`lengths`), through the
// engine in batches of `dataBatch` with wantCertainties; stored as in profiler.ts (floor32).
//
// Timing: with a dynamic axis the data's lengths are cut into a few buckets (lengthBucketEdges:
// quantiles of the validation lengths, each bucket represented by its upper edge, so its time
// bounds its items' from above); for each bucket and batch size b, b items are submitted in one
// crossing with every item at the bucket's length (their own positions up to there, padding and
// mask 0 beyond), timed as in profiler.ts (rotation: every model in turn, batch sizes and
// buckets interleaved per repetition). The timing's top-level batchTimesUs is the expected time
// of a batch drawn from the data's length mix (mixedBatchTimeUs), so readers that know no
// buckets get the mix; the planner and simulator use the buckets (cost by length).
// Without a dynamic axis there are no buckets and every batch is timed at the data's shape.
import { statSync } from 'node:fs';
import { CascadeEngine, type ItemResult, type TensorArray } from '../engine/engine.js';
import type { EngineModel } from '../engine/config.js';
import type { Manifest } from '../contracts/manifest.js';
import type { LabelledItems } from '../contracts/items.js';
import { kCertaintyMeasures, lengthBucketCounts, mixedBatchTimeUs, validateProfile, type BatchTiming, type LengthBucket, type ModelTiming, type Profile, type ProfileModel, type ValidationResults } from '../contracts/profile-schema.js';
import { batchSizesUpTo, kMemoryFileFactor, profileHeader, monotone, quantileOf, sha256File, storedCertainty, type ProfileProgress } from './profiler.js';
import { relative } from 'node:path';

export interface ItemsProfilerOptions {
  manifest: Manifest;
  validation: LabelledItems;
  heldout?: LabelledItems;
  /** As recorded in profile.json (relative to the profile file). */
  manifestPath: string;
  maxBatch?: number;
  reps?: number;
  warmup?: number;
  threads?: number;
  dataBatch?: number;
  /** Length buckets timed (at most; fewer when the data has fewer distinct lengths). Default 4. */
  lengthBuckets?: number;
  skipTiming?: boolean;
  runtimeLibrary?: string;
  onProgress?: ProfileProgress;
}

/**
 * Upper edges of at most `k` length buckets: the lengths at the quantiles (j + 1) / k of the
 * validation items' lengths, duplicates dropped; the last edge is the longest item.
 */
export function lengthBucketEdges(lengths: ArrayLike<number>, k: number): number[] {
  const sorted = Array.from(lengths).sort((a, b) => a - b);
  const edges: number[] = [];
  for (let j = 0; j < k; j++) {
    const e = quantileOf(sorted, (j + 1) / k);
    if (edges.length === 0 || e > edges[edges.length - 1]) edges.push(e);
  }
  return edges;
}

function engineModels(manifest: Manifest): EngineModel[] {
  return manifest.models.map((m) => ({
    name: m.name,
    path: m.file,
    inputs: manifest.inputs.filter((i) => m.inputs.includes(i.name)).map((i) => ({ name: i.name, datatype: i.datatype, itemDims: [...i.shape], padValue: i.padValue })),
    output: m.output,
    classes: manifest.output.classes,
    outputKind: m.outputKind,
    padInvariant: m.padInvariant,
  }));
}

/** Items [start, start + count) of every tensor, as submitTensors takes them (the data's padded length). */
function slice(items: LabelledItems, start: number, count: number): { tensors: Record<string, TensorArray> } {
  const tensors: Record<string, TensorArray> = {};
  for (const t of items.tensors) {
    const per = t.itemShape.reduce((a, b) => a * b, 1);
    tensors[t.name] = t.data.subarray(start * per, (start + count) * per) as TensorArray;
  }
  return { tensors };
}

/** A longer bucket never takes less time than a shorter one at the same batch size (noise guard, as monotone). */
export function monotoneAcrossLengths(buckets: LengthBucket[]): LengthBucket[] {
  for (let j = 1; j < buckets.length; j++) {
    buckets[j].batchTimesUs.forEach((row, i) => {
      const prev = buckets[j - 1].batchTimesUs[i];
      row.p50 = Math.max(row.p50, prev.p50);
      row.p95 = Math.max(row.p95, prev.p95, row.p50);
    });
  }
  return buckets;
}

/** The padded length of the data on the dynamic axis (null without one). */
function paddedLength(manifest: Manifest, items: LabelledItems): number | null {
  const input = manifest.inputs.find((i) => i.dynamicAxis !== null);
  if (!input) return null;
  const t = items.tensors.find((x) => x.name === input.name)!;
  return t.itemShape[input.dynamicAxis!];
}

async function answers(engine: CascadeEngine, model: string, items: LabelledItems, padded: number | null, dataBatch: number, tick: (done: number) => void): Promise<ValidationResults> {
  const n = items.count;
  const out: ValidationResults = { count: n, predictions: new Array(n), correct: new Array(n), certainty: { max_prob: new Array(n), margin: new Array(n), entropy: new Array(n) } };
  // Batching held while a slice is queued, then no delay: the slice runs as one batch, or, for a
  // model that batches only equal lengths, as one batch per length at once. (A long delay made
  // each length group of a non-pad-invariant model wait it out: 322 s for 2,000 items.)
  engine.setGear({ id: dataBatch, stages: [{ model, threshold: 0, measure: 'max_prob', maxBatch: dataBatch, maxQueueDelayUs: 0 }] });
  for (let s = 0; s < n; s += dataBatch) {
    const k = Math.min(dataBatch, n - s);
    const { tensors } = slice(items, s, k);
    const lengthArgs = padded !== null && items.lengths ? { length: padded, lengths: items.lengths.subarray(s, s + k) } : {};
    engine.pause();
    let submitted: Promise<ItemResult>[];
    try {
      submitted = engine.submitTensors({ count: k, tensors, ...lengthArgs }, { wantCertainties: true });
    } finally {
      engine.resume();
    }
    const results = await Promise.all(submitted);
    results.forEach((r, j) => {
      const i = s + j;
      if (r.status !== 'ok' || !r.certainties) throw new Error(`model "${model}": item ${i} failed (${r.status}${r.error ? `: ${r.error}` : ''})`);
      out.predictions[i] = r.predictedClass;
      out.correct[i] = r.predictedClass === items.labels[i] ? 1 : 0;
      for (const mu of kCertaintyMeasures) out.certainty[mu][i] = storedCertainty(r.certainties[mu]);
    });
    tick(Math.min(n, s + k));
  }
  return out;
}

/**
 * Rotation timing per length bucket: samples[m][bucket][size]. `at` is each bucket's length
 * (null: no dynamic axis, one bucket at the data's shape). The items are validation items in
 * turn, each submitted at the bucket's length (its own positions, then the data's padding):
 * the batch has the shape of b items of that length, which is what its time depends on.
 */
async function timeRotating(engine: CascadeEngine, names: string[], items: LabelledItems, padded: number | null, at: (number | null)[], opts: { maxBatch: number; reps: number; warmup: number }, tick: () => void): Promise<BatchTiming[][][]> {
  const sizes = batchSizesUpTo(opts.maxBatch);
  const samples: number[][][][] = names.map(() => at.map(() => sizes.map(() => [])));
  const n = items.count;
  let gid = 1;
  for (let r = 0; r < opts.warmup + opts.reps; r++) {
    for (const [k, b] of sizes.entries()) {
      for (const [j, len] of at.entries()) {
        for (const [m, model] of names.entries()) {
          engine.setGear({ id: gid++, stages: [{ model, threshold: 0, maxBatch: b, maxQueueDelayUs: 10_000_000 }] });
          const start = ((r * names.length + m) * b) % Math.max(1, n - b + 1);
          const count = Math.min(b, n);
          const { tensors } = slice(items, start, count);
          // every item at the bucket's length: its own positions, then padding (mask 0)
          const lengthArgs = padded !== null && len !== null ? { length: padded, lengths: new Int32Array(count).fill(len) } : {};
          const results = await Promise.all(engine.submitTensors({ count, tensors, ...lengthArgs }));
          for (const res of results) if (res.status !== 'ok') throw new Error(`model "${model}": timing run at batch ${b}${len !== null ? `, length ${len}` : ''} failed (${res.status}${res.error ? `: ${res.error}` : ''})`);
          if (r >= opts.warmup) samples[m][j][k].push(Math.max(1, results[0].computeUs));
        }
      }
    }
    if (r >= opts.warmup && (r - opts.warmup + 1) % Math.max(1, Math.floor(opts.reps / sizes.length)) === 0) tick();
  }
  return samples.map((perModel) =>
    perModel.map((perBucket) =>
      sizes.map((b, k) => {
        const xs = perBucket[k].sort((x, y) => x - y);
        return { batch: b, p50: quantileOf(xs, 0.5), p95: quantileOf(xs, 0.95), reps: xs.length };
      }),
    ),
  );
}

/** The expected batch times over the length mix, row by row (see mixedBatchTimeUs). */
export function mixedTimings(buckets: LengthBucket[]): BatchTiming[] {
  const shares = buckets.map((k) => k.share);
  return buckets[0].batchTimesUs.map((row, i) => ({
    batch: row.batch,
    p50: mixedBatchTimeUs(buckets.map((k) => k.batchTimesUs[i].p50), shares, row.batch),
    p95: mixedBatchTimeUs(buckets.map((k) => k.batchTimesUs[i].p95), shares, row.batch),
    reps: Math.min(...buckets.map((k) => k.batchTimesUs[i].reps)),
  }));
}

/** Profiles every model of a version-2 manifest; returns a validated Profile. */
export async function profileItems(o: ItemsProfilerOptions): Promise<Profile> {
  const { manifest } = o;
  const maxBatch = o.maxBatch ?? 64;
  const reps = o.reps ?? 30;
  const warmup = o.warmup ?? 5;
  const threads = o.threads ?? 1;
  const dataBatch = o.dataBatch ?? 64;
  const nBuckets = o.lengthBuckets ?? 4;
  if (!(Number.isInteger(nBuckets) && nBuckets >= 1 && nBuckets <= 16)) throw new Error(`lengthBuckets must be an integer from 1 to 16, got ${nBuckets}`);
  const val = o.validation;
  const padded = paddedLength(manifest, val);
  const lengths = padded !== null ? val.lengths : null;
  const edges = lengths ? lengthBucketEdges(lengths, nBuckets) : null;
  const shares = edges && lengths ? lengthBucketCounts(edges, lengths).map((c) => c / lengths.length) : null;
  const sizes = batchSizesUpTo(maxBatch);
  const names = manifest.models.map((m) => m.name);
  const timingUnits = o.skipTiming ? 0 : sizes.length * 1000 * names.length;
  const perModel = val.count + (o.heldout?.count ?? 0);
  const total = perModel * names.length + timingUnits;
  let base = 0;
  const progress = (phase: string, done: number) => o.onProgress?.(phase, Math.min(total, base + done), total);
  const all = engineModels(manifest);
  // Items carry every manifest input; a model may take a subset.
  const inputs = manifest.inputs.map((i) => ({ name: i.name, datatype: i.datatype, itemDims: [...i.shape], padValue: i.padValue }));
  const first = { id: 0, stages: [{ model: names[0], threshold: 0, maxBatch: 1 }] };
  const one = slice(val, 0, 1);
  const oneArgs = padded !== null && val.lengths ? { length: padded, lengths: val.lengths.subarray(0, 1) } : {};
  // Load ONNX Runtime and the engine machinery once, so that no model is charged for them.
  {
    const warm = await CascadeEngine.create({ runtimeLibrary: o.runtimeLibrary, inputs, models: [all[0]], lanes: [{ kind: 'cpu', intraOpThreads: threads }], gear: first });
    await Promise.all(warm.submitTensors({ count: 1, tensors: one.tensors, ...oneArgs }));
    await warm.close();
  }
  const models: ProfileModel[] = [];
  for (const [i, spec] of manifest.models.entries()) {
    const rssBefore = process.memoryUsage().rss;
    const engine = await CascadeEngine.create({
      runtimeLibrary: o.runtimeLibrary,
      inputs,
      models: [all[i]],
      lanes: [{ kind: 'cpu', intraOpThreads: threads }],
      maxQueueSizePerStage: Math.max(1024, maxBatch, dataBatch),
      gear: { id: 0, stages: [{ model: spec.name, threshold: 0, maxBatch: 1 }] },
    });
    try {
      // one run so ONNX Runtime's lazy allocations count towards the replica's memory
      await Promise.all(engine.submitTensors({ count: 1, tensors: one.tensors, ...oneArgs }));
      const rssDelta = process.memoryUsage().rss - rssBefore;
      const validation = await answers(engine, spec.name, val, padded, dataBatch, (d) => progress(`answers ${spec.name}`, d));
      const heldout = o.heldout ? await answers(engine, spec.name, o.heldout, paddedLength(manifest, o.heldout), dataBatch, (d) => progress(`held-out ${spec.name}`, val.count + d)) : undefined;
      models.push({
        name: spec.name,
        file: relative(manifest.dir, spec.file),
        sha256: sha256File(spec.file),
        params: spec.params,
        mflopsPerImage: spec.mflopsPerItem,
        memoryBytes: Math.max(rssDelta, kMemoryFileFactor * statSync(spec.file).size, 1),
        timings: [{ laneKind: 'cpu', intraOpThreads: threads, batchTimesUs: [{ batch: 1, p50: 1, p95: 1, reps: 1 }] }], // timed below
        validation,
        ...(heldout ? { heldout } : {}),
      });
    } finally {
      await engine.close();
    }
    base += perModel;
  }
  if (!o.skipTiming) {
    const engine = await CascadeEngine.create({
      runtimeLibrary: o.runtimeLibrary,
      inputs,
      models: all,
      lanes: [{ kind: 'cpu', intraOpThreads: threads }],
      maxQueueSizePerStage: Math.max(1024, maxBatch),
      gear: first,
    });
    try {
      let done = 0;
      const at = edges ?? [null];
      const rows = await timeRotating(engine, names, val, padded, at, { maxBatch, reps, warmup }, () => progress('timing (models in rotation)', (done += 1000 * names.length)));
      rows.forEach((perBucket, m) => {
        const timing: ModelTiming = models[m].timings[0];
        if (edges && shares) {
          const buckets = monotoneAcrossLengths(edges.map((len, j) => ({ length: len, share: shares[j], batchTimesUs: monotone(perBucket[j]) })));
          timing.lengthBuckets = buckets;
          timing.batchTimesUs = monotone(mixedTimings(buckets));
        } else {
          timing.batchTimesUs = monotone(perBucket[0]);
        }
      });
    } finally {
      await engine.close();
    }
  }
  const profile = {
    ...profileHeader(o.runtimeLibrary),
    manifest: { path: o.manifestPath, name: manifest.name },
    lanes: [{ kind: 'cpu' as const, intraOpThreads: threads }],
    models,
    labels: Array.from(val.labels),
    ...(o.heldout ? { heldoutLabels: Array.from(o.heldout.labels) } : {}),
    ...(lengths ? { lengths: Array.from(lengths) } : {}),
  };
  return validateProfile(profile);
}
