// What `cascadeserve init` learns from a folder's models and data: each model's inputs and
// output (from the model's own metadata through the project's runtime), whether the inputs of
// all models agree, whether the labelled data fits them (and the range of token ids the models'
// embedding tables accept, onnx-ranges.ts), which input is the mask, the pad
// value, each model's output kind and whether padding changes its answer, and a quick timing
// that orders the models cheapest first. Every problem is an InitError naming the file and
// the field.
import { basename } from 'node:path';
import { INTEGER_LIMITS, type Datatype, type InputRange, type ManifestInput, type OutputKind } from '../contracts/manifest.js';
import { rowKind } from '../contracts/enums.js';
import { maskLengths, type ItemData, type ItemTensor, type LabelledItems } from '../contracts/items.js';
import { shapeSize } from '../contracts/npy.js';
import { Session, type TensorInput } from '../runtime/session.js';
import type { ElementTypeName } from '../runtime/element-type.js';
import { UsageError } from './args.js';
import { indexBoundsOf } from './onnx-ranges.js';

/** A problem with the folder's files; the message names the file and the field. */
export class InitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InitError';
  }
}

const kDatatypes: Partial<Record<ElementTypeName, Datatype>> = {
  float32: 'FP32',
  float16: 'FP16',
  int64: 'INT64',
  int32: 'INT32',
  uint8: 'UINT8',
  bool: 'BOOL',
};

/** One model input as the model declares it: item shape without the batch axis, -1 = dynamic. */
export interface ModelInputInfo {
  name: string;
  datatype: Datatype;
  itemShape: number[];
}

export interface ModelInfo {
  /** File name without .onnx. */
  name: string;
  /** Absolute path. */
  path: string;
  session: Session;
  inputs: ModelInputInfo[];
  output: string;
  outputType: 'float32' | 'float16';
  /** Classes from the output's last axis, or null when that axis is dynamic. */
  classes: number | null;
  /** Whether the output declares one column ([batch, 1]): a binary score, read as 2 classes. */
  oneColumn: boolean;
}

/** Loads a model and reads its inputs and the output to serve. */
export async function inspectModel(path: string, outputOverride: string | undefined): Promise<ModelInfo> {
  const file = basename(path);
  let session: Session;
  try {
    session = await Session.create(path, { intraOpThreads: 1, execution: 'inline' });
  } catch (e) {
    throw new InitError(`${file}: cannot load the model: ${(e as Error).message}`);
  }
  const inputs: ModelInputInfo[] = [];
  for (const x of session.inputs) {
    const datatype = kDatatypes[x.type as ElementTypeName];
    if (!datatype) throw new InitError(`${file}: input ${JSON.stringify(x.name)}: element type ${x.type} is not supported (supported: ${Object.keys(kDatatypes).join(', ')})`);
    if (x.shape.length === 0) throw new InitError(`${file}: input ${JSON.stringify(x.name)}: a scalar input has no batch axis`);
    if (x.shape[0] !== -1) throw new InitError(`${file}: input ${JSON.stringify(x.name)}: the first (batch) axis is fixed at ${x.shape[0]}; export the model with a dynamic batch axis`);
    const itemShape = x.shape.slice(1);
    if (itemShape.filter((d) => d === -1).length > 1) {
      throw new InitError(`${file}: input ${JSON.stringify(x.name)}: shape [${x.shape.join(', ')}] has more than one dynamic axis besides the batch axis; at most one is supported`);
    }
    inputs.push({ name: x.name, datatype, itemShape });
  }
  // With several outputs, the class scores are the one float [batch, classes] output, or among
  // several such the one whose name says logits, probabilities or scores.
  const scoreShaped = session.outputs.filter((o) => (o.type === 'float32' || o.type === 'float16') && o.shape.length === 2);
  const named = scoreShaped.filter((o) => /logit|prob|score/i.test(o.name));
  let out;
  if (outputOverride !== undefined) {
    out = session.outputs.find((o) => o.name === outputOverride);
    if (!out) throw new UsageError(`--output: ${file}: names ${JSON.stringify(outputOverride)}, but the model's outputs are ${session.outputs.map((o) => JSON.stringify(o.name)).join(', ')}`);
  } else if (session.outputs.length === 1) {
    out = session.outputs[0];
  } else if (scoreShaped.length === 1) {
    out = scoreShaped[0];
  } else if (named.length === 1) {
    out = named[0];
  } else {
    throw new InitError(`${file}: the model has ${session.outputs.length} outputs (${session.outputs.map((o) => o.name).join(', ')}); say which one holds the class scores with --output ${basename(path, '.onnx')}=NAME`);
  }
  if (out.type !== 'float32' && out.type !== 'float16') throw new InitError(`${file}: output ${JSON.stringify(out.name)}: element type ${out.type}; class scores must be float32 or float16`);
  if (out.shape.length !== 2) throw new InitError(`${file}: output ${JSON.stringify(out.name)}: shape [${out.shape.join(', ')}]; class scores are [batch, classes]`);
  // One declared column: a binary classifier's single score (read as two classes).
  const classes = out.shape[1] === 1 ? 2 : out.shape[1] > 0 ? out.shape[1] : null;
  return { name: basename(path, '.onnx'), path, session, inputs, output: out.name, outputType: out.type, classes, oneColumn: out.shape[1] === 1 };
}

