// Session: one ONNX model run through the ONNX Runtime C API, off the JavaScript thread. The
// facade validates options and feeds (messages name the field) and leaves model-level checks
// (input names, element types, shapes) to ONNX Runtime, whose messages it passes through.
import { loadBinding, type RawSession } from '../../bindings/binding.js';
import { CascadeServeError, fromNative, invalidArgument } from '../errors.js';
import { arrayForType, elementTypeName, ElementType, typesForArray, type ElementTypeName, type TensorData } from './element-type.js';
import { openRuntime } from './runtime.js';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionOptions {
  /** Threads ONNX Runtime uses inside one run. Default 1. */
  intraOpThreads?: number;
  /** Default 'all'. */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** 'cuda' needs a runtime library built with the CUDA provider. Default 'cpu'. */
  executionProvider?: 'cpu' | 'cuda';
  /** CUDA device ordinal. Default 0. */
  deviceId?: number;
  /** Path of the libonnxruntime to use; default as in runtime.ts. */
  runtimeLibrary?: string;
  /**
   * Where runs execute. 'thread': always on libuv's thread pool. 'inline': on the calling
   * thread. 'auto' (default): on the calling thread while the predicted run time is below
   * `inlineBelowUs`, since a thread hop then costs more than the run and blocks the event loop
   * for about as long; the first runs of a model always go to the thread pool to measure it.
   */
  execution?: 'auto' | 'thread' | 'inline';
  /** Threshold of 'auto', in microseconds. Default 30. */
  inlineBelowUs?: number;
}

export interface TensorMetadata {
  name: string;
  type: ElementTypeName | 'undefined';
  shape: number[]; // -1 marks a dynamic dimension
}

export interface TensorInput {
  data: TensorData;
  dims: readonly number[];
  /** Needed only where the typed array is ambiguous and the model does not say (float16 vs uint16). */
  type?: ElementTypeName;
}

export interface Tensor {
  type: ElementTypeName;
  dims: number[];
  data: TensorData;
}

const kLevels: Record<GraphOptimizationLevel, number> = { disabled: 0, basic: 1, extended: 2, all: 99 };
const kDefaultInlineBelowUs = 30;
const kMeasuredRunsBeforeInline = 3;
const kEwmaWeight = 0.2;

function checkOptions(options: SessionOptions) {
  const o = options;
  if (o === null || typeof o !== 'object') throw invalidArgument('options', 'must be an object');
  const threads = o.intraOpThreads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw invalidArgument('options.intraOpThreads', `must be an integer from 1 to 1024, got ${String(o.intraOpThreads)}`);
  }
  const level = o.graphOptimizationLevel ?? 'all';
  if (!(level in kLevels)) {
    throw invalidArgument('options.graphOptimizationLevel', `must be one of disabled, basic, extended, all; got ${String(level)}`);
  }
  const ep = o.executionProvider ?? 'cpu';
  if (ep !== 'cpu' && ep !== 'cuda') {
    throw invalidArgument('options.executionProvider', `must be 'cpu' or 'cuda', got ${String(ep)}`);
  }
  const deviceId = o.deviceId ?? 0;
  if (!Number.isInteger(deviceId) || deviceId < 0) {
    throw invalidArgument('options.deviceId', `must be a non-negative integer, got ${String(o.deviceId)}`);
  }
  const execution = o.execution ?? 'auto';
  if (execution !== 'auto' && execution !== 'thread' && execution !== 'inline') {
    throw invalidArgument('options.execution', `must be 'auto', 'thread' or 'inline', got ${String(execution)}`);
  }
  const inlineBelowUs = o.inlineBelowUs ?? kDefaultInlineBelowUs;
  if (typeof inlineBelowUs !== 'number' || !(inlineBelowUs >= 0)) {
    throw invalidArgument('options.inlineBelowUs', `must be a non-negative number, got ${String(o.inlineBelowUs)}`);
  }
  return {
    raw: { intraOpThreads: threads, graphOptimizationLevel: kLevels[level], executionProvider: ep, deviceId },
    execution,
    inlineBelowUs,
  };
}

export class Session {
  #raw: RawSession | null;
  readonly path: string;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
  #inputTypes: Map<string, ElementTypeName | 'undefined'>;
  #execution: 'auto' | 'thread' | 'inline';
  #inlineBelowUs: number;
  // Measured cost of a run per input byte (EWMA) and how many runs it is based on.
  #usPerByte = 0;
  #measuredRuns = 0;

  private constructor(raw: RawSession, path: string, execution: 'auto' | 'thread' | 'inline', inlineBelowUs: number) {
    this.#raw = raw;
    this.#execution = execution;
    this.#inlineBelowUs = inlineBelowUs;
    this.path = path;
    const meta = (list: { name: string; type: number; shape: number[] }[]) =>
      Object.freeze(list.map((t) => Object.freeze({ name: t.name, type: elementTypeName(t.type), shape: t.shape })));
    this.inputs = meta(raw.inputs);
    this.outputs = meta(raw.outputs);
    this.#inputTypes = new Map(this.inputs.map((i) => [i.name, i.type]));
  }

