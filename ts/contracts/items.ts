/**
 * Labelled items of a manifest, as typed tensors: what the profiler measures and the tests
 * compare against.
 *
 * Version 2 (data.format "npy"): `<data.dir>/<input>.npy` per input (first axis = items,
 * items padded to one common length on the dynamic axis), `labels.npy` (integer class ids),
 * and each item's length from `data.lengths` (lengths.npy) when the manifest names it, else
 * from the mask input (its leading ones), else the full padded length.
 *
 * The split is seeded and documented here because it must be reproducible by anyone: shuffle
 * the item indices 0..count-1 with a Fisher–Yates pass (i from count-1 down to 1, swap i with
 * j = floor(u * (i + 1))) whose uniform numbers u come from mulberry32(seed); the first
 * max(1, round(count * validationFraction)) shuffled indices are the validation items, the
 * rest the held-out items; each part is then listed in ascending index order.
 *
 * Version 1 (the zoo): the CSDATA01 file of the split as one FP32 tensor, pixel/255.
 */
import { loadDataset } from './dataset.js';
import type { Datatype, Manifest, ManifestInput } from './manifest.js';
import { kNpyTypes, NpyError, readNpy, shapeSize, type NpyArray } from './npy.js';

export type ItemData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface ItemTensor {
  name: string;
  datatype: Datatype;
  /** One item's shape, padded (no -1). */
  itemShape: number[];
  /** count items, each shapeSize(itemShape) elements, C order. */
  data: ItemData;
}

export interface LabelledItems {
  count: number;
  labels: Int32Array;
  /** In the manifest's input order. */
  tensors: ItemTensor[];
  /** Per item, the length on the dynamic axis; null when no input has a dynamic axis. */
  lengths: Int32Array | null;
  /** Each item's index in the data files (version 1: in the split's file). */
  indices: Int32Array;
}

export type Split = 'validation' | 'heldout';

/** Thrown for data that does not match the manifest; the message names the file and field. */
export class ItemsError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ItemsError';
    this.file = file;
  }
}

