// Warm-up: runs every model of a set of gears on every lane that hosts it, at the batch sizes
// those gears will form, before the engine serves. ONNX Runtime's first runs of a session (and
// of each new input shape) allocate its arenas and plan its memory; served cold, the first
// requests after start-up missed a 10 ms deadline. The runs go through the engine's own lanes
// (a one-stage gear per model whose lane weights name one lane, its queue held until the whole
// batch is in), so the lane threads, their buffers and the sessions are all warm afterwards.
import { CascadeServeError } from '../errors.js';
import { fillEngineConfig, type Datatype, type EngineGear, type EngineOptions } from './config.js';
import type { CascadeEngine, EngineInputInfo, TensorArray } from './engine.js';

/** Length on the dynamic axis of the items a warm-up runs (typed inputs with a dynamic axis). */
export const kWarmUpLength = 32;

const kZeroArray: Record<Datatype, (n: number) => TensorArray> = {
  FP32: (n) => new Float32Array(n),
  FP16: (n) => new Uint16Array(n),
  INT64: (n) => new BigInt64Array(n),
  INT32: (n) => new Int32Array(n),
  UINT8: (n) => new Uint8Array(n),
  BOOL: (n) => new Uint8Array(n),
};

/** count zero items of every input at `length` on the dynamic axis; per[name] = elements per item. */
function zeroTensors(inputs: EngineInputInfo[], count: number, length: number) {
  const per: Record<string, number> = {};
  const tensors: Record<string, TensorArray> = {};
  for (const input of inputs) {
    per[input.name] = input.itemDims.reduce((a, d) => a * (d === -1 ? length : d), 1);
    tensors[input.name] = kZeroArray[input.datatype](count * per[input.name]);
  }
  return { per, tensors, dynamic: inputs.some((i) => i.dynamicAxis !== null) };
}

/** At most this many batch sizes per model: 1, the largest, and some in between. */
export const kMaxWarmUpBatchSizes = 4;

export interface WarmUpRun {
  model: string;
  lane: number;
  batch: number;
}

/**
 * The batch sizes to warm for each model the gears use: 1 and every maxBatch a gear gives the
 * model (capped to the first stage's queue bound), reduced to kMaxWarmUpBatchSizes by keeping
 * the smallest, the largest and evenly spaced ones between. Models no gear uses are absent.
 */
export function warmUpBatchSizes(gears: EngineGear[], maxQueueSize = Infinity): Map<string, number[]> {
  const sizes = new Map<string, Set<number>>();
  for (const gear of gears) {
    for (const stage of gear.stages) {
      const set = sizes.get(stage.model) ?? new Set([1]);
      set.add(Math.max(1, Math.min(stage.maxBatch, maxQueueSize)));
      sizes.set(stage.model, set);
    }
  }
  const out = new Map<string, number[]>();
  for (const [model, set] of sizes) out.set(model, spread([...set].sort((a, b) => a - b), kMaxWarmUpBatchSizes));
  return out;
}

/** `count` entries of a sorted list, first and last included, evenly spaced by index. */
function spread(sorted: number[], count: number): number[] {
  if (sorted.length <= count) return sorted;
  const picked = new Set<number>();
  for (let k = 0; k < count; k++) picked.add(sorted[Math.round((k * (sorted.length - 1)) / (count - 1))]);
  return [...picked];
}

/** Every (model, lane, batch size) run of a warm-up, in order: model by model, lane by lane. */
export function warmUpRuns(options: EngineOptions, gears: EngineGear[]): WarmUpRun[] {
  const config = fillEngineConfig(options);
  const runs: WarmUpRun[] = [];
  for (const [model, batches] of warmUpBatchSizes(gears, config.maxQueueSizePerStage)) {
    const index = config.models.findIndex((m) => m.name === model);
    if (index < 0) continue; // fillGear names the unknown model when the gear is used
    for (const lane of config.placement[index]) for (const batch of batches) runs.push({ model, lane, batch });
  }
  return runs;
}

/**
 * Runs warmUpRuns(options, gears) through `engine`, which must be idle (nothing queued, no
 * other caller), then restores the gear it was in. Throws, naming the model, lane and batch
 * size, when a run does not succeed: a model that cannot run is reported at start-up.
 */
export async function warmUp(engine: CascadeEngine, options: EngineOptions, gears: EngineGear[], warmLength = kWarmUpLength): Promise<WarmUpRun[]> {
  const runs = warmUpRuns(options, gears);
  const lanes = options.lanes?.length ?? 1;
  const initial = engine.gear;
  const maxBatch = Math.max(1, ...runs.map((r) => r.batch));
  const zeros = new Float32Array(engine.itemElems * maxBatch);
  // Typed inputs: zero items at warmLength on the dynamic axis (ONNX Runtime plans per shape;
  // other lengths still cost their first run).
  const typed = engine.itemElems === 0 ? zeroTensors(engine.inputs, maxBatch, warmLength) : null;
  const submit = (batch: number) => {
    if (!typed) return engine.submit(zeros.subarray(0, batch * engine.itemElems));
    const tensors = Object.fromEntries(Object.entries(typed.tensors).map(([name, a]) => [name, a.subarray(0, batch * typed.per[name])]));
    return engine.submitTensors({ count: batch, tensors, length: typed.dynamic ? warmLength : undefined });
  };
  try {
    for (const run of runs) {
      const laneWeights = Array.from({ length: lanes }, (_, i) => (i === run.lane ? 1 : 0));
      engine.setGear({ id: initial.id, stages: [{ model: run.model, threshold: 0, maxBatch: run.batch, maxQueueDelayUs: 0, laneWeights }] });
      // Held until all `batch` items are queued, so that they form one batch of that size.
      engine.pause();
      let pending: ReturnType<CascadeEngine['submit']>;
      try {
        pending = submit(run.batch);
      } finally {
        engine.resume();
      }
      const results = await Promise.all(pending);
      const failed = results.find((r) => r.status !== 'ok');
      if (failed) {
        throw new CascadeServeError('ERR_CS_RUNTIME', `warm-up: model '${run.model}' on lane ${run.lane} at batch size ${run.batch} did not run (${failed.status}${failed.error ? `: ${failed.error}` : ''})`);
      }
    }
  } finally {
    engine.setGear(initial);
  }
  return runs;
}
