// Engine options: what users pass, their validation (messages name the option path), and the
// filled form the addon reads. Validate in TypeScript, trust in C++ (style.md): this is the
// one full validation. native/engine/gear.cc keeps guards for what the engine relies on, and
// everything accepted here passes them (test/engine-guards.test.ts checks that on edge
// values), so an error at a gear switch cannot come from a rule only C++ knows.
import { invalidArgument } from '../errors.js';
import { isBinaryScore, kCertaintyMeasureCodes, kDatatypeCodes, kOutputKindCodes, type CertaintyMeasure, type Datatype, type OutputKind } from '../contracts/enums.js';

export type { CertaintyMeasure, Datatype, OutputKind };
// The native codes (ts/contracts/enums.ts; checked against the addon at load).
export const kMeasureCodes: Record<CertaintyMeasure, number> = kCertaintyMeasureCodes;
export { kOutputKindCodes };
// Mirrored from ResultDetail in native/engine/engine_config.h: flags of submit's detail array.
export const kResultDetail = { output: 1, certainties: 2 } as const;

/**
 * Longest time budget a submit takes, microseconds (24 hours). native/engine/deadline.h
 * clamps to the same value as a guard (kMaxBudgetUs there); test/engine-guards.test.ts pins the two.
 */
export const kMaxBudgetUs = 86_400_000_000;

/** Largest value of an int32 field of the addon (read with napi's Int32Value, which wraps). */
export const kMaxInt32 = 2 ** 31 - 1;

/** One input of every item (the engine's inputs; each model takes all of them or, with EngineOptions.inputs, a subset). */
export interface EngineInput {
  name: string;
  datatype: Datatype;
  /** One item's shape without the batch axis; -1 marks the (at most one) dynamic axis. */
  itemDims: number[];
  /** What batch assembly pads the dynamic axis with, in the input's datatype; default 0. */
  padValue?: number;
}

export interface EngineModel {
  name: string;
  /** The .onnx file. */
  path: string;
  /**
   * Typed inputs (any number, FP32, FP16, INT64, INT32, UINT8, BOOL, one dynamic axis at
   * most). Absent: the single-input form below (`input` + `itemDims`, FP32).
   */
  inputs?: EngineInput[];
  /** The float32 input fed with [N, ...itemDims] (single-input form). */
  input?: string;
  /** The single input's item shape (single-input form). */
  itemDims?: number[];
  /**
   * The output [N, classes] holding logits or probabilities, FP32 or FP16; for the binary
   * kinds [N, 1], one score per item, with classes 2.
   */
  output: string;
  classes: number;
  outputKind?: OutputKind; // default 'logits'
  /**
   * Whether padding the dynamic axis leaves the model's answer unchanged (default true).
   * false: the engine batches only items of equal length for this model.
   */
  padInvariant?: boolean;
}

export interface EngineLane {
  kind?: 'cpu' | 'cuda'; // default 'cpu'
  deviceId?: number; // CUDA device; default 0
  intraOpThreads?: number; // default 1: the lane's own thread does the work
}

export interface EngineStage {
  /** A model name from `models`. */
  model: string;
  /** Exit when certainty >= threshold; ignored on the last stage, which always answers. */
  threshold: number;
  measure?: CertaintyMeasure; // default 'max_prob'
  maxBatch: number;
  maxQueueDelayUs?: number; // default 0
  /** Per lane, >= 0; empty or absent: any lane hosting the model. */
  laneWeights?: number[];
}

export interface EngineGear {
  id: number;
  stages: EngineStage[];
}

export interface EngineOptions {
  /** libonnxruntime to load; default: onnxruntime-node's, or CASCADESERVE_ORT_LIBRARY. */
  runtimeLibrary?: string;
  models: EngineModel[];
  /**
   * The items' inputs, when the models take different subsets of them (a model without
   * token_type_ids beside one with them): every item carries all of these, and each model's
   * `inputs` must each be one of them (same name, datatype, item shape and pad value). Typed
   * form only. Default: models[0]'s inputs, which every model then takes.
   */
  inputs?: EngineInput[];
  lanes?: EngineLane[]; // default one CPU lane
  /** model name -> lane indices hosting a session of it; default: every model on every lane. */
  placement?: Record<string, number[]>;
  /** Bound of the first stage's queue; a full queue refuses at once. Default 1024. */
  maxQueueSizePerStage?: number;
  gear: EngineGear;
  /**
   * How long the event loop keeps turning after a submit that finds the engine idle, instead of
   * parking until the answer wakes it, microseconds (ts/engine/wait-spin.ts). Default 200; 0:
   * never. Only where the lanes' threads leave a core free, and only while answers come within it.
   */
  waitSpinUs?: number;
}