/** The inputs of all models, which must agree where they share a name; first model's order first. */
export function unifyInputs(models: ModelInfo[]): ModelInputInfo[] {
  const byName = new Map<string, { info: ModelInputInfo; file: string }>();
  for (const m of models) {
    for (const x of m.inputs) {
      const seen = byName.get(x.name);
      if (!seen) {
        byName.set(x.name, { info: x, file: basename(m.path) });
        continue;
      }
      const same = seen.info.datatype === x.datatype && seen.info.itemShape.length === x.itemShape.length && seen.info.itemShape.every((d, k) => d === x.itemShape[k]);
      if (!same) {
        throw new InitError(
          `${basename(m.path)}: input ${JSON.stringify(x.name)} is ${x.datatype} [batch, ${x.itemShape.join(', ')}], but ${seen.file} has ${seen.info.datatype} [batch, ${seen.info.itemShape.join(', ')}]; the models of a cascade must agree on their inputs`,
        );
      }
    }
  }
  const all = [...byName.values()].map((v) => v.info);
  const axes = new Set(all.map((x) => x.itemShape.indexOf(-1)).filter((a) => a >= 0));
  if (axes.size > 1) {
    const desc = all.filter((x) => x.itemShape.includes(-1)).map((x) => `${x.name} [batch, ${x.itemShape.join(', ')}]`).join(', ');
    throw new InitError(`inputs: the dynamic axis is not at the same index in every input (${desc}); it must be`);
  }
  return all;
}

/** An integer input's range and why: the models whose graphs bound it. */
export interface DetectedRange {
  range: InputRange;
  /** e.g. "bag.onnx: Gather on initializer 'emb.weight' [12, 16]", one per bounding model. */
  sources: string[];
}

/**
 * The values of each integer input that every model taking it accepts: [0, V - 1] for the
 * smallest V over the models whose graph gathers rows of a [V, ...] initializer by it (see
 * onnx-ranges.ts); inputs no model bounds are absent. `notes` gets the models whose graph
 * could not be read.
 */
export function detectRanges(models: ModelInfo[], inputs: ModelInputInfo[], notes: string[]): Map<string, DetectedRange> {
  const out = new Map<string, DetectedRange>();
  for (const m of models) {
    const names = m.inputs.filter((x) => INTEGER_LIMITS[x.datatype] !== undefined).map((x) => x.name);
    if (names.length === 0) continue;
    const bounds = indexBoundsOf(m.path, names);
    if (bounds === null) {
      notes.push(`${basename(m.path)}: its ONNX graph could not be read; the ranges of its integer inputs are not detected`);
      continue;
    }
    for (const [name, b] of bounds) {
      const source = `${basename(m.path)}: ${b.source}`;
      if (b.size < 1) throw new InitError(`${source}: input ${JSON.stringify(name)} indexes an axis of size 0; no value of it can run`);
      const max = Math.min(b.size - 1, INTEGER_LIMITS[inputs.find((x) => x.name === name)!.datatype]!.max);
      const prev = out.get(name);
      if (!prev) out.set(name, { range: { min: 0, max }, sources: [source] });
      else {
        prev.range.max = Math.min(prev.range.max, max);
        prev.sources.push(source);
      }
    }
  }
  return out;
}