/** mulberry32: a small, well-known 32-bit generator; uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seeded validation / held-out split of `count` items (see the comment at the top). */
export function splitIndices(count: number, seed: number, validationFraction: number): { validation: Int32Array; heldout: Int32Array } {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const u = mulberry32(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const nValidation = count === 0 ? 0 : Math.min(count, Math.max(1, Math.round(count * validationFraction)));
  const validation = order.slice(0, nValidation).sort();
  const heldout = order.slice(nValidation).sort();
  return { validation, heldout };
}

/** What readNpyItems needs: the inputs and where their files are. */
export interface NpyItemsSpec {
  inputs: readonly ManifestInput[];
  maskInput: string | null;
  /** Absolute path of each input's .npy file, by input name. */
  inputFiles: Record<string, string>;
  labels: string;
  lengths: string | null;
  /** Labels must be below this. */
  classes: number;
}

const kLabelDescrs = new Set(['<i8', '<i4', '|u1']);

/** Reads every item of the .npy data and checks it against the inputs; errors name the file and field. */
export function readNpyItems(spec: NpyItemsSpec): LabelledItems {
  const labelsArr = readNpy(spec.labels);
  if (!kLabelDescrs.has(labelsArr.descr)) {
    throw new ItemsError(spec.labels, `labels: expected integer class ids ('<i8', '<i4' or '|u1'), got '${labelsArr.descr}'`);
  }
  if (labelsArr.shape.length !== 1) throw new ItemsError(spec.labels, `labels: expected shape (items,), got (${labelsArr.shape.join(', ')})`);
  const count = labelsArr.shape[0];
  if (count === 0) throw new ItemsError(spec.labels, 'labels: no items');
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = Number(labelsArr.data[i]);
    if (v < 0 || v >= spec.classes) throw new ItemsError(spec.labels, `labels[${i}] = ${v} is out of range: expected a class id from 0 to ${spec.classes - 1} (${spec.classes} classes)`);
    labels[i] = v;
  }

  const tensors: ItemTensor[] = [];
  let padded: { length: number; input: string } | null = null;
  const dynamicAxis = spec.inputs.find((x) => x.dynamicAxis !== null)?.dynamicAxis ?? null;
  for (const input of spec.inputs) {
    const file = spec.inputFiles[input.name];
    if (!file) throw new ItemsError('(data)', `no data file for input ${JSON.stringify(input.name)}`);
    const arr = readNpy(file);
    const dtype = kNpyTypes[arr.descr].datatype;
    if (dtype !== input.datatype) {
      throw new ItemsError(file, `dtype: input ${JSON.stringify(input.name)} is ${input.datatype}, the file holds '${arr.descr}' (${dtype})`);
    }
    if (arr.shape[0] !== count || arr.shape.length === 0) {
      throw new ItemsError(file, `shape[0]: ${arr.shape[0] ?? 'no axis'} items, but ${spec.labels} has ${count} labels`);
    }
    const itemShape = arr.shape.slice(1);
    const expected = `(items, ${input.shape.map((d) => (d === -1 ? 'length' : String(d))).join(', ')})`;
    const matches = itemShape.length === input.shape.length && input.shape.every((d, k) => d === -1 || d === itemShape[k]);
    if (!matches) {
      throw new ItemsError(file, `shape: input ${JSON.stringify(input.name)} expects ${expected}, the file has (${arr.shape.join(', ')})`);
    }
    if (input.dynamicAxis !== null) {
      const length = itemShape[input.dynamicAxis];
      if (length < 1) throw new ItemsError(file, `shape[${input.dynamicAxis + 1}]: the padded length is 0`);
      if (padded && padded.length !== length) {
        throw new ItemsError(file, `shape[${input.dynamicAxis + 1}]: padded to length ${length}, but the data of input ${JSON.stringify(padded.input)} is padded to ${padded.length}; every input must be padded to the same length`);
      }
      padded = { length, input: input.name };
    }
    tensors.push({ name: input.name, datatype: input.datatype, itemShape, data: arr.data });
  }

  let lengths: Int32Array | null = null;
  if (padded && dynamicAxis !== null) {
    const maxLength = padded.length;
    if (spec.lengths) {
      lengths = readLengths(spec.lengths, count, maxLength);
    } else if (spec.maskInput) {
      const k = spec.inputs.findIndex((x) => x.name === spec.maskInput);
      if (k < 0) throw new ItemsError('(manifest)', `maskInput: names no input (${JSON.stringify(spec.maskInput)})`);
      const got = maskLengths(tensors[k], dynamicAxis);
      if (typeof got === 'string') throw new ItemsError(spec.inputFiles[spec.maskInput], `mask input ${JSON.stringify(spec.maskInput)}: ${got}`);
      lengths = got;
    } else {
      lengths = new Int32Array(count).fill(maxLength);
    }
  }
  const indices = new Int32Array(count);
  for (let i = 0; i < count; i++) indices[i] = i;
  return { count, labels, tensors, lengths, indices };
}

function readLengths(file: string, count: number, maxLength: number): Int32Array {
  const arr: NpyArray = readNpy(file);
  if (!kLabelDescrs.has(arr.descr)) throw new ItemsError(file, `lengths: expected integers ('<i8', '<i4' or '|u1'), got '${arr.descr}'`);
  if (arr.shape.length !== 1 || arr.shape[0] !== count) {
    throw new ItemsError(file, `lengths: expected shape (${count},) (one length per item), got (${arr.shape.join(', ')})`);
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = Number(arr.data[i]);
    if (v < 1 || v > maxLength) throw new ItemsError(file, `lengths[${i}] = ${v}: expected from 1 to the padded length ${maxLength}`);
    out[i] = v;
  }
  return out;
}

/**
 * Each item's length read from a mask tensor: the number of leading positions on the dynamic
 * axis whose elements are all 1, when every later position is all 0 and the length is at
 * least 1. Returns a message instead when some item is not shaped so.
 */