/** An engine input as the addon reads it: `type` is its kDatatypeCodes code, `dynamicAxis` -1 for none. */
export interface RawEngineInput {
  name: string;
  datatype: Datatype;
  type: number;
  itemDims: number[];
  dynamicAxis: number;
  padValue: number;
}

/** What the addon reads: indices instead of names, codes instead of strings. */
export interface RawEngineConfig {
  /** The items' inputs (every model takes these or a subset). */
  inputs: RawEngineInput[];
  /**
   * inputs[k]: the model's name and item shape for its k-th input, which is the engine's input
   * inputIndices[k] (equal to the engine's, except that single-input FP32 models may each name
   * theirs and shape the same number of floats their own way).
   */
  models: { name: string; path: string; inputs: { name: string; itemDims: number[] }[]; inputIndices: number[]; output: string; classes: number; outputKind: number; padInvariant: boolean }[];
  lanes: { kind: 'cpu' | 'cuda'; deviceId: number; intraOpThreads: number }[];
  placement: number[][];
  maxQueueSizePerStage: number;
}

export interface RawGear {
  id: number;
  stages: { model: number; threshold: number; measure: number; maxBatch: number; maxQueueDelayUs: number; laneWeights: number[] }[];
}

// Integers the addon reads as int32 (napi's Int32Value wraps larger ones) are bounded by kMaxInt32.
const isPosInt = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= kMaxInt32;
const isNonNegInt = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= kMaxInt32;
const isNonEmptyString = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

/** The inputs a model declares, in either form, validated; `at` is the model's option path. */
function modelInputs(m: EngineModel, at: string): RawEngineInput[] {
  if (m.inputs !== undefined) {
    if (m.input !== undefined || m.itemDims !== undefined) throw invalidArgument(at, 'has both inputs and the single-input fields input/itemDims; give one form');
    if (!Array.isArray(m.inputs) || m.inputs.length === 0) throw invalidArgument(`${at}.inputs`, 'must be a non-empty array');
    const seen = new Set<string>();
    let dynamicAxis: number | null = null;
    return m.inputs.map((input, k) => {
      const iat = `${at}.inputs[${k}]`;
      if (input === null || typeof input !== 'object') throw invalidArgument(iat, 'must be an object');
      if (!isNonEmptyString(input.name)) throw invalidArgument(`${iat}.name`, `must be a non-empty string, got ${JSON.stringify(input.name)}`);
      if (seen.has(input.name)) throw invalidArgument(`${iat}.name`, `'${input.name}' is used by another input`);
      seen.add(input.name);
      if (typeof input.datatype !== 'string' || !Object.hasOwn(kDatatypeCodes, input.datatype)) {
        throw invalidArgument(`${iat}.datatype`, `must be one of ${Object.keys(kDatatypeCodes).join(', ')}; got ${JSON.stringify(input.datatype)}`);
      }
      const dims = input.itemDims;
      if (!Array.isArray(dims) || dims.length === 0 || !dims.every((d) => d === -1 || isPosInt(d))) {
        throw invalidArgument(`${iat}.itemDims`, `must be a non-empty array of positive integers and at most one -1 (the dynamic axis), got ${JSON.stringify(dims)}`);
      }
      const axis = dims.indexOf(-1);
      if (axis >= 0 && dims.lastIndexOf(-1) !== axis) throw invalidArgument(`${iat}.itemDims`, `has more than one dynamic axis (-1): ${JSON.stringify(dims)}`);
      if (axis >= 0) {
        if (dynamicAxis !== null && dynamicAxis !== axis) {
          throw invalidArgument(`${iat}.itemDims`, `has its dynamic axis at index ${axis} but another input of the model has it at ${dynamicAxis}: every dynamic input shares one axis`);
        }
        dynamicAxis = axis;
      }
      const staticElems = dims.reduce((a, d) => a * (d === -1 ? 1 : d), 1);
      if (staticElems > kMaxInt32) throw invalidArgument(`${iat}.itemDims`, `hold ${staticElems} values per item, more than ${kMaxInt32}`);
      const pad = input.padValue ?? 0;
      const padProblem = padValueProblem(input.datatype, pad);
      if (padProblem) throw invalidArgument(`${iat}.padValue`, padProblem);
      return { name: input.name, datatype: input.datatype, type: kDatatypeCodes[input.datatype], itemDims: [...dims], dynamicAxis: axis, padValue: pad };
    });
  }
  if (!isNonEmptyString(m.input)) throw invalidArgument(`${at}.input`, `must be a non-empty string, got ${JSON.stringify(m.input)} (or give inputs)`);
  if (!Array.isArray(m.itemDims) || m.itemDims.length === 0 || !m.itemDims.every(isPosInt)) {
    throw invalidArgument(`${at}.itemDims`, `must be a non-empty array of positive integers, got ${JSON.stringify(m.itemDims)}`);
  }
  const elems = m.itemDims.reduce((a, b) => a * b, 1);
  if (elems > kMaxInt32) throw invalidArgument(`${at}.itemDims`, `hold ${elems} values per item, more than ${kMaxInt32}`);
  return [{ name: m.input, datatype: 'FP32', type: kDatatypeCodes.FP32, itemDims: [...m.itemDims], dynamicAxis: -1, padValue: 0 }];
}

