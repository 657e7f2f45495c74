// Session: one ONNX model run through the ONNX Runtime C API, off the JavaScript thread. The
// facade validates options and feeds (messages name the field) and leaves model-level checks
// (input names, element types, shapes) to ONNX Runtime, whose messages it passes through.
import { loadBinding, type RawOutputColumns, type RawOutputs, type RawRunColumns, type RawSession } from '../../bindings/binding.js';
import { CascadeServeError, fromNative, invalidArgument } from '../errors.js';
import { arrayForType, elementSize, elementTypeName, ElementType, typesForArray, type ElementTypeName, type TensorData } from './element-type.js';
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
   * Where runs execute. 'thread': always off the calling thread, on the session's own thread
   * (which spins briefly after a run, so that a caller's next run starts without waking it),
   * or on libuv's thread pool while that thread is taken by another run of the session.
   * 'inline': on the calling thread. 'auto' (default): on the calling thread while the
   * predicted run time is below `inlineBelowUs`, since a thread hop then costs more than the
   * run and blocks the event loop for about as long; the first runs of a model always go off
   * the thread to measure it.
   */
  execution?: 'auto' | 'thread' | 'inline';
  /** Threshold of 'auto', in microseconds. Default 30. */
  inlineBelowUs?: number;
  /**
   * Whether a run on the session's own thread may execute on the calling thread's CPU, which
   * the caller sleeps through while it awaits the answer: the answer then wakes it on a CPU that
   * has not halted (native/common/cpu_share.h). Only while no other run of any session is in
   * flight, not for a while after a run that found that CPU busy, on Linux, and where a thread
   * may leave SCHED_IDLE again. Default true.
   */
  shareCallerCpu?: boolean;
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
  const shareCallerCpu = o.shareCallerCpu ?? true;
  if (typeof shareCallerCpu !== 'boolean') {
    throw invalidArgument('options.shareCallerCpu', `must be a boolean, got ${String(o.shareCallerCpu)}`);
  }
  return {
    raw: { intraOpThreads: threads, graphOptimizationLevel: kLevels[level], executionProvider: ep, deviceId },
    execution,
    inlineBelowUs,
    shareCallerCpu,
  };
}

export class Session {
  #raw: RawSession | null;
  readonly path: string;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
  #inputTypes: Map<string, ElementTypeName | 'undefined'>;
  #inputIndex: Map<string, number>;
  #outputIndex: Map<string, number>;
  #allOutputs: Int32Array;
  #execution: 'auto' | 'thread' | 'inline';
  #inlineBelowUs: number;
  // Measured cost of a run per input byte (EWMA) and how many runs it is based on.
  #usPerByte = 0;
  #measuredRuns = 0;

  private constructor(raw: RawSession, path: string, filled: ReturnType<typeof checkOptions>) {
    this.#raw = raw;
    this.#execution = filled.execution;
    this.#inlineBelowUs = filled.inlineBelowUs;
    raw.shareCallerCpu(filled.shareCallerCpu);
    this.path = path;
    const meta = (list: { name: string; type: number; shape: number[] }[]) =>
      Object.freeze(list.map((t) => Object.freeze({ name: t.name, type: elementTypeName(t.type), shape: t.shape })));
    this.inputs = meta(raw.inputs);
    this.outputs = meta(raw.outputs);
    this.#inputTypes = new Map(this.inputs.map((i) => [i.name, i.type]));
    this.#inputIndex = new Map(this.inputs.map((i, k) => [i.name, k]));
    this.#outputIndex = new Map(this.outputs.map((o, k) => [o.name, k]));
    this.#allOutputs = new Int32Array(0);
  }

