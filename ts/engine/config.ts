// Engine options: what users pass, their validation (messages name the option path), and the
// filled form the addon reads. Validate in TypeScript, trust in C++ (style.md): this is the
// one full validation. native/engine/gear.cc keeps guards for what the engine relies on, and
// everything accepted here passes them (test/engine-guards.test.ts checks that on edge
// values), so an error at a gear switch cannot come from a rule only C++ knows.
import { invalidArgument } from '../errors.js';
import { kCertaintyMeasureCodes, kOutputKindCodes, type CertaintyMeasure, type OutputKind } from '../contracts/enums.js';

export type { CertaintyMeasure, OutputKind };
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

export interface EngineModel {
  name: string;
  /** The .onnx file. */
  path: string;
  /** The float32 input fed with [N, ...itemDims]. */
  input: string;
  /** The float32 output [N, classes] holding logits or probabilities. */
  output: string;
  itemDims: number[];
  classes: number;
  outputKind?: OutputKind; // default 'logits'
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
  lanes?: EngineLane[]; // default one CPU lane
  /** model name -> lane indices hosting a session of it; default: every model on every lane. */
  placement?: Record<string, number[]>;
  /** Bound of the first stage's queue; a full queue refuses at once. Default 1024. */
  maxQueueSizePerStage?: number;
  gear: EngineGear;
}

/** What the addon reads: indices instead of names, codes instead of strings. */
export interface RawEngineConfig {
  models: { name: string; path: string; input: string; output: string; itemDims: number[]; classes: number; outputKind: number }[];
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

export function fillEngineConfig(o: EngineOptions): RawEngineConfig {
  if (o === null || typeof o !== 'object') throw invalidArgument('options', 'must be an object');
  if (!Array.isArray(o.models) || o.models.length === 0) throw invalidArgument('options.models', 'must be a non-empty array');
  const names = new Set<string>();
  let itemElems = -1;
  const models = o.models.map((m, i) => {
    const at = `options.models[${i}]`;
    if (m === null || typeof m !== 'object') throw invalidArgument(at, 'must be an object');
    for (const k of ['name', 'path', 'input', 'output'] as const) {
      if (!isNonEmptyString(m[k])) throw invalidArgument(`${at}.${k}`, `must be a non-empty string, got ${JSON.stringify(m[k])}`);
    }
    if (names.has(m.name)) throw invalidArgument(`${at}.name`, `'${m.name}' is used by another model`);
    names.add(m.name);
    if (!Array.isArray(m.itemDims) || m.itemDims.length === 0 || !m.itemDims.every(isPosInt)) {
      throw invalidArgument(`${at}.itemDims`, `must be a non-empty array of positive integers, got ${JSON.stringify(m.itemDims)}`);
    }
    const elems = m.itemDims.reduce((a, b) => a * b, 1);
    if (elems > kMaxInt32) throw invalidArgument(`${at}.itemDims`, `hold ${elems} values per item, more than ${kMaxInt32}`);
    if (itemElems >= 0 && elems !== itemElems) {
      throw invalidArgument(`${at}.itemDims`, `hold ${elems} values per item but options.models[0] takes ${itemElems}: every model of a cascade takes the same items`);
    }
    itemElems = elems;
    if (!isPosInt(m.classes) || m.classes < 1) throw invalidArgument(`${at}.classes`, `must be a positive integer, got ${String(m.classes)}`);
    const kind = m.outputKind ?? 'logits';
    if (!(kind in kOutputKindCodes)) throw invalidArgument(`${at}.outputKind`, `must be 'logits' or 'probabilities', got ${String(kind)}`);
    return { name: m.name, path: m.path, input: m.input, output: m.output, itemDims: [...m.itemDims], classes: m.classes, outputKind: kOutputKindCodes[kind] };
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
  return { models, lanes, placement, maxQueueSizePerStage: maxQueue };
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