/** Why a pad value cannot be stored in `datatype`, or null. */
function padValueProblem(datatype: Datatype, pad: unknown): string | null {
  if (typeof pad !== 'number' || Number.isNaN(pad)) return `must be a number, got ${String(pad)}`;
  switch (datatype) {
    case 'FP32':
      return Math.abs(pad) <= 3.4028234663852886e38 ? null : `must be a finite FP32 value, got ${pad}`;
    case 'FP16':
      return Math.abs(pad) <= 65504 ? null : `must be a finite FP16 value (at most 65504 in magnitude), got ${pad}`;
    case 'BOOL':
      return pad === 0 || pad === 1 ? null : `must be 0 or 1 for BOOL, got ${pad}`;
    case 'UINT8':
      return Number.isInteger(pad) && pad >= 0 && pad <= 255 ? null : `must be an integer from 0 to 255 for UINT8, got ${pad}`;
    case 'INT32':
      return Number.isInteger(pad) && pad >= -(2 ** 31) && pad <= kMaxInt32 ? null : `must be a 32-bit integer for INT32, got ${pad}`;
    case 'INT64':
      return Number.isSafeInteger(pad) ? null : `must be a safe integer for INT64, got ${pad}`;
  }
}

const sameDims = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export function fillEngineConfig(o: EngineOptions): RawEngineConfig {
  if (o === null || typeof o !== 'object') throw invalidArgument('options', 'must be an object');
  if (!Array.isArray(o.models) || o.models.length === 0) throw invalidArgument('options.models', 'must be a non-empty array');
  const names = new Set<string>();
  // Given: the items' inputs, of which each model takes a subset (matched by name below).
  const shared = o.inputs === undefined ? null : modelInputs({ name: '', path: '', output: '', classes: 1, inputs: o.inputs }, 'options');
  let inputs: RawEngineInput[] = shared ?? [];
  const models = o.models.map((m, i) => {
    const at = `options.models[${i}]`;
    if (m === null || typeof m !== 'object') throw invalidArgument(at, 'must be an object');
    for (const k of ['name', 'path', 'output'] as const) {
      if (!isNonEmptyString(m[k])) throw invalidArgument(`${at}.${k}`, `must be a non-empty string, got ${JSON.stringify(m[k])}`);
    }
    if (names.has(m.name)) throw invalidArgument(`${at}.name`, `'${m.name}' is used by another model`);
    names.add(m.name);
    const own = modelInputs(m, at);
    let inputIndices = own.map((_, k) => k);
    if (shared) {
      if (m.inputs === undefined) throw invalidArgument(`${at}.inputs`, 'is required with options.inputs (the typed form)');
      inputIndices = own.map((input, k) => {
        const j = shared.findIndex((x) => x.name === input.name);
        const iat = `${at}.inputs[${k}]`;
        if (j < 0) throw invalidArgument(`${iat}.name`, `'${input.name}' is not one of options.inputs (${shared.map((x) => x.name).join(', ')})`);
        const want = shared[j];
        if (input.datatype !== want.datatype) throw invalidArgument(`${iat}.datatype`, `is ${input.datatype} but options.inputs[${j}] is ${want.datatype}`);
        if (!sameDims(input.itemDims, want.itemDims)) throw invalidArgument(`${iat}.itemDims`, `is ${JSON.stringify(input.itemDims)} but options.inputs[${j}] has ${JSON.stringify(want.itemDims)}`);
        if (input.padValue !== want.padValue) throw invalidArgument(`${iat}.padValue`, `is ${input.padValue} but options.inputs[${j}] pads with ${want.padValue}`);
        return j;
      });
    } else if (i === 0) {
      inputs = own;
    } else {
      // A cascade passes the same items from stage to stage: without options.inputs, every model
      // takes the same inputs.
      const first = inputs;
      if (m.inputs === undefined && first.length === 1 && first[0].datatype === 'FP32' && first[0].dynamicAxis < 0) {
        // Single-input form: the same number of floats per item (the shape may differ, e.g. [784] and [1, 28, 28]).
        const elems = itemElemsAt(own[0], 1);
        const want = itemElemsAt(first[0], 1);
        if (elems !== want) throw invalidArgument(`${at}.itemDims`, `hold ${elems} values per item but options.models[0] takes ${want}: every model of a cascade takes the same items`);
      } else {
        if (own.length !== first.length) {
          throw invalidArgument(m.inputs === undefined ? `${at}.input` : `${at}.inputs`, `has ${own.length} input(s) but options.models[0] has ${first.length}: every model of a cascade takes the same inputs (or give options.inputs, of which each model takes its own)`);
        }
        own.forEach((input, k) => {
          const want = first[k];
          const what = input.name !== want.name ? 'name' : input.datatype !== want.datatype ? 'datatype' : !sameDims(input.itemDims, want.itemDims) ? 'itemDims' : null;
          if (what === null) return;
          const field = m.inputs === undefined ? (what === 'name' ? `${at}.input` : `${at}.itemDims`) : `${at}.inputs[${k}].${what}`;
          const show = (x: RawEngineInput) => (what === 'name' ? `'${x.name}'` : what === 'datatype' ? x.datatype : JSON.stringify(x.itemDims));
          throw invalidArgument(field, `is ${show(input)} but options.models[0] has ${show(want)} for input ${k}: every model of a cascade takes the same inputs (or give options.inputs, of which each model takes its own)`);
        });
      }
    }
    if (!isPosInt(m.classes) || m.classes < 1) throw invalidArgument(`${at}.classes`, `must be a positive integer, got ${String(m.classes)}`);
    const kind = m.outputKind ?? 'logits';
    if (!(kind in kOutputKindCodes)) throw invalidArgument(`${at}.outputKind`, `must be one of ${Object.keys(kOutputKindCodes).map((k) => `'${k}'`).join(', ')}, got ${String(kind)}`);
    if (isBinaryScore(kind) && m.classes !== 2) throw invalidArgument(`${at}.classes`, `must be 2 for outputKind '${kind}' (one score column, widened to two classes), got ${m.classes}`);
    const padInvariant = m.padInvariant ?? true;
    if (typeof padInvariant !== 'boolean') throw invalidArgument(`${at}.padInvariant`, `must be true or false, got ${String(m.padInvariant)}`);
    return { name: m.name, path: m.path, inputs: own.map((x) => ({ name: x.name, itemDims: [...x.itemDims] })), inputIndices, output: m.output, classes: m.classes, outputKind: kOutputKindCodes[kind], padInvariant };
  });
  const laneList = o.lanes ?? [{}];
  if (!Array.isArray(laneList) || laneList.length === 0) throw invalidArgument('options.lanes', 'must be a non-empty array');
  const lanes = laneList.map((l, i) => {
    const at = `options.lanes[${i}]`;
    if (l === null || typeof l !== 'object') throw invalidArgument(at, 'must be an object');
    const kind = l.kind ?? 'cpu';
    if (kind !== 'cpu' && kind !== 'cuda') throw invalidArgument(`${at}.kind`, `must be 'cpu' or 'cuda', got ${String(kind)}`);
    const deviceId = l.deviceId ?? 0;
    if (!isNonNegInt(deviceId)) throw invalidArgument(`${at}.deviceId`, `must be a non-negative integer, got ${String(l.deviceId)}`);
    const threads = l.intraOpThreads ?? 1;
    if (!isPosInt(threads) || threads > 256) throw invalidArgument(`${at}.intraOpThreads`, `must be an integer from 1 to 256, got ${String(l.intraOpThreads)}`);
    return { kind, deviceId, intraOpThreads: threads };
  });
  const placement = models.map((m) => {
    if (!o.placement) return lanes.map((_, i) => i);
    const hosts = o.placement[m.name] ?? [];
    const at = `options.placement[${JSON.stringify(m.name)}]`;
    if (!Array.isArray(hosts)) throw invalidArgument(at, 'must be an array of lane indices');
    hosts.forEach((h, k) => {
      if (!isNonNegInt(h) || h >= lanes.length) throw invalidArgument(`${at}[${k}]`, `lane ${String(h)} does not exist (${lanes.length} lanes)`);
      if (hosts.indexOf(h) < k) throw invalidArgument(`${at}[${k}]`, `lane ${h} is listed twice`);
    });
    return [...hosts];
  });
  if (o.placement) {
    for (const key of Object.keys(o.placement)) {
      if (!names.has(key)) throw invalidArgument(`options.placement[${JSON.stringify(key)}]`, 'names no model of options.models');
    }
  }
  const maxQueue = o.maxQueueSizePerStage ?? 1024;
  if (!Number.isSafeInteger(maxQueue) || maxQueue < 1) throw invalidArgument('options.maxQueueSizePerStage', `must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}, got ${String(maxQueue)}`);
  return { inputs, models, lanes, placement, maxQueueSizePerStage: maxQueue };
}