  /** Loads a model; loading runs off the JavaScript thread. */
  static async create(path: string, options: SessionOptions = {}): Promise<Session> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArgument('path', 'must be a non-empty string');
    const filled = checkOptions(options);
    const runtime = openRuntime(options.runtimeLibrary);
    const { binding } = loadBinding();
    try {
      return new Session(await binding.createSession(runtime, path, filled.raw), path, filled);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Whether the latest off-thread run that finished on the session's own thread ran on the caller's CPU (option `shareCallerCpu`). */
  get lastRunOnCallerCpu(): boolean {
    return this.#raw?.lastRunOnCallerCpu() ?? false;
  }

  /** Runs the model. Returns the outputs named in `outputNames`, or all of them. */
  async run(feeds: Record<string, TensorInput>, outputNames?: readonly string[]): Promise<Record<string, Tensor>> {
    const raw = this.#raw;
    if (!raw) throw new CascadeServeError('ERR_CS_CLOSED', 'session is released');
    // Repeated calls with the same feed names, shapes and array types (the common case) reuse
    // the columns of the previous call; only the data and output arrays are new.
    const cached = outputNames === undefined ? this.#reuse(feeds) : null;
    let columns: RawRunColumns;
    let planned: { columns: RawOutputColumns; result: Record<string, Tensor> } | null;
    if (cached) {
      ({ columns, planned } = cached);
    } else {
      columns = this.#toColumns(feeds, outputNames);
      planned = this.#planOutputs(columns);
      if (planned && outputNames === undefined) this.#remember(feeds, columns, planned.columns);
    }
    let bytes = 0;
    for (const d of columns[4]) bytes += d.byteLength;
    const inline = this.#runsInline(bytes);
    let outs: RawOutputs | null = null;
    try {
      if (planned) {
        // Output shapes are known: ONNX Runtime writes straight into these arrays.
        if (inline) {
          const timed = (++this.#calls & 15) === 0; // sampled: the clock costs as much as a tiny run
          const start = timed ? performance.now() : 0;
          raw.runSyncInto(...columns, ...planned.columns);
          if (timed) this.#record((performance.now() - start) * 1000, bytes);
        } else {
          this.#record(await raw.runInto(...columns, ...planned.columns), bytes);
        }
      } else if (inline) {
        const start = performance.now();
        outs = raw.runSync(...columns);
        this.#record((performance.now() - start) * 1000, bytes);
      } else {
        const r = await raw.run(...columns);
        this.#record(r.computeUs, bytes);
        outs = r.outputs;
      }
    } catch (err) {
      if (cached?.learned && isShapeMismatch(err)) {
        // The output shapes seen for these input shapes did not hold: this model's output shapes
        // depend on input values. ONNX Runtime allocates its outputs from now on.
        this.#learnOutputShapes = false;
        this.#last = null;
        return this.run(feeds);
      }
      throw fromNative(err);
    }
    if (planned) return planned.result;
    const result: Record<string, Tensor> = {};
    const asked = columns[5].length > 0 ? columns[5] : null;
    for (let i = 0; i * 3 < outs!.length; i++) {
      const name = this.outputs[asked ? asked[i] : i].name;
      const type = elementTypeName(outs![i * 3] as number);
      if (type === 'undefined' || type === 'string') throw new CascadeServeError('ERR_CS_RUNTIME', `output ${name} has unsupported type ${type}`);
      result[name] = { type, dims: outs![i * 3 + 1] as number[], data: arrayForType(type, outs![i * 3 + 2] as ArrayBuffer) };
    }
    if (outputNames === undefined && this.#learnOutputShapes) this.#rememberOutputShapes(feeds, columns, outs!);
    return result;
  }

  // Outputs whose shapes the model leaves open (a dynamic dimension besides the batch): the
  // shapes of this run's outputs are taken as those of the next run with the same input
  // shapes, which then writes into arrays allocated here (runInto) and skips ONNX Runtime's
  // allocation, the copy and the conversion of the feeds. A model whose output shapes depend
  // on input values fails such a run with a shape mismatch; run() then runs it again the
  // ordinary way and stops learning (isShapeMismatch).
  #rememberOutputShapes(feeds: Record<string, TensorInput>, columns: RawRunColumns, outs: RawOutputs) {
    const n = outs.length / 3;
    const types = new Int32Array(n);
    const ranks = new Int32Array(n);
    const flat: number[] = [];
    for (let i = 0; i < n; i++) {
      const type = elementTypeName(outs[i * 3] as number);
      if (type === 'undefined' || type === 'string') return;
      types[i] = outs[i * 3] as number;
      const dims = outs[i * 3 + 1] as number[];
      ranks[i] = dims.length;
      flat.push(...dims);
    }
    const wanted = columns[5].length > 0 ? columns[5] : Int32Array.from(this.outputs, (_, i) => i);
    const explicit: RawRunColumns = [columns[0], columns[1], columns[2], columns[3], columns[4], wanted];
    this.#remember(feeds, explicit, [types, ranks, new Float64Array(flat), []], true);
  }

  // Feeds as the columns the addon reads; validation here names the feed.
  #toColumns(feeds: Record<string, TensorInput>, outputNames?: readonly string[]): RawRunColumns {
    if (feeds === null || typeof feeds !== 'object') throw invalidArgument('feeds', 'must be an object of tensors');
    const names = Object.keys(feeds);
    const n = names.length;
    const indices = new Int32Array(n);
    const types = new Int32Array(n);
    const ranks = new Int32Array(n);
    const datas: ArrayBufferView[] = new Array(n);
    let rankSum = 0;
    for (let i = 0; i < n; i++) {
      const name = names[i];
      const t = feeds[name];
      const where = `feeds[${JSON.stringify(name)}]`;
      const index = this.#inputIndex.get(name);
      if (index === undefined) throw invalidArgument(where, `names no input of the model (its inputs: ${this.inputs.map((x) => x.name).join(', ')})`);
      if (t === null || typeof t !== 'object') throw invalidArgument(where, 'must be {data, dims}');
      const arrayTypes = ArrayBuffer.isView(t.data) ? typesForArray(t.data) : [];
      if (arrayTypes.length === 0) throw invalidArgument(`${where}.data`, 'must be a typed array (Float32Array, Uint16Array for float16, BigInt64Array for int64, ...)');
      const dims = t.dims;
      if (!Array.isArray(dims)) throw invalidArgument(`${where}.dims`, `must be an array of non-negative integers, got ${JSON.stringify(dims)}`);
      let count = 1;
      for (const d of dims) {
        if (!Number.isSafeInteger(d) || d < 0) throw invalidArgument(`${where}.dims`, `must be an array of non-negative integers, got ${JSON.stringify(dims)}`);
        count *= d;
      }
      if (count !== t.data.length) throw invalidArgument(`${where}.dims`, `${JSON.stringify(dims)} hold ${count} elements but data has ${t.data.length}`);
      let type: ElementTypeName;
      if (t.type !== undefined) {
        if (!arrayTypes.includes(t.type)) throw invalidArgument(`${where}.type`, `${t.type} cannot be carried by ${t.data.constructor.name}`);
        type = t.type;
      } else {
        // The model's own type when the array can carry it; else the array's natural type, and
        // ONNX Runtime reports the mismatch in its own words.
        const modelType = this.#inputTypes.get(name);
        type = modelType && modelType !== 'undefined' && arrayTypes.includes(modelType) ? modelType : arrayTypes[0];
      }
      indices[i] = index;
      types[i] = ElementType[type];
      ranks[i] = dims.length;
      datas[i] = t.data;
      rankSum += dims.length;
    }
    if (n !== this.inputs.length) {
      const missing = this.inputs.find((x) => !(x.name in feeds));
      throw invalidArgument('feeds', `is missing input ${JSON.stringify(missing?.name)} (the model's inputs: ${this.inputs.map((x) => x.name).join(', ')})`);
    }
    const flatDims = new Float64Array(rankSum);
    let k = 0;
    for (let i = 0; i < n; i++) for (const d of feeds[names[i]].dims) flatDims[k++] = d;
    let outputs = this.#allOutputs;
    if (outputNames !== undefined) {
      if (!Array.isArray(outputNames)) throw invalidArgument('outputNames', 'must be an array of strings');
      outputs = new Int32Array(outputNames.length);
      outputNames.forEach((name, i) => {
        const index = typeof name === 'string' ? this.#outputIndex.get(name) : undefined;
        if (index === undefined) throw invalidArgument(`outputNames[${i}]`, `${JSON.stringify(name)} names no output of the model (its outputs: ${this.outputs.map((x) => x.name).join(', ')})`);
        outputs[i] = index;
      });
    }
    return [indices, types, ranks, flatDims, datas, outputs];
  }

  /**
   * Microseconds per call of the bare C API Run on these feeds, timed in a native loop of
   * `iterations` calls: the raw runtime's cost, which benchmarks subtract to get overheads.
   */
  measureRuntimeUs(feeds: Record<string, TensorInput>, iterations: number): number {
    const raw = this.#raw;
    if (!raw) throw new CascadeServeError('ERR_CS_CLOSED', 'session is released');
    try {
      return raw.timeRawRuns(...this.#toColumns(feeds), iterations);
    } catch (err) {
      throw fromNative(err);
    }
  }

  // Output tensors allocated here when their shapes follow from the model and the feeds: every
  // output dimension static, or only the first dynamic and every input batched on its first
  // dimension with one batch size. Else null, and ONNX Runtime allocates.
  #planOutputs(columns: RawRunColumns): { columns: RawOutputColumns; result: Record<string, Tensor> } | null {
    const [indices, , ranks, dims] = columns;
    let batch = -1;
    let offset = 0;
    for (let i = 0; i < indices.length; i++) {
      const shape = this.inputs[indices[i]].shape;
      if (shape.length > 0 && shape[0] === -1 && ranks[i] > 0) {
        if (batch >= 0 && batch !== dims[offset]) return null;
        batch = dims[offset];
      }
      offset += ranks[i];
    }
    const wanted = columns[5].length > 0 ? Array.from(columns[5]) : this.outputs.map((_, i) => i);
    const n = wanted.length;
    const types = new Int32Array(n);
    const outRanks = new Int32Array(n);
    const flat: number[] = [];
    const datas: ArrayBufferView[] = new Array(n);
    const result: Record<string, Tensor> = {};
    for (let i = 0; i < n; i++) {
      const meta = this.outputs[wanted[i]];
      if (meta.type === 'undefined' || meta.type === 'string') return null;
      const outDims: number[] = [];
      for (let d = 0; d < meta.shape.length; d++) {
        const v = meta.shape[d];
        if (v >= 0) outDims.push(v);
        else if (d === 0 && batch >= 0) outDims.push(batch);
        else return null;
      }
      const count = outDims.reduce((a, b) => a * b, 1);
      const data = arrayForType(meta.type, new ArrayBuffer(count * elementSize(meta.type)));
      types[i] = ElementType[meta.type];
      outRanks[i] = outDims.length;
      flat.push(...outDims);
      datas[i] = data;
      result[meta.name] = { type: meta.type, dims: outDims, data };
    }
    columns[5] = Int32Array.from(wanted); // runInto needs the outputs listed explicitly
    return { columns: [types, outRanks, new Float64Array(flat), datas], result };
  }

  #calls = 0;
  #last: {
    names: string[];
    dims: (readonly number[])[];
    ctors: unknown[];
    columns: RawRunColumns;
    out: RawOutputColumns;
    outNames: string[];
    outTypes: ElementTypeName[];
    outDims: number[][];
    outCounts: number[];
    learned: boolean; // output shapes taken from a run, not from the model (#rememberOutputShapes)
  } | null = null;
  #learnOutputShapes = true;

