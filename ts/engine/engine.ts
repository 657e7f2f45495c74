// CascadeEngine: the typed facade over the native cascade engine (native/engine). One
// crossing into C++ per submit() call (however many items) and one back per group of
// completed batches; each item's promise is settled from those columns.
import { loadBinding, type RawEngine, type RawEngineStats, type RawResultColumns } from '../../bindings/binding.js';
import { CascadeServeError, fromNative, invalidArgument } from '../errors.js';
import { openRuntime } from '../runtime/runtime.js';
import { fillEngineConfig, fillGear, type EngineGear, type EngineOptions, type RawEngineConfig } from './config.js';

export type ItemStatus = 'ok' | 'timeout' | 'overloaded' | 'cancelled' | 'error';

// Mirrored from native/common/status.h StatusCode.
const kStatusNames: Record<number, ItemStatus> = { 0: 'ok', 2: 'error', 3: 'overloaded', 4: 'timeout', 5: 'cancelled' };

export interface ItemResult {
  status: ItemStatus;
  /** -1 unless status is 'ok'. */
  predictedClass: number;
  certainty: number;
  /** Stage index in the gear the item entered with. */
  exitStage: number;
  /** Name of the model that answered (or where the item ended). */
  model: string;
  queuedUs: number;
  computeUs: number;
  /** The answering model's output row, when asked for. */
  output?: Float32Array;
  /** ONNX Runtime's message, for status 'error'. */
  error?: string;
}

export interface SubmitOptions {
  /** Time left to each item, in microseconds; a number for all or one per item. Default: none. */
  budgetUs?: number | Float64Array;
  /** 1 is the highest; default 1. */
  priority?: number;
  /** Return each answering model's output row. */
  wantOutput?: boolean;
}

export interface EngineStats extends RawEngineStats {
  /** Requests accepted and not yet answered. */
  inFlight: number;
}

type Settle = (r: ItemResult) => void;

export class CascadeEngine {
  #raw: RawEngine | null;
  #config: RawEngineConfig;
  #pending = new Map<number, Settle>();
  #nextTicket = 1;
  #closed = false;
  #gear: EngineGear;

  private constructor(raw: RawEngine, config: RawEngineConfig, gear: EngineGear) {
    this.#raw = raw;
    this.#config = config;
    this.#gear = gear;
  }

  static async create(options: EngineOptions): Promise<CascadeEngine> {
    const config = fillEngineConfig(options);
    const gear = fillGear(options.gear, config, 'options.gear');
    const runtime = openRuntime(options.runtimeLibrary);
    const { binding } = loadBinding();
    let engine: CascadeEngine | undefined;
    const onResults = (cols: RawResultColumns) => {
      if (engine) engine.#settle(cols);
    };
    try {
      const raw = await binding.createEngine(runtime, config, gear, onResults);
      engine = new CascadeEngine(raw, config, options.gear);
      return engine;
    } catch (err) {
      throw fromNative(err, 'cannot create the engine');
    }
  }

  /** Floats per item. */
  get itemElems(): number {
    return this.#config.models[0].itemDims.reduce((a, b) => a * b, 1);
  }

  get modelNames(): string[] {
    return this.#config.models.map((m) => m.name);
  }