export function fillGear(g: EngineGear, config: RawEngineConfig, at = 'gear'): RawGear {
  if (g === null || typeof g !== 'object') throw invalidArgument(at, 'must be an object');
  if (!Number.isInteger(g.id) || g.id < -kMaxInt32 - 1 || g.id > kMaxInt32) throw invalidArgument(`${at}.id`, `must be a 32-bit integer, got ${String(g.id)}`);
  if (!Array.isArray(g.stages) || g.stages.length === 0) throw invalidArgument(`${at}.stages`, 'must be a non-empty array');
  const used = new Set<number>();
  const stages = g.stages.map((s, i) => {
    const sat = `${at}.stages[${i}]`;
    if (s === null || typeof s !== 'object') throw invalidArgument(sat, 'must be an object');
    const model = config.models.findIndex((m) => m.name === s.model);
    if (model < 0) throw invalidArgument(`${sat}.model`, `'${String(s.model)}' is not a model of the engine (${config.models.map((m) => m.name).join(', ')})`);
    if (used.has(model)) throw invalidArgument(`${sat}.model`, `'${s.model}' appears twice in the gear`);
    used.add(model);
    if (config.placement[model].length === 0) throw invalidArgument(`${sat}.model`, `'${s.model}' is placed on no lane`);
    if (typeof s.threshold !== 'number' || Number.isNaN(s.threshold)) throw invalidArgument(`${sat}.threshold`, `must be a number, got ${String(s.threshold)}`);
    const measure = s.measure ?? 'max_prob';
    if (!(measure in kMeasureCodes)) throw invalidArgument(`${sat}.measure`, `must be one of max_prob, margin, entropy; got ${String(measure)}`);
    if (!isPosInt(s.maxBatch)) throw invalidArgument(`${sat}.maxBatch`, `must be an integer from 1 to ${kMaxInt32}, got ${String(s.maxBatch)}`);
    const delay = s.maxQueueDelayUs ?? 0;
    if (typeof delay !== 'number' || !(delay >= 0 && delay <= kMaxBudgetUs)) throw invalidArgument(`${sat}.maxQueueDelayUs`, `must be a number from 0 to ${kMaxBudgetUs} (24 hours), got ${String(delay)}`);
    const weights = s.laneWeights ?? [];
    if (!Array.isArray(weights) || (weights.length > 0 && weights.length !== config.lanes.length)) {
      throw invalidArgument(`${sat}.laneWeights`, `must have one weight per lane (${config.lanes.length}) or be empty`);
    }
    weights.forEach((w, k) => {
      if (typeof w !== 'number' || !(w >= 0) || !Number.isFinite(w)) throw invalidArgument(`${sat}.laneWeights[${k}]`, `must be a finite number >= 0, got ${String(w)}`);
      if (w > 0 && !config.placement[model].includes(k)) throw invalidArgument(`${sat}.laneWeights[${k}]`, `is positive but lane ${k} does not host '${s.model}'`);
    });
    if (weights.length > 0 && !weights.some((w) => w > 0)) throw invalidArgument(`${sat}.laneWeights`, 'must have at least one positive weight');
    return { model, threshold: s.threshold, measure: kMeasureCodes[measure], maxBatch: s.maxBatch, maxQueueDelayUs: Math.round(delay), laneWeights: [...weights] };
  });
  return { id: g.id, stages };
}

/** Elements of one item of `input` at `length` on its dynamic axis (the length is ignored without one). */
export function itemElemsAt(input: RawEngineInput, length: number): number {
  return input.itemDims.reduce((a, d) => a * (d === -1 ? length : d), 1);
}
