// profile.json: what the `profile` command measures and the planner consumes.
//
// Schema "cascadeserve.profile/1". All arrays are plain JSON numbers (certainties are
// float32 values, the engine's certainty rounded down, written with 9 significant digits;
// readers apply Math.fround); `correct` is a 0/1 number per validation image. Optional:
// models[i].heldout + heldoutLabels, the same answers on the held-out half; for inputs with a
// dynamic (sequence) axis, top-level `lengths` (each validation item's length) and per timing
// `lengthBuckets` (batch times at a few lengths; see LengthBucket). Profiles without them load
// and plan as before.
// The validator checks shape AND internal consistency (lengths, correct vs predictions and
// labels, monotone batch sizes) and names the failing field path in every message.

export const kProfileSchema = 'cascadeserve.profile/1';
import { kCertaintyMeasures, type CertaintyMeasure } from './enums.js';
export { kCertaintyMeasures, type CertaintyMeasure };

export interface BatchTiming {
  batch: number;
  /** Median wall time of one batch, microseconds. */
  p50: number;
  p95: number;
  reps: number;
}

/**
 * Batch times at one sequence length. Items whose length is <= `length` and > the previous
 * bucket's `length` fall in this bucket; a batch is timed with every item at `length` (the
 * bucket's upper edge, so the time is an upper bound for the bucket's items).
 */
export interface LengthBucket {
  length: number;
  /** Fraction of validation items in the bucket; the buckets' shares sum to 1. */
  share: number;
  /** The same batch sizes as the timing's batchTimesUs. */
  batchTimesUs: BatchTiming[];
}

export interface ModelTiming {
  laneKind: 'cpu';
  intraOpThreads: number;
  /**
   * Strictly increasing by `batch`. With lengthBuckets: the expected time of a batch of that
   * many items drawn from the data's length mix (see mixedBatchTimeUs).
   */
  batchTimesUs: BatchTiming[];
  /** Batch times per length bucket, ascending by length (inputs with a dynamic axis only). */
  lengthBuckets?: LengthBucket[];
}

export interface ValidationResults {
  count: number;
  /** Predicted class per validation image. */
  predictions: number[];
  /** 1 when predictions[i] === labels[i], else 0. */
  correct: number[];
  /** Certainty per image in [0, 1]; larger means more certain. */
  certainty: Record<CertaintyMeasure, number[]>;
}

export interface ProfileModel {
  name: string;
  file: string;
  sha256: string;
  params: number;
  mflopsPerImage: number;
  memoryBytes: number;
  timings: ModelTiming[];
  validation: ValidationResults;
  /** Same answers on the held-out half (optional; with top-level heldoutLabels). Reporting only. */
  heldout?: ValidationResults;
}

export interface ProfileLane {
  kind: 'cpu';
  intraOpThreads: number;
}

export interface Profile {
  schema: typeof kProfileSchema;
  createdAt: string;
  machine: { hostname: string; cpus: number; cpuModel: string; platform: string; arch: string };
  runtime: { name: 'onnxruntime'; version: string };
  manifest: { path: string; name: string };
  lanes: ProfileLane[];
  models: ProfileModel[];
  labels: number[];
  /** Labels of the held-out half; present iff every model has `heldout`. */
  heldoutLabels?: number[];
  /** Length of each validation item on the dynamic axis (same order as labels). */
  lengths?: number[];
}

export class ProfileValidationError extends Error {
  readonly errors: string[];
  constructor(errors: string[], source = 'profile') {
    const shown = errors.slice(0, 20);
    const more = errors.length > shown.length ? `\n  ... and ${errors.length - shown.length} more` : '';
    super(`invalid ${source}:\n  ${shown.join('\n  ')}${more}`);
    this.name = 'ProfileValidationError';
    this.errors = errors;
  }
}