  get gear(): EngineGear {
    return this.#gear;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Submits `inputs.length / itemElems` items in one crossing. Each promise settles exactly
   * once with the item's result; refused items ('overloaded') settle at once. Never rejects.
   */
  submit(inputs: Float32Array, options: SubmitOptions = {}): Promise<ItemResult>[] {
    const raw = this.#raw;
    if (!raw || this.#closed) throw new CascadeServeError('ERR_CS_CLOSED', 'engine is closed');
    if (!(inputs instanceof Float32Array)) throw invalidArgument('inputs', 'must be a Float32Array');
    const per = this.itemElems;
    if (inputs.length === 0 || inputs.length % per !== 0) {
      throw invalidArgument('inputs', `must hold a positive multiple of ${per} floats (one item), got ${inputs.length}`);
    }
    const n = inputs.length / per;
    const tickets = new Float64Array(n);
    for (let i = 0; i < n; i++) tickets[i] = this.#nextTicket++;
    let budgets: Float64Array;
    if (options.budgetUs instanceof Float64Array) {
      if (options.budgetUs.length !== n) throw invalidArgument('options.budgetUs', `must have one entry per item (${n})`);
      budgets = options.budgetUs;
    } else {
      const b = options.budgetUs ?? Infinity;
      if (typeof b !== 'number' || Number.isNaN(b)) throw invalidArgument('options.budgetUs', `must be a number, got ${String(b)}`);
      budgets = new Float64Array(n).fill(b);
    }
    const priority = options.priority ?? 1;
    if (!Number.isInteger(priority) || priority < 1) throw invalidArgument('options.priority', `must be an integer >= 1, got ${String(priority)}`);
    const priorities = new Int32Array(n).fill(priority);
    const want = new Uint8Array(n).fill(options.wantOutput ? 1 : 0);
    let accepted: Uint8Array;
    try {
      accepted = raw.submit(tickets, inputs, budgets, priorities, want);
    } catch (err) {
      throw fromNative(err);
    }
    const promises: Promise<ItemResult>[] = new Array(n);
    for (let i = 0; i < n; i++) {
      if (accepted[i]) {
        promises[i] = new Promise<ItemResult>((resolve) => this.#pending.set(tickets[i], resolve));
      } else {
        promises[i] = Promise.resolve({ status: 'overloaded', predictedClass: -1, certainty: 0, exitStage: -1, model: this.#config.models[0].name, queuedUs: 0, computeUs: 0 });
      }
    }
    if (this.#pending.size > 0) raw.setRef(true);
    return promises;
  }

  /** One item. */
  infer(input: Float32Array, options: SubmitOptions = {}): Promise<ItemResult> {
    return this.submit(input, options)[0];
  }

  /** Switches to another gear at once; items already queued keep the gear they entered with. */
  setGear(gear: EngineGear): void {
    const raw = this.#raw;
    if (!raw || this.#closed) throw new CascadeServeError('ERR_CS_CLOSED', 'engine is closed');
    const filled = fillGear(gear, this.#config);
    try {
      raw.setGear(filled);
    } catch (err) {
      throw fromNative(err);
    }
    this.#gear = gear;
  }

  stats(): EngineStats {
    const raw = this.#raw;
    if (!raw || this.#closed) throw new CascadeServeError('ERR_CS_CLOSED', 'engine is closed');
    return { ...raw.stats(), inFlight: this.#pending.size };
  }

  /** Holds batching (tests, and the warm-up's exact batch sizes): items queue but no batch forms until resume(). */
  pause(): void {
    this.#raw?.pause();
  }

  resume(): void {
    this.#raw?.resume();
  }

  /** Stops the engine; items not yet run settle as 'cancelled'. Resolves once all have settled. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const raw = this.#raw;
    this.#raw = null;
    if (!raw) return;
    const drained = this.#pending.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#onDrained = resolve));
    raw.close();
    await drained;
  }

  #onDrained: (() => void) | null = null;

  #settle(cols: RawResultColumns) {
    const names = this.#config.models;
    for (let i = 0; i < cols.count; i++) {
      const settle = this.#pending.get(cols.tickets[i]);
      if (!settle) continue; // cannot happen: the engine completes each ticket once
      this.#pending.delete(cols.tickets[i]);
      const status = kStatusNames[cols.status[i]] ?? 'error';
      const m = cols.model[i];
      const r: ItemResult = {
        status,
        predictedClass: cols.predictedClass[i],
        certainty: cols.certainty[i],
        exitStage: cols.exitStage[i],
        model: m >= 0 ? names[m].name : names[0].name,
        queuedUs: cols.queuedUs[i],
        computeUs: cols.computeUs[i],
      };
      const a = cols.outputOffset[i];
      const b = cols.outputOffset[i + 1];
      if (b > a) r.output = cols.outputs.subarray(a, b);
      const message = cols.errors[i];
      if (message !== undefined) r.error = message;
      settle(r);
    }
    if (this.#pending.size === 0) {
      this.#raw?.setRef(false);
      if (this.#onDrained) {
        this.#onDrained();
        this.#onDrained = null;
      }
    }
  }
}