/**
 * Every value of the data within its input's range (one pass per input); an id out of range is
 * an InitError naming the file, the item and the models that bound it.
 */
export function checkDataRanges(items: LabelledItems, ranges: Map<string, DetectedRange>, files: Record<string, string>): void {
  for (const t of items.tensors) {
    const r = ranges.get(t.name);
    if (!r) continue;
    const { min, max } = r.range;
    const per = shapeSize(t.itemShape);
    for (let k = 0; k < t.data.length; k++) {
      const v = Number(t.data[k]);
      if (v >= min && v <= max) continue;
      const i = Math.floor(k / per);
      throw new InitError(
        `${files[t.name]}: item ${i} (element ${k - i * per}) of input ${JSON.stringify(t.name)} is ${t.data[k]}, outside [${min}, ${max}], the values the models accept (${r.sources.join('; ')})` +
          (v < 0 ? '; negative ids are refused, although ONNX Gather would count them from the end' : ''),
      );
    }
  }
}

export interface DataFacts {
  /** Manifest inputs with the pad value found in the data. */
  inputs: ManifestInput[];
  maskInput: string | null;
  /** Each item's length: from lengths.npy, else the mask, else the padded length; null without a dynamic axis. */
  lengths: Int32Array | null;
  /** Messages for the user (not errors). */
  notes: string[];
}

/**
 * The mask input (an integer or BOOL input with a dynamic axis whose every item is ones
 * followed by zeros; a name containing "mask" wins a tie) and each dynamic input's pad value
 * (the one value found past every item's length; 0 when no item is padded).
 */
export function dataFacts(inputs: ModelInputInfo[], items: LabelledItems, lengthsFromFile: boolean): DataFacts {
  const notes: string[] = [];
  const dynamicAxis = inputs.find((x) => x.itemShape.includes(-1))?.itemShape.indexOf(-1) ?? -1;
  let maskInput: string | null = null;
  if (dynamicAxis >= 0) {
    const candidates = items.tensors.filter((t, k) => inputs[k].itemShape.includes(-1) && t.datatype !== 'FP32' && t.datatype !== 'FP16' && typeof maskLengths(t, dynamicAxis) !== 'string');
    const named = candidates.filter((t) => /mask/i.test(t.name));
    maskInput = (named[0] ?? candidates[0])?.name ?? null;
    if (candidates.length > 1) notes.push(`inputs ${candidates.map((t) => t.name).join(', ')} all look like masks; ${maskInput} taken`);
  }
  let lengths = items.lengths;
  if (dynamicAxis >= 0 && !lengthsFromFile) {
    if (maskInput) {
      lengths = maskLengths(items.tensors.find((t) => t.name === maskInput)!, dynamicAxis) as Int32Array;
      notes.push(`item lengths from the mask input ${maskInput}`);
    } else {
      // Say why an input that looks like a mask is not one: one bad item drops the mask for all.
      const near = items.tensors.filter((t, k) => inputs[k].itemShape.includes(-1) && t.datatype !== 'FP32' && t.datatype !== 'FP16');
      const why = near.map((t) => ({ t, problem: maskLengths(t, dynamicAxis) as string })).sort((a, b) => Number(/mask/i.test(b.t.name)) - Number(/mask/i.test(a.t.name)))[0];
      const because = why ? `; data/${why.t.name}.npy is not one: ${why.problem}` : '';
      notes.push(`no data/lengths.npy and no mask input (an integer or BOOL input whose every item is ones followed by zeros)${because}: every item is taken at its full padded length`);
    }
  }
  const result: ManifestInput[] = inputs.map((x, k) => {
    const t = items.tensors[k];
    const axis = x.itemShape.indexOf(-1);
    let padValue = 0;
    if (axis >= 0 && lengths) padValue = padValueOf(t, axis, lengths) ?? 0;
    return { name: x.name, datatype: x.datatype, shape: [...x.itemShape], padValue, dynamicAxis: axis >= 0 ? axis : null };
  });
  for (const x of result) {
    const t = items.tensors[inputs.findIndex((y) => y.name === x.name)];
    if (x.dynamicAxis !== null && lengths && padValueOf(t, x.dynamicAxis, lengths) === undefined) {
      notes.push(`input ${x.name}: the padded positions hold different values; pad value 0 recorded`);
    }
  }
  return { inputs: result, maskInput, lengths, notes };
}