  #remember(feeds: Record<string, TensorInput>, columns: RawRunColumns, out: RawOutputColumns, learned = false) {
    const names = Object.keys(feeds);
    if (names.some((n) => feeds[n].type !== undefined)) return;
    const outDims: number[][] = [];
    let k = 0;
    for (let i = 0; i < out[1].length; i++) {
      outDims.push(Array.from(out[2].subarray(k, k + out[1][i])));
      k += out[1][i];
    }
    this.#last = {
      names,
      dims: names.map((n) => [...feeds[n].dims]),
      ctors: names.map((n) => feeds[n].data.constructor),
      columns,
      out,
      outNames: Array.from(columns[5], (i) => this.outputs[i].name),
      outTypes: Array.from(columns[5], (i) => this.outputs[i].type as ElementTypeName),
      outDims,
      outCounts: outDims.map((d) => d.reduce((a, b) => a * b, 1)),
      learned,
    };
  }

  #reuse(feeds: Record<string, TensorInput>): { columns: RawRunColumns; planned: { columns: RawOutputColumns; result: Record<string, Tensor> }; learned: boolean } | null {
    const last = this.#last;
    if (!last || feeds === null || typeof feeds !== 'object') return null;
    const names = last.names;
    const datas: ArrayBufferView[] = new Array(names.length);
    let count = 0;
    for (const _ in feeds) count++;
    if (count !== names.length) return null;
    for (let i = 0; i < names.length; i++) {
      const t = feeds[names[i]];
      if (t === undefined || t === null || t.type !== undefined || t.data === undefined || t.data.constructor !== last.ctors[i]) return null;
      const dims = t.dims;
      const want = last.dims[i];
      if (!Array.isArray(dims) || dims.length !== want.length) return null;
      let elements = 1;
      for (let d = 0; d < want.length; d++) {
        if (dims[d] !== want[d]) return null;
        elements *= want[d];
      }
      if (t.data.length !== elements) return null;
      datas[i] = t.data;
    }
    const c = last.columns;
    const outDatas: ArrayBufferView[] = new Array(last.outNames.length);
    const result: Record<string, Tensor> = {};
    for (let i = 0; i < outDatas.length; i++) {
      const type = last.outTypes[i];
      const data = arrayForType(type, new ArrayBuffer(last.outCounts[i] * elementSize(type)));
      outDatas[i] = data;
      result[last.outNames[i]] = { type, dims: [...last.outDims[i]], data };
    }
    const o = last.out;
    return { columns: [c[0], c[1], c[2], c[3], datas, c[5]], planned: { columns: [o[0], o[1], o[2], outDatas], result }, learned: last.learned };
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

// ONNX Runtime's refusal of a caller-allocated output whose shape differs from the computed
// one (1.17 and later; the older wording second).
const kShapeMismatch = /computed output shape for this run|Shape mismatch attempting to re-use buffer/;

function isShapeMismatch(err: unknown): boolean {
  return err instanceof Error && kShapeMismatch.test(err.message);
}