/** Small path-naming checker shared by the profile and plan validators. */
export class Checker {
  readonly errors: string[] = [];
  fail(path: string, msg: string): void {
    if (this.errors.length < 1000) this.errors.push(`${path}: ${msg}`);
  }
  obj(v: unknown, path: string): v is Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.fail(path, 'expected an object');
      return false;
    }
    return true;
  }
  arr(v: unknown, path: string, minLength = 0): v is unknown[] {
    if (!Array.isArray(v)) {
      this.fail(path, 'expected an array');
      return false;
    }
    if (v.length < minLength) {
      this.fail(path, `expected at least ${minLength} element(s)`);
      return false;
    }
    return true;
  }
  str(v: unknown, path: string, nonEmpty = true): v is string {
    if (typeof v !== 'string' || (nonEmpty && v.length === 0)) {
      this.fail(path, nonEmpty ? 'expected a non-empty string' : 'expected a string');
      return false;
    }
    return true;
  }
  lit(v: unknown, path: string, allowed: readonly string[]): boolean {
    if (typeof v !== 'string' || !allowed.includes(v)) {
      this.fail(path, `expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
      return false;
    }
    return true;
  }
  num(v: unknown, path: string, kind: 'positive' | 'nonneg' | 'any' | 'unit' = 'any'): v is number {
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (kind === 'any' || (kind === 'positive' ? v > 0 : kind === 'nonneg' ? v >= 0 : v >= 0 && v <= 1));
    if (!ok) {
      const what = { positive: 'a positive number', nonneg: 'a non-negative number', any: 'a finite number', unit: 'a number in [0, 1]' }[kind];
      this.fail(path, `expected ${what}`);
    }
    return ok;
  }
  int(v: unknown, path: string, min = 0): v is number {
    const ok = typeof v === 'number' && Number.isInteger(v) && v >= min;
    if (!ok) this.fail(path, `expected an integer >= ${min}`);
    return ok;
  }
}

function checkNumberArray(c: Checker, v: unknown, path: string, count: number, check: (x: number) => boolean, what: string, countOf = 'validation.count'): void {
  if (!c.arr(v, path)) return;
  if (v.length !== count) {
    c.fail(path, `expected ${count} elements (${countOf}), got ${v.length}`);
    return;
  }
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !check(x)) {
      c.fail(`${path}[${i}]`, `expected ${what}`);
      return; // one message per array is enough
    }
  }
}

/** Validates `raw` and returns it typed; throws ProfileValidationError listing every problem. */
export function validateProfile(raw: unknown): Profile {
  const c = new Checker();
  if (!c.obj(raw, 'profile')) throw new ProfileValidationError(c.errors);
  if (raw.schema !== kProfileSchema) c.fail('schema', `expected "${kProfileSchema}", got ${JSON.stringify(raw.schema)}`);
  if (c.str(raw.createdAt, 'createdAt') && Number.isNaN(Date.parse(raw.createdAt))) c.fail('createdAt', 'expected an ISO date');
  if (c.obj(raw.machine, 'machine')) {
    const m = raw.machine;
    c.str(m.hostname, 'machine.hostname', false);
    c.int(m.cpus, 'machine.cpus', 1);
    c.str(m.cpuModel, 'machine.cpuModel', false);
    c.str(m.platform, 'machine.platform');
    c.str(m.arch, 'machine.arch');
  }
  if (c.obj(raw.runtime, 'runtime')) {
    c.lit(raw.runtime.name, 'runtime.name', ['onnxruntime']);
    c.str(raw.runtime.version, 'runtime.version');
  }
  if (c.obj(raw.manifest, 'manifest')) {
    c.str(raw.manifest.path, 'manifest.path');
    c.str(raw.manifest.name, 'manifest.name');
  }
  const laneKeys = new Set<string>();
  if (c.arr(raw.lanes, 'lanes', 1)) {
    raw.lanes.forEach((l, i) => {
      if (!c.obj(l, `lanes[${i}]`)) return;
      c.lit(l.kind, `lanes[${i}].kind`, ['cpu']);
      c.int(l.intraOpThreads, `lanes[${i}].intraOpThreads`, 1);
      laneKeys.add(`${String(l.kind)}/${String(l.intraOpThreads)}`);
    });
  }
  let labelCount = -1;
  let labels: unknown[] = [];
  if (c.arr(raw.labels, 'labels', 1)) {
    labels = raw.labels;
    labelCount = raw.labels.length;
    checkNumberArray(c, raw.labels, 'labels', labelCount, (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer class');
  }
  let hoCount = -1;
  let hoLabels: unknown[] = [];
  if (raw.heldoutLabels !== undefined && c.arr(raw.heldoutLabels, 'heldoutLabels', 1)) {
    hoLabels = raw.heldoutLabels;
    hoCount = raw.heldoutLabels.length;
    checkNumberArray(c, raw.heldoutLabels, 'heldoutLabels', hoCount, (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer class');
  }
  let lengths: number[] | undefined;
  if (raw.lengths !== undefined && c.arr(raw.lengths, 'lengths', 1)) {
    const before = c.errors.length;
    checkNumberArray(c, raw.lengths, 'lengths', labelCount >= 0 ? labelCount : raw.lengths.length, (x) => Number.isInteger(x) && x >= 1, 'a positive integer length', 'labels.length');
    if (c.errors.length === before) lengths = raw.lengths as number[];
  }
  if (c.arr(raw.models, 'models', 1)) {
    const names = new Set<string>();
    raw.models.forEach((m, i) => {
      const p = `models[${i}]`;
      if (!c.obj(m, p)) return;
      if (c.str(m.name, `${p}.name`)) {
        if (names.has(m.name)) c.fail(`${p}.name`, `duplicate model name "${m.name}"`);
        names.add(m.name);
      }
      c.str(m.file, `${p}.file`);
      if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) c.fail(`${p}.sha256`, 'expected 64 lowercase hex digits');
      c.num(m.params, `${p}.params`, 'nonneg');
      c.num(m.mflopsPerImage, `${p}.mflopsPerImage`, 'nonneg');
      c.num(m.memoryBytes, `${p}.memoryBytes`, 'positive');
      checkTimings(c, m.timings, `${p}.timings`, laneKeys, lengths);
      checkValidation(c, m.validation, `${p}.validation`, labelCount, labels);
      if (m.heldout !== undefined || raw.heldoutLabels !== undefined) {
        if (m.heldout === undefined) c.fail(`${p}.heldout`, 'expected held-out answers (heldoutLabels is present)');
        else if (raw.heldoutLabels === undefined) c.fail('heldoutLabels', `expected the held-out labels (${p}.heldout is present)`);
        else checkValidation(c, m.heldout, `${p}.heldout`, hoCount, hoLabels, 'heldoutLabels');
      }
    });
  }
  if (c.errors.length > 0) throw new ProfileValidationError(c.errors);
  return raw as unknown as Profile;
}

function checkTimings(c: Checker, v: unknown, p: string, laneKeys: Set<string>, lengths?: number[]): void {
  if (!c.arr(v, p, 1)) return;
  const have = new Set<string>();
  v.forEach((t, j) => {
    const tp = `${p}[${j}]`;
    if (!c.obj(t, tp)) return;
    c.lit(t.laneKind, `${tp}.laneKind`, ['cpu']);
    c.int(t.intraOpThreads, `${tp}.intraOpThreads`, 1);
    have.add(`${String(t.laneKind)}/${String(t.intraOpThreads)}`);
    const sizes = checkBatchRows(c, t.batchTimesUs, `${tp}.batchTimesUs`);
    if (t.lengthBuckets !== undefined) checkLengthBuckets(c, t.lengthBuckets, `${tp}.lengthBuckets`, sizes, lengths);
  });
  for (const k of laneKeys) if (!have.has(k)) c.fail(p, `no timings for lane kind ${k.replace('/', ' with intraOpThreads ')} declared in lanes`);
}

/** Checks one batch-time table; returns its batch sizes (null when the table is not an array). */
function checkBatchRows(c: Checker, v: unknown, tp: string): number[] | null {
  if (!c.arr(v, tp, 1)) return null;
  const sizes: number[] = [];
  let prev = 0;
  v.forEach((b, k) => {
    const bp = `${tp}[${k}]`;
    if (!c.obj(b, bp)) return;
    if (c.int(b.batch, `${bp}.batch`, 1)) {
      if (b.batch <= prev) c.fail(`${bp}.batch`, `expected batch sizes in strictly increasing order (previous ${prev})`);
      prev = b.batch;
      sizes.push(b.batch);
    }
    const p50ok = c.num(b.p50, `${bp}.p50`, 'positive');
    if (c.num(b.p95, `${bp}.p95`, 'positive') && p50ok && (b.p95 as number) < (b.p50 as number)) c.fail(`${bp}.p95`, 'expected p95 >= p50');
    c.int(b.reps, `${bp}.reps`, 1);
  });
  return sizes;
}

/**
 * lengthBuckets: ascending lengths, shares summing to 1, the timing's batch sizes; with
 * top-level `lengths`, the last edge covers the longest item and each share is the fraction
 * of items in its bucket.
 */
function checkLengthBuckets(c: Checker, v: unknown, p: string, sizes: number[] | null, lengths?: number[]): void {
  if (!c.arr(v, p, 1)) return;
  let prev = 0;
  let sum = 0;
  const edges: number[] = [];
  const shares: number[] = [];
  v.forEach((bk, j) => {
    const bp = `${p}[${j}]`;
    if (!c.obj(bk, bp)) return;
    if (c.int(bk.length, `${bp}.length`, 1)) {
      if (bk.length <= prev) c.fail(`${bp}.length`, `expected lengths in strictly increasing order (previous ${prev})`);
      prev = bk.length;
      edges.push(bk.length);
    }
    if (c.num(bk.share, `${bp}.share`, 'unit')) {
      sum += bk.share;
      shares.push(bk.share);
    }
    const own = checkBatchRows(c, bk.batchTimesUs, `${bp}.batchTimesUs`);
    if (own && sizes && own.join() !== sizes.join()) c.fail(`${bp}.batchTimesUs`, `expected the batch sizes of the timing's batchTimesUs (${sizes.join(', ')}), got ${own.join(', ')}`);
  });
  if (shares.length === v.length && Math.abs(sum - 1) > 1e-6) c.fail(p, `expected shares summing to 1, got ${sum}`);
  if (!lengths || edges.length !== v.length || shares.length !== v.length) return;
  const longest = lengths.reduce((a, b) => Math.max(a, b), 0);
  if (edges[edges.length - 1] < longest) {
    c.fail(`${p}[${edges.length - 1}].length`, `expected the last bucket to cover the longest item (lengths holds ${longest})`);
    return;
  }
  const counts = lengthBucketCounts(edges, lengths);
  counts.forEach((n, j) => {
    const want = n / lengths.length;
    if (Math.abs(shares[j] - want) > 1e-6) c.fail(`${p}[${j}].share`, `expected ${want} (${n} of the ${lengths.length} items in lengths fall in this bucket), got ${shares[j]}`);
  });
}