/** The value every padded position holds, null when no item is padded, undefined when they differ. */
function padValueOf(t: ItemTensor, axis: number, lengths: Int32Array): number | null | undefined {
  const shape = t.itemShape;
  const L = shape[axis];
  const outer = shapeSize(shape.slice(0, axis));
  const inner = shapeSize(shape.slice(axis + 1));
  const per = shapeSize(shape);
  let value: number | null = null;
  for (let i = 0; i < lengths.length; i++) {
    for (let o = 0; o < outer; o++) {
      for (let p = lengths[i]; p < L; p++) {
        const base = i * per + (o * L + p) * inner;
        for (let q = 0; q < inner; q++) {
          const v = Number(t.data[base + q]);
          if (value === null) value = v;
          else if (v !== value) return undefined;
        }
      }
    }
  }
  return value;
}

/** Items `indices` of the tensors, each cut (or padded) to `length` on the dynamic axis, as feeds. */
export function feedsFor(inputs: ManifestInput[], names: readonly string[], tensors: ItemTensor[], indices: number[], length: number | null): Record<string, TensorInput> {
  const feeds: Record<string, TensorInput> = {};
  for (const name of names) {
    const k = inputs.findIndex((x) => x.name === name);
    const x = inputs[k];
    const t = tensors[k];
    const shape = [...t.itemShape];
    const axis = x.dynamicAxis;
    const L = axis === null ? 0 : shape[axis];
    if (axis !== null && length !== null) shape[axis] = length;
    const outer = axis === null ? 1 : shapeSize(shape.slice(0, axis));
    const inner = axis === null ? shapeSize(shape) : shapeSize(shape.slice(axis + 1));
    const srcPer = shapeSize(t.itemShape);
    const per = shapeSize(shape);
    const Ctor = t.data.constructor as new (n: number) => ItemData;
    const data = new Ctor(indices.length * per);
    const pad = x.datatype === 'INT64' ? BigInt(x.padValue) : x.padValue;
    if (x.padValue !== 0) (data as { fill(v: unknown): unknown }).fill(pad);
    indices.forEach((i, n) => {
      if (axis === null) {
        (data as Uint8Array).set((t.data as Uint8Array).subarray(i * srcPer, (i + 1) * srcPer), n * per);
        return;
      }
      const keep = Math.min(L, shape[axis]);
      for (let o = 0; o < outer; o++) {
        const src = i * srcPer + o * L * inner;
        const dst = n * per + o * shape[axis] * inner;
        (data as Uint8Array).set((t.data as Uint8Array).subarray(src, src + keep * inner), dst);
      }
    });
    feeds[name] = { data, dims: [indices.length, ...shape] };
  }
  return feeds;
}