  /** Loads a model; loading runs off the JavaScript thread. */
  static async create(path: string, options: SessionOptions = {}): Promise<Session> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArgument('path', 'must be a non-empty string');
    const filled = checkOptions(options);
    const runtime = openRuntime(options.runtimeLibrary);
    const { binding } = loadBinding();
    try {
      return new Session(await binding.createSession(runtime, path, filled.raw), path, filled.execution, filled.inlineBelowUs);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Runs the model. Returns the outputs named in `outputNames`, or all of them. */
  async run(feeds: Record<string, TensorInput>, outputNames?: readonly string[]): Promise<Record<string, Tensor>> {
    const raw = this.#raw;
    if (!raw) throw new CascadeServeError('ERR_CS_CLOSED', 'session is released');
    const inputs = this.#toRaw(feeds);
    if (outputNames !== undefined && (!Array.isArray(outputNames) || outputNames.some((n) => typeof n !== 'string'))) {
      throw invalidArgument('outputNames', 'must be an array of strings');
    }
    let bytes = 0;
    for (const i of inputs) bytes += i.data.byteLength;
    const names = outputNames ? [...outputNames] : [];
    let outs;
    try {
      if (this.#runsInline(bytes)) {
        const start = performance.now();
        outs = raw.runSync(inputs, names);
        this.#record((performance.now() - start) * 1000, bytes);
      } else {
        const r = await raw.run(inputs, names);
        this.#record(r.computeUs, bytes);
        outs = r.outputs;
      }
    } catch (err) {
      throw fromNative(err);
    }
    const result: Record<string, Tensor> = {};
    for (const o of outs) {
      const type = elementTypeName(o.type);
      if (type === 'undefined' || type === 'string') throw new CascadeServeError('ERR_CS_RUNTIME', `output ${o.name} has unsupported type`);
      result[o.name] = { type, dims: o.dims, data: arrayForType(type, o.buffer) };
    }
    return result;
  }

  #toRaw(feeds: Record<string, TensorInput>) {
    if (feeds === null || typeof feeds !== 'object') throw invalidArgument('feeds', 'must be an object of tensors');
    const inputs = Object.entries(feeds).map(([name, t]) => {
      const where = `feeds[${JSON.stringify(name)}]`;
      if (t === null || typeof t !== 'object') throw invalidArgument(where, 'must be {data, dims}');
      const types = ArrayBuffer.isView(t.data) ? typesForArray(t.data) : [];
      if (types.length === 0) throw invalidArgument(`${where}.data`, 'must be a typed array (Float32Array, Uint16Array for float16, BigInt64Array for int64, ...)');
      if (!Array.isArray(t.dims) || t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
        throw invalidArgument(`${where}.dims`, `must be an array of non-negative integers, got ${JSON.stringify(t.dims)}`);
      }
      const count = t.dims.reduce((a, b) => a * b, 1);
      if (count !== t.data.length) {
        throw invalidArgument(`${where}.dims`, `${JSON.stringify(t.dims)} hold ${count} elements but data has ${t.data.length}`);
      }
      let type: ElementTypeName;
      if (t.type !== undefined) {
        if (!types.includes(t.type)) throw invalidArgument(`${where}.type`, `${t.type} cannot be carried by ${t.data.constructor.name}`);
        type = t.type;
      } else {
        const modelType = this.#inputTypes.get(name);
        // The model's own type when the array can carry it; else the array's natural type, and
        // ONNX Runtime reports the mismatch in its own words.
        type = modelType && modelType !== 'undefined' && types.includes(modelType) ? modelType : types[0];
      }
      return { name, type: ElementType[type], dims: [...t.dims], data: t.data };
    });
    for (const input of this.inputs) {
      if (!(input.name in feeds)) {
        throw invalidArgument('feeds', `is missing input ${JSON.stringify(input.name)} (the model's inputs: ${this.inputs.map((i) => i.name).join(', ')})`);
      }
    }
    return inputs;
  }

  /**
   * Microseconds per call of the bare C API Run on these feeds, timed in a native loop of
   * `iterations` calls: the raw runtime's cost, which benchmarks subtract to get overheads.
   */
  measureRuntimeUs(feeds: Record<string, TensorInput>, iterations: number): number {
    const raw = this.#raw;
    if (!raw) throw new CascadeServeError('ERR_CS_CLOSED', 'session is released');
    try {
      return raw.timeRawRuns(this.#toRaw(feeds), [], iterations);
    } catch (err) {
      throw fromNative(err);
    }
  }

  #runsInline(bytes: number): boolean {
    if (this.#execution !== 'auto') return this.#execution === 'inline';
    return this.#measuredRuns >= kMeasuredRunsBeforeInline && this.#usPerByte * Math.max(bytes, 1) < this.#inlineBelowUs;
  }

  #record(us: number, bytes: number) {
    const perByte = us / Math.max(bytes, 1);
    this.#usPerByte = this.#measuredRuns === 0 ? perByte : this.#usPerByte + kEwmaWeight * (perByte - this.#usPerByte);
    this.#measuredRuns++;
  }

  /** Frees the model once runs in flight finish. Later runs fail with ERR_CS_CLOSED. */
  release(): void {
    this.#raw?.release();
    this.#raw = null;
  }
}