export function maskLengths(mask: ItemTensor, dynamicAxis: number): Int32Array | string {
  const shape = mask.itemShape;
  const length = shape[dynamicAxis];
  const outer = shapeSize(shape.slice(0, dynamicAxis));
  const inner = shapeSize(shape.slice(dynamicAxis + 1));
  const perItem = shapeSize(shape);
  const count = perItem === 0 ? 0 : mask.data.length / perItem;
  const out = new Int32Array(count);
  const d = mask.data;
  for (let i = 0; i < count; i++) {
    let n = -1;
    for (let p = 0; p < length; p++) {
      let ones = 0;
      let zeros = 0;
      for (let o = 0; o < outer; o++) {
        const base = i * perItem + (o * length + p) * inner;
        for (let q = 0; q < inner; q++) {
          const v = Number(d[base + q]);
          if (v === 1) ones++;
          else if (v === 0) zeros++;
          else return `item ${i} holds ${v} at position ${p}; a mask holds only 0 and 1`;
        }
      }
      if (ones > 0 && zeros > 0) return `item ${i} mixes 0 and 1 at position ${p}`;
      if (zeros > 0 && n < 0) n = p;
      if (ones > 0 && n >= 0) return `item ${i} has a 1 at position ${p} after a 0 at position ${n}; a mask is ones followed by zeros`;
    }
    if (n < 0) n = length;
    if (n === 0) return `item ${i} starts with 0 (length 0)`;
    out[i] = n;
  }
  return out;
}

/** The items at `indices` (in that order), copied. */
export function selectItems(items: LabelledItems, indices: Int32Array): LabelledItems {
  const tensors = items.tensors.map((t) => {
    const per = shapeSize(t.itemShape);
    const Ctor = t.data.constructor as new (n: number) => ItemData;
    const data = new Ctor(indices.length * per);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      (data as Uint8Array).set((t.data as Uint8Array).subarray(i * per, (i + 1) * per), k * per);
    }
    return { ...t, itemShape: [...t.itemShape], data };
  });
  const labels = new Int32Array(indices.length);
  const idx = new Int32Array(indices.length);
  const lengths = items.lengths ? new Int32Array(indices.length) : null;
  for (let k = 0; k < indices.length; k++) {
    labels[k] = items.labels[indices[k]];
    idx[k] = items.indices[indices[k]];
    if (lengths) lengths[k] = items.lengths![indices[k]];
  }
  return { count: indices.length, labels, tensors, lengths, indices: idx };
}

/** Every item of a version-2 manifest's data, before the split. */
export function loadAllItems(manifest: Manifest): LabelledItems {
  const npy = manifest.data.npy;
  if (!npy) throw new ItemsError(manifest.path, 'data: the manifest has no .npy data (version 1 data is split by file: use loadItems)');
  return readNpyItems({
    inputs: manifest.inputs,
    maskInput: manifest.maskInput,
    inputFiles: npy.inputFiles,
    labels: npy.labels,
    lengths: npy.lengths,
    classes: manifest.classNames.length,
  });
}

/** The labelled items of one part of the manifest's data. */
export function loadItems(manifest: Manifest, split: Split): LabelledItems {
  if (split !== 'validation' && split !== 'heldout') throw new RangeError(`split must be 'validation' or 'heldout', got ${String(split)}`);
  if (manifest.data.npy) {
    const all = loadAllItems(manifest);
    const parts = splitIndices(all.count, manifest.data.npy.split.seed, manifest.data.npy.split.validationFraction);
    return selectItems(all, parts[split]);
  }
  const ds = loadDataset(split === 'validation' ? manifest.data.validation : manifest.data.heldout);
  const input = manifest.inputs[0];
  const perItem = shapeSize(input.shape);
  if (perItem !== ds.imageSize) {
    throw new ItemsError(ds.path, `images of ${ds.rows}x${ds.cols} do not fill input ${JSON.stringify(input.name)} of shape [${input.shape.join(', ')}]`);
  }
  const rule = (manifest.input.preprocessing ?? '').replace(/\s/g, '');
  if (rule !== 'pixel/255' && rule !== 'pixel') {
    throw new ItemsError(manifest.path, `input.preprocessing: ${JSON.stringify(manifest.input.preprocessing)} is not one of "pixel/255", "pixel"`);
  }
  const pixels = ds.toFloat32();
  if (rule === 'pixel') for (let i = 0; i < pixels.length; i++) pixels[i] = ds.pixels[i];
  const labels = Int32Array.from(ds.labels);
  const indices = new Int32Array(ds.count);
  for (let i = 0; i < ds.count; i++) indices[i] = i;
  return {
    count: ds.count,
    labels,
    tensors: [{ name: input.name, datatype: 'FP32', itemShape: [...input.shape], data: pixels }],
    lengths: null,
    indices,
  };
}

export { NpyError };