/** Output rows as float32 (float16 bits converted). */
function rowsOf(data: ArrayLike<number>, type: 'float32' | 'float16'): Float32Array {
  if (type === 'float32') return data as Float32Array;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = halfToFloat(data[i]);
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function softmaxRow(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  const out = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += out[i] = Math.exp(row[i] - max);
  for (let i = 0; i < row.length; i++) out[i] /= sum;
  return out;
}

/** Rows that are all non-negative and sum to 1 within 1e-3 are probabilities. */
export function looksLikeProbabilities(rows: Float32Array, classes: number): boolean {
  for (let r = 0; r * classes < rows.length; r++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const v = rows[r * classes + c];
      if (!(v >= 0)) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}

export interface ModelCheck {
  outputKind: OutputKind;
  /** Whether the kind was detected (false: given by --output-kind). */
  detected: boolean;
  padInvariant: boolean;
  /** Largest |probability difference| padded vs unpadded on the sample. */
  padDifference: number;
  /** Median µs of one batch of `timingBatch` padded items. */
  medianBatchUs: number;
  /** Accuracy on the sample (each item alone, unpadded). */
  sampleAccuracy: number;
}

export interface CheckOptions {
  inputs: ManifestInput[];
  items: LabelledItems;
  /** Item indices to check (each run alone at its own length, and all together padded). */
  sample: number[];
  classes: number;
  kindOverride?: OutputKind;
  timingBatch: number;
  timingRuns: number;
}

/**
 * Runs a model on the sample: each item alone at its own length (the reference), then all of
 * them as one batch padded to the data's common length; the output kind is read from the unpadded rows, and
 * padding is harmless when the two runs' probabilities agree within 1e-4. Then times a small
 * padded batch.
 */
export async function checkModel(model: ModelInfo, opts: CheckOptions): Promise<ModelCheck> {
  const file = basename(model.path);
  const names = model.inputs.map((x) => x.name);
  const { classes, items, sample, inputs } = opts;
  const dynamic = inputs.some((x) => x.dynamicAxis !== null && names.includes(x.name));
  // A binary classifier may answer one column (its score of class 1) instead of two.
  let columns = 0;
  const run = async (indices: number[], length: number | null): Promise<Float32Array> => {
    let out;
    try {
      out = await model.session.run(feedsFor(inputs, names, items.tensors, indices, length), [model.output]);
    } catch (e) {
      throw new InitError(`${file}: running the model on the data failed: ${(e as Error).message}`);
    }
    const t = out[model.output];
    if (columns === 0 && t.dims.length === 2 && t.dims[1] === 1) {
      if (classes !== 2) throw new InitError(`${file}: output ${JSON.stringify(model.output)} has one column ([batch, 1]), a binary classifier's single score, but the cascade has ${classes} classes`);
      columns = 1;
    } else if (columns === 0) {
      columns = classes;
    }
    if (t.dims.length !== 2 || t.dims[0] !== indices.length || t.dims[1] !== columns) {
      throw new InitError(`${file}: output ${JSON.stringify(model.output)} came back as [${t.dims.join(', ')}] for ${indices.length} item(s); expected [${indices.length}, ${columns}]`);
    }
    const rows = rowsOf(t.data as ArrayLike<number>, model.outputType);
    for (let i = 0; i < rows.length; i++) {
      if (!Number.isFinite(rows[i])) throw new InitError(`${file}: output ${JSON.stringify(model.output)} holds ${rows[i]} for item ${items.indices[indices[Math.floor(i / columns)]]} of the data`);
    }
    return rows;
  };
  const aloneRows: Float32Array[] = [];
  for (const i of sample) aloneRows.push(await run([i], dynamic && items.lengths ? items.lengths[i] : null));
  const alone = new Float32Array(sample.length * columns);
  aloneRows.forEach((r, k) => alone.set(r, k * columns));
  const binary = columns === 1;
  const detected: OutputKind = binary
    ? alone.every((v) => v >= 0 && v <= 1) ? 'binary_probability' : 'binary_logit'
    : looksLikeProbabilities(alone, classes) ? 'probabilities' : 'logits';
  // --output-kind says how the values read (logits or probabilities); one column makes it binary.
  const given = opts.kindOverride;
  const outputKind: OutputKind = given === undefined ? detected : binary ? (rowKind(given) === 'logits' ? 'binary_logit' : 'binary_probability') : rowKind(given);
  const probs = (rows: Float32Array, r: number): Float64Array => {
    if (binary) {
      const v = rows[r];
      const p = outputKind === 'binary_logit' ? 1 / (1 + Math.exp(-v)) : v;
      return Float64Array.from([1 - p, p]);
    }
    const row = rows.subarray(r * classes, (r + 1) * classes);
    return outputKind === 'logits' ? softmaxRow(row) : Float64Array.from(row);
  };
  let padDifference = 0;
  let correct = 0;
  for (let k = 0; k < sample.length; k++) {
    const p = probs(alone, k);
    let best = 0;
    for (let c = 1; c < classes; c++) if (p[c] > p[best]) best = c;
    if (best === items.labels[sample[k]]) correct++;
  }
  if (dynamic && items.lengths) {
    const together = await run(sample, null); // padded to the data's common length
    for (let k = 0; k < sample.length; k++) {
      const a = probs(alone, k);
      const b = probs(together, k);
      for (let c = 0; c < classes; c++) padDifference = Math.max(padDifference, Math.abs(a[c] - b[c]));
    }
  }
  const batch = sample.slice(0, Math.min(opts.timingBatch, sample.length));
  const feeds = feedsFor(inputs, names, items.tensors, batch, null);
  const times: number[] = [];
  for (let r = 0; r < opts.timingRuns; r++) {
    try {
      times.push(model.session.measureRuntimeUs(feeds, 1));
    } catch (e) {
      throw new InitError(`${file}: timing the model failed: ${(e as Error).message}`);
    }
  }
  times.sort((a, b) => a - b);
  return {
    outputKind,
    detected: opts.kindOverride === undefined,
    padInvariant: padDifference <= 1e-4,
    padDifference,
    medianBatchUs: times[Math.floor(times.length / 2)],
    sampleAccuracy: correct / Math.max(1, sample.length),
  };
}

/** What the length probe found: the longest length the model ran, and why one longer failed. */
export interface LengthLimit {
  maxLength: number;
  /** ONNX Runtime's message at maxLength + 1. */
  failure: string;
}

/** Probed lengths go up to this many times the data's padded length, and no further than kProbeMaxLength. */
export const kProbeLengthFactor = 16;
export const kProbeMaxLength = 4096;

/**
 * The longest length on the dynamic axis the model runs, found by running one item (the data's
 * longest, its own positions repeated to the length) at doubling lengths from the data's padded
 * length, then bisecting between the last that ran and the first that failed. A model that ran
 * every probed length (up to kProbeLengthFactor x the padded length, at most kProbeMaxLength)
 * has no limit found: null. A model with a position table of P rows, say, runs P positions;
 * without the limit the server would accept a longer item and ONNX Runtime would fail it.
 */
export async function probeMaxLength(model: ModelInfo, inputs: ManifestInput[], items: LabelledItems): Promise<LengthLimit | null> {
  const names = model.inputs.map((x) => x.name);
  const axisOf = (k: number) => inputs[k].dynamicAxis;
  const dynamic = inputs.findIndex((x) => names.includes(x.name) && x.dynamicAxis !== null);
  if (dynamic < 0) return null;
  const padded = items.tensors[dynamic].itemShape[axisOf(dynamic)!];
  const lengthOf = (i: number) => items.lengths?.[i] ?? padded;
  let longest = 0;
  for (let i = 1; i < items.count; i++) if (lengthOf(i) > lengthOf(longest)) longest = i;
  const own = lengthOf(longest);
  const feedsAt = (length: number): Record<string, TensorInput> => {
    const feeds: Record<string, TensorInput> = {};
    for (const name of names) {
      const k = inputs.findIndex((x) => x.name === name);
      const t = items.tensors[k];
      const axis = axisOf(k);
      const per = shapeSize(t.itemShape);
      const Ctor = t.data.constructor as new (n: number) => ItemData;
      if (axis === null) {
        const data = new Ctor(per);
        (data as Uint8Array).set((t.data as Uint8Array).subarray(longest * per, (longest + 1) * per));
        feeds[name] = { data, dims: [1, ...t.itemShape] };
        continue;
      }
      const shape = [...t.itemShape];
      const L = shape[axis];
      shape[axis] = length;
      const outer = shapeSize(shape.slice(0, axis));
      const inner = shapeSize(shape.slice(axis + 1));
      const data = new Ctor(shapeSize(shape));
      const src = t.data as Uint8Array;
      // The item's own positions, repeated: values the model accepts, a mask all ones.
      for (let o = 0; o < outer; o++) {
        for (let p = 0; p < length; p++) {
          const from = longest * per + (o * L + (p % own)) * inner;
          (data as Uint8Array).set(src.subarray(from, from + inner), (o * length + p) * inner);
        }
      }
      feeds[name] = { data, dims: [1, ...shape] };
    }
    return feeds;
  };
  let failure = '';
  const runs = async (length: number): Promise<boolean> => {
    try {
      await model.session.run(feedsAt(length), [model.output]);
      return true;
    } catch (e) {
      failure = (e as Error).message;
      return false;
    }
  };
  const limit = Math.max(padded, Math.min(kProbeLengthFactor * padded, kProbeMaxLength));
  let ok = padded; // checkModel ran the sample padded to it
  let bad = 0;
  for (let length = Math.min(2 * padded, limit); length > ok; length = Math.min(2 * length, limit)) {
    if (!(await runs(length))) {
      bad = length;
      break;
    }
    ok = length;
  }
  if (bad === 0) return null;
  let badFailure = failure;
  while (bad - ok > 1) {
    const mid = Math.floor((ok + bad) / 2);
    if (await runs(mid)) ok = mid;
    else [bad, badFailure] = [mid, failure];
  }
  return { maxLength: ok, failure: badFailure };
}
