// Warm-up: runs every model of a set of gears on every lane that hosts it, at the batch sizes
// those gears will form, before the engine serves. ONNX Runtime's first runs of a session (and
// of each new input shape) allocate its arenas and plan its memory; served cold, the first
// requests after start-up missed a 10 ms deadline. The runs go through the engine's own lanes
// (a one-stage gear per model whose lane weights name one lane, its queue held until the whole
// batch is in), so the lane threads, their buffers and the sessions are all warm afterwards.
import { CascadeServeError } from '../errors.js';
import { fillEngineConfig, type EngineGear, type EngineOptions } from './config.js';
import type { CascadeEngine, TensorArray, TensorItems } from './engine.js';

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
export async function warmUp(engine: CascadeEngine, options: EngineOptions, gears: EngineGear[]): Promise<WarmUpRun[]> {
  const runs = warmUpRuns(options, gears);
  const lanes = options.lanes?.length ?? 1;
  const initial = engine.gear;
  const zeros = new Float32Array(engine.itemElems * Math.max(1, ...runs.map((r) => r.batch)));
  try {
    for (const run of runs) {
      const laneWeights = Array.from({ length: lanes }, (_, i) => (i === run.lane ? 1 : 0));
      engine.setGear({ id: initial.id, stages: [{ model: run.model, threshold: 0, maxBatch: run.batch, maxQueueDelayUs: 0, laneWeights }] });
      // Held until all `batch` items are queued, so that they form one batch of that size.
      engine.pause();
      let pending: ReturnType<CascadeEngine['submit']>;
      try {
        pending = engine.itemElems > 0 ? engine.submit(zeros.subarray(0, run.batch * engine.itemElems)) : engine.submitTensors(warmUpItems(engine, run.batch));
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

/**
 * `count` items of typed inputs, length 1 on the dynamic axis, every element 1 (a valid token
 * id, a mask position that counts; 0x3c00 is 1.0 in float16): all-zero masks would leave some
 * models nothing to pool over.
 */
function warmUpItems(engine: CascadeEngine, count: number): TensorItems {
  const tensors: Record<string, TensorArray> = {};
  let dynamic = false;
  for (const input of engine.inputs) {
    const n = count * input.itemDims.reduce((a, d) => a * (d < 0 ? 1 : d), 1);
    if (input.dynamicAxis !== null) dynamic = true;
    switch (input.datatype) {
      case 'FP32':
        tensors[input.name] = new Float32Array(n).fill(1);
        break;
      case 'FP16':
        tensors[input.name] = new Uint16Array(n).fill(0x3c00);
        break;
      case 'INT64':
        tensors[input.name] = new BigInt64Array(n).fill(1n);
        break;
      case 'INT32':
        tensors[input.name] = new Int32Array(n).fill(1);
        break;
      default:
        tensors[input.name] = new Uint8Array(n).fill(1);
    }
  }
  return dynamic ? { count, tensors, length: 1 } : { count, tensors };
}