function checkValidation(c: Checker, v: unknown, p: string, labelCount: number, labels: unknown[], labelsKey = 'labels'): void {
  if (!c.obj(v, p)) return;
  if (!c.int(v.count, `${p}.count`, 1)) return;
  const n = v.count;
  if (labelCount >= 0 && n !== labelCount) c.fail(`${p}.count`, `expected ${labelCount} (${labelsKey}.length), got ${n}`);
  checkNumberArray(c, v.predictions, `${p}.predictions`, n, (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer class');
  checkNumberArray(c, v.correct, `${p}.correct`, n, (x) => x === 0 || x === 1, '0 or 1');
  if (Array.isArray(v.predictions) && Array.isArray(v.correct) && labels.length === n && v.predictions.length === n && v.correct.length === n) {
    for (let i = 0; i < n; i++) {
      if ((v.predictions[i] === labels[i] ? 1 : 0) !== v.correct[i]) {
        c.fail(`${p}.correct[${i}]`, `inconsistent with predictions[${i}]=${String(v.predictions[i])} and ${labelsKey}[${i}]=${String(labels[i])}`);
        break;
      }
    }
  }
  if (!c.obj(v.certainty, `${p}.certainty`)) return;
  for (const mu of kCertaintyMeasures) {
    checkNumberArray(c, v.certainty[mu], `${p}.certainty.${mu}`, n, (x) => Number.isFinite(x) && x >= 0 && x <= 1, 'a number in [0, 1]');
  }
}

/** Timing table of `model` for the lane kind, or throws a clear error. */
export function timingFor(model: ProfileModel, lane: ProfileLane): ModelTiming {
  const t = model.timings.find((x) => x.laneKind === lane.kind && x.intraOpThreads === lane.intraOpThreads);
  if (!t) throw new Error(`model "${model.name}" has no timings for lane kind ${lane.kind} with intraOpThreads ${lane.intraOpThreads}`);
  return t;
}

/**
 * Batch time (µs) for batch size b: the p50 of the smallest measured batch size >= b
 * (a step function, conservative). Above the largest measured size the time is scaled
 * linearly per item from the largest measurement.
 */
export function batchTimeUs(t: ModelTiming, b: number): number {
  const rows = t.batchTimesUs;
  for (const r of rows) if (r.batch >= b) return r.p50;
  const last = rows[rows.length - 1];
  return (last.p50 * b) / last.batch;
}

/** Per-image cost (µs) used for the accuracy-vs-cost frontier: best p50/batch over measured sizes. */
export function perImageCostUs(t: ModelTiming): number {
  let best = Infinity;
  for (const r of t.batchTimesUs) best = Math.min(best, r.p50 / r.batch);
  return best;
}

/** Index of the bucket holding an item of length `len`: the first edge >= len (the last bucket above every edge). */
export function lengthBucketOf(edges: readonly number[], len: number): number {
  for (let j = 0; j < edges.length; j++) if (len <= edges[j]) return j;
  return edges.length - 1;
}

/** Items per bucket (see lengthBucketOf). */
export function lengthBucketCounts(edges: readonly number[], lengths: ArrayLike<number>): number[] {
  const counts = new Array<number>(edges.length).fill(0);
  for (let i = 0; i < lengths.length; i++) counts[lengthBucketOf(edges, lengths[i])]++;
  return counts;
}

/**
 * Expected time of a batch of b items drawn independently from the length mix `shares`, a
 * batch costing the time of its longest item's bucket (it is padded to that length):
 * P(longest in bucket j) = F_j^b - F_(j-1)^b with F_j = shares[0] + ... + shares[j].
 * timesUs[j]: the batch time at bucket j's length for this b.
 */
export function mixedBatchTimeUs(timesUs: readonly number[], shares: readonly number[], b: number): number {
  let below = 0; // F_(j-1)^b
  let cum = 0;
  let total = 0;
  for (let j = 0; j < timesUs.length; j++) {
    cum += shares[j];
    const atMost = j === timesUs.length - 1 ? 1 : Math.min(1, cum) ** b;
    total += (atMost - below) * timesUs[j];
    below = atMost;
  }
  return total;
}
